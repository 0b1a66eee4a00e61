"""`tessera user create|disable|enable`: accounts from the command line, through the same
user service (and so the same checks and audit) as the admin API."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from tessera.cli import common


def add_commands(sub: Any) -> None:
    user = sub.add_parser("user", help="users").add_subparsers(dest="user_command", required=True)
    create = user.add_parser("create", help="create a user")
    create.add_argument("email")
    create.add_argument("--name")
    create.add_argument("--password", help="read from a prompt when left out")
    create.add_argument("--admin", action="store_true", help="give the admin role")
    create.add_argument("--role", action="append", metavar="NAME", help="give a role (repeat for more)")
    create.set_defaults(run=cmd_user_create)
    disable = user.add_parser("disable", help="disable a user: their sessions and tokens stop at once")
    disable.add_argument("email")
    disable.set_defaults(run=cmd_user_active, active=False)
    enable = user.add_parser("enable", help="enable a disabled user (they sign in anew)")
    enable.add_argument("email")
    enable.set_defaults(run=cmd_user_active, active=True)


def cmd_user_create(args: argparse.Namespace) -> int:
    from tessera.auth.users import UserService
    from tessera.data.engine import make_engine

    settings = common.settings()
    common.prepare(settings)
    password = args.password or getpass.getpass("Password: ")
    engine = make_engine(settings.database_url)
    try:
        user_id = UserService(engine).create(args.email, args.name or args.email.split("@")[0],
                                             password, is_admin=args.admin, roles=args.role or [])
    finally:
        engine.dispose()
    roles = sorted({*(args.role or []), *(["admin"] if args.admin else [])})
    print(f"user {args.email} created (id {user_id}{', ' + ', '.join(roles) if roles else ''})")
    return 0


def cmd_user_active(args: argparse.Namespace) -> int:
    """`tessera user disable EMAIL` / `enable EMAIL`: disabling ends the user's sessions and
    revokes their tokens at once."""
    from tessera.auth.users import UserService
    from tessera.data.engine import make_engine

    settings = common.settings()
    common.prepare(settings)
    engine = make_engine(settings.database_url)
    try:
        service = UserService(engine)
        user_id = service.id_for_email(args.email)
        if user_id is None:
            print(f"tessera: there is no user {args.email}", file=sys.stderr)
            return 1
        service.set_active(user_id, args.active)
    finally:
        engine.dispose()
    print(f"user {args.email} {'enabled' if args.active else 'disabled'}")
    return 0
