"""Imports: what the edges call to bring a spreadsheet into an object.

An import is a draft first: the uploaded file with the columns found, a suggested mapping
(remembered from the last file with the same columns, else by name, label or a close
name) and what each column's values look like (their date order, their decimal mark).
The person adjusts the mapping, the mode and the key, previews (a dry run over every row
that writes nothing) and runs it as a job. The job decides and writes a chunk of rows at a
time in one transaction together with the import's checkpoint, so a worker killed half-way
resumes where the last chunk ended, without a row twice. Refused rows are kept with their
cells and reasons: they download as the original columns plus an `error` column, and
"retry refused rows" makes a new import of just them.
"""

from __future__ import annotations

import hashlib
import json
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.auth.actor import Actor, acting
from tessera.auth.users import UserService
from tessera.data.tables import import_errors, imports
from tessera.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound
from tessera.imports.files import NotATable, Sheet, Table, is_spreadsheet, open_sheet, read_table, sheet_table
from tessera.imports.mapping import Suggestion, suggest
from tessera.imports.values import COMMA, date_order, needs_order, number_style
from tessera.meta.model import FieldDef, ObjectDef
from tessera.runtime.background.jobs import JobCancelled, JobContext, JobService
from tessera.runtime.imports import workbooks
from tessera.runtime.imports.cells import ColumnOptions, as_text, blank
from tessera.runtime.imports.rows import (
    CREATE,
    REFUSE,
    UNCHANGED,
    UPDATE,
    Decider,
    ImportPlan,
    Row,
    is_name,
    label,
    plan,
    quiet_chunks,
    reason,
    records_of,
    targets,
)
from tessera.runtime.imports.sheets import Sheets
from tessera.runtime.imports.writing import Writer
from tessera.runtime.kernel.catalog import Snapshot
from tessera.runtime.kernel.events import MUTED, caused_by
from tessera.runtime.kernel.transactions import Kernel
from tessera.runtime.records.access import AccessService
from tessera.runtime.records.service import RecordService

JOB_KIND = "import.run"
#: Values of each column looked at to work out its conventions (date order, decimal mark).
_SAMPLED = 2000
#: Rows of the preview's grid, unless the caller asks for another number.
PREVIEW_ROWS = 50
_COUNTS = ("created", "updated", "unchanged", "refused")
_OUTCOME_COUNT = {CREATE: "created", UPDATE: "updated", UNCHANGED: "unchanged", REFUSE: "refused"}
_SETTINGS = ("mapping", "mode", "key", "options", "notify")


