"""The import wizard (`/app/{object}/import`): a spreadsheet into an object's records, in the
steps a person takes.

1. Upload (`/app/{object}/import`): a file (.xlsx, .xls, .ods, .csv, .tsv, .txt), the
   object's template to fill in (`…/import/template.xlsx`), and the person's recent imports
   of the object.
2. Columns (`/app/{object}/import/{id}` while a draft): a row per column of the file — its
   header and first values, the field it goes into picked by label ("Don't import" leaves it
   out) with how that was found (matched by name, remembered, a close name to check), and
   the options that apply to it: the date order, the decimal mark, a value map for choices
   and lookups, yes/no words, which field finds a lookup's record and whether missing ones
   are created, and on update whether blank cells clear the field. Then what the import does
   (add, update, both) and by which field it finds existing records. Every change is saved
   as it is made; what the service says is wrong is shown beside what it concerns.
3. Preview (`…/{id}/preview`): a dry run over every row — how many records would be created,
   updated, left unchanged and refused — and the first rows, each refused cell in red with
   its reason.
4. Run: the job's progress (`…/{id}/progress`, polled), done of total, its message, the time
   left, and Cancel.
5. Result (`…/{id}` once run): the counts, the records list, the refused rows to download
   (CSV or Excel) and "Retry refused rows", which makes a new draft of just them.

Pages only parse, call the import service (`platform.imports`, which checks every
permission) and render; a refusal of the service is a message beside the input it
concerns, never an error page, except a page the person may not see at all.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.datastructures import FormData
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tessera.auth.actor import Actor
from tessera.errors import Conflict, Forbidden, InvalidInput, NotFound
from tessera.meta.model import ObjectDef
from tessera.requests import deps
from tessera.runtime.platform import Platform
from tessera.web.pages import render

router = APIRouter(include_in_schema=False)

#: What the upload's file input takes.
ACCEPT = ".xlsx,.xls,.ods,.csv,.tsv,.txt"
#: Rows of the preview's grid.
PREVIEW_ROWS = 50
#: How the service matched a column to its field, in the person's words.
HOW = {"name": "matched by name", "label": "matched by label", "close": "close name — check it",
       "remembered": "remembered from your last import of this file", "chosen": "chosen by you"}
#: What the import does with the rows.
MODES = (("insert", "Add new records"), ("update", "Update existing records"),
         ("upsert", "Add new and update existing records"))
#: An import's state in words.
STATUS = {"draft": "Not run yet", "queued": "Waiting to start", "running": "Importing", "succeeded": "Done",
          "failed": "Failed", "cancelled": "Cancelled"}
#: What the preview says each row would do.
OUTCOMES = {"create": "New", "update": "Update", "unchanged": "Unchanged", "refuse": "Refused"}
NUMBERS = frozenset({"integer", "decimal", "currency", "percent", "rating"})
DATES = frozenset({"date", "datetime"})
CHOICES = frozenset({"select", "multi_select"})
#: Fields of a lookup's target that can find its records by a cell's text.
FINDERS = frozenset({"text", "email", "phone", "url", "integer", "decimal"})
#: In a value map's picker: the cell is read as it is written (no option's value has these
#: parentheses and spaces).
AS_WRITTEN = "( as written )"
#: The steps of the wizard, as the step list names them.
STEPS = ("Upload", "Columns", "Preview", "Import", "Done")


# -- helpers -----------------------------------------------------------------------------------


def _go(request: Request, target: str) -> Response:
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _importable(rt: Platform, me: Actor, object: str) -> ObjectDef:
    """The object, when the person may import into it (create or change its records);
    otherwise a refusal in words."""
    with rt.read() as conn:
        snap = rt.snapshot(conn)
        obj = snap.object(object)
        access = rt.access.object(me, snap, obj)
    if not (access.may("create") or access.may("edit")):
        raise Forbidden(f"You may not import {obj.plural_label}: you can neither create nor change them.")
    return obj


def _draft(rt: Platform, me: Actor, object: str, import_id: int) -> dict[str, Any]:
    """The person's import into this object (another object's import is not found here)."""
    draft = rt.imports.get(me, import_id)
    if draft["object"] != object:
        raise NotFound(f"There is no import {import_id} of {object}.")
    return draft


def _object(rt: Platform, object: str) -> ObjectDef:
    with rt.read() as conn:
        return rt.snapshot(conn).object(object)


def eta_words(seconds: int | None) -> str:
    """The time left, as a person says it."""
    if seconds is None:
        return ""
    if seconds < 5:
        return "a few seconds left"
    if seconds < 60:
        return f"about {seconds} seconds left"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} minute{'' if minutes == 1 else 's'} left"
    hours, rest = divmod(minutes, 60)
    tail = f" {rest} minute{'' if rest == 1 else 's'}" if rest else ""
    return f"about {hours} hour{'' if hours == 1 else 's'}{tail} left"


# -- what the pages show -------------------------------------------------------------------------


class Placed:
    """The service's problems with a draft, each where the page shows it: beside a column,
    the mode, the key, or at the top."""

    def __init__(self, problems: Iterable[Mapping[str, Any]], headers: list[str], mapping: Mapping[str, Any]) -> None:
        self.columns: dict[str, list[str]] = {}
        self.mode: list[str] = []
        self.key: list[str] = []
        self.general: list[str] = []
        by_field = {str(f): c for c, f in mapping.items() if f}
        for problem in problems:
            where = str(problem.get("field") or "/")
            message = _sentence(str(problem.get("message") or ""))  # the service names fields by their labels
            column = next((c for c in headers if where in (f"mapping.{c}", f"options.{c}")
                           or where.startswith(f"options.{c}.")), None)
            if column is None and where.removeprefix("/") in by_field:
                column = by_field[where.removeprefix("/")]
            if column is not None:
                self.columns.setdefault(column, []).append(message)
            elif where == "mode" or (where == "/" and message.startswith("You may not")):
                self.mode.append(message)  # may not create (add) or change (update): about what it does
            elif where == "key":
                self.key.append(message)
            elif where == "mapping":
                self.general.append(f"Columns: {message}")
            else:
                self.general.append(message)

    def __bool__(self) -> bool:
        return bool(self.columns or self.mode or self.key or self.general)


def _value_rows(column: Mapping[str, Any], fdef: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A choice or lookup column's value map as rows to edit: what is mapped already, then the
    first values of the column that match no option (for a choice), then an empty row."""
    given = dict(column["options"].get("values") or {})
    rows = [{"from": k, "to": v} for k, v in given.items()]
    if fdef["type"] in CHOICES:
        known = {str(o.get(k) or "").strip().casefold() for o in fdef["options"] for k in ("value", "label")}
        mapped = {k.strip().casefold() for k in given}
        # A multiple choice cell holds several values ("East; West"): each is looked at.
        cells = (re.split(r"[;,]", str(s)) if fdef["type"] == "multi_select" else [str(s)] for s in column["samples"])
        for sample in dict.fromkeys(part.strip() for parts in cells for part in parts):
            if sample and sample.casefold() not in known and sample.casefold() not in mapped:
                rows.append({"from": sample, "to": AS_WRITTEN, "unknown": True})
    rows.append({"from": "", "to": AS_WRITTEN})
    for row in rows:  # the picker shows an option chosen by its value or label, as the service reads it
        if fdef["type"] in CHOICES and row["to"] not in (AS_WRITTEN, ""):
            to = str(row["to"]).strip().casefold()
            row["to"] = next((str(o["value"]) for o in fdef["options"]
                              if to in (str(o["value"]).casefold(), str(o["label"]).casefold())), row["to"])
    return rows


