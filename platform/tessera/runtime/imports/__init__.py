"""Imports: spreadsheets (xlsx, xls, ods, csv) into any object, through the save pipeline.

`cells` reads a cell as a field's value (a reader per field type), `rows` decides what each
row does (create, update, leave unchanged, refuse) a chunk at a time, `writing` saves a
chunk so good rows land when some are bad, `workbooks` writes the refused rows and an
object's template, `service` is what the edges call (drafts, preview, run as a job, errors,
retry). The pure reading of files and values is `tessera.imports` (engines).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tessera.runtime.background.jobs import JobService
    from tessera.runtime.imports.service import ImportService


class Host(Protocol):
    jobs: JobService
    imports: ImportService


def install(platform: Host) -> None:
    from tessera.runtime.imports.service import JOB_KIND

    platform.jobs.register(JOB_KIND, platform.imports.work)
