"""`tessera import OBJECT FILE`: a spreadsheet (xlsx, xls, ods, csv) into an object from the
command line, through the same import service (and so the same drafts, checks and jobs) as
the API and the import page, acting as the platform itself.

The columns are mapped as the service suggests (by name, label, close name, or as the last
file with the same columns was), except those given with `--map COLUMN=FIELD` (`--map
COLUMN=` leaves a column out; a column suggested for a field given with --map is left out
too); the mapping is printed first. `--dry-run` prints what the
import would do (counts, and the first refused rows with line, column and reason) and
writes nothing; otherwise the job runs with its progress drawn, the counts are printed, and
refused rows are written next to FILE as `<stem>-refused.csv`. Exit 0 when the import ran
(refused rows included), 1 when the file cannot be read or the job failed, 2 on misuse (no
such file, object, column or field; settings that cannot run).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tessera.cli import common
from tessera.errors import FieldProblem, InvalidInput, NotFound

if TYPE_CHECKING:
    from tessera.auth.actor import Actor
    from tessera.runtime.platform import Platform

MODES = ("insert", "update", "upsert")
#: Refused rows a dry run prints before saying how many more there are.
SHOWN = 20
_HOW = {"chosen": "--map", "remembered": "as last time", "name": "same name", "label": "same label",
        "close": "close name"}
_BAR = 30
#: Clears the rest of a terminal's line, so a shorter progress line leaves nothing behind.
_CLEAR = "\x1b[K"


class Misuse(Exception):
    """The command line names something that is not there, or settings that cannot run: exit 2."""


def add_commands(sub: Any) -> None:
    command = sub.add_parser(
        "import", help="import a spreadsheet (xlsx, xls, ods, csv) into an object",
        description="Import the rows of FILE into OBJECT. Columns are mapped as suggested (by name, label, "
                    "close name, or as the last file with the same columns) unless given with --map.")
    command.add_argument("object", metavar="OBJECT", help="the api_name of the object to import into")
    command.add_argument("file", metavar="FILE", type=Path, help="the spreadsheet: .xlsx, .xls, .ods or .csv")
    command.add_argument("--map", metavar="COLUMN=FIELD", action="append", default=[], type=_pair,
                         help="import COLUMN into FIELD (api_name or label); COLUMN= leaves the column out; "
                              "repeat for more columns")
    command.add_argument("--mode", choices=MODES, default="insert",
                         help="insert new records (default), update existing ones, or both (upsert)")
    command.add_argument("--key", metavar="FIELD", action="append", default=[],
                         help="the field (or fields, repeated or comma-separated) that find the record an "
                              "update or upsert changes")
    command.add_argument("--date-order", choices=("DMY", "MDY"),
                         help="how to read dates like 03/04/2026 in every date column")
    command.add_argument("--sheet", metavar="NAME", help="the workbook's sheet to read (default: the first with data)")
    command.add_argument("--notify", action="store_true",
                         help="run flows and notifications for every record saved (default: quiet)")
    command.add_argument("--dry-run", action="store_true",
                         help="print what the import would do, refused rows included; write nothing")
    command.set_defaults(run=cmd_import)


def _pair(text: str) -> tuple[str, str]:
    column, equals, field = text.rpartition("=")
    if not equals or not column:
        raise argparse.ArgumentTypeError(f"{text!r} is not COLUMN=FIELD (COLUMN= leaves a column out)")
    return column, field.strip()


# -- the command ------------------------------------------------------------------------------
def cmd_import(args: argparse.Namespace) -> int:
    from tessera.auth.actor import Actor

    path: Path = args.file
    if not path.is_file():
        print(f"tessera: {path}: there is no such file", file=sys.stderr)
        return 2
    content = path.read_bytes()
    runtime = common.build_platform()
    system = Actor.system()
    try:
        try:
            draft = runtime.imports.start(system, args.object, path.name, content, sheet=args.sheet)
        except NotFound as error:  # the object
            print(f"tessera: {error.detail}", file=sys.stderr)
            return 2
        except InvalidInput as error:
            if any(p.field == "object" for p in error.errors):  # a line item object
                print(f"tessera: {error.detail}", file=sys.stderr)
                return 2
            # The file: no table, too large, no rows, no such sheet.
            _print_problems(f"{path}: {error.detail}", [p for p in error.errors if p.message != error.detail])
            return 1
        try:
            draft = runtime.imports.change(system, int(draft["id"]), _settings(args, draft))
            _settled(draft)
        except Misuse as error:
            print(f"tessera: {error}", file=sys.stderr)
            return 2
        except InvalidInput as error:
            _print_problems(error.detail, error.errors)
            return 2
        print(describe_mapping(draft))
        if args.dry_run:
            print(describe_preview(runtime.imports.preview(system, int(draft["id"]), limit=0)))
            return 0
        return _run(runtime, system, draft, path)
    finally:
        runtime.dispose()


def _settings(args: argparse.Namespace, draft: dict[str, Any]) -> dict[str, Any]:
    """The draft's change the command line asks for: its --map over the suggested mapping,
    the mode, key and notify as given, and --date-order for the date columns."""
    headers = [c["name"] for c in draft["columns"]]
    mapping = {_column(column, headers): _field(field, draft["fields"]) for column, field in args.map}
    chosen = set(mapping.values()) - {None}
    # A field given with --map is no longer fed by the column suggested for it.
    mapping |= {c["name"]: None for c in draft["columns"] if c["name"] not in mapping and c["field"] in chosen}
    settings: dict[str, Any] = {"mapping": mapping, "mode": args.mode, "notify": args.notify,
                                "key": [k.strip() for given in args.key for k in given.split(",") if k.strip()]}
    if args.date_order:
        types = {f["name"]: f["type"] for f in draft["fields"]}
        dated = {c["name"]: {"date_order": args.date_order} for c in draft["columns"]
                 if types.get(mapping.get(c["name"], c["field"]) or "") in ("date", "datetime")}
        if dated:
            settings["options"] = dated
    return settings


def _column(given: str, headers: list[str]) -> str:
    """The file's column a --map names: as written, else the one column of that name in any case."""
    if given in headers:
        return given
    found = [h for h in headers if h.strip().casefold() == given.strip().casefold()]
    if len(found) == 1:
        return found[0]
    raise Misuse(f"--map {given}=…: the file has no column {given!r}; its columns are "
                 + ", ".join(repr(h) for h in headers))


