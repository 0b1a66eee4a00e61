"""Search: one full-text search over every object, in the database's own index.

`index` keeps each object's index current (the save pipeline's hook, rebuilds as jobs when
the searchable fields change), `matching` turns a query into SQL for SQLite FTS5 and
PostgreSQL tsvector/pg_trgm under the reader's permissions, `service` is what the edges
call. Reading a search box into a safe query, snippets and typo likeness are pure
(`tessera.search`, engines).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tessera.runtime.background.jobs import JobService
    from tessera.runtime.kernel.hooks import SaveHooks
    from tessera.runtime.metadata.objects import MetadataService
    from tessera.runtime.records.service import RecordService
    from tessera.runtime.search.index import SearchIndex
    from tessera.runtime.search.service import SearchService


class Host(Protocol):
    hooks: SaveHooks
    jobs: JobService
    metadata: MetadataService
    records: RecordService
    search: SearchService
    search_index: SearchIndex


def install(platform: Host) -> None:
    from tessera.runtime.search.index import JOB_KIND

    platform.hooks.add("after_write", platform.search_index.after_write)
    platform.jobs.register(JOB_KIND, platform.search_index.work)
    platform.metadata.observe(platform.search_index.object_changed)
    platform.records.full_text = platform.search.clause