class ImportService:
    def __init__(self, kernel: Kernel, records: RecordService, access: AccessService, jobs: JobService,
                 users: UserService) -> None:
        self.kernel = kernel
        self.records = records
        self.access = access
        self.jobs = jobs
        self.users = users
        #: The workbooks of recent drafts, parsed once for their upload, preview and run.
        self.sheets = Sheets()

    # -- drafts --------------------------------------------------------------------------
    def start(self, actor: Actor, object_name: str, filename: str, content: bytes, *,
              sheet: str | None = None, retry_of: int | None = None) -> dict[str, Any]:
        """A draft import of an uploaded file into an object, with its columns and a mapping
        to start from."""
        return self._draft(actor, object_name, filename, content, sheet, retry_of, None)

    def _draft(self, actor: Actor, object_name: str, filename: str, content: bytes, sheet: str | None,
               retry_of: int | None, earlier: dict[str, Any] | None) -> dict[str, Any]:
        """`earlier`: the mapping and options of the import whose refused rows this one retries."""
        if len(content) > self.kernel.settings.max_upload_bytes:
            raise InvalidInput("The file is too large to import.", [FieldProblem(
                "file", f"is larger than {self.kernel.settings.max_upload_bytes // (1024 * 1024)} MB")])
        parsed = _open(content, filename, sheet)
        survey = _survey(_table(content, filename, sheet, parsed))
        with self.kernel.write() as conn:
            snap = self.kernel.snapshot(conn)
            obj = snap.object(object_name)
            self._refuse(actor, snap, obj)
            settings = {**self._first_settings(conn, actor, snap, obj, survey), **(earlier or {})}
            at = datetime.now(UTC)
            import_id = int(conn.execute(sa.insert(imports).values(
                object_uid=obj.uid, filename=filename[:300] or "upload", content=content,
                sheet=survey.facts.get("sheet"), headers=survey.headers, signature=survey.signature,
                total_rows=survey.total, settings=settings, status="draft", counts={}, retry_of=retry_of,
                created_by=actor.user_id, created_at=at, updated_at=at).returning(imports.c.id)).scalar_one())
        if parsed is not None:
            self.sheets.keep(import_id, content, parsed, sheet)
        return self.get(actor, import_id)

    def _first_settings(self, conn: Connection, actor: Actor, snap: Snapshot, obj: ObjectDef,
                        survey: Survey) -> dict[str, Any]:
        """A new draft's settings: remembered for these columns, else suggested; with what
        each column's values look like."""
        settings = self._remembered(conn, obj, survey.signature) or self._suggested(actor, snap, obj, survey.headers)
        settings["facts"] = {name: _facts(values) for name, values in survey.values.items()}
        settings["samples"] = {name: [as_text(v) for v in values[:5]] for name, values in survey.values.items()}
        settings["file_facts"] = survey.facts
        return settings

    def get(self, actor: Actor, import_id: int) -> dict[str, Any]:
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            row = self._row(conn, actor, import_id)
            return self._out(conn, snap, actor, row)

    def list(self, actor: Actor, object_name: str | None = None, *, limit: int = 20) -> list[dict[str, Any]]:
        """The caller's recent imports (an admin's: everyone's), newest first."""
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            query = sa.select(*(c for c in imports.c if c.name != "content")).order_by(imports.c.id.desc()) \
                .limit(max(1, min(limit, 200)))
            if object_name:
                query = query.where(imports.c.object_uid == snap.object(object_name).uid)
            if not actor.is_admin:
                query = query.where(imports.c.created_by == actor.user_id)
            return [self._summary(snap, r) for r in conn.execute(query).mappings()]

    def change(self, actor: Actor, import_id: int, body: Any) -> dict[str, Any]:
        """Change a draft's mapping, mode, key, column options or whether it notifies."""
        if not isinstance(body, dict):
            raise InvalidInput("The change must be a JSON object.", [FieldProblem("/", "must be an object")])
        unknown = sorted(set(body) - {*_SETTINGS, "sheet"})
        if unknown:
            raise InvalidInput(f"Unknown settings: {', '.join(unknown)}.",
                               [FieldProblem(k, f"is not one of {', '.join(_SETTINGS)}") for k in unknown])
        with self.kernel.write() as conn:
            snap = self.kernel.snapshot(conn)
            # The file itself only when another of its sheets is chosen (it is read again then).
            row = self._row(conn, actor, import_id, lock=True, content=bool(body.get("sheet")))
            if row["status"] != "draft":
                raise Conflict("The import has run already; start a new one to import again.")
            obj = self._object(snap, row)
            headers = row["headers"]
            settings = dict(row["settings"])
            if body.get("sheet") and body["sheet"] != row["sheet"]:
                # Another sheet of the workbook: its own columns, mapped afresh.
                survey = _survey(self._table(import_id, row["content"], row["filename"], str(body["sheet"])))
                settings = self._first_settings(conn, actor, snap, obj, survey)
                headers = survey.headers
                conn.execute(sa.update(imports).where(imports.c.id == import_id).values(
                    sheet=survey.facts.get("sheet"), headers=headers, signature=survey.signature,
                    total_rows=survey.total, settings=settings))
            problems = _shape(body, headers, targets(snap, obj))
            if problems:
                raise InvalidInput("The import's settings need attention.", problems)
            if "mapping" in body:
                mapping = {str(k): (v or None) for k, v in body["mapping"].items()}
                settings["mapping"] = {**settings.get("mapping", {}), **mapping}
                settings["how"] = {**settings.get("how", {}), **{k: "chosen" for k in mapping}}
            for name in ("mode", "key", "notify"):
                if name in body:
                    settings[name] = body[name]
            if "options" in body:
                merged = dict(settings.get("options") or {})
                for column, given in body["options"].items():
                    merged[column] = {**merged.get(column, {}), **(given or {})}
                settings["options"] = merged
            conn.execute(sa.update(imports).where(imports.c.id == import_id)
                         .values(settings=settings, updated_at=datetime.now(UTC)))
            row = self._row(conn, actor, import_id)
            return self._out(conn, snap, actor, row)

    # -- preview -------------------------------------------------------------------------
    def preview(self, actor: Actor, import_id: int, *, limit: int = PREVIEW_ROWS) -> dict[str, Any]:
        """A dry run over every row: what would be created, changed, left alone and refused,
        with each refused cell's reason. Nothing is written (the checks run in a transaction
        that is rolled back)."""
        limit = max(0, min(limit, 1000))
        started = time.monotonic()
        with self.kernel.write() as conn:
            snap = self.kernel.snapshot(conn)
            row = self._row(conn, actor, import_id, content=True)
            obj = self._object(snap, row)
            import_plan = self._plan(actor, snap, obj, row)
            decider = Decider(snap, import_plan, actor, self._allowed(actor, snap))
            counts = dict.fromkeys(("create", "update", "unchanged", "refuse"), 0)
            shown: list[dict[str, Any]] = []
            errors: list[dict[str, Any]] = []
            savepoint = conn.begin_nested()
            try:
                table = self._table(import_id, row["content"], row["filename"], row["sheet"])
                with closing(quiet_chunks(records_of(table.numbered, import_plan))) as worked:
                    for chunk in worked:
                        decider.decide(conn, chunk)
                        decider.vouch(conn)
                        self._check(conn, actor, snap, obj, import_plan, chunk)
                        for item in chunk:
                            counts[item.outcome] += 1
                            if len(shown) < limit:
                                shown.append(_shown(row["headers"], item))
                            if item.outcome == REFUSE and len(errors) < 200:
                                errors += [{"row": item.line, **p} for p in item.problems]
            finally:
                savepoint.rollback()
        return {"counts": counts, "rows": shown, "errors": errors[:200], "headers": row["headers"],
                "seconds": round(time.monotonic() - started, 3)}

    def _check(self, conn: Connection, actor: Actor, snap: Snapshot, obj: ObjectDef, import_plan: ImportPlan,
               chunk: list[Row]) -> None:
        """The save pipeline's own checks (required, unique, validation rules, …) over rows
        that would be saved, without saving them. Rows refused already for a cell are checked
        too, so the preview shows every problem of a row at once, not one per round."""
        refused_early = [r for r in chunk if r.outcome == REFUSE and r.record_id is None
                         and import_plan.mode != "update"]
        creating = [r for r in chunk if r.outcome == CREATE] + refused_early
        updating = [r for r in chunk if r.outcome == UPDATE]
        columns = {c.field.api_name: c.name for c in import_plan.parent_columns}
        index = {c.name: c.index for c in import_plan.parent_columns}
        # A line's record is set by the platform (it is read-only to a client): not checked.
        fixed = {obj.parent_link.api_name} if obj.is_child and obj.parent_link is not None else set()

        def note(rows: list[Row], problems: list[list[FieldProblem]]) -> None:
            for item, found in zip(rows, problems, strict=True):
                flagged = {p["field"] for p in item.problems}
                for problem in found:
                    if problem.field in flagged or problem.field in fixed:
                        continue  # its cell was refused already, for the reason shown (or the platform sets it)
                    column = columns.get(problem.field)
                    fdef = obj.field(problem.field)
                    item.refuse(column, problem.field if fdef else None,
                                item.cells[index[column]] if column else None, reason(fdef, problem.message))

        # Names wait for their records only where the run creates them first; otherwise the
        # values go to the checks as they are (the pipeline reads its inputs, never changes them).
        named = any(c.options.create_missing for c in import_plan.columns)

        def plain(values: dict[str, Any]) -> dict[str, Any]:
            if not named and not fixed:
                return values
            return {k: v for k, v in values.items() if not is_name(v) and k not in fixed}

        if creating:
            note(creating, self.records.pipeline.check(conn, actor, snap, obj, [plain(r.values) for r in creating],
                                                       [None] * len(creating)))
        if updating:
            table = snap.table(obj)
            befores = {r["id"]: r for r in conn.execute(sa.select(table).where(
                table.c.id.in_([r.record_id for r in updating]))).mappings()}
            note(updating, self.records.pipeline.check(conn, actor, snap, obj, [plain(r.changes) for r in updating],
                                                       [befores[r.record_id] for r in updating]))

    # -- running -------------------------------------------------------------------------
    def run(self, actor: Actor, import_id: int) -> dict[str, Any]:
        """Start the import as a job (or, after it was cancelled or failed, go on from where
        it stopped); answers the import with its job."""
        with self.kernel.write() as conn:
            snap = self.kernel.snapshot(conn)
            row = self._row(conn, actor, import_id, lock=True)
            if row["status"] not in ("draft", "failed", "cancelled"):
                raise Conflict("The import has been started already.", extra={"job": row["job_id"]})
            obj = self._object(snap, row)
            self._plan(actor, snap, obj, row)
            job_id = self.jobs.submit(conn, JOB_KIND, {"import": import_id},
                                      title=f"Import {row['filename']} into {obj.plural_label}", actor=actor)
            # A stopped import goes on from its checkpoint; a draft starts counting.
            counts = row["counts"] if row["status"] != "draft" else dict.fromkeys(_COUNTS, 0)
            conn.execute(sa.update(imports).where(imports.c.id == import_id).values(
                status="queued", job_id=job_id, counts=counts, updated_at=datetime.now(UTC)))
            row = self._row(conn, actor, import_id)
            return self._out(conn, snap, actor, row)

    def cancel(self, actor: Actor, import_id: int) -> dict[str, Any]:
        with self.kernel.read() as conn:
            row = self._row(conn, actor, import_id)
        if row["job_id"] is None:
            raise Conflict("The import has not been started.")
        job = self.jobs.cancel(actor, int(row["job_id"]))
        if job["status"] == "cancelled":  # stopped before a worker took it: its work never runs
            with self.kernel.write() as conn:
                conn.execute(sa.update(imports).where(imports.c.id == import_id, imports.c.status == "queued")
                             .values(status="cancelled", updated_at=datetime.now(UTC)))
        return self.get(actor, import_id)

    def work(self, ctx: JobContext) -> dict[str, Any]:
        """The job: decide and write chunk after chunk, each with the checkpoint; resumes
        after the last chunk that landed."""
        import_id = int(ctx.params["import"])
        with self.kernel.read() as conn:
            row = conn.execute(sa.select(imports).where(imports.c.id == import_id)).mappings().first()
        if row is None:
            raise NotFound(f"There is no import {import_id}.")
        actor = self.users.actor_for_user(row["created_by"]) if row["created_by"] else Actor.system()
        token = acting.set(actor)
        try:
            return self._work(ctx, row, actor)
        except JobCancelled:
            self._finish(import_id, "cancelled")
            raise
        except Exception:
            self._finish(import_id, "failed")
            raise
        finally:
            acting.reset(token)

    def _work(self, ctx: JobContext, row: Any, actor: Actor) -> dict[str, Any]:
        import_id, total = int(row["id"]), int(row["total_rows"])
        with self.kernel.write() as conn:
            snap = self.kernel.snapshot(conn)
            obj = self._object(snap, row)
            import_plan = self._plan(actor, snap, obj, row)
            conn.execute(sa.update(imports).where(imports.c.id == import_id)
                         .values(status="running", updated_at=datetime.now(UTC)))
        decider = Decider(snap, import_plan, actor, self._allowed(actor, snap))
        writer = Writer(self.records, actor, import_plan, decider)
        counts = {**dict.fromkeys(_COUNTS, 0), **(row["counts"] or {})}
        done = skip = int(row["done_rows"])
        ctx.progress(done, total, "resuming" if done else "starting", force=True)
        links = (f"import:{import_id}", *(() if row["settings"].get("notify") else (MUTED,)))
        with caused_by(*links):
            table = self._table(import_id, row["content"], row["filename"], row["sheet"])
            with closing(quiet_chunks(records_of(table.numbered, import_plan))) as worked:
                for chunk in worked:
                    lines = sum(1 + len(r.more) for r in chunk)
                    if skip > 0:  # landed before the worker stopped: only their keys still count
                        with self.kernel.read() as conn:
                            decider.note_keys(conn, chunk)
                        skip -= lines
                        continue
                    with self.kernel.write() as conn:
                        decider.decide(conn, chunk)
                        writer.write(conn, chunk)
                        for item in chunk:
                            counts[_OUTCOME_COUNT[item.outcome]] += 1
                        refused = [{"import_id": import_id, "row": r.line, "cells": _cells_of(r),
                                    "problems": r.problems} for r in chunk if r.outcome == REFUSE]
                        if refused:
                            conn.execute(sa.insert(import_errors), refused)
                        done += lines
                        conn.execute(sa.update(imports).where(imports.c.id == import_id).values(
                            done_rows=done, counts=counts, updated_at=datetime.now(UTC)))
                    ctx.progress(done, total, _progress_text(counts, done, total))
        self._finish(import_id, "succeeded", rows=done)
        ctx.progress(done, done, _progress_text(counts, done, done), force=True)
        return {"import": import_id, **counts}

    def _finish(self, import_id: int, status: str, *, rows: int | None = None) -> None:
        """Mark how the import ended; a finished one knows exactly how many rows it had."""
        values: dict[str, Any] = {"status": status, "updated_at": datetime.now(UTC)}
        if rows is not None:
            values["total_rows"] = rows
        if status == "succeeded":
            # Done: its refused rows are kept on their own; the file itself is not needed again.
            values["content"] = b""
        with self.kernel.write() as conn:
            conn.execute(sa.update(imports).where(imports.c.id == import_id).values(values))
        if status == "succeeded":
            self.sheets.forget(import_id)

    # -- refused rows ----------------------------------------------------------------------
    def errors(self, actor: Actor, import_id: int, *, limit: int = 1000, after: int = 0) -> list[dict[str, Any]]:
        """The refused rows: line, cells as they came and every reason."""
        with self.kernel.read() as conn:
            row = self._row(conn, actor, import_id)
            return [{"row": e.row, "cells": dict(zip(row["headers"], e.cells, strict=False)),
                     "problems": e.problems} for e in conn.execute(
                sa.select(import_errors).where(import_errors.c.import_id == import_id, import_errors.c.row > after)
                .order_by(import_errors.c.row).limit(max(1, min(limit, 10_000))))]

    def errors_file(self, actor: Actor, import_id: int, kind: str) -> tuple[bytes, str, str]:
        """The refused rows as the file came, plus an `error` column: (content, filename,
        media type), as CSV or xlsx; no cell can become a live formula."""
        with self.kernel.read() as conn:
            row = self._row(conn, actor, import_id)
            refused = list(conn.execute(sa.select(import_errors.c.cells, import_errors.c.problems)
                                        .where(import_errors.c.import_id == import_id)
                                        .order_by(import_errors.c.row)))
        headers = [*row["headers"], "error"]
        body = [[*cells, _reasons(problems)] for cells, problems in refused]
        stem = row["filename"].rsplit(".", 1)[0] or "import"
        if kind == "xlsx":
            return workbooks.table_xlsx(headers, body, "Refused rows"), f"{stem}-refused.xlsx", workbooks.XLSX
        if kind == "csv":
            return workbooks.table_csv(headers, body), f"{stem}-refused.csv", "text/csv; charset=utf-8"
        raise NotFound(f"There is no {kind!r} download of refused rows (csv or xlsx).")

    def retry(self, actor: Actor, import_id: int) -> dict[str, Any]:
        """A new draft of just the refused rows (say, now that their lookups exist), mapped as
        before."""
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            row = self._row(conn, actor, import_id)
            obj = self._object(snap, row)
            refused = [cells for (cells,) in conn.execute(
                sa.select(import_errors.c.cells).where(import_errors.c.import_id == import_id)
                .order_by(import_errors.c.row))]
        if not refused:
            raise Conflict("The import refused no rows; there is nothing to retry.")
        content = workbooks.table_csv(row["headers"], refused, escape=False)
        stem = row["filename"].rsplit(".", 1)[0] or "import"
        earlier = {k: row["settings"][k] for k in _SETTINGS if k in row["settings"]}
        earlier["how"] = {k: "chosen" for k in earlier.get("mapping", {})}
        return self._draft(actor, obj.api_name, f"{stem}-retry.csv", content, None, import_id, earlier)

    # -- the template --------------------------------------------------------------------
    def template(self, actor: Actor, object_name: str) -> tuple[bytes, str]:
        """An .xlsx to fill in: the object's columns, a drop-down for every choice, an example
        row, and a sheet describing each field."""
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            obj = snap.object(object_name)
            self._refuse(actor, snap, obj)
            access = self.access.object(actor, snap, obj)
            offered = targets(snap, obj)
            fields = [f for f in obj.fields if f.api_name in offered
                      and f.api_name not in access.hidden and f.api_name not in access.read_only]
            examples = {f.api_name: self._example_name(conn, actor, snap, f) for f in fields if f.type == "lookup"}
        return workbooks.template(obj, fields, snap, examples), f"{obj.api_name}-import-template.xlsx"

    def _example_name(self, conn: Connection, actor: Actor, snap: Snapshot, fdef: FieldDef) -> str:
        target = snap.objects.get(str(fdef.props.get("target")))
        name = target.name_field if target else None
        if target is None or name is None:
            return ""
        table = snap.table(target)
        query = sa.select(table.c[name.column]).where(table.c.deleted_at.is_(None)).order_by(table.c.id).limit(1)
        allowed = self.records._allowed(conn, snap, target, actor, "read")
        if allowed is not None:
            query = query.where(allowed)
        return str(conn.execute(query).scalar() or "")

    # -- inside ----------------------------------------------------------------------------
    def _refuse(self, actor: Actor, snap: Snapshot, obj: ObjectDef) -> None:
        access = self.access.object(actor, snap, obj)
        if not (access.may("create") or access.may("edit")):
            raise Forbidden(f"You may not import {obj.plural_label}: you can neither create nor change them.")
        if obj.is_child and obj.parent_link is None:
            raise InvalidInput(f"{obj.plural_label} are line items of no record yet; there is nothing to import "
                               "them into.", [FieldProblem("object", "is a line item object without a parent")])

    def _plan(self, actor: Actor, snap: Snapshot, obj: ObjectDef, row: Any) -> ImportPlan:
        self._refuse(actor, snap, obj)
        settings = _effective(snap, obj, row["settings"])
        offered = targets(snap, obj)
        unanswered = [FieldProblem(f"options.{c}.date_order", f"Say whether the dates of column {c!r} put the day "
                                   "or the month first: no value settles it")
                      for c, target in (settings.get("mapping") or {}).items()
                      if target and _asks(offered.get(target, (None, None))[0],
                                          (settings.get("facts") or {}).get(c, {}), settings["options"].get(c, {}))]
        try:
            import_plan = plan(snap, obj, row["headers"], settings)
        except InvalidInput as error:
            error.errors = [*error.errors, *unanswered]
            raise
        if unanswered:
            raise InvalidInput("The import's settings need attention.", unanswered)
        access = self.access.object(actor, snap, obj)
        for operation in {"insert": ("create",), "update": ("edit",), "upsert": ("create", "edit")}[import_plan.mode]:
            access.refuse(operation)
        if not access.unrestricted:
            access.refuse_unwritable(sorted(c.field.api_name for c in import_plan.parent_columns))
        return import_plan

    def _table(self, import_id: int, content: bytes, filename: str, sheet: str | None) -> Table:
        try:
            return self.sheets.table(import_id, content, filename, sheet)
        except NotATable as error:
            raise InvalidInput(str(error), [FieldProblem("file", str(error))]) from None

    def _allowed(self, actor: Actor, snap: Snapshot) -> Any:
        def allowed(conn: Connection, obj: ObjectDef, operation: str) -> Any:
            return self.records._allowed(conn, snap, obj, actor, operation)
        return allowed

    def _row(self, conn: Connection, actor: Actor, import_id: int, *, lock: bool = False,
             content: bool = False) -> Any:
        """The import, if the actor may see it; its file only when asked for (a page polling
        a running import's progress must not read megabytes each time)."""
        columns = imports.c if content else [c for c in imports.c if c.name != "content"]
        query = sa.select(*columns).where(imports.c.id == import_id)
        if lock and conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).mappings().first()
        if row is None or not (actor.is_admin or row["created_by"] == actor.user_id):
            raise NotFound(f"There is no import {import_id}.")
        return row

    @staticmethod
    def _object(snap: Snapshot, row: Any) -> ObjectDef:
        obj = snap.by_uid.get(row["object_uid"])
        if obj is None or obj.api_name not in snap.objects:
            raise NotFound("The object this import goes into no longer exists.")
        return obj

    def _remembered(self, conn: Connection, obj: ObjectDef, signature: str) -> dict[str, Any] | None:
        """The settings of the last import that ran with a file of the same columns."""
        settings = conn.execute(sa.select(imports.c.settings).where(
            imports.c.object_uid == obj.uid, imports.c.signature == signature, imports.c.status != "draft")
            .order_by(imports.c.id.desc()).limit(1)).scalar()
        if settings is None:
            return None
        kept = {k: settings[k] for k in _SETTINGS if k in settings}
        kept["how"] = {column: "remembered" if field else "" for column, field in kept.get("mapping", {}).items()}
        return kept

    def _suggested(self, actor: Actor, snap: Snapshot, obj: ObjectDef, headers: list[str]) -> dict[str, Any]:
        """Columns matched to the object's own fields first, then the columns left over to
        its line items' fields (a "Quantity" column of a quote file is its lines' quantity)."""
        hidden = self.access.object(actor, snap, obj).hidden
        offered = targets(snap, obj)
        own = {name: fdef.label for name, (fdef, lines) in offered.items() if lines is None and name not in hidden}
        found = {s.column: s for s in suggest(headers, own)}
        left = [h for h in headers if found[h].field is None]
        by_line = {fdef.api_name if fdef.api_name not in own else name: name
                   for name, (fdef, lines) in offered.items() if lines is not None}
        line_labels = {short: offered[name][0].label for short, name in by_line.items()}
        for suggestion in suggest(left, line_labels) if left and by_line else []:
            if suggestion.field is not None:
                found[suggestion.column] = Suggestion(suggestion.column, by_line[suggestion.field], suggestion.how)
        return {"mapping": {h: found[h].field for h in headers}, "how": {h: found[h].how for h in headers},
                "mode": "insert", "key": [], "options": {}, "notify": False}

    def _summary(self, snap: Snapshot, row: Any) -> dict[str, Any]:
        obj = snap.by_uid.get(row["object_uid"])
        return {"id": row["id"], "object": obj.api_name if obj else None, "filename": row["filename"],
                "status": row["status"], "rows": row["total_rows"], "done": row["done_rows"],
                "counts": row["counts"] or {}, "job": row["job_id"], "retry_of": row["retry_of"],
                "created_by": row["created_by"], "created_at": _at(row["created_at"])}

    def _out(self, conn: Connection, snap: Snapshot, actor: Actor, row: Any) -> dict[str, Any]:
        obj = self._object(snap, row)
        settings = row["settings"]
        mapping = settings.get("mapping") or {}
        offered = targets(snap, obj)
        access = self.access.object(actor, snap, obj)
        columns = []
        for name in row["headers"]:
            target = mapping.get(name)
            fdef = offered.get(target, (None, None))[0] if target else None
            facts = (settings.get("facts") or {}).get(name, {})
            options = {**_defaults(fdef, facts), **((settings.get("options") or {}).get(name) or {})}
            columns.append({
                "name": name, "samples": (settings.get("samples") or {}).get(name, []),
                "field": target, "how": (settings.get("how") or {}).get(name, "") if target else "",
                "options": options, "facts": facts,
                "asks": _asks(fdef, facts, options),
            })
        fields = [{"name": name, "label": label(snap, obj, name), "type": fdef.type, "required": fdef.required,
                   "unique": fdef.unique, "lookup": fdef.props.get("target") if fdef.type == "lookup" else None,
                   "options": [{"value": o.get("value"), "label": o.get("label", o.get("value"))}
                               for o in fdef.props.get("options", []) if not o.get("deprecated")]}
                  for name, (fdef, lines) in offered.items()
                  if lines is not None or fdef.api_name not in access.hidden | access.read_only]
        problems: list[dict[str, Any]] = []
        if row["status"] == "draft":
            try:
                self._plan(actor, snap, obj, row)
            except (InvalidInput, Forbidden) as error:
                problems = [p.as_json() for p in error.errors] or [{"field": "/", "message": error.detail}]
        job = None
        if row["job_id"] is not None:
            try:
                job = self.jobs.get(actor, int(row["job_id"]))
            except NotFound:
                job = None
        out = {
            **self._summary(snap, row), "object_label": obj.label, "object_plural": obj.plural_label,
            "sheet": row["sheet"], "file": settings.get("file_facts") or {}, "columns": columns, "fields": fields,
            "mapping": mapping, "mode": settings.get("mode", "insert"), "key": settings.get("key") or [],
            "notify": bool(settings.get("notify")), "problems": problems, "job_detail": job,
            "eta_seconds": _eta(job, row["done_rows"], row["total_rows"]),
        }
        return out


