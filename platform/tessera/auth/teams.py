"""Teams: groups of users. A role's `team` scope covers records owned by the user or any
teammate; sharing rules may name teams too.

    {"api_name": "east", "label": "East", "members": ["rep@example.com"]}

Members are set here (`members` replaces the list) or on the user (`teams`). Changing who
is in a team changes what they may see, so it bumps the auth revision like a role change.
A team has no manager of its own: each user has one (`manager`), and `set_manager` makes
one person the manager of every other member at once (a sales team's lead and their reps).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.auth import audit, schemas
from tessera.auth.accounts import AccountService
from tessera.auth.actor import Actor
from tessera.auth.roles import MetadataReader, sharing_rules_naming
from tessera.data.engine import read_transaction, write_transaction
from tessera.data.tables import team_members, teams, users
from tessera.errors import Conflict, FieldProblem, InvalidInput, NotFound

if TYPE_CHECKING:
    from tessera.auth.users import UserService


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


class TeamService:
    def __init__(self, users: UserService) -> None:
        self.users = users

    def list(self) -> list[dict[str, Any]]:
        with read_transaction(self.users.engine) as conn:
            rows = conn.execute(sa.select(teams).order_by(teams.c.api_name)).all()
            members = self._members(conn, [r.id for r in rows])
            return [self._out(r, members.get(r.id, [])) for r in rows]

    def get(self, api_name: str) -> dict[str, Any]:
        with read_transaction(self.users.engine) as conn:
            row = self._row(conn, api_name)
            return self._out(row, self._members(conn, [row.id]).get(row.id, []))

    def create(self, actor: Actor, doc: Any) -> dict[str, Any]:
        problems = schemas.problems("teams", doc)
        if problems:
            raise InvalidInput("The team is not valid; nothing was saved.", problems)
        at = datetime.now(UTC)
        with write_transaction(self.users.engine) as conn:
            member_ids = self._user_ids(conn, doc.get("members") or [])
            if conn.execute(sa.select(teams.c.id).where(teams.c.api_name == doc["api_name"])).first():
                raise Conflict(f"There is a team named {doc['api_name']!r} already.",
                               [FieldProblem("/api_name", "is taken", "taken")])
            try:
                team_id = conn.execute(sa.insert(teams).values(
                    api_name=doc["api_name"], label=doc["label"], description=doc.get("description", ""),
                    created_at=at, updated_at=at).returning(teams.c.id)).scalar_one()
            except sa.exc.IntegrityError:  # made meanwhile by another request
                raise Conflict(f"There is a team named {doc['api_name']!r} already.",
                               [FieldProblem("/api_name", "is taken", "taken")]) from None
            if member_ids:
                conn.execute(sa.insert(team_members), [{"team_id": team_id, "user_id": u} for u in member_ids])
                self.users.access_changed(conn)
            audit.record(conn, "team.created", actor_id=actor.user_id, target=f"team:{doc['api_name']}",
                         detail={"label": doc["label"], "members": sorted(doc.get("members") or [])})
            return self._out(self._row(conn, doc["api_name"]), self._members(conn, [team_id]).get(team_id, []))

    def update(self, actor: Actor, api_name: str, changes: Any) -> dict[str, Any]:
        problems = schemas.problems("teams", changes, partial=True)
        if problems:
            raise InvalidInput("The change is not valid; nothing was saved.", problems)
        with write_transaction(self.users.engine) as conn:
            row = self._row(conn, api_name)
            if changes.get("api_name", api_name) != api_name:
                raise InvalidInput("The change is not valid; nothing was saved.", [FieldProblem(
                    "/api_name", "a team keeps its api_name; create a new team instead", "immutable")])
            values = {k: changes[k] for k in ("label", "description") if k in changes and changes[k] != getattr(row, k)}
            detail: dict[str, Any] = {"changed": sorted(values)}
            if "members" in changes:
                before = {m["email"] for m in self._members(conn, [row.id]).get(row.id, [])}
                wanted = self._user_ids(conn, changes["members"])
                after = {e.strip().lower() for e in changes["members"]}
                if before != after:
                    conn.execute(sa.delete(team_members).where(team_members.c.team_id == row.id))
                    if wanted:
                        conn.execute(sa.insert(team_members), [{"team_id": row.id, "user_id": u} for u in wanted])
                    detail |= {"added": sorted(after - before), "removed": sorted(before - after)}
                    detail["changed"].append("members")
                    self.users.access_changed(conn)
            if values:
                conn.execute(sa.update(teams).where(teams.c.id == row.id)
                             .values(**values, updated_at=datetime.now(UTC)))
            if detail["changed"]:
                audit.record(conn, "team.changed", actor_id=actor.user_id, target=f"team:{api_name}", detail=detail)
            row = self._row(conn, api_name)
            return self._out(row, self._members(conn, [row.id]).get(row.id, []))

    def set_manager(self, actor: Actor, api_name: str, manager: str | None) -> list[str]:
        """Make the user with e-mail `manager` (None: nobody) the manager of every other
        member, in one transaction: a loop in any chain refuses the whole change. Returns
        the e-mails of the members whose manager changed."""
        wanted = manager.strip().lower() if isinstance(manager, str) and manager.strip() else None
        with write_transaction(self.users.engine) as conn:
            row = self._row(conn, api_name)
            boss = users.alias("boss")
            members = conn.execute(
                sa.select(users.c.id, users.c.email, boss.c.email.label("manager"))
                .select_from(team_members.join(users, users.c.id == team_members.c.user_id)
                             .outerjoin(boss, boss.c.id == users.c.manager_id))
                .where(team_members.c.team_id == row.id).order_by(users.c.email)).all()
            changed = []
            for member in members:
                if member.email == wanted or member.manager == wanted:
                    continue
                # The account service's own check: an unknown e-mail or a loop is refused.
                AccountService._set_manager(conn, member.id, wanted)
                audit.record(conn, "user.changed", actor_id=actor.user_id, target=f"user:{member.email}",
                             detail={"id": member.id, "changed": ["manager"], "before": {"manager": member.manager},
                                     "after": {"manager": wanted}, "via": f"team:{api_name}"})
                changed.append(member.email)
            if wanted is not None and not changed and conn.execute(
                    sa.select(users.c.id).where(users.c.email == wanted)).first() is None:
                raise InvalidInput("The manager is not a user; nothing was saved.",
                                   [FieldProblem("manager", f"there is no user {wanted!r}", "unknown_user")])
            return changed

    def delete(self, actor: Actor, api_name: str, metadata: MetadataReader, *, force: bool = False) -> None:
        """Delete a team; one with members, or named by sharing rules, only with `force`."""
        with write_transaction(self.users.engine) as conn:
            snap = metadata(conn)
            row = self._row(conn, api_name)
            members = [m["email"] for m in self._members(conn, [row.id]).get(row.id, [])]
            rules = sharing_rules_naming(snap, "teams", api_name)
            if (members or rules) and not force:
                uses = [f"has {len(members)} member{'s' if len(members) != 1 else ''}"] if members else []
                uses += [f"is named by {len(rules)} sharing rule{'s' if len(rules) != 1 else ''}"] if rules else []
                raise Conflict(f"The team {api_name!r} {' and '.join(uses)}; delete it with ?force=true.",
                               [FieldProblem("/api_name", " and ".join(uses), "in_use",
                                             detail={"members": members[:100], "sharing_rules": rules})])
            conn.execute(sa.delete(team_members).where(team_members.c.team_id == row.id))
            conn.execute(sa.delete(teams).where(teams.c.id == row.id))
            audit.record(conn, "team.deleted", actor_id=actor.user_id, target=f"team:{api_name}",
                         detail={"label": row.label, "members": members[:100]})
            self.users.access_changed(conn)

    @staticmethod
    def _row(conn: Connection, api_name: str) -> Any:
        row = conn.execute(sa.select(teams).where(teams.c.api_name == api_name)).first()
        if row is None:
            raise NotFound(f"There is no team named {api_name!r}.")
        return row

    @staticmethod
    def _user_ids(conn: Connection, emails: list[str]) -> list[int]:
        wanted = [e.strip().lower() for e in emails]
        found = dict(conn.execute(sa.select(users.c.email, users.c.id).where(users.c.email.in_(wanted))).all())
        missing = [FieldProblem(f"/members/{i}", f"there is no user {e!r}", "unknown_user")
                   for i, e in enumerate(wanted) if e not in found]
        if missing:
            raise InvalidInput("The team names users that do not exist; nothing was saved.", missing)
        return sorted(set(found.values()))

    @staticmethod
    def _members(conn: Connection, team_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
        out: dict[int, list[dict[str, Any]]] = {}
        if not team_ids:
            return out
        for r in conn.execute(sa.select(team_members.c.team_id, users.c.id, users.c.email, users.c.name,
                                        users.c.is_active)
                              .select_from(team_members.join(users)).where(team_members.c.team_id.in_(team_ids))
                              .order_by(users.c.email)):
            out.setdefault(r.team_id, []).append({"id": r.id, "email": r.email, "name": r.name,
                                                  "active": r.is_active})
        return out

    @staticmethod
    def _out(row: Any, members: list[dict[str, Any]]) -> dict[str, Any]:
        return {"api_name": row.api_name, "label": row.label, "description": row.description, "members": members,
                "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at)}
