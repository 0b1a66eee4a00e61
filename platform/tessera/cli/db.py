"""`tessera db upgrade`: apply the platform's Alembic revisions and create the configured
first admin (TESSERA_ADMIN_EMAIL / TESSERA_ADMIN_PASSWORD) if missing."""

from __future__ import annotations

import argparse
from typing import Any

from tessera.cli import common


def add_commands(sub: Any) -> None:
    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply the platform's Alembic revisions").set_defaults(run=cmd_db_upgrade)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = common.settings()
    common.prepare(settings)
    print(f"database at {settings.url.render_as_string(hide_password=True)} is up to date")
    return 0