def _finders(rt: Platform, target: str | None) -> list[dict[str, str]]:
    """The fields of a lookup's target that its records can be found by (its name field first)."""
    if not target:
        return []
    with rt.read() as conn:
        obj = rt.snapshot(conn).objects.get(target)
    if obj is None:
        return []
    name = obj.name_field
    found = [f for f in obj.fields if f.stored and f.type in FINDERS and not f.props.get("system")]
    found.sort(key=lambda f: (f is not name, not f.unique))
    # The name field is the service's default: chosen, it is no option at all.
    return [{"value": "" if f is name else f.api_name, "label": f.label} for f in found]


def mapping_view(rt: Platform, draft: Mapping[str, Any], problems: Iterable[Mapping[str, Any]] | None = None,
                 asked: bool = False, lines_only: bool = False) -> dict[str, Any]:
    """The columns step as the page shows it. `problems`: the service's refusal of the last
    change (else the draft's own); `asked`: Preview or Run was pressed, so a question left
    unanswered (a date order) is an error now, not a request; `lines_only`: the object is
    line items (added to their records, never updated on their own)."""
    fields = {f["name"]: f for f in draft["fields"]}
    headers = [c["name"] for c in draft["columns"]]
    placed = Placed(draft["problems"] if problems is None else problems, headers, draft["mapping"])
    mode = draft["mode"]
    updating = mode in ("update", "upsert")
    # Lines from a file of their own are only ever added to their records' lines.
    modes = MODES if not lines_only or mode != "insert" else MODES[:1]
    columns = []
    for index, column in enumerate(draft["columns"]):
        fdef = fields.get(column["field"] or "")
        kind = fdef["type"] if fdef else None
        options = column["options"]
        facts = column["facts"]
        shown: list[str] = []
        row: dict[str, Any] = {
            "index": index, "name": column["name"],
            "samples": list(dict.fromkeys(s for s in column["samples"] if s != ""))[:4],
            "field": column["field"] or "", "label": fdef["label"] if fdef else "",
            "how": HOW.get(column["how"], "") if fdef else "", "close": column["how"] == "close" and fdef is not None,
            "problems": list(placed.columns.get(column["name"], [])), "asks": [],
        }
        if fdef and kind in DATES and ("date_order" in facts or options.get("date_order")):
            shown.append("date_order")
            row["date_order"] = options.get("date_order") or ""
            row["date_found"] = bool(facts.get("date_order")) and options.get("date_order") == facts.get("date_order")
            if "date_order" in column["asks"]:
                example = next((s for s in column["samples"] if s), "")
                text = (f"Choose the date order: {example} could be day first or month first."
                        if example else "Choose the date order of this column.")
                (row["problems"] if asked else row["asks"]).append(text)
        if fdef and kind in NUMBERS and (facts.get("decimal") or options.get("decimal")):
            shown.append("decimal")
            row["decimal"] = options.get("decimal") or "."
        if fdef and (kind in CHOICES or kind == "lookup"):
            shown.append("values")
            row["value_rows"] = _value_rows(column, fdef)
            row["choices"] = [{"value": str(o["value"]), "label": str(o["label"])} for o in fdef["options"]]
        if fdef and kind == "boolean":
            shown += ["yes", "no"]
            row["yes"] = ", ".join(options.get("yes") or [])
            row["no"] = ", ".join(options.get("no") or [])
        if fdef and kind == "lookup":
            shown += ["match", "create_missing"]
            row["finders"] = _finders(rt, fdef.get("lookup"))
            row["match"] = options.get("match") or ""
            row["create_missing"] = bool(options.get("create_missing"))
            row["target"] = _target_plural(rt, fdef.get("lookup"))
        if fdef and updating:
            shown.append("clear")
            row["clear_blanks"] = bool(options.get("clear"))
        row["shown"] = ",".join(shown)
        columns.append(row)
    own = [f for f in draft["fields"] if "." not in f["name"]]
    lines = [f for f in draft["fields"] if "." in f["name"]]
    used = {v for v in draft["mapping"].values() if v}
    keys = [{"name": f["name"], "label": f["label"], "unique": f["unique"], "chosen": f["name"] in draft["key"]}
            for f in own if f["name"] in used or f["name"] in draft["key"]]
    keys.sort(key=lambda k: not k["unique"])  # the fields that tell records apart first
    missing = [f["label"] for f in own if f["required"] and f["name"] not in used] if mode != "update" else []
    asks = sum(len(c["asks"]) for c in columns)
    mapped = sum(1 for c in columns if c["field"])
    return {"columns": columns, "own": own, "lines": lines, "mode": mode, "modes": modes, "updating": updating,
            "key_fields": keys, "key_problems": placed.key, "mode_problems": placed.mode, "general": placed.general,
            "missing": missing, "asks": asks, "mapped": mapped, "notify": draft["notify"],
            "has_problems": bool(placed) or any(c["problems"] for c in columns)}


