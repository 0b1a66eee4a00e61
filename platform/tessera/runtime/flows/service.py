"""Flows in the running platform: published versions, instances that survive crashes,
the approvals inbox, and the triggers that start flows.

Every transition of an instance — started, a decision on a task, a timer, a record change
a wait was watching — is one database transaction: the instance row is locked, the pure
executor (tessera.workflow) computes the next state and its effects, and the effects are
applied in the same transaction: task rows, timer rows, history rows, the record lock,
actions (records saved through the pipeline; e-mail and webhooks queued as deliveries keyed
by the step's run), notifications and the `flow.finished` event. A worker killed mid-way
leaves the transaction uncommitted and its event or timer still pending, so the next
worker redoes exactly that transition: no step lost, nothing done twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from croniter import croniter
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.engine import Connection

from tessera.actions import ActionError, check_actions
from tessera.actions import people as people_specs
from tessera.auth.actor import Actor
from tessera.data.metastore import AUTH_REVISION, REVISION, StoredDocument, revision_columns
from tessera.data.prepared import Prepared
from tessera.data.tables import documents, flow_events, flow_instances, flow_tasks, flow_versions, users
from tessera.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound, TesseraError
from tessera.formula import FormulaError
from tessera.runtime.kernel.catalog import Snapshot
from tessera.runtime.kernel.events import Event, caused_by
from tessera.runtime.records.formulas import LazyRecord
from tessera.workflow import (
    CancelTimer,
    CloseTask,
    Decision,
    Env,
    Executor,
    Finished,
    History,
    LockRecord,
    Notify,
    OpenTask,
    RunAction,
    ScheduleTimer,
    Transition,
    TransitionError,
    UnlockRecord,
    compile_flow,
    flow_problems,
    people_references,
    trigger_matches,
)
from tessera.workflow.definition import Flow

if TYPE_CHECKING:
    from tessera.auth.users import UserService
    from tessera.runtime.background.deliveries import DeliveryService
    from tessera.runtime.background.notifications import NotificationService
    from tessera.runtime.background.timers import TimerService
    from tessera.runtime.kernel.events import EventBus
    from tessera.runtime.kernel.transactions import Kernel
    from tessera.runtime.metadata.documents import DocumentService
    from tessera.runtime.records.actions import ActionRunner
    from tessera.runtime.records.formulas import FormulaService
    from tessera.runtime.records.save import SaveBatch
    from tessera.runtime.records.service import RecordService

log = logging.getLogger("tessera.flows")
ACTIONS = ("approve", "reject", "complete", "send_back", "delegate", "add_before", "add_after")
#: A signed link in an e-mail stays valid this long (seconds).
LINK_MAX_AGE = 14 * 24 * 3600
MAX_SCHEDULED = 10_000


# A transition's statements, compiled once: they run in every one, and SQLAlchemy's
# bookkeeping per execution would cost more than running them (tessera.data.prepared).
_TASK_COLUMNS = ("instance_id", "key", "step", "kind", "label", "assignee_id", "status", "comment", "created_at",
                 "due_at")
_INSTANCE_COLUMNS = ("flow_uid", "version", "object_uid", "record_id", "status", "state", "started_by", "started_at",
                     "updated_at", "lock")
_INSERT_INSTANCE = Prepared(sa.insert(flow_instances).returning(flow_instances.c.id), columns=_INSTANCE_COLUMNS)
_INSERT_NUMBERED_INSTANCE = Prepared(sa.insert(flow_instances), columns=("id", *_INSTANCE_COLUMNS))
_INSERT_TASK = Prepared(sa.insert(flow_tasks), columns=_TASK_COLUMNS)
_INSERT_EVENT = Prepared(sa.insert(flow_events),
                         columns=("instance_id", "at", "event", "step", "actor_id", "comment", "detail"))
_CLOSE_TASK = Prepared(sa.update(flow_tasks)
                       .where(flow_tasks.c.instance_id == sa.bindparam("instance"),
                              flow_tasks.c.key == sa.bindparam("task"))
                       .values(status=sa.bindparam("status"), closed_at=sa.bindparam("at")))
_UPDATE_INSTANCE = Prepared(sa.update(flow_instances).where(flow_instances.c.id == sa.bindparam("instance")),
                            columns=("state", "status", "updated_at", "lock", "finished_at"))


def _locking(query: sa.Select[Any]) -> Prepared:
    # SQLite's write lock, taken at BEGIN, covers the row already.
    return Prepared(lambda dialect: query if dialect == "sqlite" else query.with_for_update(of=flow_instances))


# The instance with the task decided (or alone), and the revisions the snapshot needs: one
# read, which locks the instance's row.
_TASK_LOCK = _locking(sa.select(flow_instances, flow_tasks.c.key.label("task_key"),
                                flow_tasks.c.status.label("task_status"), flow_tasks.c.assignee_id,
                                *revision_columns())
                      .join(flow_tasks, flow_tasks.c.instance_id == flow_instances.c.id)
                      .where(flow_tasks.c.id == sa.bindparam("task")))
_INSTANCE_LOCK = _locking(sa.select(flow_instances, *revision_columns())
                          .where(flow_instances.c.id == sa.bindparam("instance")))
_TASKS_OF = Prepared(sa.select(flow_tasks, users.c.email, users.c.name)
                     .outerjoin(users, users.c.id == flow_tasks.c.assignee_id)
                     .where(flow_tasks.c.instance_id == sa.bindparam("instance")).order_by(flow_tasks.c.id))


def _running_on(flow_uid: sa.ColumnElement[Any]) -> sa.Exists:
    """Whether the flow runs on the record (parameter `record`) already."""
    return sa.exists().where(flow_instances.c.flow_uid == flow_uid,
                             flow_instances.c.record_id == sa.bindparam("record"),
                             # not IN (…): that is expanded per execution, and this is compiled once
                             sa.or_(flow_instances.c.status == "running", flow_instances.c.status == "rework"))


_RUNNING = _running_on(sa.bindparam("flow"))


def _startable(dialect: str) -> sa.Select[Any]:
    """What starting a flow by its name on a record needs to know, in one read: the flow,
    its newest version, whether it runs on the record already, the revisions for the
    snapshot and, on PostgreSQL, the new instance's id (its rows then need no answer)."""
    next_id = (sa.null() if dialect == "sqlite" else
               sa.func.nextval(sa.func.pg_get_serial_sequence(flow_instances.name, "id")))
    return (sa.select(documents.c.uid, sa.select(sa.func.max(flow_versions.c.version))
                      .where(flow_versions.c.flow_uid == documents.c.uid).scalar_subquery().label("version"),
                      _running_on(documents.c.uid).label("running"), next_id.label("id"), *revision_columns())
            .where(documents.c.kind == "flows", documents.c.api_name == sa.bindparam("flow"),
                   documents.c.state == "active"))


