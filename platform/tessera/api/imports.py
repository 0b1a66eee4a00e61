"""Import endpoints: bring a spreadsheet (xlsx, xls, ods, csv) into an object.

A thin edge over `tessera.runtime.imports` (`platform.imports`): the upload makes a draft
with the columns found and a suggested mapping; PATCH changes its mapping, mode, key, column
options and whether it notifies; a preview is a dry run that writes nothing; run queues the
job (202, `Location: /api/v1/jobs/{id}`); the refused rows come back as JSON or as the file
they came in plus an `error` column (CSV or xlsx), and retry makes a new draft of just them.
`/imports/template/{object}` is an .xlsx to fill in. The service decides who may import
what; a caller sees only their own imports (an admin: everyone's).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from tessera.auth.actor import Actor
from tessera.data.files import FileTooLarge
from tessera.errors import FieldProblem, InvalidInput
from tessera.requests import deps
from tessera.runtime.imports.service import PREVIEW_ROWS
from tessera.runtime.imports.workbooks import XLSX
from tessera.runtime.platform import Platform

router = APIRouter(prefix="/imports", tags=["imports"])
ImportId = Annotated[int, Path(ge=1, le=2**63 - 1)]
#: Room for the multipart framing and the small fields around the uploaded file.
_FRAMING = 64 * 1024
#: The multipart parts an upload may have besides `file`.
_FIELDS = ("object", "sheet")
#: Characters a download's file name keeps as they are (others become "_").
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.() ")

# -- OpenAPI: what the routes read by hand and what they answer -----------------------------
_TEXT = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^\\u0000]*$"}
_UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file", "object"], "additionalProperties": False,
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "the spreadsheet: .xlsx, .xls, .ods or .csv"},
        "object": {**_TEXT, "description": "the api_name of the object to import into"},
        "sheet": {**_TEXT, "description": "the workbook's sheet to read (default: the first with data)"}}}}}}}
_OPTIONS = {"type": ["object", "null"], "additionalProperties": False, "properties": {
    "date_order": {"type": ["string", "null"], "enum": ["DMY", "MDY", "", None],
                   "description": "for dates like 03/04/2026 (found from the column when its values settle it)"},
    "decimal": {"type": ["string", "null"], "enum": [".", ",", None], "description": "the decimal mark"},
    "yes": {"type": "array", "items": {"type": "string"}, "description": "more words for yes"},
    "no": {"type": "array", "items": {"type": "string"}, "description": "more words for no"},
    "values": {"type": "object", "additionalProperties": {"type": "string"},
               "description": "cell text → the value meant (\"\" leaves the cell blank)"},
    "clear": {"type": "boolean", "description": "a blank cell clears the field on update"},
    "match": {"type": ["string", "null"], "description": "a lookup's target field that cells name records by"},
    "create_missing": {"type": "boolean", "description": "a lookup naming no record creates one"}},
    "description": "how to read one column's cells"}
_CHANGE_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "additionalProperties": False, "properties": {
        "mapping": {"type": "object", "additionalProperties": {"type": ["string", "null"]},
                    "description": "column → field (a line item's field as `lines.quantity`); null or \"\" "
                                   "leaves the column out; columns not named keep their mapping"},
        "mode": {"type": "string", "enum": ["insert", "update", "upsert"]},
        "key": {"type": "array", "items": {"type": "string"},
                "description": "the field(s) that find the record an update or upsert changes"},
        "options": {"type": "object", "additionalProperties": _OPTIONS},
        "notify": {"type": "boolean", "description": "run flows and notifications for each record saved"},
        "sheet": {**_TEXT, "description": "another sheet of the workbook: its columns, mapped afresh"}}}}}}}

_OBJECT = {"type": "object"}
_COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}
_SUMMARY_PROPERTIES = {
    "id": {"type": "integer"}, "object": {"type": ["string", "null"]}, "filename": {"type": "string"},
    "status": {"type": "string", "enum": ["draft", "queued", "running", "succeeded", "failed", "cancelled"]},
    "rows": {"type": "integer"}, "done": {"type": "integer"}, "counts": _COUNTS,
    "job": {"type": ["integer", "null"]}, "retry_of": {"type": ["integer", "null"]},
    "created_by": {"type": ["integer", "null"]}, "created_at": {"type": ["string", "null"], "format": "date-time"}}
_SUMMARY = {"type": "object", "required": ["id", "object", "filename", "status", "rows", "counts", "job"],
            "properties": _SUMMARY_PROPERTIES}
_IMPORT = {"type": "object",
           "required": ["id", "object", "filename", "status", "rows", "counts", "job", "columns", "fields",
                        "mapping", "mode", "key", "notify", "problems"],
           "properties": {**_SUMMARY_PROPERTIES,
                          "columns": {"type": "array", "items": _OBJECT}, "fields": {"type": "array", "items": _OBJECT},
                          "mapping": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
                          "mode": {"type": "string"}, "key": {"type": "array", "items": {"type": "string"}},
                          "notify": {"type": "boolean"}, "problems": {"type": "array", "items": _OBJECT},
                          "job_detail": {"type": ["object", "null"]},
                          "eta_seconds": {"type": ["integer", "null"]}}}
_PREVIEW = {"type": "object", "required": ["counts", "rows", "errors", "headers"], "properties": {
    "counts": {"type": "object", "required": ["create", "update", "unchanged", "refuse"],
               "properties": {k: {"type": "integer"} for k in ("create", "update", "unchanged", "refuse")}},
    "rows": {"type": "array", "items": _OBJECT}, "errors": {"type": "array", "items": _OBJECT},
    "headers": {"type": "array", "items": {"type": "string"}}, "seconds": {"type": "number"}}}
_REFUSED = {"type": "array", "items": {"type": "object", "required": ["row", "cells", "problems"], "properties": {
    "row": {"type": "integer"}, "cells": {"type": "object"},
    "problems": {"type": "array", "items": {"type": "object", "properties": {
        "column": {"type": ["string", "null"]}, "field": {"type": ["string", "null"]},
        "value": {"type": ["string", "null"]}, "reason": {"type": "string"}}}}}}}
_JOB_LOCATION = {"Location": {"description": "the job: /api/v1/jobs/{id}", "schema": {"type": "string"}}}
_IMPORT_LOCATION = {"Location": {"description": "the new import: /api/v1/imports/{id}", "schema": {"type": "string"}}}
_ATTACHMENT = {"Content-Disposition": {"description": "attachment, with the file's name", "schema": {"type": "string"}}}


def _json(schema: dict[str, Any], description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        out["headers"] = headers
    return out


def _file(media_type: str, description: str) -> dict[int | str, Any]:
    return {200: {"description": description, "headers": _ATTACHMENT,
                  "content": {media_type: {"schema": {"type": "string", "format": "binary"}}}}}


_TOO_LARGE = {413: {"description": "The file is larger than the upload limit",
                    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}}


# -- what the routes share ----------------------------------------------------------------
def _answer(content: Any, status: int = 200, location: str | None = None) -> JSONResponse:
    """The service's answers are JSON-ready: sent as they are."""
    return JSONResponse(content, status_code=status, headers={"Location": location} if location else None)


