"""What `GET /api/v1/plugins` and `tessera plugins list` show: each plugin with its version,
status and error, and the metadata that needs something no installed code provides — a
field of a removed plugin's type (kept with its data, read as stored), a formula or a flow
or rule that names a function or an action that is gone. Those are reported, never a
reason for the rest of the metadata not to load."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from tessera.auth.actor import Actor
from tessera.errors import Forbidden
from tessera.meta.fieldtypes.base import Unavailable
from tessera.plugins import PLUGIN_API

if TYPE_CHECKING:
    from tessera.plugins.loader import PluginReport
    from tessera.runtime.kernel.transactions import Kernel
    from tessera.runtime.metadata.documents import DocumentService
    from tessera.runtime.records.formulas import FormulaService

#: Document kinds whose documents may name actions and functions plugins provide.
CHECKED_KINDS = ("flows", "rules")


class PluginService:
    def __init__(self, kernel: Kernel, formulas: FormulaService, documents: DocumentService,
                 reports: list[PluginReport]) -> None:
        self.kernel = kernel
        self.formulas = formulas
        self.documents = documents
        self.reports = reports

    def list(self, actor: Actor) -> dict[str, Any]:
        """The plugins (admins only: which code runs is theirs to know) and the problems
        of metadata that needs what is not installed."""
        if not actor.is_admin:
            raise Forbidden("Only admins may see the installed plugins.")
        return {"plugin_api": PLUGIN_API, "plugins": [r.as_json() for r in self.reports],
                "problems": self.problems()}

    def problems(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            for obj in snap.objects.values():
                for fdef in (*obj.fields, *obj.line_fields):
                    if isinstance(fdef.ftype, Unavailable):
                        out.append({"where": f"objects/{obj.api_name}/fields/{fdef.api_name}",
                                    "message": f"{obj.label}, field {fdef.label}: {fdef.ftype.problem}; "
                                               "its values are kept and shown as stored, and cannot be changed"})
                for problem in self.formulas.check_object(snap, copy.deepcopy(dict(obj.doc))):
                    out.append({"where": f"objects/{obj.api_name}{problem.field}",
                                "message": f"{obj.label}: {problem.message}"})
            kinds = {k["name"] for k in self.documents.kinds()}
            for kind in (k for k in CHECKED_KINDS if k in kinds):
                for stored in self.documents.active(conn, snap, kind):
                    body = {k: v for k, v in stored.body.items() if k not in ("uid", "version", "package")}
                    for problem in self.documents.problems(snap, kind, body):
                        out.append({"where": f"{kind}/{stored.body.get('api_name')}{problem.field}",
                                    "message": problem.message})
        return out
