"""App package endpoints (admins): what is available and installed, install, upgrade and
uninstall as jobs after an optional dry run, the customer layer, the review list of an
upgrade, putting a property back to the package's value, and exports.

A package comes as `{"source": "<bundled template>"}` or as a zip uploaded as
multipart/form-data in a part named `file`. `?dry_run=true` answers 200 with the plan and
writes nothing; otherwise 202 with the job and `Location: /api/v1/jobs/{id}`. A plan's
digest (`"plan"`) sent back with the real run makes it refuse with 409 if the metadata
moved since the dry run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from tessera.auth.actor import Actor
from tessera.data.files import FileTooLarge
from tessera.errors import FieldProblem, Forbidden, InvalidInput
from tessera.packages.files import Package
from tessera.packages.service import Source
from tessera.requests import deps
from tessera.runtime.platform import Platform

router = APIRouter(prefix="/packages", tags=["packages"])
ConflictId = Annotated[int, Path(ge=1, le=2**63 - 1)]
#: Room for the multipart framing and the small fields around the uploaded zip.
_FRAMING = 64 * 1024
_TEXT = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^\\u0000]*$"}
_FLAG = {"type": "string", "enum": ["true", "false"]}


# -- OpenAPI: the bodies these routes read by hand (so a missing sign-in is answered first) --
_OPTIONS = {
    "plan": {"type": "string", "maxLength": 200,
             "description": "the digest of a dry run's plan: refused with 409 if the metadata moved since"},
    "sample_data": {"type": "boolean", "description": "load the package's sample records (install only; default true)"},
    "strict": {"type": "boolean", "description": "refuse with 409 instead of keeping yours where both changed"},
}
_SUBMIT_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {
        "type": "object", "required": ["source"], "additionalProperties": False,
        "properties": {"source": {**_TEXT, "description": "a bundled template's name"}, **_OPTIONS}}},
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["file"], "additionalProperties": False,
        "properties": {"file": {"type": "string", "format": "binary", "description": "the package as a zip"},
                       "plan": {"type": "string", "maxLength": 200}, "sample_data": _FLAG, "strict": _FLAG}}},
}}}
_CHOICE = {"type": "string", "enum": ["keep", "take"],
           "description": "keep yours (what runs now), or take the package's value"}
_RESOLVE_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["choice"], "additionalProperties": False, "properties": {"choice": _CHOICE}}}}}}
_RESOLVE_ALL_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["choice"], "additionalProperties": False,
    "properties": {"choice": _CHOICE, "ids": {
        "type": "array", "maxItems": 10000, "items": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
        "description": "only these conflicts (all open ones when left out)"}}}}}}}
_SEGMENT = {"anyOf": [{"type": "string", "maxLength": 200},
                      {"type": "object", "minProperties": 1, "maxProperties": 1,
                       "additionalProperties": {"type": ["string", "integer", "number", "boolean", "null"]}}]}
_RESET_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["kind", "api_name"], "additionalProperties": False,
    "properties": {"kind": _TEXT, "api_name": _TEXT,
                   "path": {"type": "array", "maxItems": 50, "items": _SEGMENT,
                            "description": "one property, as the customizations list it (the whole document "
                                           "when left out)"}}}}}}}

_OBJECT = {"type": "object"}
_PLAN = {"type": "object", "required": ["package", "version", "action", "plan", "documents", "conflicts",
                                        "schema", "data", "problems"], "properties": {
    "package": {"type": "string"}, "title": {"type": "string"}, "version": {"type": "string"},
    "action": {"type": "string"}, "from_version": {"type": ["string", "null"]}, "plan": {"type": "string"},
    "summary": _OBJECT, "documents": {"type": "array", "items": _OBJECT},
    "conflicts": {"type": "array", "items": _OBJECT}, "schema": {"type": "array", "items": {"type": "string"}},
    "data": {"type": "array", "items": _OBJECT}, "problems": {"type": "array", "items": _OBJECT}}}
_UNINSTALL_PLAN = {"type": "object", "required": ["package", "version", "documents"], "properties": {
    "package": {"type": "string"}, "version": {"type": "string"}, "documents": {"type": "array", "items": _OBJECT},
    "note": {"type": "string"}}}
_JOB = {"type": "object", "required": ["id", "kind", "status"], "properties": {
    "id": {"type": "integer"}, "kind": {"type": "string"}, "status": {"type": "string"}}}
_LOCATION = {"Location": {"description": "the job: /api/v1/jobs/{id}", "schema": {"type": "string"}}}


def _json(schema: dict[str, Any], description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        out["headers"] = headers
    return out


_TOO_LARGE = {413: {"description": "The zip is larger than the upload limit",
                    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}}
_SUBMITTED = {200: _json(_PLAN, "The plan (dry run): nothing was written"),
              202: _json({"type": "object", "required": ["job", "plan"],
                          "properties": {"job": _JOB, "plan": _PLAN}}, "The job was queued", _LOCATION),
              **_TOO_LARGE}
_UNINSTALLED = {200: _json(_UNINSTALL_PLAN, "What would go to the trash (dry run): nothing was written"),
                202: _json({"type": "object", "required": ["job", "plan"],
                            "properties": {"job": _JOB, "plan": _UNINSTALL_PLAN}}, "The job was queued", _LOCATION)}


async def admin(request: Request) -> Actor:
    """Only admins see and handle packages."""
    who = await deps.confirmed_actor(request)
    if not who.is_admin:
        raise Forbidden("Only admins install, upgrade, export and uninstall packages.")
    return who


# -- reading what comes in ----------------------------------------------------------------
@dataclass(frozen=True)
class Submission:
    source: Source
    plan: str | None = None
    sample_data: bool = True
    strict: bool = False
    #: The uploaded file's name, for problems of the archive as a whole.
    filename: str = ""


async def _submission(request: Request, rt: Platform) -> Submission:
    """A JSON body naming a bundled template, or a zip uploaded in the multipart part `file`."""
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return await _upload(request, rt.settings.max_upload_bytes)
    body = await deps.json_body(request)
    if not isinstance(body, dict):
        raise InvalidInput('Send {"source": "<template>"} as JSON, or the package as a zip in a multipart '
                           "part named 'file'.", [FieldProblem("/", "must be a JSON object")])
    problems = [FieldProblem(f"/{key}", "is not a property of this request", "unknown")
                for key in sorted(set(body) - {"source", *_OPTIONS})]
    source = body.get("source")
    if not isinstance(source, str) or not source.strip() or len(source) > 200:
        problems.append(FieldProblem("/source", "must name a bundled template", "required"))
    plan = body.get("plan")
    if plan is not None and (not isinstance(plan, str) or len(plan) > 200):
        problems.append(FieldProblem("/plan", "must be the plan's digest from a dry run"))
    for flag in ("sample_data", "strict"):
        if flag in body and not isinstance(body[flag], bool):
            problems.append(FieldProblem(f"/{flag}", "must be true or false"))
    if problems:
        raise InvalidInput("The request body is not one this endpoint takes; nothing was written.", problems)
    return Submission(Source(name=source), plan, bool(body.get("sample_data", True)), bool(body.get("strict", False)))


async def _upload(request: Request, limit: int) -> Submission:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + _FRAMING:
        raise FileTooLarge(f"The zip is larger than the limit of {limit:,} bytes.")
    async with request.form(max_files=1, max_fields=10) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("Send the package as a zip in a multipart part named 'file'.",
                               [FieldProblem("file", "is required", "required")])
        content = await upload.read(limit + 1)
        fields = {key: form.get(key) for key in ("plan", "sample_data", "strict") if key in form}
        unknown = sorted(set(form.keys()) - {"file", *fields})
    if len(content) > limit:
        raise FileTooLarge(f"The zip is larger than the limit of {limit:,} bytes.")
    problems = [FieldProblem(key, "is not a part this endpoint takes", "unknown") for key in unknown]
    problems += [FieldProblem(key, "must be text, not a file") for key, value in fields.items()
                 if not isinstance(value, str)]
    flags: dict[str, bool] = {}
    for key in ("sample_data", "strict"):
        value = fields.get(key)
        if isinstance(value, str):
            if value.strip().lower() not in ("true", "false"):
                problems.append(FieldProblem(key, "must be true or false"))
            flags[key] = value.strip().lower() == "true"
    plan = fields.get("plan")
    if isinstance(plan, str) and len(plan) > 200:
        problems.append(FieldProblem("plan", "must be the plan's digest from a dry run"))
    if problems:
        raise InvalidInput("The upload's fields are not valid; nothing was written.", problems)
    return Submission(Source(content=content), plan if isinstance(plan, str) and plan else None,
                      flags.get("sample_data", True), flags.get("strict", False), upload.filename or "upload.zip")


def _submit(rt: Platform, who: Actor, given: Submission, *, upgrade: bool, dry_run: bool,
            name: str | None = None) -> JSONResponse:
    try:
        package = rt.packages.read(given.source)
    except InvalidInput as error:
        for problem in error.errors:  # the archive itself: name the file that was sent
            if problem.detail is not None and problem.detail.get("file") == "" and given.filename:
                problem.detail = {**problem.detail, "file": given.filename}
        raise
    if name is not None:
        _same_package(package, name)
    if dry_run:
        plan = rt.packages.plan(who, package, upgrade=upgrade, sample_data=given.sample_data)
        return JSONResponse(plan.as_json())
    job_id, plan = rt.packages.submit(who, package, upgrade=upgrade, sample_data=given.sample_data,
                                      expected_plan=given.plan, strict=given.strict)
    return _accepted(rt, who, job_id, plan.as_json())


def _same_package(package: Package, name: str) -> None:
    if package.name != name:
        raise InvalidInput(f"That is the package {package.name!r}, not {name!r}; nothing was written.",
                           [FieldProblem("/name", f"is {package.name!r}, not {name!r}", "other_package",
                                         detail={"file": "manifest.json"})])


def _accepted(rt: Platform, who: Actor, job_id: int, plan: dict[str, Any]) -> JSONResponse:
    job = {k: v for k, v in rt.jobs.get(who, job_id).items() if k != "params"}
    return JSONResponse({"job": job, "plan": plan}, status_code=202, headers={"Location": f"/api/v1/jobs/{job_id}"})


# -- routes -------------------------------------------------------------------------------
@router.get("")
def list_installed(_: Actor = Depends(admin), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """Installed packages, with how many changes the customer made and open conflicts."""
    return {"packages": rt.packages.installed()}


@router.get("/available")
def list_available(_: Actor = Depends(admin), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """The bundled templates, with the version installed of each (null: not installed)."""
    return {"packages": rt.packages.available()}


@router.post("", status_code=202, openapi_extra=_SUBMIT_BODY, responses=_SUBMITTED)
async def install_package(request: Request, dry_run: bool = False, who: Actor = Depends(admin),
                          rt: Platform = Depends(deps.runtime)) -> JSONResponse:
    """Install a package: a bundled template by name, or an uploaded zip."""
    given = await _submission(request, rt)
    return await run_in_threadpool(_submit, rt, who, given, upgrade=False, dry_run=dry_run)


@router.get("/{name}")
def get_package(name: str, _: Actor = Depends(admin), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.packages.get(name)


@router.post("/{name}/upgrade", status_code=202, openapi_extra=_SUBMIT_BODY, responses=_SUBMITTED)
async def upgrade_package(name: str, request: Request, dry_run: bool = False, who: Actor = Depends(admin),
                          rt: Platform = Depends(deps.runtime)) -> JSONResponse:
    """Upgrade an installed package to the version given (a bundled template or a zip):
    three ways, the customer's changes kept; where both changed, theirs stays and the place
    goes on the review list (`/conflicts`)."""
    given = await _submission(request, rt)
    return await run_in_threadpool(_submit, rt, who, given, upgrade=True, dry_run=dry_run, name=name)


@router.delete("/{name}", status_code=202, responses=_UNINSTALLED)
def uninstall_package(name: str, dry_run: bool = False, who: Actor = Depends(admin),
                      rt: Platform = Depends(deps.runtime)) -> JSONResponse:
    """Uninstall: the package's documents and objects go to the trash with their data
    (restorable); refused with 409 while another package depends on or extends it."""
    found = rt.packages.uninstall(who, name, dry_run=dry_run)
    if dry_run:
        return JSONResponse(found)
    job_id = int(found.pop("job"))
    return _accepted(rt, who, job_id, found)


@router.get("/{name}/customizations")
def customizations(name: str, who: Actor = Depends(admin), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """The customer layer: per document, each property changed since the package, with the
    package's value, the customer's, and who changed it when."""
    return {"customizations": rt.packages.customizations(who, name)}


@router.post("/{name}/reset", openapi_extra=_RESET_BODY)
def reset(name: str, body: Any = Depends(deps.json_body), who: Actor = Depends(admin),
          rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """Put one property of a package document (`path`), or the whole document, back to the
    package's value; fields the customer added stay."""
    if not isinstance(body, dict):
        raise InvalidInput('Send {"kind", "api_name", "path"?}.', [FieldProblem("/", "must be a JSON object")])
    problems = [FieldProblem(f"/{key}", "is not a property of this request", "unknown")
                for key in sorted(set(body) - {"kind", "api_name", "path"})]
    for key in ("kind", "api_name"):
        if not isinstance(body.get(key), str) or not body[key] or len(body[key]) > 200:
            problems.append(FieldProblem(f"/{key}", "is required", "required"))
    path = body.get("path")
    if path is not None and not _is_path(path):
        problems.append(FieldProblem("/path", "must be a path as the customizations list it"))
    if problems:
        raise InvalidInput("The request body is not one this endpoint takes; nothing was changed.", problems)
    return rt.packages.reset(who, name, body["api_name"], body["kind"], path or None)