def _target_plural(rt: Platform, target: str | None) -> str:
    if not target:
        return "records"
    with rt.read() as conn:
        obj = rt.snapshot(conn).objects.get(target)
    return obj.plural_label if obj else "records"


def _sentence(text: Any) -> str:
    """A reason as the start of a sentence ("no Account record is named 'X'" → "No …")."""
    said = str(text or "")
    return said[:1].upper() + said[1:]


def preview_view(draft: Mapping[str, Any], preview: Mapping[str, Any]) -> dict[str, Any]:
    """The dry run as the page shows it: counts in words and the first rows' cells."""
    counts = preview["counts"]
    rows = []
    for row in preview["rows"]:
        loose = [p for p in row["problems"] if not p.get("column")]
        cells = [{**c, "error": _sentence(c["error"]) if c.get("error") else None} for c in row["cells"]]
        rows.append({"line": row["row"], "outcome": row["outcome"], "outcome_text": OUTCOMES.get(row["outcome"], ""),
                     "record_id": row["record_id"], "lines": row.get("lines"),
                     "cells": cells, "notes": [_sentence(p.get("reason")) for p in loose]})
    errors = [{"row": e["row"], "column": e.get("column") or "", "reason": _sentence(e.get("reason"))}
              for e in preview["errors"]]
    shown = {r["line"] for r in rows}
    changing = counts["create"] + counts["update"]
    labels = {f["name"]: f["label"] for f in draft["fields"]}
    headers = [{"name": h, "field": labels.get(draft["mapping"].get(h) or "", "")} for h in preview["headers"]]
    return {"counts": counts, "rows": rows, "headers": headers, "total": sum(counts.values()),
            "more_errors": [e for e in errors if e["row"] not in shown], "changing": changing,
            "seconds": preview["seconds"], "notes": any(r["notes"] for r in rows)}