# -- pure helpers of the service ------------------------------------------------------------

@dataclass
class Survey:
    """A file read once over: its headers, how many rows, up to _SAMPLED values of each
    column, what was found out (encoding, sheet …) and a hash of the headers."""

    headers: list[str]
    total: int
    values: dict[str, list[Any]]
    facts: dict[str, Any]
    signature: str


def _survey(table: Table) -> Survey:
    values: dict[str, list[Any]] = {name: [] for name in table.headers}
    total = 0
    for _, cells in table.numbered:
        total += 1
        for name, cell in zip(table.headers, cells, strict=True):
            if not blank(cell):
                values[name].append(cell)
        if total == _SAMPLED and "last_line" in table.facts:
            # A big workbook: its rows are counted from its last line, not read twice
            # (blank lines among them included; the run counts them exactly).
            total = max(total, table.facts["last_line"] - table.facts["header_line"])
            break
    if total == 0:
        raise InvalidInput("The file has column headers but no rows to import.",
                           [FieldProblem("file", "has no rows under its headers")])
    signature = hashlib.sha256(json.dumps(table.headers).encode()).hexdigest()
    return Survey(table.headers, total, values, table.facts, signature)


def _open(content: bytes, filename: str, sheet: str | None) -> Sheet | None:
    """A workbook's sheet parsed (None for a CSV file)."""
    if not is_spreadsheet(content, filename):
        return None
    try:
        return open_sheet(content, sheet)
    except NotATable as error:
        raise InvalidInput(str(error), [FieldProblem("file", str(error))]) from None