def _is_path(path: Any) -> bool:
    scalar = (str, int, float, bool, type(None))
    return isinstance(path, list) and len(path) <= 50 and all(
        isinstance(s, str) or (isinstance(s, dict) and len(s) == 1 and isinstance(next(iter(s.values())), scalar))
        for s in path)


@router.get("/{name}/conflicts")
def list_conflicts(name: str, status: str = Query("open", pattern="^(open|kept|taken)$"),
                   who: Actor = Depends(admin), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """The review list of upgrades: where both the package and the customer changed the same
    thing (open ones; `status=kept|taken` for those decided)."""
    return {"conflicts": rt.packages.conflicts(who, name, status=status)}


@router.post("/{name}/conflicts", openapi_extra=_RESOLVE_ALL_BODY)
def resolve_conflicts(name: str, body: Any = Depends(deps.json_body), who: Actor = Depends(admin),
                      rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """Keep yours or take the package's for every open conflict, or those in `ids`."""
    choice = _choice(body, {"choice", "ids"})
    ids = body.get("ids")
    if ids is not None and (not isinstance(ids, list) or len(ids) > 10000 or any(
            isinstance(i, bool) or not isinstance(i, int) or not 1 <= i < 2**63 for i in ids)):
        raise InvalidInput("Send the ids of the conflicts to decide.", [FieldProblem("/ids", "must be a list of ids")])
    return rt.packages.resolve_all(who, name, choice, ids)


@router.post("/{name}/conflicts/{conflict_id}", openapi_extra=_RESOLVE_BODY)
def resolve_conflict(name: str, conflict_id: ConflictId, body: Any = Depends(deps.json_body),
                     who: Actor = Depends(admin), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """Keep yours (it already runs) or take the package's value for one conflict."""
    return rt.packages.resolve(who, name, conflict_id, _choice(body, {"choice"}))


def _choice(body: Any, allowed: set[str]) -> str:
    if not isinstance(body, dict) or body.get("choice") not in ("keep", "take") or set(body) - allowed:
        raise InvalidInput('Send {"choice": "keep"} to keep yours or {"choice": "take"} for the package\'s.',
                           [FieldProblem("/choice", "must be keep or take")])
    return str(body["choice"])


@router.get("/{name}/export", response_class=Response,
            responses={200: {"description": "The package as a zip", "content": {"application/zip": {}}}})
def export_package(name: str, layer_only: bool = False, who: Actor = Depends(admin),
                   rt: Platform = Depends(deps.runtime)) -> Response:
    """The package as it runs now (its documents with the customer's changes), or with
    `layer_only=true` only the customer's changes, as a zip another installation installs."""
    filename, content = rt.packages.export(who, name, layer_only=layer_only)
    return Response(content, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "X-Content-Type-Options": "nosniff"})