def progress_view(draft: Mapping[str, Any]) -> dict[str, Any]:
    """The run as the progress bar and the result show it."""
    job = draft.get("job_detail") or {}
    total = int(draft["rows"] or 0)
    done = min(int(draft["done"] or 0), total) if total else int(draft["done"] or 0)
    status = str(draft["status"])
    if status in ("queued", "running") and job.get("status") in ("failed", "cancelled"):
        # A job cancelled before it started never ran the import's work, which would have
        # marked the import: its job says how it ended.
        status = str(job["status"])
    elif status == "queued" and job.get("status") == "running":
        status = "running"  # the worker has it; the import marks itself running a moment later
    message = str(job.get("message") or "")
    if status == "queued":
        message = "Other jobs run first; this one starts when they are done."
    elif message in ("starting", ""):
        message = "Starting"
    elif message == "resuming":
        message = "Resuming where it stopped"
    counts = {k: int((draft.get("counts") or {}).get(k, 0)) for k in ("created", "updated", "unchanged", "refused")}
    return {"status": status, "status_text": STATUS.get(status, status), "done": done, "total": total,
            # The service goes on from the checkpoint of an import that stopped (one cancelled
            # before its job started starts from the top).
            "resumable": draft["status"] in ("failed", "cancelled"),
            "percent": round(100 * done / total) if total else 0, "message": message,
            "eta": eta_words(draft.get("eta_seconds")), "finished": status in ("succeeded", "failed", "cancelled"),
            "error": str(job.get("error") or ""), "counts": counts,
            "cancelling": bool(job.get("cancel_requested")) and status in ("queued", "running")}


