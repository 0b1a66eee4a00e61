"""`tessera app list|install|upgrade|export|uninstall` and `tessera demo`: app packages from
the command line, through the same package service (and so the same plans, checks and jobs)
as the API.

PATH is a package folder or a .zip; NAME a template bundled in TESSERA_TEMPLATES_DIR (or,
for upgrade, export and uninstall, an installed package). Installs, upgrades and uninstalls
run as jobs whose progress is drawn until they end; `--dry-run` prints the plan in words and
writes nothing. `tessera demo` installs the bundled CRM and service desk templates that are
not installed yet, with their sample data and demo people (`demo/people.json`); `--if-empty`
(what `make run` does) only on a database where no package is installed, unless
TESSERA_DEMO=0. Exit 0 on success, 1 on failure (the problems are printed), 2 on misuse.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tessera.cli import common
from tessera.cli.jobs import _progress_line
from tessera.errors import Conflict, FieldProblem, InvalidInput, NotFound

if TYPE_CHECKING:
    from tessera.packages.files import Package
    from tessera.runtime.platform import Platform


class Misuse(Exception):
    """The command line names something that is not there: exit 2."""


def add_commands(sub: Any) -> None:
    app = sub.add_parser("app", help="app packages: install, upgrade, export, uninstall").add_subparsers(
        dest="app_command", required=True)
    listing = app.add_parser("list", help="installed packages and the bundled templates")
    listing.set_defaults(run=cmd_app_list)
    install = app.add_parser("install", help="install a package (a folder, a .zip, or a bundled template)")
    install.add_argument("source", metavar="PATH|NAME")
    install.add_argument("--dry-run", action="store_true", help="print what would change; write nothing")
    install.add_argument("--no-sample-data", dest="sample_data", action="store_false",
                         help="leave out the package's sample records")
    install.set_defaults(run=cmd_app_install)
    upgrade = app.add_parser("upgrade", help="upgrade an installed package; your changes are kept")
    upgrade.add_argument("name", metavar="NAME")
    upgrade.add_argument("source", metavar="PATH|NAME")
    upgrade.add_argument("--dry-run", action="store_true", help="print what would change; write nothing")
    upgrade.add_argument("--strict", action="store_true",
                         help="refuse if the package and you changed the same thing")
    upgrade.set_defaults(run=cmd_app_upgrade)
    export = app.add_parser("export", help="write an installed package, with your changes, as a zip")
    export.add_argument("name", metavar="NAME")
    export.add_argument("-o", "--output", metavar="DIR", type=Path, default=Path("."),
                        help="the folder to write the zip into (default: here)")
    export.add_argument("--layer-only", action="store_true", help="only your changes, as an overlay package")
    export.set_defaults(run=cmd_app_export)
    uninstall = app.add_parser("uninstall", help="uninstall a package (its objects go to the trash with their data)")
    uninstall.add_argument("name", metavar="NAME")
    uninstall.add_argument("--dry-run", action="store_true", help="print what would go; write nothing")
    uninstall.set_defaults(run=cmd_app_uninstall)
    demo = sub.add_parser("demo", help="install the CRM and service desk templates with sample data and demo people")
    demo.add_argument("--if-empty", action="store_true",
                      help="only on a database where no package is installed yet, and not when TESSERA_DEMO=0")
    demo.set_defaults(run=cmd_demo)


# -- commands -------------------------------------------------------------------------------
def cmd_app_list(args: argparse.Namespace) -> int:
    runtime = common.build_platform()
    try:
        installed = runtime.packages.installed()
        available = runtime.packages.available()
    finally:
        runtime.dispose()
    print("Installed:")
    for found in installed:
        extra = [f"{found['customizations']} changes of yours" if found["customizations"] else "",
                 f"{found['conflicts']} conflicts to review" if found["conflicts"] else "",
                 f"waits for {', '.join(found['pending_extensions'])}" if found["pending_extensions"] else ""]
        note = "; ".join(e for e in extra if e)
        print(f"  {found['name']:<20} {found['version']:<20} {found['title']}" + (f"  ({note})" if note else ""))
    if not installed:
        print("  (none)")
    print("Available:")
    for found in available:
        if found.get("problems"):
            print(f"  {found['source']:<20} cannot be read: {found['problems'][0]['message']}")
            continue
        have = found["installed_version"]
        state = "not installed" if have is None else "installed" if have == found["version"] else f"{have} installed"
        print(f"  {found['source']:<20} {found['name'] + ' ' + found['version']:<20} {found['title']}  ({state})")
    if not available:
        print("  (none)")
    return 0


def cmd_app_install(args: argparse.Namespace) -> int:
    return _apply(args, upgrade=False, name=None, sample_data=args.sample_data, strict=False)


def cmd_app_upgrade(args: argparse.Namespace) -> int:
    return _apply(args, upgrade=True, name=args.name, sample_data=True, strict=args.strict)


def cmd_app_export(args: argparse.Namespace) -> int:
    from tessera.auth.actor import Actor

    if args.output.exists() and not args.output.is_dir():
        print(f"tessera: {args.output} is not a folder", file=sys.stderr)
        return 2
    runtime = common.build_platform()
    try:
        filename, content = runtime.packages.export(Actor.system(), args.name, layer_only=args.layer_only)
    finally:
        runtime.dispose()
    args.output.mkdir(parents=True, exist_ok=True)
    target = args.output / filename
    target.write_bytes(content)
    print(target)
    return 0


def cmd_app_uninstall(args: argparse.Namespace) -> int:
    from tessera.auth.actor import Actor

    runtime = common.build_platform()
    try:
        try:
            found = runtime.packages.uninstall(Actor.system(), args.name, dry_run=args.dry_run)
        except Conflict as error:
            _print_problems(error.detail, error.errors)
            return 1
        if args.dry_run:
            print(f"Uninstall {found['package']} {found['version']} would move to the trash:")
            for item in found["documents"]:
                print(f"  {item['kind']:<12} {item['label'] or item['api_name']} ({item['api_name']})")
            print(f"({found['note']})")
            return 0
        return _follow(runtime, int(found["job"]))
    finally:
        runtime.dispose()


def cmd_demo(args: argparse.Namespace) -> int:
    from tessera.auth.actor import Actor
    from tessera.packages.service import DEMO_TEMPLATES
    from tessera.settings import Settings

    settings = common.settings()
    if args.if_empty and not settings.demo:
        print("TESSERA_DEMO=0: no demo; the database starts empty")
        return 0
    runtime = common.build_platform()
    try:
        installed = {p["name"]: p["version"] for p in runtime.packages.installed()}
        if args.if_empty and installed:
            print(f"No demo: packages are installed here already ({', '.join(sorted(installed))})")
            return 0
        try:
            templates = runtime.packages.demo_templates()
        except InvalidInput as error:
            _print_problems(error.detail, error.errors)
            return 1
        if not templates:
            print(f"No demo templates ({', '.join(DEMO_TEMPLATES)}) in {settings.templates_dir}: nothing to install")
            return 0
        # As the configured admin, so sample records without an owner are theirs.
        admin = runtime.users.id_for_email(settings.admin_email) if settings.admin_email else None
        actor = runtime.users.actor_for_user(admin) if admin is not None else Actor.system()
        done = []
        for package in templates:
            if package.name in installed:
                print(f"{package.title} is installed already ({installed[package.name]}): left as it is")
                continue
            print(f"Installing {package.title} {package.version} with sample data and demo people")
            try:
                job_id, _ = runtime.packages.submit(actor, package, upgrade=False, sample_data=True, demo=True)
            except (InvalidInput, Conflict) as error:
                _print_problems(error.detail, error.errors)
                return 1
            if _follow(runtime, job_id) != 0:
                return 1
            done.append(package.title)
        if not done:
            print("The demo is installed already: nothing changed")
        else:
            given = settings.demo_password != Settings.demo_password  # a password of the admin's is not echoed
            print("The demo people (README.md) sign in with the password "
                  + ("in TESSERA_DEMO_PASSWORD" if given else f"{Settings.demo_password} (TESSERA_DEMO_PASSWORD)"))
        return 0
    finally:
        runtime.dispose()


# -- installing and upgrading ----------------------------------------------------------------
def _apply(args: argparse.Namespace, *, upgrade: bool, name: str | None, sample_data: bool, strict: bool) -> int:
    from tessera.auth.actor import Actor

    runtime = common.build_platform()
    try:
        try:
            package = _read(runtime, args.source)
        except Misuse as error:
            print(f"tessera: {error}", file=sys.stderr)
            return 2
        except InvalidInput as error:
            _print_problems(error.detail, error.errors)
            return 1
        if name is not None and package.name != name:
            print(f"tessera: {args.source} holds the package {package.name!r}, not {name!r}", file=sys.stderr)
            return 1
        system = Actor.system()
        if args.dry_run:
            plan = runtime.packages.plan(system, package, upgrade=upgrade, sample_data=sample_data).as_json()
            print(describe_plan(plan))
            return 1 if plan["problems"] else 0
        try:
            job_id, _ = runtime.packages.submit(system, package, upgrade=upgrade, sample_data=sample_data,
                                                strict=strict)
        except (InvalidInput, Conflict) as error:
            plan = error.extra.get("plan")
            if plan and not plan.get("problems"):  # refused for its conflicts (--strict): show them
                print(describe_plan(plan), file=sys.stderr)
            _print_problems(error.detail, error.errors)
            return 1
        return _follow(runtime, job_id)
    finally:
        runtime.dispose()


def _read(runtime: Platform, source: str) -> Package:
    """A folder, a .zip, or the name of a bundled template."""
    from tessera.packages.files import read_folder
    from tessera.packages.service import Source

    path = Path(source)
    if path.is_dir():
        return read_folder(path, frozenset(runtime.packages.kinds()))
    if path.is_file():
        return runtime.packages.read(Source(content=path.read_bytes()))
    if "/" in source or "\\" in source or source.endswith(".zip"):
        raise Misuse(f"{source}: there is no such file or folder")
    try:
        return runtime.packages.read(Source(name=source))
    except NotFound as error:  # neither a path nor a bundled template
        raise Misuse(error.detail) from None


def _follow(runtime: Platform, job_id: int) -> int:
    """Draw the job's progress until it ends (on a terminal); exit 0 if it succeeded."""
    from tessera.auth.actor import Actor
    from tessera.runtime.background.jobs import FINISHED

    system = Actor.system()
    drawing = sys.stderr.isatty()
    job = runtime.jobs.get(system, job_id)
    while job["status"] not in FINISHED:
        if drawing:
            print("\r" + _progress_line(job), end="", file=sys.stderr, flush=True)
        time.sleep(0.2)
        job = runtime.jobs.get(system, job_id)
    print(("\r" if drawing else "") + _progress_line(job), file=sys.stderr)
    if job["status"] != "succeeded":
        print(f"tessera: {job['title']} {job['status']}: {job['error'] or job['message']}", file=sys.stderr)
        return 1
    print(_outcome(job))
    return 0


