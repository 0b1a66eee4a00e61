"""Conversions: one record turned into others (a lead into an account, a contact and a deal;
a won quote into an order with its lines) as a generic capability any builder can use.

A conversion is a metadata document (kind `conversions`, kinds.py); it is run from the
record page's button, from `POST /api/v1/records/{object}/{id}/convert/{conversion}` and
by the `convert` action of flows and rules (service.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.engine import Connection

from tessera.actions import ActionError
from tessera.auth.actor import Actor
from tessera.errors import TesseraError
from tessera.runtime.conversions.kinds import KINDS

if TYPE_CHECKING:
    from tessera.runtime.conversions.service import ConversionService
    from tessera.runtime.metadata.documents import DocumentService
    from tessera.runtime.records.actions import ActionRunner


class Host(Protocol):
    documents: DocumentService
    conversions: ConversionService
    actions: ActionRunner


def install(platform: Host) -> None:
    for kind in KINDS:
        platform.documents.register(kind)
    service = platform.conversions
    platform.documents.observe("conversions", service.document_saved)

    def convert_in(conn: Connection, actor: Actor) -> Callable[..., Any]:
        def convert(name: str, object_name: str, record_id: int) -> dict[str, Any]:
            try:
                return service.run(conn, service.kernel.snapshot(conn), actor, object_name, record_id, name)
            except TesseraError as error:
                reasons = "; ".join(f"{p.field}: {p.message}" for p in error.errors[:5])
                raise ActionError(f"the conversion {name!r} failed: {error.detail}"
                                  + (f" ({reasons})" if reasons else "")) from None
        return convert

    platform.actions.offer("convert", convert_in)