def _recent(rt: Platform, me: Actor, object: str) -> list[dict[str, Any]]:
    """The person's own recent imports of the object, in words."""
    out = []
    for item in rt.imports.list(me, object, limit=50):
        if item["created_by"] != me.user_id:
            continue
        counts, rows = item["counts"] or {}, int(item["rows"] or 0)
        said = [f"{int(counts[k]):,} {k}" for k in ("created", "updated", "unchanged", "refused")
                if counts.get(k)] if item["status"] not in ("draft", "queued") else []
        out.append({**item, "status_text": STATUS.get(item["status"], item["status"]),
                    "summary": ", ".join(said) if said else f"{rows:,} row{'' if rows == 1 else 's'}"})
        if len(out) >= 10:
            break
    return out


# -- reading the columns form ---------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return [w.strip() for w in re.split(r"[,;\n]", text) if w.strip()]


def settings_of(form: FormData, draft: Mapping[str, Any]) -> dict[str, Any]:
    """The change the columns form asks for: each column's field and the options its row
    showed (a box left unticked is false), the mode, the key, and whether to notify."""
    types = {f["name"]: f["type"] for f in draft["fields"]}
    fields = set(types)
    body: dict[str, Any] = {}
    mapping: dict[str, str | None] = {}
    options: dict[str, dict[str, Any]] = {}
    for index, column in enumerate(draft["columns"]):
        name = column["name"]
        if f"field-{index}" in form:
            chosen = str(form.get(f"field-{index}") or "")
            mapping[name] = chosen if chosen in fields else None
            if (mapping[name] or None) == (column["field"] or None):
                del mapping[name]  # left as it was: keep how it was found
        shown = [s for s in str(form.get(f"shown-{index}") or "").split(",") if s]
        if not shown or (name in mapping and mapping[name] != column["field"]):
            continue  # a new field: the options of the old one do not carry over
        given: dict[str, Any] = {}
        for option in shown:
            raw = str(form.get(f"{option}-{index}") or "")
            if option == "date_order":
                given[option] = raw if raw in ("DMY", "MDY") else None
            elif option == "decimal":
                given[option] = "," if raw == "," else "."
            elif option in ("clear", "create_missing"):
                given[option] = bool(raw)
            elif option == "match":
                given[option] = raw or None
            elif option in ("yes", "no"):
                given[option] = _words(raw)
            elif option == "values":
                # A lookup's row left without a name means nothing; a choice's "Leave blank" is "".
                lookup = types.get(column["field"] or "") == "lookup"
                pairs = zip(form.getlist(f"from-{index}"), form.getlist(f"to-{index}"), strict=False)
                given[option] = {str(k).strip(): str(v).strip() if lookup else str(v) for k, v in pairs
                                 if str(k).strip() and str(v) != AS_WRITTEN and (str(v).strip() or not lookup)}
        options[name] = given
    if mapping:
        body["mapping"] = mapping
    if options:
        body["options"] = options
    mode = str(form.get("mode") or "")
    if mode:
        body["mode"] = mode
    if "key-shown" in form:
        body["key"] = [str(k) for k in form.getlist("key") if str(k)]
    elif mode == "insert":
        body["key"] = []  # adding only: no key to keep (a key left over would need its column)
    if "notify-shown" in form:
        body["notify"] = bool(form.get("notify"))
    return body


# -- step 1: upload -----------------------------------------------------------------------------