def _outcome(job: dict[str, Any]) -> str:
    result = job["result"] or {}
    if "removed" in result:
        return f"{job['title']}: done; {result['removed']} documents and fields moved to the trash"
    documents = ", ".join(f"{n} {action}" for action, n in sorted((result.get("documents") or {}).items()))
    records = result.get("records", 0)
    people = result.get("people") or {}
    made = f"; {people['created']} demo people made" + (f", {people['changed']} given more roles or teams"
                                                         if people.get("changed") else "") if people else ""
    return f"{job['title']}: done ({documents or 'nothing to change'}; {records} sample records{made})"


# -- in people's words ----------------------------------------------------------------------
_ACTIONS = {"create": "create", "update": "update", "unchanged": "unchanged", "remove": "move to the trash",
            "keep": "keep yours", "extend": "add fields to", "pending": "wait for"}


def describe_plan(plan: dict[str, Any]) -> str:
    """A plan (`Plan.as_json`) as an admin reads it."""
    doing = "Upgrade" if plan["action"] == "upgrade" else "Install"
    since = f" {plan['from_version']} →" if plan["action"] == "upgrade" and plan.get("from_version") else ""
    lines = [f"{doing} {plan['title']} ({plan['package']}){since} {plan['version']}"]
    if plan["documents"]:
        lines.append("Documents:")
        for step in plan["documents"]:
            lines.append(f"  {_ACTIONS.get(step['action'], step['action']):<18} {step['kind']:<12} "
                         f"{step['api_name'] or step['uid']}  ({step['label']})")
            lines += [f"      {note}" for note in step.get("notes", [])]
    if plan["schema"]:
        lines.append("Schema changes (nothing is ever dropped):")
        lines += [f"  {change}" for change in plan["schema"]]
    if plan["conflicts"]:
        lines.append(f"Conflicts ({len(plan['conflicts'])}): both the package and you changed these; "
                     "yours stays and each goes on the review list")
        for clash in plan["conflicts"]:
            lines += [f"  {clash['label']}",
                      f"      package before: {_shown(clash['base'])}",
                      f"      package now:    {_shown(clash['package'])}",
                      f"      yours:          {_shown(clash['yours'])}"]
    if plan["data"]:
        lines.append("Sample records:")
        lines += [f"  {d['records']} {d['object']} records from {d['file']}" for d in plan["data"]]
    if plan["problems"]:
        lines.append("Problems (nothing would be written):")
        lines += [f"  {_where(p)}: {p['message']}" for p in plan["problems"]]
    elif not any(s["action"] not in ("unchanged", "pending") for s in plan["documents"]) and not plan["data"]:
        lines.append("Nothing to change.")
    lines.append(f"Plan {plan['plan']}")
    return "\n".join(lines)


def _shown(value: Any) -> str:
    import json

    if value is None:
        return "(not there)"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 100 else text[:97] + "..."


def _where(problem: dict[str, Any]) -> str:
    return " ".join(part for part in (problem.get("file"), problem.get("field")) if part)


def _print_problems(detail: str, problems: list[FieldProblem]) -> None:
    print(f"tessera: {detail}", file=sys.stderr)
    for problem in problems:
        print(f"  {_where(problem.as_json())}: {problem.message}", file=sys.stderr)