def _field(given: str, fields: list[dict[str, Any]]) -> str | None:
    """The field a --map names, by api_name or label; None for `COLUMN=` (left out)."""
    if not given:
        return None
    names = {f["name"] for f in fields}
    if given in names:
        return given
    found = [f["name"] for f in fields if str(f["label"]).casefold() == given.casefold()]
    if len(found) == 1:
        return found[0]
    raise Misuse(f"--map …={given}: that is not a field to import into; the fields are "
                 + ", ".join(sorted(names)))


def _settled(draft: dict[str, Any]) -> None:
    """Refuse date columns whose order no value settles (with the option that settles it)
    and settings that cannot run (the draft's problems), before anything runs."""
    asking = [c["name"] for c in draft["columns"] if c["field"] and "date_order" in c["asks"]]
    if asking:
        raise Misuse(f"dates in {', '.join(repr(c) for c in asking)} could be day/month or month/day "
                     "(like 03/04/2026): give --date-order DMY or --date-order MDY")
    problems = [FieldProblem(p["field"], p["message"]) for p in draft["problems"]]
    if problems:
        raise InvalidInput("The import's settings need attention:", problems)


def _run(runtime: Platform, system: Actor, draft: dict[str, Any], path: Path) -> int:
    from tessera.runtime.background.jobs import FINISHED

    import_id = int(draft["id"])
    job_id = int(runtime.imports.run(system, import_id)["job"])
    drawing = sys.stderr.isatty()
    job = runtime.jobs.get(system, job_id)
    try:
        while job["status"] not in FINISHED:
            if drawing:
                print("\r" + progress_line(job) + _CLEAR, end="", file=sys.stderr, flush=True)
            time.sleep(0.2)
            job = runtime.jobs.get(system, job_id)
    except KeyboardInterrupt:  # stop it here, rather than have a worker resume it later
        runtime.imports.cancel(system, import_id)
        print("\ntessera: cancelled; the rows written so far stay", file=sys.stderr)
        return 1
    print(("\r" if drawing else "") + progress_line(job) + (_CLEAR if drawing else ""), file=sys.stderr)
    done = runtime.imports.get(system, import_id)
    counts = {**dict.fromkeys(("created", "updated", "unchanged", "refused"), 0), **done["counts"]}
    verb = "Imported" if job["status"] == "succeeded" else f"Import {job['status']} after importing"
    print(f"{verb} {done['done']:,} of {done['rows']:,} rows of {path.name} into {draft['object_plural']}: "
          + _counts(counts, "created", "updated", "unchanged", "refused"))
    if counts["refused"]:
        content, _, _ = runtime.imports.errors_file(system, import_id, "csv")
        target = path.with_name(f"{path.stem}-refused.csv")
        target.write_bytes(content)
        rows = "row was" if counts["refused"] == 1 else "rows were"
        print(f"{counts['refused']:,} {rows} refused: written with their reasons to {target}")
    if job["status"] != "succeeded":
        print(f"tessera: {job['title']} {job['status']}: {job['error'] or job['message']}", file=sys.stderr)
        return 1
    return 0


