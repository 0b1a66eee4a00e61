"""The `tessera` command: serve, db upgrade, user create."""

from __future__ import annotations

import argparse
import getpass
import sys

from tessera.errors import TesseraError
from tessera.settings import Settings, SettingsError


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as error:
        print(f"tessera: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def _prepare(settings: Settings) -> None:
    """Bring the database up to date and make sure the configured admin exists."""
    from tessera.data.engine import make_engine
    from tessera.data.migrate import upgrade

    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        if settings.admin_email and settings.admin_password:
            from tessera.auth.users import UserService

            UserService(engine).ensure_admin(settings.admin_email, settings.admin_password)
    finally:
        engine.dispose()


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings()
    _prepare(settings)
    print(f"database at {settings.url.render_as_string(hide_password=True)} is up to date")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings()
    _prepare(settings)
    print(f"Tessera on http://{settings.host}:{args.port or settings.port} "
          f"(database {settings.backend}, jobs {'Celery' if settings.redis_url else 'in-process'})")
    uvicorn.run("tessera.api.app:create_app", factory=True, host=settings.host,
                port=args.port or settings.port, workers=args.workers, log_level="info")
    return 0


def cmd_user_create(args: argparse.Namespace) -> int:
    from tessera.auth.users import UserService
    from tessera.data.engine import make_engine

    settings = _settings()
    _prepare(settings)
    password = args.password or getpass.getpass("Password: ")
    engine = make_engine(settings.database_url)
    try:
        user_id = UserService(engine).create(args.email, args.name or args.email.split("@")[0],
                                             password, is_admin=args.admin)
    finally:
        engine.dispose()
    print(f"user {args.email} created (id {user_id}{', admin' if args.admin else ''})")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="tessera", description="Tessera no-code platform")
    sub = top.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the API and UI (upgrades the database first)")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(run=cmd_serve)
    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply the platform's Alembic revisions").set_defaults(run=cmd_db_upgrade)
    user = sub.add_parser("user", help="users").add_subparsers(dest="user_command", required=True)
    create = user.add_parser("create", help="create a user")
    create.add_argument("email")
    create.add_argument("--name")
    create.add_argument("--password", help="read from a prompt when left out")
    create.add_argument("--admin", action="store_true")
    create.set_defaults(run=cmd_user_create)
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


if __name__ == "__main__":
    raise SystemExit(main())