def _table(content: bytes, filename: str, sheet: str | None, parsed: Sheet | None = None) -> Table:
    try:
        return sheet_table(parsed) if parsed is not None else read_table(content, filename, sheet=sheet)
    except NotATable as error:
        raise InvalidInput(str(error), [FieldProblem("file", str(error))]) from None


def _facts(values: list[Any]) -> dict[str, Any]:
    """What a column's values show: their date order (or that one must be chosen) and their
    decimal mark."""
    texts = [v for v in values if isinstance(v, str)]
    facts: dict[str, Any] = {}
    if needs_order(texts):
        facts["date_order"] = date_order(texts)
        facts["needs_date_order"] = facts["date_order"] is None
    if any(any(ch.isdigit() for ch in t) for t in texts):
        facts["decimal"] = "," if number_style(texts) == COMMA else "."
    return facts


def _effective(snap: Snapshot, obj: ObjectDef, settings: dict[str, Any]) -> dict[str, Any]:
    """The settings with each mapped column's options as its values suggest them, where the
    person did not say otherwise."""
    offered = targets(snap, obj)
    options = dict(settings.get("options") or {})
    for column, target in (settings.get("mapping") or {}).items():
        if target in offered:
            facts = (settings.get("facts") or {}).get(column, {})
            options[column] = {**_defaults(offered[target][0], facts), **(options.get(column) or {})}
    return {**settings, "options": options}