def _download(content: bytes, filename: str, media_type: str) -> Response:
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": _disposition(filename), "X-Content-Type-Options": "nosniff"})


def _disposition(filename: str) -> str:
    """`attachment` with the name in plain ASCII for every client and, when it has other
    characters (a Chinese file name), in full as RFC 6266's `filename*`."""
    plain = "".join(ch if ch in _PLAIN else "_" for ch in filename) or "download"
    if plain == filename:
        return f'attachment; filename="{plain}"'
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _filename(given: str | None) -> str:
    """The uploaded file's own name (its extension tells a spreadsheet from CSV), without a
    client's folder or characters no text can hold."""
    name = (given or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:300] or "upload"


async def _upload(request: Request, limit: int) -> tuple[str, bytes, str, str | None]:
    """(object, content, filename, sheet) of a multipart upload; a file over `limit` bytes is
    refused with 413 before it is read whole."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise InvalidInput("Send the file as multipart/form-data: the file in a part named 'file' and the object's "
                           "api_name in a part named 'object'.", [FieldProblem("file", "is required", "required")])
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + _FRAMING:
        raise FileTooLarge(f"The file is larger than the limit of {limit:,} bytes.")
    async with request.form(max_files=1, max_fields=len(_FIELDS) + 1) as form:
        upload = form.get("file")
        content = await upload.read(limit + 1) if isinstance(upload, UploadFile) else b""
        filename = _filename(upload.filename) if isinstance(upload, UploadFile) else ""
        fields = {key: form.get(key) for key in _FIELDS if key in form}
        unknown = sorted(set(form.keys()) - {"file", *fields})
    if len(content) > limit:
        raise FileTooLarge(f"The file is larger than the limit of {limit:,} bytes.")
    problems = [FieldProblem(key, "is not a part this endpoint takes", "unknown") for key in unknown]
    if not isinstance(upload, UploadFile):
        problems.append(FieldProblem("file", "is required: the spreadsheet to import", "required"))
    for key in _FIELDS:
        value = fields.get(key)
        if key in fields and not isinstance(value, str):
            problems.append(FieldProblem(key, "must be text, not a file"))
        elif isinstance(value, str) and (not value.strip() or len(value) > 200 or "\x00" in value):
            problems.append(FieldProblem(key, "must be a name of at most 200 characters"))
    if "object" not in fields:
        problems.append(FieldProblem("object", "is required: the api_name of the object to import into", "required"))
    if problems:
        raise InvalidInput("The upload is not one this endpoint takes; nothing was imported.", problems)
    sheet = fields.get("sheet")
    return str(fields["object"]).strip(), content, filename, sheet if isinstance(sheet, str) else None


# -- routes -------------------------------------------------------------------------------
@router.post("", status_code=201, openapi_extra=_UPLOAD_BODY,
             responses={201: _json(_IMPORT, "The draft: the columns found and a suggested mapping", _IMPORT_LOCATION),
                        **_TOO_LARGE})
async def start_import(request: Request, who: Actor = Depends(deps.actor),
                       rt: Platform = Depends(deps.runtime)) -> JSONResponse:
    """Upload a file to import into an object: answers the draft, with the columns found, a
    sample of each and a suggested mapping. Nothing is imported until it runs."""
    object_name, content, filename, sheet = await _upload(request, rt.settings.max_upload_bytes)
    draft = await run_in_threadpool(rt.imports.start, who, object_name, filename, content, sheet=sheet)
    return _answer(draft, 201, f"/api/v1/imports/{draft['id']}")


@router.get("", responses={200: _json({"type": "object", "required": ["imports"],
                                       "properties": {"imports": {"type": "array", "items": _SUMMARY}}},
                                      "The caller's imports, newest first")})
def list_imports(object: str | None = Query(None, max_length=200), limit: int = Query(20, ge=1, le=200),
                 who: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> JSONResponse:
    """The caller's recent imports (an admin's: everyone's), newest first; `object` keeps
    those into one object."""
    return _answer({"imports": rt.imports.list(who, object or None, limit=limit)})


# Declared before `/{import_id}` (whose id is a number in any case).
@router.get("/template/{object}", response_class=Response,
            responses=_file(XLSX, "An .xlsx to fill in: the object's columns, drop-downs for choices, an example row"))
def template(object: str, who: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> Response:
    """A workbook to fill in for an object: a column per field the caller may import into,
    a drop-down for every choice, an example row and a sheet describing each field."""
    content, filename = rt.imports.template(who, object)
    return _download(content, filename, XLSX)


@router.get("/{import_id:int}", responses={200: _json(_IMPORT, "The import")})
def get_import(import_id: ImportId, who: Actor = Depends(deps.actor),
               rt: Platform = Depends(deps.runtime)) -> JSONResponse:
    """The import: its columns and mapping, its status, counts and job (with an estimate of
    the time left while it runs)."""
    return _answer(rt.imports.get(who, import_id))


@router.patch("/{import_id:int}", openapi_extra=_CHANGE_BODY, responses={200: _json(_IMPORT, "The changed draft")})
def change_import(import_id: ImportId, body: Any = Depends(deps.json_body), who: Actor = Depends(deps.actor),
                  rt: Platform = Depends(deps.runtime)) -> JSONResponse:
    """Change a draft's `mapping` (column → field), `mode` (insert, update, upsert), `key`,
    column `options`, `notify` or `sheet`; 409 once it has run."""
    return _answer(rt.imports.change(who, import_id, body))


@router.post("/{import_id:int}/preview", responses={200: _json(_PREVIEW, "What running it would do")})
def preview_import(import_id: ImportId, limit: int = Query(PREVIEW_ROWS, ge=0, le=1000),
                   who: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> JSONResponse:
    """A dry run over every row, writing nothing: how many records would be created,
    updated, left unchanged and refused, the first `limit` rows with each cell's error, and
    every refused row's reasons (up to 200)."""
    return _answer(rt.imports.preview(who, import_id, limit=limit))