# -- in people's words ----------------------------------------------------------------------
def describe_mapping(draft: dict[str, Any]) -> str:
    """What goes where: each column of the file with the field it goes into and why."""
    labels = {f["name"]: f["label"] for f in draft["fields"]}
    sheet = f" (sheet {draft['sheet']})" if draft.get("sheet") else ""
    rows = "row" if draft["rows"] == 1 else "rows"
    key = f", key {', '.join(draft['key'])}" if draft["key"] else ""
    lines = [f"{draft['filename']}{sheet}: {draft['rows']:,} {rows} into {draft['object_plural']} "
             f"({draft['mode']}{key})"]
    width = min(30, max(len(c["name"]) for c in draft["columns"]))
    for column in draft["columns"]:
        field = column["field"]
        how = _HOW.get(column["how"], "")
        into = f"{labels.get(field, field)} ({field})" if field else "(not imported)"
        lines.append(f"  {column['name']:<{width}} → {into}" + (f"  [{how}]" if field and how else ""))
    return "\n".join(lines)


def describe_preview(preview: dict[str, Any]) -> str:
    """A dry run's counts, and the first refused rows with line, column and reason."""
    counts = preview["counts"]
    lines = ["Dry run, nothing written: " + ", ".join(
        (f"{counts['create']:,} to create", f"{counts['update']:,} to update", f"{counts['unchanged']:,} unchanged",
         f"{counts['refuse']:,} refused"))]
    errors = preview["errors"]
    if errors:
        lines.append("Refused rows:")
        for problem in errors[:SHOWN]:
            column = f", column {problem['column']}" if problem.get("column") else ""
            shown = problem.get("value") not in (None, "") and str(problem["value"]) not in problem["reason"]
            value = f" (the cell says {problem['value']!r})" if shown else ""
            lines.append(f"  line {problem['row']}{column}: {problem['reason']}{value}")
        more = counts["refuse"] - len({e["row"] for e in errors[:SHOWN]})
        if more:
            lines.append(f"  … and {more:,} more refused rows (all of them go into a file when it runs)")
    return "\n".join(lines)


def progress_line(job: dict[str, Any]) -> str:
    """A bar with the share of rows done and the job's own message (rows so far and counts)."""
    total, done = job["total"], job["done"]
    share = min(1.0, done / total) if total else 0.0
    return f"[{'#' * int(share * _BAR):<{_BAR}}] {share:4.0%} {job['status']:<9} {job['message'] or ''}"[:160]


def _counts(counts: dict[str, int], *names: str) -> str:
    return ", ".join(f"{counts.get(name, 0):,} {name}" for name in names)


def _print_problems(detail: str, problems: list[FieldProblem]) -> None:
    print(f"tessera: {detail}", file=sys.stderr)
    for problem in problems:
        print(f"  {problem.field}: {problem.message}", file=sys.stderr)
