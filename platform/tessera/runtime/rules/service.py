"""Rules in the running platform: where each trigger is heard, and what a firing does.

- before save (the pipeline's before_validate hook, inside the write): automation rules
  set fields or refuse the save; assignment rules fill the owner (the rule's turn is a
  locked row, so concurrent creates take turns fairly); scoring rules add up points.
- after save (the record's outbox event, after commit, at least once): automation rules
  run actions from the action registry; segments re-check the saved records.
- schedules (timers): cron rules, date-relative rules (swept hourly: "90 days before
  end_date"), and segment refreshes.
- events: a flow finished, an SLA warning or breach, a record entering or leaving a segment.

Every firing, and every rule stopped by loop protection, is written to the execution
log on the record ("why did this happen"). A cascade — a rule's action saving a record
that triggers a rule — carries its chain in the events it causes: a rule never runs again
on its own change, and chains stop at MAX_DEPTH, logged as `limited`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from croniter import croniter
from sqlalchemy.engine import Connection

from tessera.actions import ActionError
from tessera.auth.actor import Actor
from tessera.data.engine import dialect_insert, is_sqlite
from tessera.data.metastore import StoredDocument
from tessera.data.tables import rule_runs, rule_state, segment_members
from tessera.errors import TesseraError
from tessera.formula import FormulaError, evaluate
from tessera.meta.fieldtypes import FieldValueError
from tessera.meta.model import ObjectDef
from tessera.rules import assignment as choose
from tessera.rules.definition import Rule, matches_trigger, parse_rule
from tessera.runtime.kernel.catalog import Snapshot
from tessera.runtime.kernel.events import Event, caused_by
from tessera.runtime.rules import activity
from tessera.runtime.rules import assignment as assigning
from tessera.runtime.rules.segments import Feeds, walk_back

if TYPE_CHECKING:
    from tessera.runtime.background.timers import TimerService
    from tessera.runtime.kernel.events import EventBus
    from tessera.runtime.kernel.transactions import Kernel
    from tessera.runtime.metadata.documents import DocumentService
    from tessera.runtime.records.actions import ActionRunner
    from tessera.runtime.records.formulas import FormulaService
    from tessera.runtime.records.save import RecordChange, SaveBatch
    from tessera.runtime.records.service import RecordService

log = logging.getLogger("tessera.rules")
#: A connection's scratch list of the records that qualify for a segment (SQLite; a temporary table).
_SCRATCH = sa.Table("tessera_segment_scratch", sa.MetaData(), sa.Column("record_id", sa.Integer, primary_key=True),
                    prefixes=["TEMPORARY"])
MAX_DEPTH = 8
#: A segment run logs at most this many ids of records that entered (and that left).
RUN_IDS = 100
#: Per-record firings (before save) sum themselves up on the rule at most this often, so
#: concurrent saves do not queue on the rule's summary row.
NOTE_EVERY = timedelta(minutes=1)
#: Why a rule ran, in words, by the record event that ran it.
RECORD_WORDS = {"record.created": "added", "record.updated": "changed", "record.deleted": "deleted",
                "record.restored": "restored"}
EVENT_WORDS = activity.EVENT_WORDS
#: Date-relative rules and segments are looked at this often.
SWEEP_EVERY = timedelta(hours=1)
#: A scheduled rule acts on at most this many records per run (the rest next run).
MAX_SCHEDULED = 10_000


@dataclass(frozen=True)
class ActiveRule:
    uid: str
    name: str
    doc: Mapping[str, Any]

    @cached_property
    def parsed(self) -> Rule:
        """The rule as the engine reads it, parsed once per metadata revision."""
        return parse_rule(self.doc)

    @cached_property
    def words(self) -> frozenset[str]:
        """Every name the rule's document mentions (conditions, values, templates)."""
        return frozenset(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", json.dumps(self.doc)))

    @property
    def kind(self) -> str:
        return str(self.doc["kind"])

    @property
    def trigger(self) -> Mapping[str, Any]:
        return self.doc["trigger"]

    @property
    def on(self) -> str:
        return str(self.trigger["on"])


class RuleService:
    def __init__(self, kernel: Kernel, events: EventBus, timers: TimerService, documents: DocumentService,
                 formulas: FormulaService, records: RecordService, actions: ActionRunner) -> None:
        self.kernel = kernel
        self.events = events
        self.timers = timers
        self.documents = documents
        self.formulas = formulas
        self.records = records
        self.actions = actions
        self._by_revision: tuple[int, dict[str, list[ActiveRule]]] = (-1, {})
        self._feeds: tuple[int, Feeds | None] = (-1, None)

    # -- the rules of the moment --------------------------------------------------------
    def rules(self, conn: Connection, snap: Snapshot, object_name: str) -> list[ActiveRule]:
        """The active rules of an object in the order they run."""
        revision, by_object = self._by_revision
        if revision != snap.revision:
            by_object = {}
            for stored in self.documents.active(conn, snap, "rules"):
                if stored.body.get("active", True):
                    by_object.setdefault(str(stored.body["object"]), []).append(
                        ActiveRule(stored.uid, stored.api_name, stored.body))
            for found in by_object.values():
                found.sort(key=lambda r: (int(r.doc.get("order", 0)), r.name))
            self._by_revision = (snap.revision, by_object)
        return by_object.get(object_name, [])

    def rule(self, conn: Connection, uid: str) -> ActiveRule | None:
        snap = self.kernel.snapshot(conn)
        for stored in self.documents.active(conn, snap, "rules"):
            if stored.uid == uid and stored.body.get("active", True):
                return ActiveRule(stored.uid, stored.api_name, stored.body)
        return None

    # -- before save --------------------------------------------------------------------
    def before_save(self, batch: SaveBatch) -> None:
        rules = [r for r in self.rules(batch.conn, batch.snapshot, batch.obj.api_name)
                 if r.on == "before_save" and r.kind != "segment"]
        if not rules:
            return
        when = "created" if batch.creating else "updated"
        fresh = self.formulas.context(batch.conn, batch.snapshot, batch.actor)
        for change in batch.changes:
            if change.problems:
                continue
            # ISNEW, ISCHANGED and PRIORVALUE compare with the record as it was before this save.
            ctx = fresh if change.before is None else self.formulas.context(
                batch.conn, batch.snapshot, batch.actor, prior=change.before)
            changed = set(change.values)
            for rule in rules:
                if not matches_trigger(rule.parsed, when, changed):
                    continue
                record = {**(change.before or {}), **change.values}
                if not self._holds(batch.snapshot, batch.obj, rule.doc.get("condition"), record, ctx):
                    continue
                applied = self._apply_before(batch, rule, change, record, ctx)
                if applied is not None:
                    batch.notes.setdefault("rules.fired", []).append((rule, change, applied))

    def _apply_before(self, batch: SaveBatch, rule: ActiveRule, change: RecordChange, record: dict[str, Any],
                      ctx: Any) -> dict[str, Any] | None:
        snap, obj = batch.snapshot, batch.obj
        values: dict[str, Any] = {}
        if rule.kind == "automation":
            for action in rule.doc.get("actions", []):
                if action["action"] == "refuse":
                    change.problem(action.get("field") or "/", action["message"], "refused_by_rule")
                    return {"refused": action["message"]}
                if action["action"] == "set_fields":
                    for name, formula in action["set"].items():
                        values[name] = self._value(snap, obj, formula, {**record, **values}, ctx)
        elif rule.kind == "scoring":
            spec = rule.doc["scoring"]
            total = sum(int(part["points"]) for part in spec["rules"]
                        if self._holds(snap, obj, part["when"], record, ctx))
            values[spec["field"]] = total
        elif rule.kind == "assignment":
            spec = rule.doc["assignment"]
            target = spec.get("field", "owner")
            before = change.before or {}
            why = assigning.when_to_assign(
                target, creating=change.is_new, given=change.given, values=change.values,
                current=record.get(target), watches_fields=_watches(rule, change.values),
                held_before=lambda: self._holds(snap, obj, rule.doc.get("condition"), before, ctx))
            if why is None:
                return None
            user = self._assignee(batch.conn, snap, obj, rule, record)
            if user is None:
                return {"skipped": "no active member to assign"}
            values[target] = user
        for name, value in values.items():
            fdef = obj.field(name)
            if fdef is None and name == "owner":
                change.values["owner"] = value
                continue
            try:
                change.values[name] = fdef.ftype.coerce(fdef, value) if fdef is not None else value
            except (FieldValueError, ValueError, TypeError) as error:
                change.problem(name, f"rule {rule.name!r} gave no valid value: {error}", "rule_value")
        return {"set": {k: _plain(v) for k, v in values.items()}}

    def _value(self, snap: Snapshot, obj: ObjectDef, formula: str, record: Mapping[str, Any], ctx: Any) -> Any:
        # evaluate() compiles a checked formula once and keeps it: this runs in every save.
        return evaluate(self.formulas.checked(snap, obj, formula), record, ctx)

    def _holds(self, snap: Snapshot, obj: ObjectDef, condition: str | None, record: Mapping[str, Any],
               ctx: Any) -> bool:
        if not condition:
            return True
        return evaluate(self.formulas.checked(snap, obj, condition, "boolean"), record, ctx) is True

    def log_before_save(self, batch: SaveBatch) -> None:
        fired = batch.notes.get("rules.fired", [])
        if not fired:
            return
        now = datetime.now(UTC)
        batch.conn.execute(sa.insert(rule_runs), [{
            "rule_uid": rule.uid, "rule": rule.name, "object_uid": batch.obj.uid, "record_id": change.record_id,
            "at": now, "trigger": "before_save", "outcome": "refused" if "refused" in applied else "fired",
            "depth": 0, "changes": applied, "error": None} for rule, change, applied in fired])
        counts: dict[str, tuple[ActiveRule, int]] = {}
        for rule, _change, _applied in fired:
            counts[rule.uid] = (rule, counts.get(rule.uid, (rule, 0))[1] + 1)
        what = f"{batch.obj.label} {'added' if batch.creating else 'changed'}"
        for rule, count in counts.values():
            self._note_last(batch.conn, rule, what, len(batch.changes), count, at_most_every=NOTE_EVERY)

    def _note_last(self, conn: Connection, rule: ActiveRule, why: str, evaluated: int, changed: int, *,
                   at_most_every: timedelta | None = None, **more: Any) -> None:
        """Sum up a rule's latest run on the rule (the rules list and the rule's page read
        it): when, why, how many records it looked at and how many it changed."""
        key = f"{rule.uid}:last"
        now = datetime.now(UTC)
        if at_most_every is not None:
            last = conn.execute(sa.select(rule_state.c.updated_at).where(rule_state.c.rule_uid == key)).scalar()
            if last is not None and now - last < at_most_every:
                return
        self._save_state(conn, key, {"at": _iso(now), "why": why, "evaluated": evaluated, "changed": changed,
                                     **more})

    # -- assignment ---------------------------------------------------------------------
    def _assignee(self, conn: Connection, snap: Snapshot, obj: ObjectDef, rule: ActiveRule,
                  record: Mapping[str, Any]) -> int | None:
        spec = rule.doc["assignment"]
        members = assigning.members(conn, spec["team"])
        if not members:
            return None
        if spec["strategy"] == "least_open":
            counts = self._open_counts(conn, snap, obj, spec, members)
            return choose.least_open(counts, members)
        if spec["strategy"] == "by_attribute":
            # The record's value names a team (East → the team East): its members take turns.
            names = assigning.spellings(obj, spec["attribute"], record.get(spec["attribute"]))
            key = f"{rule.uid}:{str(names[0]).strip().casefold()}" if names else rule.uid
            state = self._turn(conn, key)
            chosen = choose.by_attribute(list(assigning.teams_of(conn, members).items()), names,
                                         last_assigned=state.get("last"))
            if chosen is not None:
                self._save_state(conn, key, {"last": chosen})
            return chosen
        state = self._turn(conn, rule.uid)
        chosen = choose.round_robin(members, state.get("last"))
        self._save_state(conn, rule.uid, {"last": chosen})
        return chosen

    def assignment_problems(self, doc: Mapping[str, Any]) -> list[Any]:
        """What keeps an assignment rule from working (a team that does not exist…), for
        the rules document kind's check (inside the saving transaction)."""
        if doc.get("kind") != "assignment":
            return []
        with self.kernel.read() as conn:
            return assigning.problems(doc, assigning.read_teams(conn))

    def assignment_notes(self, doc: Mapping[str, Any]) -> list[dict[str, str]]:
        """Who an assignment rule hands records to, and what leaves records unassigned, in
        words for the rule builder (each at the JSON pointer of its input)."""
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            obj = snap.objects.get(str(doc.get("object")))
            return assigning.notes(doc, obj, assigning.read_teams(conn))

    def _open_counts(self, conn: Connection, snap: Snapshot, obj: ObjectDef, spec: Mapping[str, Any],
                     members: list[int]) -> dict[int, int]:
        table = snap.table(obj)
        target = obj.field(spec.get("field", "owner"))
        column = table.c[target.column] if target is not None else table.c.owner
        query = (sa.select(column, sa.func.count()).where(column.in_(members), table.c.deleted_at.is_(None))
                 .group_by(column))
        if spec.get("open_condition"):
            query = query.where(self.formulas.filter_clause(snap, obj, spec["open_condition"],
                                                                   conn.dialect.name))
        counts = {m: 0 for m in members}
        counts.update({int(k): int(v) for k, v in conn.execute(query)})
        return counts

    def _turn(self, conn: Connection, key: str) -> dict[str, Any]:
        """The rule's state, locked until commit: concurrent saves take turns here (SQLite's
        write lock does the same there)."""
        query = sa.select(rule_state.c.value).where(rule_state.c.rule_uid == key)
        if not is_sqlite(conn):
            self._insert_state(conn, key, {})
            query = query.with_for_update()
        found = conn.execute(query).scalar()
        return dict(found or {})

    def _insert_state(self, conn: Connection, key: str, value: dict[str, Any]) -> None:
        conn.execute(dialect_insert(conn, rule_state).values(rule_uid=key, value=value, updated_at=datetime.now(UTC))
                     .on_conflict_do_nothing(index_elements=["rule_uid"]))

    def _save_state(self, conn: Connection, key: str, value: dict[str, Any]) -> None:
        self._insert_state(conn, key, value)
        conn.execute(sa.update(rule_state).where(rule_state.c.rule_uid == key)
                     .values(value=value, updated_at=datetime.now(UTC)))

    # -- after save and events ----------------------------------------------------------
    def after_save(self, conn: Connection, event: Event) -> None:
        if not event.object:
            return
        snap = self.kernel.snapshot(conn)
        if event.object not in snap.objects:
            return
        # Segments follow their records (and related ones) through related_changed.
        rules = [r for r in self.rules(conn, snap, event.object) if r.on == "after_save" and r.kind != "segment"]
        if not rules:
            return
        when = "created" if event.name == "record.created" else "updated"
        changed = set(event.payload.get("changed") or [])
        for rule in rules:
            if not matches_trigger(rule.parsed, when, changed):
                continue
            fired = sum(self._fire(conn, rule, record_id, f"after_save:{event.id}", event.cause,
                                   changed=frozenset(changed) if when == "updated" else None)
                        for record_id in event.record_ids)
            self._note_last(conn, rule, f"{snap.object(event.object).label} {when}", len(event.record_ids), fired)

    def on_event(self, conn: Connection, event: Event) -> None:
        if not event.object:
            return
        snap = self.kernel.snapshot(conn)
        if event.object not in snap.objects:
            return
        for rule in self.rules(conn, snap, event.object):
            trigger = rule.trigger
            if rule.on != "event" or trigger.get("event") != event.name:
                continue
            if trigger.get("source") and trigger["source"] != event.payload.get("source"):
                continue
            fired = sum(self._fire(conn, rule, record_id, f"event:{event.id}", event.cause, trigger_name=event.name)
                        for record_id in event.record_ids)
            self._note_last(conn, rule, EVENT_WORDS.get(event.name, event.name), len(event.record_ids), fired)

    def _fire(self, conn: Connection, rule: ActiveRule, record_id: int, run_key: str, chain: tuple[str, ...],
              trigger_name: str | None = None, changed: frozenset[str] | None = None) -> bool:
        """Run a rule's actions on one record, in the caller's transaction, and log it;
        whether it acted. `changed`: the fields an update changed (None: not an update)."""
        snap = self.kernel.snapshot(conn)
        obj = snap.object(rule.doc["object"])
        link = f"rule:{rule.uid}"
        trigger = trigger_name or rule.on
        if link in chain or len(chain) >= MAX_DEPTH:
            why = ("the rule's own change would run it again" if link in chain
                   else f"the cascade of rules and flows reached its limit of {MAX_DEPTH}")
            self._log(conn, rule, obj, record_id, trigger, "limited", len(chain), None, why)
            return False
        record = self.actions.load(conn, obj.api_name, record_id)
        if record is None:
            return False
        ctx = self.formulas.context(conn, snap, Actor.system())
        record = self._with_computed(conn, snap, obj, rule, record, ctx)
        if not self._holds(snap, obj, rule.doc.get("condition"), record, ctx):
            return False
        if rule.kind == "assignment" and changed is not None:
            target = rule.doc["assignment"].get("field", "owner")
            # After the save the record as it was is gone: an update reassigns only a blank
            # field, or when a field the trigger watches changed, and never undoes a person's pick.
            if target in changed or (record.get(target) is not None and not _watches(rule, changed)):
                return False
        results: list[Any] = []
        savepoint = conn.begin_nested()
        try:
            with caused_by(link):
                if rule.kind in ("scoring", "assignment"):
                    results.append(self._apply_after(conn, snap, obj, rule, record, ctx))
                else:
                    for index, step in enumerate(rule.doc.get("actions", [])):
                        key = f"{link}:{run_key}:{record_id}:{index}"
                        action_ctx = self.actions.context(conn, obj.api_name, record, key)
                        results.append(self.actions.run(action_ctx, _as_action(step)))
            savepoint.commit()
        except (ActionError, FormulaError) as error:
            savepoint.rollback()
            self._log(conn, rule, obj, record_id, trigger, "failed", len(chain), {"actions": results}, str(error))
            return False
        self._log(conn, rule, obj, record_id, trigger, "fired", len(chain), {"actions": results}, None)
        return True

    def _with_computed(self, conn: Connection, snap: Snapshot, obj: ObjectDef, rule: ActiveRule,
                       record: Mapping[str, Any], ctx: Any) -> Mapping[str, Any]:
        """The record with the formula fields computed when read (a grade, a state, days in
        stage) that the rule names: a record read from its table has none of them, so its
        condition, values and templates would see them blank."""
        wanted = [f for f in obj.fields if f.computed and not f.stored and f.api_name in rule.words]
        if not wanted:
            return record
        table = snap.table(obj)
        columns = self.formulas.computed_columns(snap, obj, wanted, conn.dialect.name, ctx)
        row = conn.execute(sa.select(*columns).where(table.c.id == int(record["id"]))).mappings().first()
        return {**record, **(row or {})}

    def _apply_after(self, conn: Connection, snap: Snapshot, obj: ObjectDef, rule: ActiveRule,
                     record: Mapping[str, Any], ctx: Any) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if rule.kind == "scoring":
            spec = rule.doc["scoring"]
            values[spec["field"]] = sum(int(p["points"]) for p in spec["rules"]
                                        if self._holds(snap, obj, p["when"], record, ctx))
        else:
            chosen = self._assignee(conn, snap, obj, rule, record)
            if chosen is None:
                return {"skipped": "no active member to assign"}
            values[rule.doc["assignment"].get("field", "owner")] = chosen
        self.records.update(Actor.system(), obj.api_name, int(record["id"]), values, None)
        return {"set": values}

    def _log(self, conn: Connection, rule: ActiveRule, obj: ObjectDef, record_id: int | None, trigger: str,
             outcome: str, depth: int, changes: Any, error: str | None) -> None:
        conn.execute(sa.insert(rule_runs).values(
            rule_uid=rule.uid, rule=rule.name, object_uid=obj.uid, record_id=record_id, at=datetime.now(UTC),
            trigger=trigger, outcome=outcome, depth=depth, changes=_json(changes), error=error))
        if outcome in ("limited", "failed"):
            log.warning("rule %s on %s %s: %s (%s)", rule.name, obj.api_name, record_id, outcome, error)

    # -- segments -----------------------------------------------------------------------
    def refresh_segment(self, conn: Connection, rule: ActiveRule, record_ids: list[int] | None = None,
                        why: str = "Refreshed") -> dict[str, int]:
        """Bring a segment's members up to date in SQL (all records, or just these), keep
        its checkbox in step, announce who entered and who left, and log the run (`why`
        it ran, in words: "Order added", "hourly check")."""
        snap = self.kernel.snapshot(conn)
        obj = snap.object(rule.doc["object"])
        table = snap.table(obj)
        source = rule.doc["segment"]["condition"]
        joins: list[tuple[Any, Any]] = []
        if record_ids is None:
            # Every record: aggregates in one grouped pass per relation and condition.
            condition, joins = self.formulas.grouped_filter(snap, obj, source, conn.dialect.name)
            evaluated = int(conn.execute(sa.select(sa.func.count()).select_from(table)
                                         .where(table.c.deleted_at.is_(None))).scalar_one())
        else:
            condition = self.formulas.filter_clause(snap, obj, source, conn.dialect.name)
            evaluated = len(record_ids)
        scope = [table.c.deleted_at.is_(None)]
        member_scope = [segment_members.c.rule_uid == rule.uid]
        if record_ids is not None:
            scope.append(table.c.id.in_(record_ids))
            member_scope.append(segment_members.c.record_id.in_(record_ids))
        entered, left = self._membership(conn, rule.uid, table, joins, [*scope, condition], member_scope)
        field_name = rule.doc["segment"].get("field")
        if field_name and (entered or left):
            # A record that left because it went to the trash keeps its box as it was.
            live = set(conn.execute(sa.select(table.c.id).where(table.c.id.in_(left), table.c.deleted_at.is_(None)))
                       .scalars()) if left else set()
            with caused_by(f"rule:{rule.uid}"):
                for ids, value in ((entered, True), ([i for i in left if i in live], False)):
                    for record_id in ids:
                        self.records.update(Actor.system(), obj.api_name, record_id, {field_name: value},
                                            None)
        for name, ids in (("segment.entered", entered), ("segment.left", left)):
            if ids:
                with caused_by(f"rule:{rule.uid}"):
                    self.events.emit(conn, name, {"object": obj.api_name, "source": rule.name},
                                     object_uid=obj.uid, record_ids=sorted(ids))
        self._log_segment(conn, rule, obj, why, evaluated, entered, left, field_name, full=record_ids is None)
        return {"entered": len(entered), "left": len(left)}

    def _log_segment(self, conn: Connection, rule: ActiveRule, obj: ObjectDef, why: str, evaluated: int,
                     entered: list[int], left: list[int], field_name: str | None, *, full: bool) -> None:
        """The run on the rule (its page: when, why, how many looked at, who entered and
        left) and on each record that entered or left (its "why did this happen")."""
        now = datetime.now(UTC)
        self._note_last(conn, rule, why, evaluated, len(entered) + len(left),
                        entered=len(entered), left=len(left))
        if not (entered or left or full):
            return  # a check that changed nothing is summed up on the rule, not logged
        changes: dict[str, Any] = {"why": why, "evaluated": evaluated, "entered": sorted(entered)[:RUN_IDS],
                                   "left": sorted(left)[:RUN_IDS], "entered_count": len(entered),
                                   "left_count": len(left)}
        if field_name:
            changes["field"] = field_name
        rows = [{"rule_uid": rule.uid, "rule": rule.name, "object_uid": obj.uid, "record_id": None, "at": now,
                 "trigger": "segment", "outcome": "fired", "depth": 0, "changes": changes, "error": None}]
        # Each record's own log says why it entered or left; a mass change (a segment's first
        # check, a changed condition) is told once, on the rule, rather than row by row.
        sides = ((entered, "entered", True), (left, "left", False)) if len(entered) + len(left) <= RUN_IDS else ()
        for ids, what, value in sides:
            for record_id in ids:
                one: dict[str, Any] = {what: True, "why": why}
                if field_name:
                    one["set"] = {field_name: value}
                rows.append({"rule_uid": rule.uid, "rule": rule.name, "object_uid": obj.uid, "record_id": record_id,
                             "at": now, "trigger": "segment", "outcome": "fired", "depth": 0, "changes": one,
                             "error": None})
        conn.execute(sa.insert(rule_runs), rows)

    # -- segments over related records ----------------------------------------------------
    def feeds(self, conn: Connection, snap: Snapshot) -> Feeds:
        """Which objects' changes concern which segments, worked out once per revision."""
        revision, found = self._feeds
        if revision != snap.revision or found is None:
            segments = [(r.uid, str(r.doc["object"]), str(r.doc["segment"]["condition"]))
                        for d in self.documents.active(conn, snap, "rules")
                        if d.body.get("active", True) and d.body.get("kind") == "segment"
                        for r in [ActiveRule(d.uid, d.api_name, d.body)]]
            found = Feeds(snap, segments, lambda o, text: self.formulas.checked(snap, o, text, None))
            self._feeds = (snap.revision, found)
        return found

    def related_changed(self, conn: Connection, event: Event) -> None:
        """Records were created, changed, deleted or restored: check again the segment
        records they concern (their own, or those whose condition reads them)."""
        snap = self.kernel.snapshot(conn)
        source = snap.by_uid.get(event.object_uid or "")
        if source is None or not event.record_ids:
            return
        updated = event.name == "record.updated"
        feeds = self.feeds(conn, snap).concerned(source.uid, event.payload.get("changed") if updated else None)
        if not feeds:
            return
        concerned: dict[str, set[int]] = {}
        for feed in feeds:
            if f"rule:{feed.rule_uid}" in event.cause:
                continue  # the segment's own checkbox being set
            concerned.setdefault(feed.rule_uid, set()).update(walk_back(conn, snap, feed.path, event.record_ids))
        verb = RECORD_WORDS.get(event.name, "changed")
        for uid, ids in concerned.items():
            rule = self.rule(conn, uid)
            if rule is not None and ids:
                self.refresh_segment(conn, rule, sorted(ids), why=f"{source.label} {verb}")

    def note_moves(self, batch: SaveBatch) -> None:
        """after_write hook: a related record moved to another parent (an order given to
        another customer) concerns the parent it left too, which only this save still
        knows; that one is checked after the commit, like the new one."""
        if batch.creating:
            return
        feeds = [f for f in self.feeds(batch.conn, batch.snapshot).by_source.get(batch.obj.uid, [])
                 if f.moved_by is not None]
        if not feeds:
            return
        for feed in feeds:
            lookup = feed.moved_by
            assert lookup is not None
            former = [c.before.get(lookup.column) for c in batch.changes
                      if c.before is not None and lookup.api_name in c.values]
            former = [int(i) for i in former if i is not None]
            if not former:
                continue
            # The parents it left, walked back the rest of the way to the segment's records.
            ids = walk_back(batch.conn, batch.snapshot, feed.path[:-1], former)
            rule = self.rule(batch.conn, feed.rule_uid)
            if rule is None or not ids:
                continue
            obj = batch.snapshot.object(rule.doc["object"])
            parent = feed.path[-1].parent
            self.events.emit(batch.conn, "segment.recheck", {
                "object": obj.api_name, "rule": rule.uid, "why": f"{batch.obj.label} moved to another {parent.label}"},
                object_uid=obj.uid, record_ids=sorted(ids))

    def recheck(self, conn: Connection, event: Event) -> None:
        """`segment.recheck`: check these records of one segment again."""
        rule = self.rule(conn, str(event.payload.get("rule")))
        if rule is not None and rule.kind == "segment" and event.record_ids:
            self.refresh_segment(conn, rule, sorted(event.record_ids), why=str(event.payload.get("why") or
                                                                               "Related records changed"))

    def _membership(self, conn: Connection, uid: str, table: sa.Table, joins: list[tuple[Any, Any]],
                    qualifies: list[Any], member_scope: list[Any]) -> tuple[list[int], list[int]]:
        """Insert the records that qualify and are not members, delete the members that no
        longer qualify; returns (entered, left). The condition — aggregates over related
        records, often — is worked out once: on PostgreSQL in one statement whose parts share
        it, on SQLite into a scratch table of this connection."""
        now = datetime.now(UTC)
        since = sa.literal(now, segment_members.c.since.type)
        records: Any = table
        for derived, on in joins:
            records = records.outerjoin(derived, on)
        if is_sqlite(conn):
            conn.exec_driver_sql("CREATE TEMP TABLE IF NOT EXISTS tessera_segment_scratch "
                                 "(record_id INTEGER PRIMARY KEY)")
            conn.exec_driver_sql("DELETE FROM tessera_segment_scratch")
            conn.execute(sa.insert(_SCRATCH).from_select(
                ["record_id"], sa.select(table.c.id).select_from(records).where(*qualifies)))
            qualifying: Any = sa.select(_SCRATCH.c.record_id)
            source = _SCRATCH
        else:
            # The plan's cost estimate (a subquery per record) would switch on JIT compilation,
            # which costs more than it saves here.
            conn.exec_driver_sql("SET LOCAL jit = off")
            source = sa.select(table.c.id.label("record_id")).select_from(records).where(*qualifies).cte("qualifying")
            qualifying = sa.select(source.c.record_id)
        new = (sa.select(sa.literal(uid), source.c.record_id, since)
               .where(~sa.exists().where(segment_members.c.rule_uid == uid,
                                         segment_members.c.record_id == source.c.record_id)))
        insert = (sa.insert(segment_members).from_select(["rule_uid", "record_id", "since"], new)
                  .returning(segment_members.c.record_id))
        delete = (sa.delete(segment_members).where(*member_scope, segment_members.c.record_id.not_in(qualifying))
                  .returning(segment_members.c.record_id))
        if is_sqlite(conn):
            left = list(conn.execute(delete).scalars())
            return list(conn.execute(insert).scalars()), left
        ins, dele = insert.cte("entered"), delete.cte("left")
        # Who entered and who left as two arrays in one row: tens of thousands of rows cost more.
        entered, left = conn.execute(sa.select(sa.select(sa.func.array_agg(ins.c.record_id)).scalar_subquery(),
                                               sa.select(sa.func.array_agg(dele.c.record_id)).scalar_subquery())).one()
        return [int(i) for i in entered or []], [int(i) for i in left or []]

    def members(self, conn: Connection, rule_name: str) -> list[int]:
        snap = self.kernel.snapshot(conn)
        uid = next(d.uid for d in self.documents.active(conn, snap, "rules") if d.api_name == rule_name)
        return list(conn.execute(sa.select(segment_members.c.record_id).where(segment_members.c.rule_uid == uid)
                                 .order_by(segment_members.c.record_id)).scalars())

    # -- schedules ----------------------------------------------------------------------
    def rule_changed(self, conn: Connection, stored: StoredDocument) -> None:
        """A rule was saved, trashed or restored: set or clear its timers."""
        timers = self.timers
        timers.cancel(conn, f"rule:{stored.uid}:", prefix=True)
        body = stored.body
        if stored.state != "active" or not body.get("active", True):
            return
        now = datetime.now(UTC)
        on = body["trigger"]["on"]
        if on == "schedule":
            timers.schedule(conn, "rule.cron", f"rule:{stored.uid}:cron", _next_cron(body["trigger"], now),
                            {"rule": stored.uid})
        elif on == "date_relative":
            self._save_state(conn, f"{stored.uid}:dates", {"swept_to": _start_of_day(body["trigger"], now)})
            timers.schedule(conn, "rule.dates", f"rule:{stored.uid}:dates", now, {"rule": stored.uid})
        if body["kind"] == "segment":
            timers.schedule(conn, "segment.refresh", f"rule:{stored.uid}:segment", now,
                            {"rule": stored.uid, "why": "The rule was saved"})

    def fire_cron(self, conn: Connection, params: dict[str, Any], due: datetime) -> None:
        rule = self.rule(conn, params["rule"])
        if rule is None:
            return
        snap = self.kernel.snapshot(conn)
        obj = snap.object(rule.doc["object"])
        table = snap.table(obj)
        if rule.kind == "segment":
            self.refresh_segment(conn, rule, why="On its schedule")
        else:
            query = (sa.select(table.c.id).where(table.c.deleted_at.is_(None)).order_by(table.c.id)
                     .limit(MAX_SCHEDULED))
            if rule.doc.get("condition"):
                query = query.where(self.formulas.filter_clause(snap, obj, rule.doc["condition"],
                                                                conn.dialect.name))
            ids = [int(i) for i in conn.execute(query).scalars()]
            fired = sum(self._fire(conn, rule, record_id, f"cron:{due.isoformat()}", ()) for record_id in ids)
            self._note_last(conn, rule, "On its schedule", len(ids), fired)
        self.timers.schedule(conn, "rule.cron", f"rule:{rule.uid}:cron",
                             _next_cron(rule.trigger, max(due, datetime.now(UTC))), {"rule": rule.uid})

    def fire_dates(self, conn: Connection, params: dict[str, Any], due: datetime) -> None:
        rule = self.rule(conn, params["rule"])
        if rule is None:
            return
        fired = self.sweep_dates(conn, rule, datetime.now(UTC))
        self._note_last(conn, rule, "Dates came due", fired, fired)
        self.timers.schedule(conn, "rule.dates", f"rule:{rule.uid}:dates", datetime.now(UTC) + SWEEP_EVERY,
                             {"rule": rule.uid})

    def sweep_dates(self, conn: Connection, rule: ActiveRule, now: datetime) -> int:
        """Fire a date-relative rule for every record whose moment (field + offset) passed
        since the last sweep; returns how many firings."""
        snap = self.kernel.snapshot(conn)
        obj = snap.object(rule.doc["object"])
        table = snap.table(obj)
        trigger = rule.trigger
        fdef = obj.field(trigger["field"])
        # A field of the object, or the record's own created_at / updated_at (date-times).
        column = table.c[fdef.column] if fdef is not None else table.c[trigger["field"]]
        on_date = fdef is not None and fdef.type == "date"
        state_key = f"{rule.uid}:dates"
        since = datetime.fromisoformat(self._turn(conn, state_key).get("swept_to") or _start_of_day(trigger, now))
        zone = ZoneInfo(trigger.get("timezone") or "UTC")
        at = time.fromisoformat(trigger.get("at", "00:00"))
        fired = 0
        for index, offset in enumerate(trigger["offsets"]):
            shift = timedelta(days=offset.get("days", 0), hours=offset.get("hours", 0),
                              minutes=offset.get("minutes", 0))
            if on_date:
                # The moment of a date is its day at `at`, local time: which days' moments fall in the window.
                first = (since - shift).astimezone(zone)
                last = (now - shift).astimezone(zone)
                low = first.date() if first.time() < at else first.date() + timedelta(days=1)
                high = last.date() if last.time() >= at else last.date() - timedelta(days=1)
                if high < low:
                    continue
                window = [column >= low, column <= high]
            else:
                window = [column > since - shift, column <= now - shift]
            query = sa.select(table.c.id, column).where(table.c.deleted_at.is_(None), *window).order_by(table.c.id)
            if rule.doc.get("condition"):
                query = query.where(self.formulas.filter_clause(snap, obj, rule.doc["condition"],
                                                                       conn.dialect.name))
            for record_id, value in conn.execute(query.limit(MAX_SCHEDULED)):
                moment = value.isoformat() if hasattr(value, "isoformat") else str(value)
                fired += self._fire(conn, rule, int(record_id), f"date:{index}:{moment}", (),
                                    trigger_name="date_relative")
        self._save_state(conn, state_key, {"swept_to": now.isoformat()})
        return fired

    def fire_segment_refresh(self, conn: Connection, params: dict[str, Any], due: datetime) -> None:
        rule = self.rule(conn, params["rule"])
        if rule is None:
            return
        self.refresh_segment(conn, rule, why=str(params.get("why") or "Hourly check"))
        self.timers.schedule(conn, "segment.refresh", f"rule:{rule.uid}:segment",
                             datetime.now(UTC) + SWEEP_EVERY, {"rule": rule.uid, "why": "Hourly check"})

    # -- reading the log ----------------------------------------------------------------
    def runs(self, actor: Actor, object_name: str, record_id: int, limit: int = 100) -> list[dict[str, Any]]:
        """The execution log of one record, newest first (the caller must be able to read it)."""
        self.records.get(actor, object_name, record_id)
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            obj = snap.object(object_name)
            rows = conn.execute(sa.select(rule_runs).where(rule_runs.c.object_uid == obj.uid,
                                                           rule_runs.c.record_id == record_id)
                                .order_by(rule_runs.c.id.desc()).limit(limit)).mappings().all()
        return [{"id": r["id"], "rule": r["rule"], "at": r["at"].astimezone(UTC).isoformat().replace("+00:00", "Z"),
                 "trigger": r["trigger"], "outcome": r["outcome"], "depth": r["depth"], "changes": r["changes"],
                 "error": r["error"]} for r in rows]

    def last_runs(self, uids: list[str]) -> dict[str, dict[str, Any]]:
        """Per rule uid: its latest run summed up (when, why, looked at, changed)."""
        with self.kernel.read() as conn:
            return activity.last_runs(conn, uids)

    def activity(self, actor: Actor, name: str) -> dict[str, Any]:
        """What a rule did, for its page: its latest run, its recent runs (a segment's
        checks with who entered and left; other rules' firings with what they set, by the
        records' names), a segment's member count, and when it next runs on its own."""
        doc = self.documents.get("rules", name)
        uid, segment = str(doc["uid"]), doc.get("kind") == "segment"
        with self.kernel.read() as conn:
            obj = self.kernel.snapshot(conn).objects.get(str(doc["object"]))
            last = activity.last_runs(conn, [uid]).get(uid)
            runs = activity.recent_runs(conn, uid, segment=segment) if last else []
            members = activity.member_count(conn, uid) if segment else None
            upcoming = activity.next_runs(conn, uid)
            sets = [activity.set_of(r["changes"]) for r in runs]
            people = activity.user_names(conn, (v for one in sets for v in one.values()))
        names = self._record_names(actor, obj, activity.record_ids(runs)) if obj is not None else {}
        shown = activity.shown(runs, sets, obj, names, people, segment=segment)
        return {"uid": uid, "last": last, "runs": shown, "members": members, "next": upcoming,
                "object": str(doc["object"]), "label": obj.label if obj is not None else str(doc["object"]),
                "plural": obj.plural_label if obj is not None else str(doc["object"])}

    def _record_names(self, actor: Actor, obj: ObjectDef, ids: set[int]) -> dict[int, str]:
        """The names of these records that the person may read."""
        if not ids or obj.name_field is None:
            return {}
        wanted = sorted(ids)[:200]
        try:
            found = self.records.list(actor, obj.api_name, fields=[obj.name_field.api_name], limit=len(wanted),
                                      filter=" OR ".join(f"id = {i}" for i in wanted))
        except TesseraError:
            return {}  # may not read them: shown by number
        return {int(r["id"]): str(r.get(obj.name_field.api_name) or f"#{r['id']}") for r in found["data"]}


def _watches(rule: ActiveRule, changed: Iterable[str]) -> bool:
    """Whether an update reassigns because of what it changed: a field the trigger watches
    (it would not run otherwise), or the field a by-attribute rule reads (East → West)."""
    spec = rule.doc.get("assignment") or {}
    return bool(rule.parsed.trigger.changed) or (spec.get("strategy") == "by_attribute"
                                                 and spec.get("attribute") in set(changed))


def _as_action(step: Mapping[str, Any]) -> Mapping[str, Any]:
    """A rule's set_fields after save is the registry's update_record."""
    if step.get("action") == "set_fields":
        return {"action": "update_record", "set": step["set"]}
    return step


def _next_cron(trigger: Mapping[str, Any], after: datetime) -> datetime:
    zone = ZoneInfo(trigger.get("timezone") or "UTC")
    return croniter(trigger["cron"], after.astimezone(zone)).get_next(datetime).astimezone(UTC)


def _start_of_day(trigger: Mapping[str, Any], now: datetime) -> str:
    zone = ZoneInfo(trigger.get("timezone") or "UTC")
    return datetime.combine(now.astimezone(zone).date(), time(0), zone).astimezone(UTC).isoformat()


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return _plain(value)
