"""The `tessera` command (`tessera = "tessera.cli:main"`, or `python -m tessera.cli`).

One module per command group, each adding its sub-commands to the parser:

- `serve`: the API and UI over uvicorn (`tessera.app`, named as a string, never imported);
- `db`: `db upgrade`;
- `users`: `user create|disable|enable`;
- `worker`: `worker` (Celery) and `scheduler`, the processes that move background work;
- `jobs`: `jobs list|show`, and the progress display long commands share;
- `events`: `events list|retry`, the outbox of events and putting failed ones back in line;
- `formula`: `formula recompute`;
- `apps`: `app list|install|upgrade|export|uninstall`, app packages, and `demo` (the bundled
  CRM and service desk with sample data and demo people);
- `imports`: `import OBJECT FILE`, a spreadsheet into an object;
- `plugins`: `plugins list`, the installed plugins and what metadata misses;
- `common`: what every command starts from (settings, an up-to-date database, the platform).

The CLI is an edge (layer 6) like the API and the pages: it runs no SQL of its own, only
platform services and auth/data functions. Modules import what is heavy inside the command
that needs it, so `tessera --help` stays quick.
"""

from __future__ import annotations

import argparse
import sys

from tessera.cli import apps, db, events, formula, imports, jobs, plugins, serve, users, worker
from tessera.errors import TesseraError


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="tessera", description="Tessera no-code platform")
    sub = top.add_subparsers(dest="command", required=True)
    for group in (serve, db, users, worker, jobs, events, formula, apps, imports, plugins):
        group.add_commands(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    from sqlalchemy.exc import OperationalError

    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except TesseraError as error:
        print(f"tessera: {error}", file=sys.stderr)
        return 1
    except OperationalError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        print(f"tessera: cannot use the database in TESSERA_DATABASE_URL: {reason}", file=sys.stderr)
        return 2