def _upload_page(request: Request, me: Actor, rt: Platform, obj: ObjectDef, *, status: int = 200,
                 refused: dict[str, Any] | None = None) -> HTMLResponse:
    response = render(request, "imports/upload.html", status=status, me=me, obj=obj, current_object=obj,
                      accept=ACCEPT, recent=_recent(rt, me, obj.api_name), refused=refused, steps=STEPS, step=0)
    if request.method == "POST":
        response.headers["HX-Push-Url"] = f"/app/{obj.api_name}/import"
    return response


@router.get("/app/{object}/import", response_class=HTMLResponse)
def upload_page(object: str, request: Request, me: Actor = Depends(deps.actor),
                rt: Platform = Depends(deps.runtime)) -> Response:
    """Choose a file (or get the template to fill in first); the recent imports below."""
    obj = _importable(rt, me, object)
    if obj.is_child and obj.parent_link is None:
        raise NotFound(f"{obj.plural_label} are line items of no record yet: there is nothing to import them into.")
    return _upload_page(request, me, rt, obj)


@router.post("/app/{object}/import", response_class=HTMLResponse)
async def upload(object: str, request: Request, me: Actor = Depends(deps.actor),
                 rt: Platform = Depends(deps.runtime)) -> Response:
    """Read the file into a draft: its columns and a mapping to start from."""
    obj = _importable(rt, me, object)
    form = await request.form()
    upload = form.get("file")
    content = await upload.read() if upload is not None and not isinstance(upload, str) else b""
    filename = (upload.filename if upload is not None and not isinstance(upload, str) else "") or "upload"
    if not content:
        return _upload_page(request, me, rt, obj, status=422, refused={
            "detail": "Choose a file to import.", "problems": ["No file was chosen, or the file is empty."]})
    try:
        draft = rt.imports.start(me, object, filename, content)
    except InvalidInput as error:
        reasons = [p.message for p in error.errors if p.message and p.message not in error.detail]
        return _upload_page(request, me, rt, obj, status=error.status,
                            refused={"detail": error.detail, "problems": reasons, "filename": filename})
    return _go(request, f"/app/{object}/import/{draft['id']}")


