"""What every command starts from: settings from the environment (a bad one stops with
exit 2 and a message), a database brought up to date with the configured admin, and the
platform built on it."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from tessera.settings import Settings, SettingsError

if TYPE_CHECKING:
    from tessera.runtime.platform import Platform


def settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as error:
        print(f"tessera: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def prepare(settings: Settings) -> None:
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


def build_platform() -> Platform:
    """The platform on an up-to-date database; the caller disposes of it."""
    from tessera.runtime.platform import Platform

    configured = settings()
    prepare(configured)
    return Platform(configured)
