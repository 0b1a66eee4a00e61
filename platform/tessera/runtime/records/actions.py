"""Running actions (tessera.actions) for flows and rules: the context they get — formulas
evaluated on the record, templates rendered in a sandbox, writes through the save
pipeline in the caller's transaction, people resolved, messages queued."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy.engine import Connection

from tessera.actions import ActionContext, ActionError, action_type
from tessera.actions import people as people_specs
from tessera.auth.actor import Actor
from tessera.errors import TesseraError
from tessera.formula import FormulaError, evaluate
from tessera.formula.schema import child_lists
from tessera.runtime.kernel.events import muted
from tessera.runtime.records.shown import shown

if TYPE_CHECKING:
    from tessera.runtime.background.deliveries import DeliveryService
    from tessera.runtime.background.notifications import NotificationService
    from tessera.runtime.kernel.transactions import Kernel
    from tessera.runtime.records.formulas import FormulaService
    from tessera.runtime.records.service import RecordService

_JINJA = SandboxedEnvironment(autoescape=False)


@lru_cache(maxsize=512)
def _template(source: str) -> Any:
    return _JINJA.from_string(source)


class ActionRunner:
    def __init__(self, kernel: Kernel, formulas: FormulaService, records: RecordService,
                 deliveries: DeliveryService, notifications: NotificationService) -> None:
        self.kernel = kernel
        self.formulas = formulas
        self.records = records
        self.deliveries = deliveries
        self.notifications = notifications
        # Role and team members by (kind, name), as of one auth revision: every change to
        # who holds a role or is in a team bumps it, which empties this.
        self._members: tuple[int, dict[tuple[str, str], list[int]]] = (-1, {})
        self._offers: dict[str, Callable[[Connection, Actor], Callable[..., Any]]] = {}

    def offer(self, name: str, make: Callable[[Connection, Actor], Callable[..., Any]]) -> None:
        """Give every action context `extras[name]`, made by `make(conn, actor)` for its
        transaction and actor: a package's capability its actions call (running a
        conversion), which this layer and the actions' cannot import."""
        self._offers[name] = make

    def people(self, conn: Connection, specs: Sequence[Mapping[str, Any]], record: Mapping[str, Any] | None,
               submitter: int | None, evaluate: Callable[[str], Any]) -> list[int]:
        """The active users people specs name (`tessera.actions.people`), roles and teams
        answered from memory while nobody's access has changed."""
        revision = self.kernel.auth_revision(conn)

        def members_of(kind: str, name: str) -> list[int]:
            at, known = self._members
            if revision > at:
                at, known = self._members = (revision, {})
            found = known.get((kind, name)) if revision == at else None
            if found is None:
                found = people_specs.members(conn, kind, name)
                if revision == at:
                    known[(kind, name)] = found
            return list(found)

        return people_specs.resolve(conn, specs, record, submitter, evaluate, members_of)

    def load(self, conn: Connection, object_name: str, record_id: int) -> Mapping[str, Any] | None:
        """A record as stored (None once it is deleted)."""
        snap = self.kernel.snapshot(conn)
        table = snap.table(snap.object(object_name))
        return conn.execute(sa.select(table).where(table.c.id == record_id, table.c.deleted_at.is_(None))) \
            .mappings().first()

    def evaluator(self, conn: Connection, actor: Actor | None = None) -> Callable[[str, str, Mapping[str, Any] | None],
                                                                                   Any]:
        formulas = self.formulas
        snap = self.kernel.snapshot(conn)
        ctx = formulas.context(conn, snap, actor or Actor.system())

        def run(source: str, object_name: str, record: Mapping[str, Any] | None) -> Any:
            checked = formulas.checked(snap, snap.object(object_name), source)
            return evaluate(checked, record or {}, ctx)
        return run

    def context(self, conn: Connection, object_name: str, record: Mapping[str, Any] | None, key: str, *,
                actor: Actor | None = None, submitter: int | None = None,
                extras: dict[str, Callable[..., Any]] | None = None) -> ActionContext:
        who = actor or Actor.system()
        snap = self.kernel.snapshot(conn)
        records, deliveries, notifications = self.records, self.deliveries, self.notifications
        evaluate_on = self.evaluator(conn, who)

        def render(source: str, obj: str, rec: Mapping[str, Any] | None) -> str:
            try:
                # Each field prints as a person reads it (53,360.00 USD) and compares as its value.
                return str(_template(source).render(**shown(snap.object(obj), rec or {})))
            except (TemplateError, TypeError, ValueError, ArithmeticError) as error:
                # (a comparison or a sum of values that do not go together: the step's error)
                raise ActionError(f"the template cannot be rendered: {error}") from None

        def create(obj: str, values: dict[str, Any]) -> dict[str, Any]:
            try:
                return records.create(who, obj, values)
            except TesseraError as error:
                raise ActionError(_why(f"cannot create the {obj}", error)) from None

        def update(obj: str, record_id: int, values: dict[str, Any]) -> dict[str, Any]:
            try:
                return records.update(who, obj, record_id, values, None)
            except TesseraError as error:
                raise ActionError(_why(f"cannot update {obj} {record_id}", error)) from None

        def related(obj: str, relation: str, record_id: int) -> tuple[str, list[Mapping[str, Any]]]:
            source = snap.object(obj)
            fdef = source.field(relation)
            if fdef is not None and fdef.type == "lookup":
                row = self.load(conn, obj, record_id)
                target = str(fdef.props["target"])
                parent = self.load(conn, target, row[fdef.column]) if row and row[fdef.column] else None
                return target, [parent] if parent else []
            from tessera.runtime.records.formulas import SnapshotSchema

            child, lookup = child_lists(SnapshotSchema(snap), source)[relation]
            table = snap.table(child)
            return child.api_name, list(conn.execute(sa.select(table).where(
                table.c[lookup.column] == record_id, table.c.deleted_at.is_(None)).order_by(table.c.id)).mappings())

        def people(specs: Sequence[Mapping[str, Any]], obj: str, rec: Mapping[str, Any] | None) -> list[int]:
            return self.people(conn, specs, rec, submitter, lambda f: evaluate_on(f, obj, rec))

        return ActionContext(
            conn=conn, object=object_name, record=record, key=key, evaluate=evaluate_on, render=render,
            create=create, update=update, related=related, people=people,
            emails=lambda ids: people_specs.emails(conn, ids),
            queue=lambda channel, k, payload: None if channel == "email" and muted() else
            deliveries.queue(conn, channel, k, payload),
            notify=lambda user_id, k, title, body, link: None if muted() else
            notifications.add(conn, user_id, k, title, body, link),
            record_link=lambda obj, record_id: f"{self.kernel.settings.public_url}/app/{obj}/{record_id}",
            extras={**{name: make(conn, who) for name, make in self._offers.items()}, **(extras or {})},
        )

    def run(self, ctx: ActionContext, step: Mapping[str, Any]) -> dict[str, Any]:
        """Run one action; ActionError says why it could not."""
        kind = action_type(str(step.get("action")))
        if kind is None:
            raise ActionError(f"there is no action {step.get('action')!r}")
        try:
            return kind.run(step, ctx)
        except FormulaError as error:
            raise ActionError(f"a formula of the action failed: {error}") from None


def _why(what: str, error: TesseraError) -> str:
    details = "; ".join(f"{p.field}: {p.message}" for p in error.errors[:5])
    return f"{what}: {error.detail}" + (f" ({details})" if details else "")