@router.get("/app/{object}/import/template.xlsx")
def template(object: str, me: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> Response:
    """The object's spreadsheet to fill in: a column per field, drop-downs for choices."""
    content, filename = rt.imports.template(me, object)
    return Response(content, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# -- step 2: columns ----------------------------------------------------------------------------


def _columns_page(request: Request, me: Actor, rt: Platform, obj: ObjectDef, draft: dict[str, Any], *,
                  status: int = 200, problems: list[dict[str, Any]] | None = None, asked: bool = False,
                  flash: dict[str, str] | None = None) -> HTMLResponse:
    view = mapping_view(rt, draft, problems, asked, lines_only=obj.is_child)
    file = draft.get("file") or {}
    sheets = [s for s in file.get("sheets") or [] if s != draft.get("sheet")]
    response = render(request, "imports/columns.html", status=status, me=me, obj=obj, current_object=obj,
                      draft=draft, view=view, sheets=sheets, notice=flash, steps=STEPS, step=1,
                      as_written=AS_WRITTEN)
    if request.method == "POST":
        response.headers["HX-Push-Url"] = "false"
    return response


#: Refused rows listed with their reasons on the result (the rest are in the download).
REFUSED_SHOWN = 20


def _run_context(rt: Platform, me: Actor, draft: dict[str, Any]) -> dict[str, Any]:
    """The progress, and once the import has ended its first refused rows with their reasons."""
    run = progress_view(draft)
    refused: list[dict[str, Any]] = []
    if run["finished"] and run["counts"]["refused"]:
        for item in rt.imports.errors(me, int(draft["id"]), limit=REFUSED_SHOWN):
            reasons = "; ".join(f"{p['column']}: {p['reason']}" if p.get("column") else str(p.get("reason") or "")
                                for p in item["problems"])
            refused.append({"row": item["row"], "reasons": reasons})
    # Retried already: say so, so that the same rows are not brought in twice by mistake.
    retries = [{**r, "status_text": STATUS.get(r["status"], r["status"])}
               for r in rt.imports.list(me, draft["object"], limit=200) if r["retry_of"] == draft["id"]] \
        if refused else []
    return {"run": run, "refused": refused, "refused_more": max(0, run["counts"]["refused"] - len(refused)),
            "retries": retries}


def _run_page(request: Request, me: Actor, rt: Platform, obj: ObjectDef, draft: dict[str, Any], *,
              status: int = 200, retry_error: str | None = None, notice: str | None = None) -> HTMLResponse:
    context = _run_context(rt, me, draft)
    flash = {"kind": "error", "text": notice} if notice else None
    response = render(request, "imports/run.html", status=status, me=me, obj=obj, current_object=obj, draft=draft,
                      steps=STEPS, step=4 if context["run"]["finished"] else 3, retry_error=retry_error,
                      flash=flash, **context)
    if request.method == "POST":
        response.headers["HX-Push-Url"] = "false"
    return response


@router.get("/app/{object}/import/{import_id:int}", response_class=HTMLResponse)
def import_page(object: str, import_id: int, request: Request, me: Actor = Depends(deps.actor),
                rt: Platform = Depends(deps.runtime)) -> Response:
    """A draft's columns; an import that runs, its progress; one that ran, what it did."""
    draft = _draft(rt, me, object, import_id)
    obj = _object(rt, object)
    if draft["status"] == "draft":
        return _columns_page(request, me, rt, obj, draft)
    return _run_page(request, me, rt, obj, draft)


@router.post("/app/{object}/import/{import_id:int}", response_class=HTMLResponse)
async def change(object: str, import_id: int, request: Request, me: Actor = Depends(deps.actor),
                 rt: Platform = Depends(deps.runtime)) -> Response:
    """Save the columns form (it is sent on every change); with `action=preview`, go on to
    the preview once nothing is left to fix."""
    draft = _draft(rt, me, object, import_id)
    obj = _object(rt, object)
    if draft["status"] != "draft":
        return _go(request, f"/app/{object}/import/{import_id}")
    form = await request.form()
    previewing = str(form.get("action") or "") == "preview"
    try:
        draft = rt.imports.change(me, import_id, settings_of(form, draft))
    except Conflict:
        return _go(request, f"/app/{object}/import/{import_id}")
    except InvalidInput as error:
        problems = [p.as_json() for p in error.errors] or [{"field": "/", "message": error.detail}]
        return _columns_page(request, me, rt, obj, _draft(rt, me, object, import_id), status=error.status,
                             problems=problems, asked=previewing,
                             flash={"kind": "error", "text": "Some settings were not saved: see the messages below."})
    if previewing:
        view = mapping_view(rt, draft, asked=True, lines_only=obj.is_child)
        if view["has_problems"]:
            return _columns_page(request, me, rt, obj, draft, status=422, asked=True, flash={
                "kind": "error", "text": "Fix what is marked below, then preview."})
        return _go(request, f"/app/{object}/import/{import_id}/preview")
    return _columns_page(request, me, rt, obj, draft)


# -- step 3: preview ----------------------------------------------------------------------------


@router.get("/app/{object}/import/{import_id:int}/preview", response_class=HTMLResponse)
def preview(object: str, import_id: int, request: Request, me: Actor = Depends(deps.actor),
            rt: Platform = Depends(deps.runtime)) -> Response:
    """A dry run over every row (nothing is written): the counts and the first rows."""
    draft = _draft(rt, me, object, import_id)
    obj = _object(rt, object)
    if draft["status"] != "draft":
        return RedirectResponse(f"/app/{object}/import/{import_id}", status_code=303)
    try:
        found = rt.imports.preview(me, import_id, limit=PREVIEW_ROWS)
    except (InvalidInput, Forbidden) as error:
        problems = [p.as_json() for p in error.errors] or [{"field": "/", "message": error.detail}]
        return _columns_page(request, me, rt, obj, draft, status=error.status, problems=problems, asked=True,
                             flash={"kind": "error", "text": "Fix what is marked below, then preview."})
    return render(request, "imports/preview.html", me=me, obj=obj, current_object=obj, draft=draft,
                  preview=preview_view(draft, found), outcomes=OUTCOMES, steps=STEPS, step=2)


# -- step 4: run --------------------------------------------------------------------------------


@router.post("/app/{object}/import/{import_id:int}/run", response_class=HTMLResponse)
def run(object: str, import_id: int, request: Request, me: Actor = Depends(deps.actor),
        rt: Platform = Depends(deps.runtime)) -> Response:
    """Start the import as a job; its page then shows the progress."""
    draft = _draft(rt, me, object, import_id)
    try:
        rt.imports.run(me, import_id)
    except Conflict:
        pass  # started already (another tab, a double click): its page shows how far it is
    except (InvalidInput, Forbidden) as error:
        obj = _object(rt, object)
        if draft["status"] != "draft":  # resuming one that stopped: say why beside its result
            reasons = "; ".join(_sentence(p.message) for p in error.errors)
            return _run_page(request, me, rt, obj, draft, status=error.status,
                             notice=f"{error.detail} {reasons}".strip())
        problems = [p.as_json() for p in error.errors] or [{"field": "/", "message": error.detail}]
        return _columns_page(request, me, rt, obj, draft, status=error.status, problems=problems, asked=True,
                             flash={"kind": "error", "text": "The import cannot run yet: fix what is marked below."})
    return _go(request, f"/app/{object}/import/{import_id}")


@router.get("/app/{object}/import/{import_id:int}/progress", response_class=HTMLResponse)
def progress(object: str, import_id: int, request: Request, me: Actor = Depends(deps.actor),
             rt: Platform = Depends(deps.runtime)) -> Response:
    """The progress bar the page polls; once the import has ended, the whole page again
    (with what it did)."""
    draft = _draft(rt, me, object, import_id)
    context = _run_context(rt, me, draft)
    if context["run"]["finished"] and request.headers.get("hx-request") == "true":
        return Response(status_code=200, headers={"HX-Refresh": "true"})
    return render(request, "imports/_progress.html", me=me, obj=_object(rt, object), draft=draft, **context)


@router.post("/app/{object}/import/{import_id:int}/cancel", response_class=HTMLResponse)
def cancel(object: str, import_id: int, request: Request, me: Actor = Depends(deps.actor),
           rt: Platform = Depends(deps.runtime)) -> Response:
    """Ask the job to stop after the rows it is writing now (those stay imported)."""
    _draft(rt, me, object, import_id)
    with contextlib.suppress(Conflict, Forbidden):  # not started, or ended meanwhile: the page says so
        rt.imports.cancel(me, import_id)
    return _go(request, f"/app/{object}/import/{import_id}")


# -- step 5: the result -------------------------------------------------------------------------


@router.get("/app/{object}/import/{import_id:int}/refused.{kind}")
def refused_rows(object: str, import_id: int, kind: str, me: Actor = Depends(deps.actor),
                 rt: Platform = Depends(deps.runtime)) -> Response:
    """The refused rows as the file had them, plus an `error` column (CSV or xlsx)."""
    _draft(rt, me, object, import_id)
    content, filename, media_type = rt.imports.errors_file(me, import_id, kind)
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.post("/app/{object}/import/{import_id:int}/retry", response_class=HTMLResponse)
def retry(object: str, import_id: int, request: Request, me: Actor = Depends(deps.actor),
          rt: Platform = Depends(deps.runtime)) -> Response:
    """A new draft of just the refused rows, mapped as before."""
    draft = _draft(rt, me, object, import_id)
    try:
        again = rt.imports.retry(me, import_id)
    except (Conflict, InvalidInput) as error:
        return _run_page(request, me, rt, _object(rt, object), draft, status=error.status, retry_error=error.detail)
    return _go(request, f"/app/{object}/import/{again['id']}")