def _defaults(fdef: FieldDef | None, facts: dict[str, Any]) -> dict[str, Any]:
    """A column's options as its values suggest them, before the person changes any."""
    if fdef is None:
        return {}
    out: dict[str, Any] = {}
    if fdef.type in ("date", "datetime") and facts.get("date_order"):
        out["date_order"] = facts["date_order"]
    if fdef.type in ("integer", "decimal", "currency", "percent", "rating") and facts.get("decimal"):
        out["decimal"] = facts["decimal"]
    return out


def _asks(fdef: FieldDef | None, facts: dict[str, Any], options: dict[str, Any]) -> list[str]:
    """What the person must say about a column before it can run (a date order no value settles)."""
    if fdef is not None and fdef.type in ("date", "datetime") and facts.get("needs_date_order") \
            and not options.get("date_order"):
        return ["date_order"]
    return []


def _shape(body: dict[str, Any], headers: list[str], known: dict[str, Any]) -> list[FieldProblem]:
    problems = []
    mapping = body.get("mapping")
    if mapping is not None:
        if not isinstance(mapping, dict):
            problems.append(FieldProblem("mapping", "must be an object of column → field"))
        else:
            for column, target in mapping.items():
                if column not in headers:
                    problems.append(FieldProblem(f"mapping.{column}", "is not a column of the file"))
                elif target not in (None, "") and (not isinstance(target, str) or target not in known):
                    problems.append(FieldProblem(f"mapping.{column}", f"{target!r} is not a field you can import into"))
    if "mode" in body and body["mode"] not in ("insert", "update", "upsert"):
        problems.append(FieldProblem("mode", "must be insert, update or upsert"))
    if "key" in body and not (isinstance(body["key"], list) and all(isinstance(k, str) for k in body["key"])):
        problems.append(FieldProblem("key", "must be a list of field names"))
    if "notify" in body and not isinstance(body["notify"], bool):
        problems.append(FieldProblem("notify", "must be true or false"))
    options = body.get("options")
    if options is not None:
        if not isinstance(options, dict):
            problems.append(FieldProblem("options", "must be an object of column → options"))
        else:
            for column, given in options.items():
                if column not in headers:
                    problems.append(FieldProblem(f"options.{column}", "is not a column of the file"))
                elif given is not None and not isinstance(given, dict):
                    problems.append(FieldProblem(f"options.{column}", "must be an object"))
                elif given:
                    problems += _option_problems(column, given)
    return problems