_STARTABLE = Prepared(_startable)
_ASK = {"approval": "Your approval is needed.", "rework": "Your request was sent back to you for rework."}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class FlowService:
    def __init__(self, kernel: Kernel, events: EventBus, timers: TimerService, deliveries: DeliveryService,
                 notifications: NotificationService, documents: DocumentService, formulas: FormulaService,
                 records: RecordService, actions: ActionRunner, users: UserService) -> None:
        self.kernel = kernel
        self.events = events
        self.timers = timers
        self.deliveries = deliveries
        self.notifications = notifications
        self.documents = documents
        self.formulas = formulas
        self.records = records
        self.actions = actions
        self.users = users
        self._compiled: dict[tuple[str, int], tuple[Flow, Executor]] = {}

    # -- publishing ---------------------------------------------------------------------
    def problems(self, conn: Connection, snap: Snapshot, doc: Mapping[str, Any]) -> list[FieldProblem]:
        """Everything that stops a flow from being published: its shape and formulas,
        action parameters, and users, roles and teams that do not exist."""
        from tessera.runtime.records.formulas import SnapshotSchema

        schema = SnapshotSchema(snap)
        problems = flow_problems(doc, schema)
        if problems:
            return problems
        obj = snap.object(str(doc["object"]))
        for pointer, spec in people_references(doc):
            if spec.get("manager") == "approver" and "/escalate/to/" in pointer:
                continue  # the manager of whoever holds the task: nobody to look up now
            problems += people_specs.people_problems([spec], obj, schema, pointer.rsplit("/", 1)[0], conn)
        ends = [(action, f"/on_end/{outcome}/{i}") for outcome, actions in (doc.get("on_end") or {}).items()
                for i, action in enumerate(actions)]
        for step, pointer in [*_action_steps(doc.get("steps", []), "/steps"), *ends]:
            found = check_actions([_action_of(step)], obj, schema, "/x")
            problems += [FieldProblem(p.field.replace("/x/0", pointer, 1), p.message, p.code) for p in found]
        return problems

    def publish(self, actor: Actor, name: str) -> dict[str, Any]:
        """Publish the flow's current document as its next version (new instances run it;
        running ones keep theirs)."""
        _require_builder(actor)
        with self.kernel.write() as conn:
            snap = self.kernel.snapshot(conn)
            stored = self._document(conn, snap, name)
            body = {k: v for k, v in stored.body.items() if k not in ("uid", "version")}
            problems = self.problems(conn, snap, body)
            if problems:
                raise InvalidInput(f"The flow {name!r} cannot be published.", problems)
            version = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(flow_versions.c.version), 0))
                                       .where(flow_versions.c.flow_uid == stored.uid)).scalar_one()) + 1
            conn.execute(sa.insert(flow_versions).values(flow_uid=stored.uid, version=version, body=stored.body,
                                                         published_at=datetime.now(UTC), published_by=actor.user_id))
            timers = self.timers
            timers.cancel(conn, f"flowcron:{stored.uid}")
            if body["trigger"].get("on") == "schedule":
                timers.schedule(conn, "flow.cron", f"flowcron:{stored.uid}", _next_cron(body["trigger"]),
                                {"flow": stored.uid})
        return {"flow": name, "version": version, "published": True}

    def check(self, actor: Actor, doc: Any) -> list[dict[str, Any]]:
        """The problems publishing this document would meet (the designer's Validate)."""
        _require_builder(actor)
        if not isinstance(doc, dict):
            raise InvalidInput("Send a flow document.", [FieldProblem("/", "must be an object")])
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            return [p.as_json() for p in self.problems(conn, snap, doc)]

    def versions(self, actor: Actor, name: str) -> list[dict[str, Any]]:
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            stored = self._document(conn, snap, name)
            rows = conn.execute(sa.select(flow_versions).where(flow_versions.c.flow_uid == stored.uid)
                                .order_by(flow_versions.c.version.desc())).mappings().all()
        return [{"version": r["version"], "published_at": _iso(r["published_at"]), "published_by": r["published_by"]}
                for r in rows]

    def _document(self, conn: Connection, snap: Snapshot, name: str) -> StoredDocument:
        for stored in self.documents.active(conn, snap, "flows"):
            if stored.api_name == name:
                return stored
        raise NotFound(f"There is no flow {name!r}.")

    def _latest(self, conn: Connection, flow_uid: str) -> int | None:
        return conn.execute(sa.select(sa.func.max(flow_versions.c.version))
                            .where(flow_versions.c.flow_uid == flow_uid)).scalar()

    def _executor(self, conn: Connection, flow_uid: str, version: int) -> tuple[Flow, Executor]:
        key = (flow_uid, version)
        found = self._compiled.get(key)
        if found is None:
            body = conn.execute(sa.select(flow_versions.c.body).where(
                flow_versions.c.flow_uid == flow_uid, flow_versions.c.version == version)).scalar_one()
            flow = compile_flow(body)
            found = self._compiled[key] = (flow, Executor(flow))
        return found

    # -- starting -----------------------------------------------------------------------
    def start(self, actor: Actor, name: str, record_id: int, comment: str = "") -> dict[str, Any]:
        """Start a flow on a record (its button, or the API) as `actor`, who must be able to
        read the record; the flow's trigger must be a button or the API."""
        with self.kernel.write(pipelined=True) as conn:
            startable = _STARTABLE.read(conn, {"flow": name, "record": record_id}).first()
            snap = self.kernel.snapshot(conn, None if startable is None else (startable[REVISION],
                                                                              startable[AUTH_REVISION]))
            stored = self._document(conn, snap, name)
            if startable is None or startable["uid"] != stored.uid:  # the same read: they cannot disagree
                raise Conflict(f"The flow {name!r} changed while it was being started; try again.")
            if stored.body["trigger"].get("on") not in ("button", "api"):
                raise Conflict(f"The flow {name!r} starts on its own ({stored.body['trigger'].get('on')}); "
                               "it has no button to start it by hand.")
            if startable["version"] is None:
                raise Conflict(f"The flow {name!r} is not published yet.")
            obj = snap.object(str(stored.body["object"]))
            self.records.require(conn, snap, obj, actor, record_id, "read")
            if startable["running"]:
                raise Conflict(f"The flow {name!r} is already running on this record.")
            if not self._may_start(conn, stored.body, record_id):
                label = stored.body.get("label") or name
                raise Conflict(f"{label} cannot start on this record now: it starts when "
                               f"{stored.body['trigger']['condition']}.",
                               [FieldProblem("/trigger/condition", "the condition does not hold", "not_applicable")])
            row = self._start(conn, snap, stored.uid, startable["version"], record_id, actor.user_id, comment,
                              startable["id"])
            answer = self._answer(conn, row)
        return answer()

    def _may_start(self, conn: Connection, body: Mapping[str, Any], record_id: int) -> bool:
        """Whether a button or API flow's trigger condition holds on the record (none: it does)."""
        condition = (body.get("trigger") or {}).get("condition")
        if not condition:
            return True
        record = self.actions.load(conn, str(body["object"]), record_id) or {"id": record_id}
        try:
            return self.actions.evaluator(conn)(str(condition), str(body["object"]), record) is True
        except FormulaError:
            return False

    def startable(self, actor: Actor, object_name: str, record_id: int) -> list[str]:
        """The published button flows of an object that may start on the record now: active,
        not running on it, their trigger condition holding (the record page's Start buttons)."""
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            out = []
            for stored, _version in self._published(conn, snap, object_name):
                if stored.body["trigger"].get("on") != "button" or self._running(conn, stored.uid, record_id):
                    continue
                if self._may_start(conn, stored.body, record_id):
                    out.append(stored.api_name)
            return out

    def _running(self, conn: Connection, flow_uid: str, record_id: int) -> bool:
        return bool(conn.execute(sa.select(_RUNNING), {"flow": flow_uid, "record": record_id}).scalar())

    def _start(self, conn: Connection, snap: Snapshot, flow_uid: str, version: int, record_id: int,
               submitter: int | None, comment: str = "", instance_id: int | None = None) -> dict[str, Any]:
        """Start an instance: `instance_id`, if the caller has drawn one from the sequence."""
        flow, executor = self._executor(conn, flow_uid, version)
        obj = snap.object(flow.doc["object"])
        now = datetime.now(UTC)
        env = self._env(conn, flow, record_id, submitter)
        transition = executor.start(env, submitter, comment)
        state = transition.state
        lock = next((list(e.editable_fields) for e in transition.effects if isinstance(e, LockRecord)), None)
        row: dict[str, Any] = {"flow_uid": flow_uid, "version": version, "object_uid": obj.uid, "record_id": record_id,
                               "status": state.get("status", "running"), "state": state, "started_by": submitter,
                               "started_at": now, "updated_at": now, "lock": lock}
        if instance_id is None:
            row["id"] = int(_INSERT_INSTANCE.read(conn, row).one()["id"])
        else:
            row["id"] = instance_id
            _INSERT_NUMBERED_INSTANCE.write(conn, row)
        row.update(finished_at=None, error=None)
        return self._apply_guarded(conn, row, flow, transition, update=False)

    def _env(self, conn: Connection, flow: Flow, record_id: int, submitter: int | None) -> Env:
        object_name = str(flow.doc["object"])
        # Read only if a condition, a person field or a formula asks for it.
        record = LazyRecord(lambda: self.actions.load(conn, object_name, record_id) or {"id": record_id})
        actions = self.actions
        evaluator: list[Any] = []

        def evaluate(source: str, rec: Mapping[str, Any]) -> Any:
            if not evaluator:
                evaluator.append(actions.evaluator(conn))
            return evaluator[0](source, object_name, rec)

        def people(specs: Sequence[Mapping[str, Any]], rec: Mapping[str, Any], by: int | None) -> list[int]:
            return actions.people(conn, specs, rec, by, lambda f: evaluate(f, rec))

        return Env(now=datetime.now(UTC), record=record, evaluate=evaluate, people=people)

    # -- applying a transition ----------------------------------------------------------
    def _apply(self, conn: Connection, row: Mapping[str, Any], flow: Flow, transition: Transition,
               *, update: bool = True) -> dict[str, Any]:
        """Apply a transition's effects in the caller's transaction; returns the instance
        columns it changed. New rows of one kind go in one statement."""
        state, effects = transition
        instance_id = int(row["id"])
        now = datetime.now(UTC)
        values: dict[str, Any] = {"state": state, "status": state.get("status", "running"), "updated_at": now}
        object_name = str(flow.doc["object"])
        link = f"/app/{object_name}/{row['record_id']}"
        label = flow.doc.get("label", flow.doc["api_name"])
        tasks: list[dict[str, Any]] = []
        history: list[dict[str, Any]] = []
        notes: list[dict[str, Any]] = []
        mails: list[OpenTask] = []
        closed: list[dict[str, Any]] = []

        def write_pending() -> None:
            # Before an action runs (it may read tasks) and at the end.
            _CLOSE_TASK.write(conn, closed)
            _INSERT_TASK.write(conn, tasks)
            _INSERT_EVENT.write(conn, history)
            if notes:
                self.notifications.add_many(conn, notes)
            if mails:
                self._mail_tasks(conn, instance_id, row, flow, mails)
            for pending in (closed, tasks, history, notes, mails):
                pending.clear()

        for number, effect in enumerate(effects):
            if isinstance(effect, OpenTask):
                tasks.append({"instance_id": instance_id, "key": effect.key, "step": effect.step,
                              "kind": effect.task_kind, "label": effect.label[:300], "assignee_id": effect.user,
                              "status": "open", "comment": "", "created_at": now, "due_at": effect.due_at})
                notes.append({"user_id": effect.user, "key": f"flow:{instance_id}:task:{effect.key}",
                              "title": f"{label}: {effect.label}", "link": link,
                              "body": _ASK.get(effect.task_kind, "A task for you.")})
                if flow.steps[effect.step].doc.get("email"):
                    mails.append(effect)
            elif isinstance(effect, CloseTask):
                closed.append({"instance": instance_id, "task": effect.key, "status": effect.status[:12], "at": now})
            elif isinstance(effect, ScheduleTimer):
                self.timers.schedule(conn, "flow.timer", f"flow:{instance_id}:{effect.key}", effect.due_at,
                                     {"instance": instance_id, "key": effect.key})
            elif isinstance(effect, CancelTimer):
                self.timers.cancel(conn, f"flow:{instance_id}:{effect.key}")
            elif isinstance(effect, RunAction):
                write_pending()
                record = self.actions.load(conn, object_name, int(row["record_id"]))
                self._run_action(conn, instance_id, object_name, record, effect, number, state)
            elif isinstance(effect, Notify):
                notes += [{"user_id": user_id, "title": f"{label}: {effect.reason} — {effect.step}", "body": "",
                           "key": f"flow:{instance_id}:{effect.reason}:{state.get('n')}:{effect.step}:{user_id}",
                           "link": link} for user_id in effect.users]
            elif isinstance(effect, LockRecord):
                values["lock"] = list(effect.editable_fields)
            elif isinstance(effect, UnlockRecord):
                values["lock"] = None
            elif isinstance(effect, History):
                history.append({"instance_id": instance_id, "at": now, "event": effect.event[:30], "step": effect.step,
                                "actor_id": effect.by, "comment": effect.comment,
                                "detail": dict(effect.detail) or None})
            elif isinstance(effect, Finished):
                values.update(status=effect.outcome, finished_at=now, lock=None)
                with caused_by(f"flow:{instance_id}"):
                    self.events.emit(conn, "flow.finished", {
                        "object": object_name, "source": flow.doc["api_name"], "outcome": effect.outcome,
                        "instance": instance_id}, object_uid=row["object_uid"], record_ids=[int(row["record_id"])])
        write_pending()
        if update or set(values) - {"state", "status", "updated_at", "lock"}:
            _UPDATE_INSTANCE.write(conn, {"instance": instance_id, "lock": row["lock"],
                                          "finished_at": row["finished_at"], **values})
        return values

    def _mail_tasks(self, conn: Connection, instance_id: int, row: Mapping[str, Any], flow: Flow,
                    opened: list[OpenTask]) -> None:
        """E-mail each person a task was opened for, with signed links to decide it."""
        addresses = dict(conn.execute(sa.select(users.c.id, users.c.email)
                                      .where(users.c.id.in_({t.user for t in opened}))).all())
        record_link = f"{self.kernel.settings.public_url}/app/{flow.doc['object']}/{row['record_id']}"
        for task in opened:
            if task.user not in addresses:
                continue
            lines = [f"{flow.doc.get('label', flow.api_name)}: {task.label}", "", f"The record: {record_link}", ""]
            decisions = ("approve", "reject") if task.task_kind == "approval" else ("complete",)
            lines += [f"{d.capitalize()}: {self.signed_link(instance_id, task.key, task.user, d)}" for d in decisions]
            self.deliveries.queue(conn, "email", f"flow:{instance_id}:task:{task.key}:mail", {
                "to": [addresses[task.user]], "subject": f"{flow.doc.get('label', flow.api_name)}: {task.label}",
                "text": "\n".join(lines), "link": record_link})

    def _run_action(self, conn: Connection, instance_id: int, object_name: str, record: Mapping[str, Any] | None,
                    effect: RunAction, number: int, state: Mapping[str, Any]) -> None:
        # The key names this run of the step: a redone transition queues nothing twice.
        key = f"flow:{instance_id}:{effect.step}:{state.get('n')}:{number}"
        with caused_by(f"flow:{instance_id}"):
            ctx = self.actions.context(conn, object_name, record, key)
            try:
                result = self.actions.run(ctx, _action_of({"action": effect.action, **effect.params}))
            except ActionError as error:
                raise FlowStepFailed(effect.step, str(error)) from None
        conn.execute(sa.insert(flow_events).values(instance_id=instance_id, at=datetime.now(UTC), event="action",
                                                   step=effect.step, actor_id=None, comment="", detail=result))

    def _transition(self, conn: Connection, instance_id: int, do: Any,
                    locked: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Lock the instance (unless the caller has: `locked`), run `do(executor, state,
        env)` and apply what it returns. A step whose action fails ends the instance as
        failed, with the reason in its history."""
        if locked is None:
            locked = self._lock(conn, _INSTANCE_LOCK, {"instance": instance_id})
            if locked is None:
                raise NotFound(f"There is no flow instance {instance_id}.")
        row = {c.name: locked[c.name] for c in flow_instances.c}
        flow, executor = self._executor(conn, row["flow_uid"], row["version"])
        env = self._env(conn, flow, int(row["record_id"]), row["started_by"])
        transition = do(executor, dict(row["state"]), env)
        return self._apply_guarded(conn, row, flow, transition)

    def _lock(self, conn: Connection, query: Prepared, params: dict[str, Any]) -> Mapping[str, Any] | None:
        """Lock and read an instance (None: there is none), and take the transaction's
        snapshot from the revisions the same read carried — before anything is decided."""
        found = query.read(conn, params).first()
        self.kernel.snapshot(conn, None if found is None else (found[REVISION],
                                                               found[AUTH_REVISION]))
        return found

    def _apply_guarded(self, conn: Connection, row: dict[str, Any], flow: Flow, transition: Transition,
                       *, update: bool = True) -> dict[str, Any]:
        """Apply a transition; if one of its actions fails, undo the transition and end the
        instance as failed, with the reason in its history (the cause of the event or
        timer still commits: retrying would fail the same way)."""
        instance_id = int(row["id"])
        # Only a step that runs actions can fail half-way: only then is a savepoint worth its round trips.
        savepoint = conn.begin_nested() if any(isinstance(e, RunAction) for e in transition.effects) else None
        try:
            row.update(self._apply(conn, row, flow, transition, update=update))
            if savepoint is not None:
                savepoint.commit()
        except FlowStepFailed as failure:
            assert savepoint is not None
            savepoint.rollback()
            now = datetime.now(UTC)
            conn.execute(sa.insert(flow_events).values(instance_id=instance_id, at=now, event="failed",
                                                       step=failure.step, comment=failure.reason))
            conn.execute(sa.update(flow_tasks).where(flow_tasks.c.instance_id == instance_id,
                                                     flow_tasks.c.status == "open")
                         .values(status="cancelled", closed_at=now))
            self.timers.cancel(conn, f"flow:{instance_id}:", prefix=True)
            failed = {"status": "failed", "error": f"step {failure.step}: {failure.reason}", "finished_at": now,
                      "updated_at": now, "lock": None}
            conn.execute(sa.update(flow_instances).where(flow_instances.c.id == instance_id).values(failed))
            row.update(failed)
        return row

    # -- people acting ------------------------------------------------------------------
    def act(self, actor: Actor, task_id: int, body: Any) -> dict[str, Any]:
        """Decide or complete a task: approve, reject, complete, send_back (to an earlier
        step, or the submitter), delegate, add_before, add_after — with a comment."""
        if not isinstance(body, dict) or body.get("action") not in ACTIONS:
            raise InvalidInput("Say what to do with the task.",
                               [FieldProblem("action", "must be one of " + ", ".join(ACTIONS))])
        comment = str(body.get("comment") or "")[:5000]
        with self.kernel.write(pipelined=True) as conn:
            task = self._lock(conn, _TASK_LOCK, {"task": task_id})
            if task is None or (task["assignee_id"] != actor.user_id and not actor.is_admin):
                raise NotFound(f"There is no task {task_id} for you.")
            if task["task_status"] != "open":
                raise Conflict(f"The task is no longer open (it is {task['task_status']}).")
            others = tuple(self._user_ids(conn, body.get("users") or []))
            decision = Decision(body["action"], actor.user_id or 0, comment, body.get("target"), others,
                                admin=actor.is_admin and task["assignee_id"] != actor.user_id)
            answer = self._step(conn, actor, int(task["id"]),
                                lambda ex, state, env: ex.decide(state, env, task["task_key"], decision), task)
        return answer()

    def resubmit(self, actor: Actor, instance_id: int, comment: str = "") -> dict[str, Any]:
        """The submitter sends the reworked record back; it continues where it was sent back."""
        with self.kernel.write(pipelined=True) as conn:
            answer = self._step(conn, actor, instance_id, lambda ex, state, env: ex.resubmit(
                state, env, actor.user_id or 0, comment, admin=actor.is_admin))
        return answer()

    def recall(self, actor: Actor, instance_id: int, comment: str = "") -> dict[str, Any]:
        """The submitter withdraws a pending request: the flow ends cancelled."""
        with self.kernel.write(pipelined=True) as conn:
            answer = self._step(conn, actor, instance_id,
                                lambda ex, state, env: ex.recall(state, env, actor.user_id or 0, comment))
        return answer()

    def cancel(self, actor: Actor, instance_id: int, comment: str = "") -> dict[str, Any]:
        if not actor.is_admin:
            raise Forbidden("Only an admin can cancel a running flow.")
        with self.kernel.write(pipelined=True) as conn:
            answer = self._step(conn, actor, instance_id,
                                lambda ex, state, env: ex.cancel(state, env, actor.user_id, comment))
        return answer()

    def _step(self, conn: Connection, actor: Actor, instance_id: int, do: Any,
              locked: Mapping[str, Any] | None = None) -> Callable[[], dict[str, Any]]:
        """One transition by a person, answered (`_answer`) with the instance as it now is."""
        try:
            row = self._transition(conn, instance_id, do, locked)
        except TransitionError as error:
            raise Conflict(str(error), extra={"reason": error.code}) from None
        return self._answer(conn, row)

    def _answer(self, conn: Connection, row: Mapping[str, Any]) -> Callable[[], dict[str, Any]]:
        """The instance as a transition leaves it, without its history (`instance` reads
        that): its tasks are read last in the transaction, and in a pipelined one answered
        by the COMMIT's round trip — call the answer once the transaction has ended."""
        flow_doc = self._executor(conn, row["flow_uid"], row["version"])[0].doc
        tasks = _TASKS_OF.read(conn, {"instance": row["id"]})
        return lambda: _described(flow_doc, row, tasks.all())

    def _user_ids(self, conn: Connection, given: list[Any]) -> list[int]:
        out = []
        for item in given:
            if isinstance(item, int):
                found = conn.execute(sa.select(users.c.id).where(users.c.id == item, users.c.is_active.is_(True)))
            else:
                found = conn.execute(sa.select(users.c.id).where(users.c.email == str(item).lower(),
                                                                 users.c.is_active.is_(True)))
            user_id = found.scalar()
            if user_id is None:
                raise InvalidInput("A person named is not an active user.",
                                   [FieldProblem("users", f"there is no active user {item!r}")])
            out.append(int(user_id))
        return out

    # -- signed links (approve from an e-mail) ------------------------------------------
    def _signer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.kernel.settings.secret_key, salt="tessera-flow-task")

    def signed_link(self, instance_id: int, task_key: str, user_id: int, action: str) -> str:
        """A link that decides one task as one person, valid while the task is open."""
        token = self._signer().dumps({"instance": instance_id, "task": task_key, "user": user_id, "action": action})
        return f"{self.kernel.settings.public_url}/flows/act/{token}"

    def link(self, token: str) -> dict[str, Any]:
        """What a signed e-mail link asks for: {"actor", "task" (as in `tasks`), "action"}.
        Forbidden when the link is forged, expired, its user disabled or the task closed."""
        try:
            claims = self._signer().loads(token, max_age=LINK_MAX_AGE)
        except BadSignature:
            raise Forbidden("This link is not valid or has expired.") from None
        if not isinstance(claims, dict) or not {"instance", "task", "user", "action"} <= set(claims):
            raise Forbidden("This link is not valid or has expired.")
        try:
            actor = self.users.actor_for_user(int(claims["user"]))
        except TesseraError:
            raise Forbidden("This link's user is no longer active.") from None
        task = next((t for t in self.tasks(actor, limit=500)
                     if t["instance"] == claims["instance"] and t["key"] == claims["task"]), None)
        if task is None:
            raise Forbidden("This task is no longer waiting for a decision: it was decided, sent elsewhere or "
                            "cancelled.")
        return {"actor": actor, "task": task, "action": str(claims["action"])}

    def act_by_link(self, token: str, comment: str = "") -> dict[str, Any]:
        """Decide a task from a signed e-mail link: the link names the task, the person and
        the decision, and stops working once the task is closed."""
        asked = self.link(token)
        return self.act(asked["actor"], int(asked["task"]["id"]), {"action": asked["action"], "comment": comment})

    def published(self, actor: Actor, object_name: str | None = None) -> list[dict[str, Any]]:
        """Flow documents (of an object) with the version published last (None: a draft)."""
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            latest = _latest_versions(conn)
            return [{**stored.body, "uid": stored.uid, "version": stored.version,
                     "published": latest.get(stored.uid)}
                    for stored in self.documents.active(conn, snap, "flows")
                    if object_name is None or stored.body.get("object") == object_name]

    # -- triggers -----------------------------------------------------------------------
    def _published(self, conn: Connection, snap: Snapshot, object_name: str) -> list[tuple[StoredDocument, int]]:
        """The object's active flows with their newest published version (one query, and
        none for an object without flows: this runs for every saved record)."""
        flows = [d for d in self.documents.active(conn, snap, "flows")
                 if d.body.get("object") == object_name and d.body.get("active", True)]
        if not flows:
            return []
        latest = _latest_versions(conn, [d.uid for d in flows])
        return [(d, latest[d.uid]) for d in flows if d.uid in latest]

    def on_record(self, conn: Connection, event: Event) -> None:
        if not event.object:
            return
        snap = self.kernel.snapshot(conn)
        if event.object not in snap.objects:
            return
        when = "created" if event.name == "record.created" else "updated"
        changed = list(event.payload.get("changed") or [])
        evaluate = self.actions.evaluator(conn)
        object_name = event.object

        def on_record(f: str, rec: Mapping[str, Any]) -> Any:
            return evaluate(f, object_name, rec)

        for stored, version in self._published(conn, snap, event.object):
            if stored.body["trigger"].get("on") != when:
                continue
            flow, _ = self._executor(conn, stored.uid, version)
            for record_id in event.record_ids:
                record = self.actions.load(conn, event.object, record_id)
                if record is None or self._running(conn, stored.uid, record_id):
                    continue
                if trigger_matches(flow, when, record, changed, on_record):
                    self._start(conn, snap, stored.uid, version, record_id, event.actor_id)
        self._recheck_waits(conn, snap, event)

    def _recheck_waits(self, conn: Connection, snap: Snapshot, event: Event) -> None:
        """Waits watch their record and what its formulas read: instances on the changed
        records and on the records they look up are checked again."""
        obj = snap.object(event.object or "")
        # Record ids by object uid. A bulk write's event names up to a thousand records: they
        # are asked for as id lists per object, in chunks, never as one condition per record
        # (SQLite refuses an expression that deep).
        watched: dict[str, set[int]] = {obj.uid: set(event.record_ids)}
        lookups = [f for f in obj.fields if f.type == "lookup"]
        table = snap.table(obj)
        for ids in _chunks(sorted(event.record_ids) if lookups else []):
            for row in conn.execute(sa.select(*[table.c[f.column] for f in lookups]).where(table.c.id.in_(ids))):
                for fdef, value in zip(lookups, row, strict=True):
                    target = snap.objects.get(str(fdef.props.get("target")))
                    if value is not None and target is not None:
                        watched.setdefault(target.uid, set()).add(int(value))
        waiting: list[int] = []
        for object_uid, record_ids in watched.items():
            for ids in _chunks(sorted(record_ids)):
                waiting += conn.execute(sa.select(flow_instances.c.id).where(
                    flow_instances.c.status == "running", flow_instances.c.object_uid == object_uid,
                    flow_instances.c.record_id.in_(ids))).scalars()
        for instance_id in sorted(waiting):
            if f"flow:{instance_id}" in event.cause:
                continue  # its own action's write; the executor re-checks after its own steps
            self._transition(conn, int(instance_id), lambda ex, state, env: ex.record_changed(state, env))

    def on_deleted(self, conn: Connection, event: Event) -> None:
        """A record in the trash: its running flows are cancelled."""
        snap = self.kernel.snapshot(conn)
        if not event.object or event.object not in snap.objects:
            return
        obj = snap.object(event.object)
        for instance_id in conn.execute(sa.select(flow_instances.c.id).where(
                flow_instances.c.object_uid == obj.uid, flow_instances.c.record_id.in_(event.record_ids),
                flow_instances.c.status.in_(("running", "rework")))).scalars():
            self._transition(conn, int(instance_id),
                             lambda ex, state, env: ex.cancel(state, env, None, "the record was deleted"))

    def fire_timer(self, conn: Connection, params: dict[str, Any], due: datetime) -> None:
        status = conn.execute(sa.select(flow_instances.c.status).where(flow_instances.c.id == params["instance"])) \
            .scalar()
        if status not in ("running", "rework"):
            return
        self._transition(conn, int(params["instance"]),
                         lambda ex, state, env: ex.timer_fired(state, env, params["key"]))

    def fire_cron(self, conn: Connection, params: dict[str, Any], due: datetime) -> None:
        """A scheduled flow: start it on every record its condition selects."""
        snap = self.kernel.snapshot(conn)
        stored = next((d for d in self.documents.active(conn, snap, "flows") if d.uid == params["flow"]),
                      None)
        version = self._latest(conn, params["flow"]) if stored else None
        if stored is None or version is None:
            return
        obj = snap.object(str(stored.body["object"]))
        table = snap.table(obj)
        query = sa.select(table.c.id).where(table.c.deleted_at.is_(None)).order_by(table.c.id).limit(MAX_SCHEDULED)
        condition = stored.body["trigger"].get("condition")
        if condition:
            query = query.where(self.formulas.filter_clause(snap, obj, condition, conn.dialect.name))
        for record_id in conn.execute(query).scalars():
            if not self._running(conn, stored.uid, int(record_id)):
                self._start(conn, snap, stored.uid, version, int(record_id), None)
        self.timers.schedule(conn, "flow.cron", f"flowcron:{stored.uid}",
                             _next_cron(stored.body["trigger"]), {"flow": stored.uid})

    # -- the record lock ----------------------------------------------------------------
    def check_lock(self, batch: SaveBatch) -> None:
        """A record in approval may change only in its editable fields, by its approvers
        (or an admin); the flow's own actions may change anything."""
        if batch.creating:
            return
        ids = [c.record_id for c in batch.changes if c.record_id]
        if not ids:
            return
        locks = conn_locks(batch.conn, batch.obj.uid, ids)
        if not locks:
            return
        from tessera.runtime.kernel.events import cause

        chain = cause.get()
        for change in batch.changes:
            lock = locks.get(change.record_id or 0)
            if lock is None or f"flow:{lock[0]}" in chain:
                continue
            instance_id, editable = lock
            approver = batch.actor.is_admin or batch.conn.execute(sa.select(flow_tasks.c.id).where(
                flow_tasks.c.instance_id == instance_id, flow_tasks.c.status == "open",
                flow_tasks.c.assignee_id == batch.actor.user_id)).first() is not None
            for name in change.values:
                if name not in editable or not approver:
                    change.problem(name, "the record is locked while it is in approval"
                                   + (f"; only {', '.join(editable)} may change, by its approvers" if editable
                                      else ""), "locked")

    # -- reading ------------------------------------------------------------------------
    def instance(self, actor: Actor, instance_id: int) -> dict[str, Any]:
        """An instance with its tasks and history, for whoever may read its record."""
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            row = conn.execute(sa.select(flow_instances).where(flow_instances.c.id == instance_id)).mappings().first()
            if row is None:
                raise NotFound(f"There is no flow instance {instance_id}.")
            obj = snap.by_uid[row["object_uid"]]
            if not self._participant(conn, actor, instance_id):
                self.records.get(actor, obj.api_name, int(row["record_id"]))
            return self._describe(conn, row)

    def _participant(self, conn: Connection, actor: Actor, instance_id: int) -> bool:
        return actor.is_admin or conn.execute(sa.select(flow_tasks.c.id).where(
            flow_tasks.c.instance_id == instance_id, flow_tasks.c.assignee_id == actor.user_id)).first() is not None

    def _describe(self, conn: Connection, row: Mapping[str, Any]) -> dict[str, Any]:
        """An instance as the API shows it: its flow, status, lock, tasks and history."""
        instance_id = row["id"]
        flow_doc = self._executor(conn, row["flow_uid"], row["version"])[0].doc
        out = _described(flow_doc, row, _TASKS_OF.read(conn, {"instance": instance_id}).all())
        labels = step_labels(flow_doc.get("steps") or [])
        out["history"] = [
            {"at": _iso(h["at"]), "event": h["event"], "step": h["step"], "step_label": labels.get(h["step"] or ""),
             "by": h["actor_id"], "by_name": h["name"],
             "comment": h["comment"], "detail": h["detail"]}
            for h in conn.execute(sa.select(flow_events, users.c.name)
                                  .outerjoin(users, users.c.id == flow_events.c.actor_id)
                                  .where(flow_events.c.instance_id == instance_id)
                                  .order_by(flow_events.c.id)).mappings()]
        return out

    def instances(self, actor: Actor, *, flow: str | None = None, status: str | None = None,
                  object_name: str | None = None, record_id: int | None = None,
                  limit: int = 50) -> list[dict[str, Any]]:
        """Instances, newest first: of a record (anyone who can read it), or all (admins and
        builders) filtered by flow and status."""
        if record_id is None and not (actor.is_admin or actor.is_builder):
            raise Forbidden("Only admins and builders list all flow instances; ask for a record's.")
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            query = sa.select(flow_instances).order_by(flow_instances.c.id.desc()).limit(max(1, min(limit, 500)))
            if object_name is not None:
                obj = snap.object(object_name)
                query = query.where(flow_instances.c.object_uid == obj.uid)
                if record_id is not None:
                    self.records.get(actor, object_name, record_id)
                    query = query.where(flow_instances.c.record_id == record_id)
            if flow is not None:
                query = query.where(flow_instances.c.flow_uid == self._document(conn, snap, flow).uid)
            if status is not None:
                query = query.where(flow_instances.c.status == status)
            return [self._describe(conn, row)
                    for row in conn.execute(query).mappings()]

    def tasks(self, actor: Actor, *, status: str = "open", limit: int = 100) -> list[dict[str, Any]]:
        """My tasks (the approvals inbox): each with its flow, record and due time."""
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            rows = conn.execute(
                sa.select(flow_tasks, flow_instances.c.object_uid, flow_instances.c.record_id,
                          flow_instances.c.flow_uid, flow_instances.c.version, flow_instances.c.started_by)
                .join(flow_instances, flow_instances.c.id == flow_tasks.c.instance_id)
                .where(flow_tasks.c.assignee_id == actor.user_id, flow_tasks.c.status == status)
                .order_by(flow_tasks.c.due_at.is_(None), flow_tasks.c.due_at, flow_tasks.c.id)
                .limit(max(1, min(limit, 500)))).mappings().all()
            out = []
            for r in rows:
                obj = snap.by_uid.get(r["object_uid"])
                flow, _ = self._executor(conn, r["flow_uid"], r["version"])
                record = self.actions.load(conn, obj.api_name, int(r["record_id"])) if obj else None
                title = _title(obj, record) if obj else str(r["record_id"])
                out.append({"id": r["id"], "instance": r["instance_id"], "key": r["key"], "flow": flow.doc["api_name"],
                            "flow_label": flow.doc.get("label"), "step": r["step"], "kind": r["kind"],
                            "label": r["label"], "object": obj.api_name if obj else None,
                            "record_id": r["record_id"], "record_title": title, "status": r["status"],
                            "due_at": _iso(r["due_at"]), "created_at": _iso(r["created_at"]),
                            "submitter": r["started_by"]})
        return out


