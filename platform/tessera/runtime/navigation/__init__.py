"""Moving around the app: apps (named groups of objects, a metadata kind), the app menu a
person picks from, and the records they keep at hand — favourites and recent visits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from tessera.runtime.navigation.kinds import KINDS

if TYPE_CHECKING:
    from tessera.runtime.metadata.documents import DocumentService


class Host(Protocol):
    documents: DocumentService


def install(platform: Host) -> None:
    for kind in KINDS:
        platform.documents.register(kind)