def _option_problems(column: str, given: dict[str, Any]) -> list[FieldProblem]:
    allowed = set(ColumnOptions.__dataclass_fields__)
    problems = [FieldProblem(f"options.{column}.{k}", "is not a column option") for k in given if k not in allowed]
    if given.get("date_order") not in (None, "", "DMY", "MDY"):
        problems.append(FieldProblem(f"options.{column}.date_order", "must be DMY or MDY"))
    if given.get("decimal") not in (None, ".", ","):
        problems.append(FieldProblem(f"options.{column}.decimal", 'must be "." or ","'))
    for name in ("yes", "no"):
        if name in given and not (isinstance(given[name], list) and all(isinstance(w, str) for w in given[name])):
            problems.append(FieldProblem(f"options.{column}.{name}", "must be a list of words"))
    if given.get("match") is not None and not isinstance(given["match"], str):
        problems.append(FieldProblem(f"options.{column}.match", "must be a field name"))
    for name in ("clear", "create_missing"):
        if name in given and not isinstance(given[name], bool):
            problems.append(FieldProblem(f"options.{column}.{name}", "must be true or false"))
    if "values" in given and not (isinstance(given["values"], dict)
                                  and all(isinstance(v, str) for v in given["values"].values())):
        problems.append(FieldProblem(f"options.{column}.values", "must map cell text to text"))
    return problems