class FlowStepFailed(Exception):
    def __init__(self, step: str, reason: str) -> None:
        super().__init__(reason)
        self.step = step
        self.reason = reason


def _latest_versions(conn: Connection, flow_uids: list[str] | None = None) -> dict[str, int]:
    """The newest published version of each flow (of these flows)."""
    query = sa.select(flow_versions.c.flow_uid, sa.func.max(flow_versions.c.version)).group_by(flow_versions.c.flow_uid)
    if flow_uids is not None:
        query = query.where(flow_versions.c.flow_uid.in_(flow_uids))
    return {uid: int(version) for uid, version in conn.execute(query)}


def _described(flow_doc: Mapping[str, Any], row: Mapping[str, Any], tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """An instance as the API shows it, from its row and its tasks (with their assignees)."""
    return {
        "id": row["id"], "flow": flow_doc["api_name"], "label": flow_doc.get("label"), "version": row["version"],
        "object": flow_doc["object"], "record_id": row["record_id"], "status": row["status"],
        "locked": row["lock"] is not None, "editable_fields": row["lock"] or [],
        "started_by": row["started_by"], "started_at": _iso(row["started_at"]),
        "finished_at": _iso(row["finished_at"]), "error": row["error"],
        "tasks": [{"id": t["id"], "step": t["step"], "kind": t["kind"], "label": t["label"],
                   "assignee": t["assignee_id"], "assignee_email": t["email"], "assignee_name": t["name"],
                   "status": t["status"], "due_at": _iso(t["due_at"]), "created_at": _iso(t["created_at"]),
                   "closed_at": _iso(t["closed_at"])} for t in tasks],
        "send_back_targets": _decision_steps(flow_doc),
    }


def step_labels(steps: list[Any]) -> dict[str, str]:
    """Each step's label by its id, through branches and parallel paths (a step without a
    label is named by its id)."""
    out: dict[str, str] = {}
    for step in steps:
        if not isinstance(step, Mapping):
            continue
        if step.get("id"):
            out[str(step["id"])] = str(step.get("label") or step["id"])
        for branch in step.get("branches") or []:
            if isinstance(branch, Mapping):
                out.update(step_labels(branch.get("steps") or []))
        if isinstance(step.get("default"), list):
            out.update(step_labels(step["default"]))
    return out


def conn_locks(conn: Connection, object_uid: str, ids: list[int]) -> dict[int, tuple[int, list[str]]]:
    """Records of these ids locked by a running approval: id → (instance, editable fields)."""
    rows = conn.execute(sa.select(flow_instances.c.record_id, flow_instances.c.id, flow_instances.c.lock).where(
        flow_instances.c.object_uid == object_uid, flow_instances.c.record_id.in_(ids),
        flow_instances.c.status == "running", flow_instances.c.lock.is_not(None)))
    return {int(r.record_id): (int(r.id), list(r.lock or [])) for r in rows if r.lock is not None}


def _require_builder(actor: Actor) -> None:
    if not (actor.is_admin or actor.is_builder):
        raise Forbidden("Only builders and admins publish flows.")


def _action_steps(steps: list[Any], path: str) -> list[tuple[Mapping[str, Any], str]]:
    out: list[tuple[Mapping[str, Any], str]] = []
    for index, step in enumerate(steps):
        here = f"{path}/{index}"
        if step.get("type") == "action":
            out.append((step, here))
        for key in ("branches",):
            for b, branch in enumerate(step.get(key, [])):
                out += _action_steps(branch.get("steps", []), f"{here}/{key}/{b}/steps")
        if isinstance(step.get("default"), list):
            out += _action_steps(step["default"], f"{here}/default")
    return out


def _action_of(step: Mapping[str, Any]) -> dict[str, Any]:
    """An action step as the action registry reads it (its parameters beside `action`)."""
    return {k: v for k, v in step.items() if k not in ("id", "type", "label", "description")}


def _decision_steps(doc: Mapping[str, Any]) -> list[str]:
    """Approval and task steps a decision may send back to (those of the flow's document)."""
    found: list[str] = []

    def walk(steps: list[Any]) -> None:
        for step in steps:
            if step.get("type") in ("approval", "task"):
                found.append(step["id"])
            for branch in step.get("branches", []):
                walk(branch.get("steps", []))
            if isinstance(step.get("default"), list):
                walk(step["default"])
    walk(doc.get("steps", []))
    return found


def _title(obj: Any, record: Mapping[str, Any] | None) -> str:
    if record is None:
        return "(deleted)"
    for fdef in obj.fields:
        if fdef.type == "text" and record.get(fdef.column):
            return str(record[fdef.column])
    return f"{obj.label} {record['id']}"


def _next_cron(trigger: Mapping[str, Any]) -> datetime:
    return croniter(str(trigger["cron"]), datetime.now(UTC)).get_next(datetime).astimezone(UTC)


__all__ = ["FlowService"]


#: Ids asked for in one statement: well inside every database's limit on parameters.
ID_CHUNK = 500


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), ID_CHUNK):
        yield ids[start:start + ID_CHUNK]
