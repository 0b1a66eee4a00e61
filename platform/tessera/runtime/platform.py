"""The running platform: settings, database engine, metadata cache and the services.

One `Platform` per process. The API, the CLI, workers and tests build one and call its
services; nothing below this layer holds global state.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection, Engine

from tessera.auth.actor import acting
from tessera.data import metastore
from tessera.data.engine import make_engine, read_transaction, write_transaction
from tessera.runtime.kernel.catalog import Catalog, Snapshot
from tessera.runtime.kernel.hooks import SaveHooks
from tessera.settings import Settings

if TYPE_CHECKING:
    from tessera.auth.users import UserService
    from tessera.data.files import AttachmentStore
    from tessera.runtime.background.deliveries import DeliveryService
    from tessera.runtime.background.jobs import JobService
    from tessera.runtime.background.notifications import NotificationService
    from tessera.runtime.background.scheduler import Scheduler
    from tessera.runtime.background.timers import TimerService
    from tessera.runtime.flows.service import FlowService
    from tessera.runtime.forms.service import FormService
    from tessera.runtime.kernel.events import EventBus
    from tessera.runtime.metadata.documents import DocumentService
    from tessera.runtime.metadata.objects import MetadataService
    from tessera.runtime.records.access import AccessService
    from tessera.runtime.records.actions import ActionRunner
    from tessera.runtime.records.formulas import FormulaService
    from tessera.runtime.records.service import RecordService
    from tessera.runtime.records.stored import StoredFormulas
    from tessera.runtime.records.views import ViewService
    from tessera.runtime.reports.dashboards import DashboardService
    from tessera.runtime.reports.service import ReportService
    from tessera.runtime.reports.subscriptions import SubscriptionService
    from tessera.runtime.rules.service import RuleService
    from tessera.runtime.rules.sla import SlaService


#: The transaction the current request or job is reading in, and each open transaction's
#: snapshot (metadata read once per transaction).
_open: ContextVar[Connection | None] = ContextVar("tessera_open_transaction", default=None)
#: The write transaction open in this context: writes made inside it join it.
_writing: ContextVar[Connection | None] = ContextVar("tessera_write_transaction", default=None)
_snapshots: weakref.WeakKeyDictionary[Connection, Snapshot] = weakref.WeakKeyDictionary()
_auth_revisions: weakref.WeakKeyDictionary[Connection, int] = weakref.WeakKeyDictionary()


class Platform:
    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or make_engine(settings.database_url)
        self.catalog = Catalog()
        self.hooks = SaveHooks()
        # The kernel's own formulas run at the pipeline's hook points like any engine's.
        self.hooks.add("before_validate", self.formulas.apply_defaults)
        self.hooks.add("validate", self.formulas.check_rules)
        self.hooks.add("validate", self.access.check_references)
        self.hooks.add("after_write", self.stored_formulas.after_write)
        # A committed write has an event waiting in the outbox: have a worker look.
        self.hooks.add("after_commit", lambda _batch: self.scheduler.wake())
        # The engines that listen to saves, events and timers hook themselves in.
        self.rules  # noqa: B018
        self.sla  # noqa: B018
        self.flows  # noqa: B018
        self.subscriptions  # noqa: B018

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A transaction to read in. Inside another transaction of this request (a page
        that reads a record, its related lists and its lookups' names), that one is used:
        one snapshot, one round of BEGIN and revision checks."""
        outer = _open.get()
        if outer is not None:
            yield outer
            return
        with read_transaction(self.engine) as conn:
            token = _open.set(conn)
            try:
                yield conn
            finally:
                _open.reset(token)

    @contextmanager
    def write(self, *, pipelined: bool = False) -> Iterator[Connection]:
        """A write transaction. Writes made while one is open in this context (a record saved
        by an action of a flow step) join it: one unit that commits or rolls back whole.
        `pipelined` (PostgreSQL): the writes of `tessera.data.prepared` go out with the next
        statement that waits, or with the COMMIT (see `write_transaction`)."""
        outer = _writing.get()
        if outer is not None:
            yield outer
            return
        with write_transaction(self.engine, pipelined=pipelined) as conn:
            tokens = _open.set(conn), _writing.set(conn)
            try:
                yield conn
            finally:
                _writing.reset(tokens[1])
                _open.reset(tokens[0])

    #: Event handlers and timers name it so: what they write joins their transaction.
    joined = write

    def snapshot(self, conn: Connection, revisions: tuple[int, int] | None = None) -> Snapshot:
        """The metadata to work from in this transaction.

        The same one-row read also tells whether anything that can take access away has
        happened since the acting user's sign-in was last checked; if so, it is checked
        again here, in this transaction, before any work is done. `revisions`: the
        (revision, auth revision) the transaction's first statement carried
        (`metastore.revision_columns`), which saves that read.
        """
        known = _snapshots.get(conn)
        if known is not None:
            return known
        revision, auth_revision = revisions if revisions is not None else metastore.revisions(conn)
        who = acting.get()
        if who is not None and who.token_digest is not None and who.verified_at != auth_revision:
            self.users.reverify(conn, who, auth_revision)
        snap = self.catalog.current(conn, int(revision))
        _snapshots[conn] = snap
        _auth_revisions[conn] = int(auth_revision)
        return snap

    def auth_revision(self, conn: Connection) -> int:
        """The auth revision this transaction works at: every change to who is active, who
        holds a role or who is in a team bumps it, so it can key what those answer."""
        if conn not in _auth_revisions:
            self.snapshot(conn)
        return _auth_revisions[conn]

    def confirm_access(self) -> None:
        """Confirm the acting user's sign-in, for work that reads no metadata (files)."""
        with self.read() as conn:
            self.snapshot(conn)

    @cached_property
    def formulas(self) -> FormulaService:
        from tessera.runtime.records.formulas import FormulaService

        return FormulaService(self)

    @cached_property
    def views(self) -> ViewService:
        from tessera.runtime.records.views import ViewService

        return ViewService(self)

    @cached_property
    def access(self) -> AccessService:
        from tessera.runtime.records.access import AccessService

        return AccessService(self)

    @cached_property
    def stored_formulas(self) -> StoredFormulas:
        from tessera.runtime.records.stored import StoredFormulas

        return StoredFormulas(self)

    @cached_property
    def jobs(self) -> JobService:
        from tessera.runtime.background.jobs import JobService

        return JobService(self)

    @cached_property
    def metadata(self) -> MetadataService:
        from tessera.runtime.metadata.objects import MetadataService

        return MetadataService(self)

    @cached_property
    def records(self) -> RecordService:
        from tessera.runtime.records.service import RecordService

        return RecordService(self)

    @cached_property
    def users(self) -> UserService:
        from tessera.auth.users import UserService

        return UserService(self.engine)

    @cached_property
    def attachments(self) -> AttachmentStore:
        from tessera.data.files import AttachmentStore

        return AttachmentStore(self.engine, self.settings.attachments_dir, self.settings.max_upload_bytes)

    def dispose(self) -> None:
        if "jobs" in self.__dict__:
            self.jobs.stop()
        self.engine.dispose()

    @cached_property
    def documents(self) -> DocumentService:
        """Metadata documents of every kind but objects; `documents.forms` fills in forms."""
        from tessera.runtime.metadata.documents import DocumentService

        return DocumentService(self)

    @property
    def forms(self) -> FormService:
        """Forms of records: chosen per user and record, rendered, checked and submitted."""
        return self.documents.forms

    @cached_property
    def reports(self) -> ReportService:
        """Reports run as the caller, drilled into and exported (runtime/reports.py)."""
        from tessera.runtime.reports.service import ReportService

        return ReportService(self)

    @cached_property
    def dashboards(self) -> DashboardService:
        """Dashboards: every widget's report run as the caller, shaped for its chart
        (runtime/dashboards.py)."""
        from tessera.runtime.reports.dashboards import DashboardService

        return DashboardService(self)

    @cached_property
    def events(self) -> EventBus:
        """Events read from the outbox and handed to subscribers (runtime/events.py)."""
        from tessera.runtime.kernel.events import EventBus

        return EventBus(self)

    @cached_property
    def timers(self) -> TimerService:
        from tessera.runtime.background.timers import TimerService

        return TimerService(self)

    @cached_property
    def deliveries(self) -> DeliveryService:
        """E-mail and webhook calls, sent after their cause commits."""
        from tessera.runtime.background.deliveries import DeliveryService

        return DeliveryService(self)

    @cached_property
    def notifications(self) -> NotificationService:
        from tessera.runtime.background.notifications import NotificationService

        return NotificationService(self)

    @cached_property
    def scheduler(self) -> Scheduler:
        from tessera.runtime.background.scheduler import Scheduler

        return Scheduler(self)

    @cached_property
    def actions(self) -> ActionRunner:
        """Runs flows' and rules' actions (tessera.actions) with what they need."""
        from tessera.runtime.records.actions import ActionRunner

        return ActionRunner(self)

    @cached_property
    def sla(self) -> SlaService:
        """SLA clocks: kept with every save, swept for warnings and breaches (runtime/sla.py)."""
        from tessera.runtime.rules.sla import SlaService

        return SlaService(self)

    @cached_property
    def rules(self) -> RuleService:
        """Rules: before/after save, schedules, dates, events, segments (runtime/rules.py)."""
        from tessera.runtime.rules.service import RuleService

        return RuleService(self)

    @cached_property
    def flows(self) -> FlowService:
        """Flows: versions, instances, tasks, triggers and timers (runtime/flows.py)."""
        from tessera.runtime.flows.service import FlowService

        return FlowService(self)

    @cached_property
    def subscriptions(self) -> SubscriptionService:
        """Reports and dashboards e-mailed on a schedule (runtime/subscriptions.py)."""
        from tessera.runtime.reports.subscriptions import SubscriptionService

        return SubscriptionService(self)