@router.post("/{import_id:int}/run", status_code=202,
             responses={202: _json(_IMPORT, "The job was queued", _JOB_LOCATION)})
def run_import(import_id: ImportId, who: Actor = Depends(deps.actor),
               rt: Platform = Depends(deps.runtime)) -> JSONResponse:
    """Run the draft as a job, or go on with a cancelled or failed import from its
    checkpoint; follow it at the `Location` (`/api/v1/jobs/{id}`). 409 while it is queued or
    running, and once it succeeded."""
    started = rt.imports.run(who, import_id)
    return _answer(started, 202, f"/api/v1/jobs/{started['job']}")


@router.post("/{import_id:int}/cancel", responses={200: _json(_IMPORT, "The import, its job asked to stop")})
def cancel_import(import_id: ImportId, who: Actor = Depends(deps.actor),
                  rt: Platform = Depends(deps.runtime)) -> JSONResponse:
    """Stop a running import after the chunk it is writing (what landed stays); 409 if it
    was never started."""
    return _answer(rt.imports.cancel(who, import_id))


@router.get("/{import_id:int}/errors", responses={200: _json(_REFUSED, "The refused rows, in file order")})
def import_errors(import_id: ImportId, limit: int = Query(1000, ge=1, le=10_000),
                  after: int = Query(0, ge=0, le=2**63 - 1), who: Actor = Depends(deps.actor),
                  rt: Platform = Depends(deps.runtime)) -> JSONResponse:
    """The refused rows: each row's line in the file, its cells by column and every reason;
    `after` (a line) pages on."""
    return _answer(rt.imports.errors(who, import_id, limit=limit, after=after))


