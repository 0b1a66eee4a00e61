"""The assembly: builds every service of the platform in order, hands each the collaborators
it uses, then lets each package plug itself in through `install(platform)`.

One `Platform` per process. The API, the web pages, the CLI, workers and tests build one and
call its services; nothing below this layer holds global state. Services never reach each
other through the platform: what a service uses is a typed argument of its constructor, so
the order below is the order of dependence. What a package registers — document kinds, save
hooks, event handlers, timers, job kinds — it registers in its `install`, called from
`INSTALLS`; plugins come in through the same door.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy.engine import Connection, Engine

from tessera import packages
from tessera.auth.users import UserService
from tessera.data.engine import make_engine
from tessera.data.files import AttachmentStore
from tessera.packages.service import PackageService
from tessera.plugins.host import PluginHost
from tessera.plugins.loader import install_plugins
from tessera.plugins.service import PluginService
from tessera.runtime import (
    background,
    conversions,
    flows,
    forms,
    imports,
    navigation,
    records,
    reports,
    rules,
    search,
)
from tessera.runtime.background.deliveries import DeliveryService
from tessera.runtime.background.jobs import JobService
from tessera.runtime.background.notifications import NotificationService
from tessera.runtime.background.scheduler import Scheduler
from tessera.runtime.background.timers import TimerService
from tessera.runtime.conversions.service import ConversionService
from tessera.runtime.flows.service import FlowService
from tessera.runtime.forms.service import FormService
from tessera.runtime.imports.service import ImportService
from tessera.runtime.kernel.catalog import Snapshot
from tessera.runtime.kernel.events import EventBus
from tessera.runtime.kernel.transactions import Kernel
from tessera.runtime.metadata.documents import DocumentService
from tessera.runtime.metadata.objects import MetadataService
from tessera.runtime.navigation.apps import AppMenu
from tessera.runtime.navigation.favourites import FavouriteService
from tessera.runtime.navigation.recent import RecentService
from tessera.runtime.records.access import AccessService
from tessera.runtime.records.actions import ActionRunner
from tessera.runtime.records.completions import FormulaCompletions
from tessera.runtime.records.formulas import FormulaService
from tessera.runtime.records.service import RecordService
from tessera.runtime.records.stored import StoredFormulas
from tessera.runtime.records.views import ViewService
from tessera.runtime.reports.dashboards import DashboardService
from tessera.runtime.reports.names import GroupNames
from tessera.runtime.reports.service import ReportService
from tessera.runtime.reports.subscriptions import SubscriptionService
from tessera.runtime.rules.service import RuleService
from tessera.runtime.rules.sla import SlaService
from tessera.runtime.search.index import SearchIndex
from tessera.runtime.search.service import SearchService
from tessera.settings import Settings

#: A package's door into the platform: it registers what it brings.
Install = Callable[["Platform"], None]

#: The platform's own packages, in the order they plug in (the plugin loader's come after).
INSTALLS: tuple[Install, ...] = (
    background.install,
    records.install,
    forms.install,
    flows.install,
    rules.install,
    reports.install,
    navigation.install,
    conversions.install,
    imports.install,
    search.install,
    packages.install,
)


class Platform:
    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or make_engine(settings.database_url, busy_timeout=settings.busy_timeout)
        self.users = UserService(self.engine, time_zone=self.settings.time_zone)
        self.attachments = AttachmentStore(self.engine, settings.attachments_dir, settings.max_upload_bytes)

        # The kernel: transactions, the metadata snapshot, hook points, events.
        self.kernel = kernel = Kernel(settings, self.engine, self.users.reverify)
        self.catalog = kernel.catalog
        self.hooks = kernel.hooks
        self.events = EventBus(kernel)

        # Background work.
        self.jobs = JobService(kernel)
        self.timers = TimerService(kernel)
        self.deliveries = DeliveryService(kernel)
        self.notifications = NotificationService(kernel)
        self.scheduler = Scheduler(settings, self.events, self.timers, self.deliveries, self.jobs)

        # Records.
        self.formulas = FormulaService(kernel)
        self.access = AccessService(self.formulas)
        self.formula_completions = FormulaCompletions(kernel, self.access)
        self.stored_formulas = StoredFormulas(kernel, self.formulas, self.jobs)
        self.records = RecordService(kernel, self.formulas, self.access, self.stored_formulas)
        self.views = ViewService(kernel, self.access, self.records)
        self.actions = ActionRunner(kernel, self.formulas, self.records, self.deliveries, self.notifications)

        # Metadata.
        self.metadata = MetadataService(kernel, self.formulas, self.stored_formulas)
        self.documents = DocumentService(kernel, self.formulas)

        # The engines' wiring.
        self.forms = FormService(kernel, self.documents, self.records, self.formulas, self.access)
        self.flows = FlowService(kernel, self.events, self.timers, self.deliveries, self.notifications,
                                 self.documents, self.formulas, self.records, self.actions, self.users)
        self.rules = RuleService(kernel, self.events, self.timers, self.documents, self.formulas, self.records,
                                 self.actions)
        self.sla = SlaService(kernel, self.events, self.timers, self.jobs, self.documents, self.formulas,
                              self.access, self.records, self.actions)
        self.reports = ReportService(kernel, self.documents, self.formulas, self.access,
                                     GroupNames(kernel, self.records))
        self.dashboards = DashboardService(kernel, self.documents, self.metadata, self.records, self.reports)
        self.subscriptions = SubscriptionService(kernel, self.timers, self.deliveries, self.documents,
                                                 self.reports, self.users)

        # Conversions: one record into others (a lead into an account, a contact and a deal).
        self.conversions = ConversionService(kernel, self.documents, self.formulas, self.access, self.records)

        # Moving around: the app menu, favourite and recently opened records.
        self.app_menu = AppMenu(kernel, self.documents, self.access)
        self.favourites = FavouriteService(kernel, self.access, self.formulas)
        self.recent = RecentService(kernel, self.access, self.formulas)

        # Imports: spreadsheets into any object, as jobs through the save pipeline.
        self.imports = ImportService(kernel, self.records, self.access, self.jobs, self.users)

        # Search: every object's full-text index, kept by the save pipeline, read under permissions.
        self.search_index = SearchIndex(kernel, self.jobs)
        self.search = SearchService(kernel, self.access, self.search_index)

        # App packages: templates installed, customized, upgraded three ways, exported.
        self.plugin_host = PluginHost()
        self.packages = PackageService(kernel, self.metadata, self.documents, self.records, self.jobs, self.users,
                                       self.plugin_host.template_folders)

        for install in INSTALLS:
            install(self)
        # Plugins come in through the same door, after Tessera's own packages, each in isolation.
        reports = install_plugins(self) if settings.plugins else []
        self.plugins = PluginService(kernel, self.formulas, self.documents, reports)

    # -- the kernel's transactions, for the edges and scripts ----------------------------
    def read(self) -> AbstractContextManager[Connection]:
        """A transaction to read in (see `Kernel.read`)."""
        return self.kernel.read()

    def write(self, *, pipelined: bool = False) -> AbstractContextManager[Connection]:
        """A write transaction (see `Kernel.write`)."""
        return self.kernel.write(pipelined=pipelined)

    joined = write

    def snapshot(self, conn: Connection, revisions: tuple[int, int] | None = None) -> Snapshot:
        return self.kernel.snapshot(conn, revisions)

    def auth_revision(self, conn: Connection) -> int:
        return self.kernel.auth_revision(conn)

    def confirm_access(self) -> None:
        self.kernel.confirm_access()

    def dispose(self) -> None:
        self.jobs.stop()
        self.engine.dispose()
