"""The names people read for a report's grouping values that are ids: a user's name, a
looked-up record's name — only records the reader may see are named (the others keep
their id). Shared by dashboards, the report builder's preview, exports and e-mails."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tessera.auth.actor import Actor
from tessera.data.tables import users
from tessera.errors import TesseraError
from tessera.meta.model import FieldDef

if TYPE_CHECKING:
    from tessera.runtime.kernel.transactions import Kernel
    from tessera.runtime.records.service import RecordService

#: At most this many records are named per grouping (a chart shows fewer groups).
MOST = 200


class GroupNames:
    def __init__(self, kernel: Kernel, records: RecordService) -> None:
        self.kernel = kernel
        self.records = records

    def __call__(self, actor: Actor, snap: Any, fdef: FieldDef, values: set[Any]) -> dict[Any, str]:
        """Names of the users or records a grouping by `fdef` shows."""
        if fdef.type == "user":
            with self.kernel.read() as conn:
                found = conn.execute(sa.select(users.c.id, users.c.name).where(users.c.id.in_(values))).all()
            return {r.id: r.name for r in found}
        return self._records(actor, snap, str(fdef.props.get("target")), values)

    def _records(self, actor: Actor, snap: Any, target: str, ids: set[Any]) -> dict[Any, str]:
        obj = snap.objects.get(target)
        named = obj.name_field if obj is not None else None
        if named is None:
            return {}
        wanted = sorted(int(i) for i in ids if isinstance(i, int) or str(i).isdigit())[:MOST]
        if not wanted:
            return {}
        try:
            found = self.records.list(actor, target, fields=[named.api_name], limit=len(wanted),
                                      filter=" OR ".join(f"id = {i}" for i in wanted))
        except TesseraError:
            return {}
        return {r["id"]: str(r.get(named.api_name) or f"#{r['id']}") for r in found["data"]}
