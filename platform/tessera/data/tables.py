"""The platform's own tables (`tessera_*`); their schema is managed by Alembic revisions."""

from __future__ import annotations

import sqlalchemy as sa

from tessera.meta.columns import UtcDateTime, json_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = sa.MetaData(naming_convention=NAMING)


def id_type() -> sa.types.TypeEngine[int]:
    """A 64-bit key that is SQLite's rowid alias (so it autoincrements there too)."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


users = sa.Table(
    "tessera_users", metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("password_hash", sa.String(200)),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("manager_id", sa.BigInteger, sa.ForeignKey("tessera_users.id", ondelete="SET NULL")),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("last_sign_in_at", UtcDateTime),
    # IANA name (Europe/Paris) the UI shows times in; NULL: the platform's default zone.
    sa.Column("time_zone", sa.String(64)),
)

tokens = sa.Table(
    "tessera_tokens", metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("user_id", sa.BigInteger, sa.ForeignKey("tessera_users.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime),
    sa.Column("revoked_at", UtcDateTime),
    # Made by the user for a script or integration (GET /me/tokens), not by signing in.
    sa.Column("personal", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("last_used_at", UtcDateTime),
)

documents = sa.Table(
    "tessera_meta", metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("uid", sa.String(40), nullable=False, unique=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("api_name", sa.String(63), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("state", sa.String(10), nullable=False, server_default="active"),
    sa.Column("body", json_column(), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("created_by", sa.BigInteger),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("updated_by", sa.BigInteger),
    sa.UniqueConstraint("kind", "api_name"),
)

document_history = sa.Table(
    "tessera_meta_history", metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("doc_uid", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("summary", sa.String(500), nullable=False, server_default=""),
    sa.Column("actor_id", sa.BigInteger),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("before", json_column()),
    sa.Column("after", json_column()),
    sa.Index("ix_tessera_meta_history_doc", "doc_uid", "id"),
)

dependencies = sa.Table(
    "tessera_dependencies", metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("source_uid", sa.String(40), nullable=False, index=True),
    sa.Column("source_kind", sa.String(40), nullable=False),
    sa.Column("via", sa.String(60), nullable=False),
    sa.Column("path", sa.String(300), nullable=False),
    sa.Column("target_object_uid", sa.String(40), nullable=False),
    sa.Column("target_field_uid", sa.String(40)),
    sa.Index("ix_tessera_dependencies_target", "target_object_uid", "target_field_uid"),
)

meta_state = sa.Table(
    "tessera_meta_state", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("revision", sa.BigInteger, nullable=False),
    # Bumped with every change that can take access away (a user disabled, a token revoked),
    # so cached sign-ins are checked again by the next request.
    sa.Column("auth_revision", sa.BigInteger, nullable=False, server_default="0"),
)

record_history = sa.Table(
    "tessera_record_history", metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("object_uid", sa.String(40), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("field_uid", sa.String(40)),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("actor_id", sa.BigInteger),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("old", json_column()),
    sa.Column("new", json_column()),
    sa.Index("ix_tessera_record_history_record", "object_uid", "record_id", "id"),
)

outbox = sa.Table(
    "tessera_outbox", metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("event", sa.String(60), nullable=False),
    sa.Column("object_uid", sa.String(40)),
    sa.Column("record_ids", json_column(), nullable=False),
    sa.Column("payload", json_column(), nullable=False),
    sa.Column("actor_id", sa.BigInteger),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("available_at", UtcDateTime, nullable=False),
    sa.Column("processed_at", UtcDateTime),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.Index("ix_tessera_outbox_pending", "processed_at", "available_at"),
    # An object's newest event: the version report results are cached under.
    sa.Index("ix_tessera_outbox_object", "object_uid", "id"),
)

sequences = sa.Table(
    "tessera_sequences", metadata,
    sa.Column("field_uid", sa.String(40), primary_key=True),
    sa.Column("next_value", sa.BigInteger, nullable=False),
)

attachments = sa.Table(
    "tessera_attachments", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("content_type", sa.String(255), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("created_by", sa.BigInteger),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

trash_links = sa.Table(
    "tessera_trash_links", metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("batch", sa.String(32), nullable=False, index=True),
    sa.Column("object_uid", sa.String(40), nullable=False),
    sa.Column("field_uid", sa.String(40), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("target_id", sa.BigInteger, nullable=False),
)

jobs = sa.Table(
    "tessera_jobs", metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("kind", sa.String(60), nullable=False),
    sa.Column("title", sa.String(300), nullable=False, server_default=""),
    sa.Column("params", json_column(), nullable=False),
    # queued → running → succeeded | failed | cancelled
    sa.Column("status", sa.String(12), nullable=False, server_default="queued"),
    sa.Column("done", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("total", sa.BigInteger),
    sa.Column("message", sa.String(500), nullable=False, server_default=""),
    sa.Column("result", json_column()),
    sa.Column("error", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("worker", sa.String(100)),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_by", sa.BigInteger),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("started_at", UtcDateTime),
    sa.Column("heartbeat_at", UtcDateTime),
    sa.Column("finished_at", UtcDateTime),
    sa.Index("ix_tessera_jobs_status", "status", "id"),
)

teams = sa.Table(
    "tessera_teams", metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("api_name", sa.String(63), nullable=False, unique=True),
    sa.Column("label", sa.String(120), nullable=False),
    sa.Column("description", sa.String(2000), nullable=False, server_default=""),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

team_members = sa.Table(
    "tessera_team_members", metadata,
    sa.Column("team_id", sa.BigInteger, sa.ForeignKey("tessera_teams.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.BigInteger, sa.ForeignKey("tessera_users.id", ondelete="CASCADE"), primary_key=True,
              index=True),
)

roles = sa.Table(
    "tessera_roles", metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("api_name", sa.String(63), nullable=False, unique=True),
    sa.Column("label", sa.String(120), nullable=False),
    sa.Column("description", sa.String(2000), nullable=False, server_default=""),
    # admin and builder: shipped with Tessera, never deleted.
    sa.Column("built_in", sa.Boolean, nullable=False, server_default=sa.false()),
    # Per object uid: create, read/edit/delete scopes and per field uid a level (see tessera.auth.roles).
    sa.Column("permissions", json_column(), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

user_roles = sa.Table(
    "tessera_user_roles", metadata,
    sa.Column("user_id", sa.BigInteger, sa.ForeignKey("tessera_users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("role_id", sa.BigInteger, sa.ForeignKey("tessera_roles.id", ondelete="CASCADE"), primary_key=True,
              index=True),
)

sessions = sa.Table(
    "tessera_sessions", metadata,
    # The SHA-256 digest of the session's secret; the secret itself is only in the cookie.
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.BigInteger, sa.ForeignKey("tessera_users.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime),
    sa.Column("ip", sa.String(64)),
    sa.Column("user_agent", sa.String(300)),
)

signin_attempts = sa.Table(
    "tessera_signin_attempts", metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("at", UtcDateTime, nullable=False, index=True),
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("ip", sa.String(64), nullable=False),
    sa.Column("succeeded", sa.Boolean, nullable=False),
    sa.Index("ix_tessera_signin_attempts_email", "email", "at"),
    sa.Index("ix_tessera_signin_attempts_ip", "ip", "at"),
)

audit = sa.Table(
    "tessera_audit", metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("actor_id", sa.BigInteger),
    sa.Column("action", sa.String(60), nullable=False),
    sa.Column("target", sa.String(300), nullable=False, server_default=""),
    sa.Column("detail", json_column()),
    sa.Column("ip", sa.String(64)),
    sa.Index("ix_tessera_audit_at", "at", "id"),
    sa.Index("ix_tessera_audit_action", "action", "at"),
    sa.Index("ix_tessera_audit_actor", "actor_id", "at"),
)

saved_views = sa.Table(
    "tessera_saved_views", metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("object_uid", sa.String(40), nullable=False),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("owner_id", sa.BigInteger, sa.ForeignKey("tessera_users.id", ondelete="CASCADE")),
    # Shared views are everyone's (who may read the object); personal ones their owner's.
    sa.Column("shared", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("definition", json_column(), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_tessera_saved_views_object", "object_uid", "owner_id"),
)

timers = sa.Table(
    "tessera_timers", metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("kind", sa.String(60), nullable=False),
    # Who scheduled it and what for ("flow:12:step:approve:due"): scheduling the same key
    # again moves the timer, so retried work never leaves two behind.
    sa.Column("key", sa.String(200), nullable=False, unique=True),
    sa.Column("due_at", UtcDateTime, nullable=False, index=True),
    sa.Column("params", json_column(), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

deliveries = sa.Table(
    "tessera_deliveries", metadata,
    sa.Column("id", id_type(), primary_key=True),
    # "email" or "webhook": messages leaving the platform, sent after their cause commits.
    sa.Column("channel", sa.String(20), nullable=False),
    # The cause's idempotency key: the same action run twice queues one message.
    sa.Column("key", sa.String(200), nullable=False, unique=True),
    sa.Column("payload", json_column(), nullable=False),
    # queued → sending → sent | failed (held: no mail server configured)
    sa.Column("status", sa.String(10), nullable=False, server_default="queued"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("available_at", UtcDateTime, nullable=False),
    sa.Column("sent_at", UtcDateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_tessera_deliveries_pending", "status", "available_at"),
)

notifications = sa.Table(
    "tessera_notifications", metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("user_id", sa.BigInteger, sa.ForeignKey("tessera_users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("key", sa.String(200), nullable=False, unique=True),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("body", sa.Text, nullable=False, server_default=""),
    sa.Column("link", sa.String(500)),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("read_at", UtcDateTime),
    sa.Index("ix_tessera_notifications_user", "user_id", "id"),
)

flow_versions = sa.Table(
    "tessera_flow_versions", metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("flow_uid", sa.String(40), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    # The published document: instances run the version they started on, whatever follows.
    sa.Column("body", json_column(), nullable=False),
    sa.Column("published_at", UtcDateTime, nullable=False),
    sa.Column("published_by", sa.BigInteger),
    sa.UniqueConstraint("flow_uid", "version"),
)

flow_instances = sa.Table(
    "tessera_flow_instances", metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("flow_uid", sa.String(40), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("object_uid", sa.String(40), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    # running → approved | rejected | cancelled | completed | failed
    sa.Column("status", sa.String(12), nullable=False),
    # The executor's compact state (tokens, counters); the history is in flow_events.
    sa.Column("state", json_column(), nullable=False),
    # Fields that may change while the record is locked by an approval (null: not locked).
    sa.Column("lock", json_column()),
    sa.Column("started_by", sa.BigInteger),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime),
    sa.Column("error", sa.Text),
    sa.Index("ix_tessera_flow_instances_record", "object_uid", "record_id"),
    sa.Index("ix_tessera_flow_instances_status", "status", "flow_uid"),
    sa.Index("ix_tessera_flow_instances_flow_record", "flow_uid", "record_id"),
)

flow_tasks = sa.Table(
    "tessera_flow_tasks", metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("instance_id", sa.BigInteger, sa.ForeignKey("tessera_flow_instances.id", ondelete="CASCADE"),
              nullable=False, index=True),
    # The executor's name for the task (step and person), unique in its instance.
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("step", sa.String(63), nullable=False),
    sa.Column("kind", sa.String(12), nullable=False),
    sa.Column("label", sa.String(300), nullable=False),
    sa.Column("assignee_id", sa.BigInteger, sa.ForeignKey("tessera_users.id", ondelete="SET NULL")),
    # open → approved | rejected | done | sent_back | delegated | cancelled | …
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("comment", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("due_at", UtcDateTime),
    sa.Column("closed_at", UtcDateTime),
    sa.UniqueConstraint("instance_id", "key"),
    sa.Index("ix_tessera_flow_tasks_inbox", "assignee_id", "status"),
)

flow_events = sa.Table(
    "tessera_flow_events", metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("instance_id", sa.BigInteger, sa.ForeignKey("tessera_flow_instances.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("event", sa.String(30), nullable=False),
    sa.Column("step", sa.String(63)),
    sa.Column("actor_id", sa.BigInteger),
    sa.Column("comment", sa.Text, nullable=False, server_default=""),
    sa.Column("detail", json_column()),
    sa.Index("ix_tessera_flow_events_instance", "instance_id", "id"),
)

rule_runs = sa.Table(
    "tessera_rule_runs", metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("rule_uid", sa.String(40), nullable=False),
    sa.Column("rule", sa.String(63), nullable=False),
    sa.Column("object_uid", sa.String(40), nullable=False),
    sa.Column("record_id", sa.BigInteger),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("trigger", sa.String(30), nullable=False),
    # fired (conditions held, actions ran), skipped (they did not), failed, or limited (the
    # cascade's depth limit stopped it).
    sa.Column("outcome", sa.String(10), nullable=False),
    sa.Column("depth", sa.Integer, nullable=False, server_default="0"),
    sa.Column("changes", json_column()),
    sa.Column("error", sa.Text),
    sa.Index("ix_tessera_rule_runs_record", "object_uid", "record_id", "id"),
    # A rule's page reads its latest runs: without this, a rule that last fired long ago
    # would scan the whole log newest first to find them.
    sa.Index("ix_tessera_rule_runs_rule", "rule_uid", "id"),
)

rule_state = sa.Table(
    "tessera_rule_state", metadata,
    # One row per rule (assignment's last member, a segment's last refresh), locked while
    # used so concurrent saves take turns.
    sa.Column("rule_uid", sa.String(40), primary_key=True),
    sa.Column("value", json_column(), nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

segment_members = sa.Table(
    "tessera_segment_members", metadata,
    sa.Column("rule_uid", sa.String(40), primary_key=True),
    sa.Column("record_id", sa.BigInteger, primary_key=True),
    sa.Column("since", UtcDateTime, nullable=False),
)

sla_clocks = sa.Table(
    "tessera_sla_clocks", metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("object_uid", sa.String(40), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("policy_uid", sa.String(40), nullable=False),
    sa.Column("metric", sa.String(20), nullable=False),
    # running, paused, achieved, breached, cancelled
    sa.Column("stage", sa.String(10), nullable=False),
    sa.Column("target_seconds", sa.BigInteger, nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("due_at", UtcDateTime),
    sa.Column("warn_at", UtcDateTime),
    sa.Column("paused_seconds", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("paused_since", UtcDateTime),
    sa.Column("achieved_at", UtcDateTime),
    sa.Column("breached_at", UtcDateTime),
    sa.Column("warned", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("object_uid", "record_id", "metric"),
    sa.Index("ix_tessera_sla_clocks_open", "stage", "due_at"),
)

favourites = sa.Table(
    "tessera_favourites", metadata,
    # A person's starred records (the navigation's Favourites); the record is named by its
    # object's uid, which renames never change.
    sa.Column("user_id", sa.BigInteger, sa.ForeignKey("tessera_users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("object_uid", sa.String(40), primary_key=True),
    sa.Column("record_id", sa.BigInteger, primary_key=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

recent_records = sa.Table(
    "tessera_recent_records", metadata,
    # The records a person opened last (the navigation's Recent): one row per record, moved
    # to the top by an upsert on every visit and trimmed to the newest few.
    sa.Column("user_id", sa.BigInteger, sa.ForeignKey("tessera_users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("object_uid", sa.String(40), primary_key=True),
    sa.Column("record_id", sa.BigInteger, primary_key=True),
    sa.Column("visited_at", UtcDateTime, nullable=False),
    sa.Index("ix_tessera_recent_records_visited", "user_id", "visited_at"),
)

conversions = sa.Table(
    "tessera_conversions", metadata,
    # One row per run of a conversion on a record: what it made or matched (`result`, as the
    # API answered it), by whom, when. A second run of a conversion that does not allow it
    # is refused by finding the first here; the record page shows the latest.
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("conversion_uid", sa.String(40), nullable=False),
    sa.Column("conversion", sa.String(63), nullable=False),
    sa.Column("object_uid", sa.String(40), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("result", json_column(), nullable=False),
    sa.Column("actor_id", sa.BigInteger),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Index("ix_tessera_conversions_record", "object_uid", "record_id", "id"),
)

# -- app packages -------------------------------------------------------------------------
#: An installed package: which version runs, and its manifest.
packages = sa.Table(
    "tessera_packages", metadata,
    sa.Column("name", sa.String(80), primary_key=True),
    sa.Column("version", sa.String(40), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("manifest", json_column(), nullable=False),
    sa.Column("installed_at", UtcDateTime, nullable=False),
    sa.Column("installed_by", sa.BigInteger),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

#: The immutable base of each installed version: every document as the package shipped it,
#: in the platform's form (platform uids), kept per version for diffs and three-way merges;
#: `elements` maps its elements' platform uids to the author's (for exports).
package_documents = sa.Table(
    "tessera_package_documents", metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("package", sa.String(80), nullable=False),
    sa.Column("version", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("uid", sa.String(40), nullable=False),
    sa.Column("author_uid", sa.String(80), nullable=False),
    sa.Column("path", sa.String(300), nullable=False),
    sa.Column("base", json_column(), nullable=False),
    sa.Column("elements", json_column(), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.UniqueConstraint("package", "version", "uid"),
    sa.Index("ix_tessera_package_documents_uid", "uid"),
)

#: Sample records a package installed, by the key its data files give them (lookups in the
#: data name their targets by key; a resumed install skips what is there).
package_records = sa.Table(
    "tessera_package_records", metadata,
    sa.Column("package", sa.String(80), nullable=False),
    sa.Column("object_uid", sa.String(40), nullable=False),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("package", "object_uid", "key", name="pk_tessera_package_records"),
)

#: The review list of an upgrade: properties both the package and the customer changed.
#: The customer's value was kept; the admin may take the package's instead.
package_conflicts = sa.Table(
    "tessera_package_conflicts", metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("package", sa.String(80), nullable=False),
    sa.Column("version", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("uid", sa.String(40), nullable=False),
    sa.Column("path", sa.String(500), nullable=False),
    sa.Column("label", sa.String(500), nullable=False),
    sa.Column("values", json_column(), nullable=False),
    sa.Column("status", sa.String(10), nullable=False, server_default="open"),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Index("ix_tessera_package_conflicts_package", "package", "status"),
)

#: A package's files between the request that checked it and the job that installs it.
package_uploads = sa.Table(
    "tessera_package_uploads", metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("package", sa.String(80), nullable=False),
    sa.Column("version", sa.String(40), nullable=False),
    sa.Column("files", json_column(), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

#: An import of a spreadsheet into an object: the file as uploaded, how its columns map to
#: fields, and — once it runs — its checkpoint (`done_rows` and the counts so far), written in
#: the same transaction as each chunk of records, so a resumed job skips exactly what landed.
imports = sa.Table(
    "tessera_imports", metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("object_uid", sa.String(40), nullable=False),
    sa.Column("filename", sa.String(300), nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Column("sheet", sa.String(200)),
    sa.Column("headers", json_column(), nullable=False),
    #: A hash of the headers: a file with the same columns is mapped as it was the last time.
    sa.Column("signature", sa.String(64), nullable=False),
    sa.Column("total_rows", sa.BigInteger, nullable=False),
    sa.Column("settings", json_column(), nullable=False),
    sa.Column("status", sa.String(12), nullable=False, server_default="draft"),
    sa.Column("job_id", sa.BigInteger),
    sa.Column("done_rows", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("counts", json_column(), nullable=False),
    sa.Column("retry_of", sa.BigInteger),
    sa.Column("created_by", sa.BigInteger),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("ix_tessera_imports_object", "object_uid", "signature", "id"),
)

#: The rows an import refused: the cells as they came and every reason.
import_errors = sa.Table(
    "tessera_import_errors", metadata,
    sa.Column("import_id", sa.BigInteger, primary_key=True),
    sa.Column("row", sa.BigInteger, primary_key=True),
    sa.Column("cells", json_column(), nullable=False),
    sa.Column("problems", json_column(), nullable=False),
)

# Which objects have a full-text index, built from which fields (data/search.py): a save
# writes an object's entries while its index is here; `ready` is false while a rebuild
# job is filling a new one.
search_indexes = sa.Table(
    "tessera_search_indexes", metadata,
    sa.Column("object_uid", sa.String(40), primary_key=True),
    sa.Column("signature", sa.Text, nullable=False),
    sa.Column("ready", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("job_id", sa.BigInteger),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)
