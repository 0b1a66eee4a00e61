"""The forms engine's wiring: forms chosen per user and record, rendered, checked and submitted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from tessera.runtime.forms.kinds import KINDS

if TYPE_CHECKING:
    from tessera.runtime.metadata.documents import DocumentService


class Host(Protocol):
    documents: DocumentService


def install(platform: Host) -> None:
    for kind in KINDS:
        platform.documents.register(kind)