@router.get("/{import_id:int}/errors.csv", response_class=Response,
            responses=_file("text/csv", "The refused rows as they came, plus an `error` column"))
def import_errors_csv(import_id: ImportId, who: Actor = Depends(deps.actor),
                      rt: Platform = Depends(deps.runtime)) -> Response:
    """The refused rows as CSV (UTF-8 with a byte-order mark): the file's columns as they
    came plus an `error` column, ready to fix and import again."""
    return _download(*rt.imports.errors_file(who, import_id, "csv"))


@router.get("/{import_id:int}/errors.xlsx", response_class=Response,
            responses=_file(XLSX, "The refused rows as they came, plus an `error` column"))
def import_errors_xlsx(import_id: ImportId, who: Actor = Depends(deps.actor),
                       rt: Platform = Depends(deps.runtime)) -> Response:
    """The refused rows as an .xlsx, every cell text as it came plus an `error` column."""
    return _download(*rt.imports.errors_file(who, import_id, "xlsx"))


@router.post("/{import_id:int}/retry", status_code=201,
             responses={201: _json(_IMPORT, "A new draft of the refused rows", _IMPORT_LOCATION)})
def retry_import(import_id: ImportId, who: Actor = Depends(deps.actor),
                 rt: Platform = Depends(deps.runtime)) -> JSONResponse:
    """A new draft of just the refused rows, mapped as before (say, once their accounts
    exist); 409 if none were refused."""
    draft = rt.imports.retry(who, import_id)
    return _answer(draft, 201, f"/api/v1/imports/{draft['id']}")