def _shown(headers: list[str], row: Row) -> dict[str, Any]:
    return {"row": row.line, "outcome": row.outcome, "record_id": row.record_id,
            "cells": [{"column": name, "value": None if blank(cell) else as_text(cell), "error": row.bad.get(name)}
                      for name, cell in zip(headers, row.cells, strict=True)],
            "lines": len(row.more) + 1 if row.more else None,
            "problems": row.problems}


def _cells_of(row: Row) -> list[Any]:
    return [None if blank(c) else as_text(c) for c in row.cells]


def _reasons(problems: list[dict[str, Any]]) -> str:
    return "; ".join(f"{p['column']}: {p['reason']}" if p.get("column") else str(p["reason"]) for p in problems)


def _progress_text(counts: dict[str, int], done: int, total: int) -> str:
    return (f"{done:,} of {total:,} rows: {counts['created']:,} created, {counts['updated']:,} updated, "
            f"{counts['unchanged']:,} unchanged, {counts['refused']:,} refused")


def _eta(job: dict[str, Any] | None, done: int, total: int) -> int | None:
    if not job or job["status"] != "running" or not job.get("started_at") or not done:
        return None
    started = datetime.fromisoformat(job["started_at"].replace("Z", "+00:00"))
    elapsed = (datetime.now(UTC) - started).total_seconds()
    return max(0, round(elapsed / max(1, job["done"] or done) * (total - (job["done"] or done))))


def _at(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")
