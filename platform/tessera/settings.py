"""Tessera's settings, read from `TESSERA_*` environment variables and checked at start.

A bad value stops the process with one message naming the variable, what was given and
what is expected, instead of a traceback from deep inside a driver later on.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from tessera.meta.times import is_time_zone

SUPPORTED_BACKENDS = ("sqlite", "postgresql")


class SettingsError(ValueError):
    """A `TESSERA_*` variable holds a value Tessera cannot use."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///./tessera.db"
    redis_url: str | None = None
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    admin_email: str | None = None
    admin_password: str | None = None
    attachments_dir: Path = Path("./attachments")
    max_upload_bytes: int = 25 * 1024 * 1024
    host: str = "127.0.0.1"
    port: int = 8000
    #: Where e-mail goes (smtp://host:port); unset, messages are kept as "held", unsent.
    smtp_url: str | None = None
    mail_from: str = "tessera@localhost"
    #: The address links in e-mail point to (approve from a message).
    base_url: str | None = None
    #: How long a write waits for an embedded (SQLite) database another write holds, in
    #: seconds; past it the request is answered 503 with Retry-After and nothing is written.
    busy_timeout: float = 30.0
    #: How long one statement run for a request (a list, a report, a page) may take, in
    #: seconds; past it the database stops it and the request is answered 422 "too slow",
    #: while every other request goes on. 0: no limit. Jobs (imports, recomputes) have none.
    query_timeout: float = 30.0
    #: The IANA time zone the UI shows times in for people who have not chosen theirs.
    time_zone: str = "UTC"
    #: Where the bundled app templates are (one package folder each: crm, sms).
    templates_dir: Path = Path(__file__).resolve().parents[2] / "templates"
    #: Whether `make run` starts a new database (no package installed) with the demo: the CRM
    #: and service desk templates, their sample data and demo people (`TESSERA_DEMO=0`: empty).
    demo: bool = True
    #: The password of the demo's people (`tessera demo`); at least 8 characters.
    demo_password: str = "demo-password-1"
    #: Whether the installed plugins (entry points `tessera.plugins`) are installed at start
    #: (`TESSERA_PLUGINS=off` leaves them out, also for platforms built in code: tests).
    plugins: bool = field(default_factory=lambda: _switch(os.environ.get("TESSERA_PLUGINS", "on")) is not False)

    @property
    def public_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def url(self) -> URL:
        return make_url(self.database_url)

    @property
    def backend(self) -> str:
        return self.url.get_backend_name()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        if (raw := env.get("TESSERA_DATABASE_URL")) is not None:
            values["database_url"] = _database_url(raw)
        if (raw := env.get("TESSERA_REDIS_URL")):
            if not raw.startswith(("redis://", "rediss://", "unix://")):
                raise SettingsError(
                    f"TESSERA_REDIS_URL={raw!r} is not a Redis URL; expected redis://host:port/db"
                )
            values["redis_url"] = raw
        if (raw := env.get("TESSERA_SECRET_KEY")) is not None:
            if len(raw) < 16:
                raise SettingsError("TESSERA_SECRET_KEY must be at least 16 characters long")
            values["secret_key"] = raw
        if (raw := env.get("TESSERA_ADMIN_EMAIL")):
            if "@" not in raw:
                raise SettingsError(f"TESSERA_ADMIN_EMAIL={raw!r} is not an e-mail address")
            values["admin_email"] = raw.strip().lower()
        if (raw := env.get("TESSERA_ADMIN_PASSWORD")):
            values["admin_password"] = raw
        if bool(values.get("admin_email")) != bool(values.get("admin_password")):
            raise SettingsError(
                "TESSERA_ADMIN_EMAIL and TESSERA_ADMIN_PASSWORD must be set together"
            )
        if (raw := env.get("TESSERA_ATTACHMENTS_DIR")):
            values["attachments_dir"] = Path(raw)
        if (raw := env.get("TESSERA_MAX_UPLOAD_MB")) is not None:
            if not raw.isdigit() or not 0 < int(raw) <= 10_000:
                raise SettingsError(f"TESSERA_MAX_UPLOAD_MB={raw!r} is not a size in megabytes (1-10000)")
            values["max_upload_bytes"] = int(raw) * 1024 * 1024
        if (raw := env.get("TESSERA_BUSY_TIMEOUT")) is not None:
            values["busy_timeout"] = _seconds("TESSERA_BUSY_TIMEOUT", raw, 600)
        if (raw := env.get("TESSERA_QUERY_TIMEOUT")) is not None:
            values["query_timeout"] = _seconds("TESSERA_QUERY_TIMEOUT", raw, 3600, "; 0: no limit")
        if (raw := env.get("TESSERA_TIME_ZONE")):
            if not is_time_zone(raw):
                raise SettingsError(f"TESSERA_TIME_ZONE={raw!r} is not a time zone; expected a name like Europe/Paris")
            values["time_zone"] = raw
        if (raw := env.get("TESSERA_TEMPLATES_DIR")):
            values["templates_dir"] = Path(raw)
        if (raw := env.get("TESSERA_PLUGINS")) is not None:
            if _switch(raw) is None:
                raise SettingsError(f"TESSERA_PLUGINS={raw!r} is not on or off")
            values["plugins"] = _switch(raw)
        if (raw := env.get("TESSERA_DEMO")) is not None and raw.strip():
            if _switch(raw) is None:
                raise SettingsError(f"TESSERA_DEMO={raw!r} is not on or off (1 or 0)")
            values["demo"] = _switch(raw)
        if (raw := env.get("TESSERA_DEMO_PASSWORD")):
            if len(raw) < 8:
                raise SettingsError("TESSERA_DEMO_PASSWORD must be at least 8 characters long")
            values["demo_password"] = raw
        if (raw := env.get("TESSERA_HOST")):
            values["host"] = raw
        if (raw := env.get("TESSERA_PORT")) is not None:
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                raise SettingsError(f"TESSERA_PORT={raw!r} is not a port number (1-65535)")
            values["port"] = int(raw)
        if (raw := env.get("TESSERA_SMTP_URL")):
            if not raw.startswith(("smtp://", "smtps://")) or ":" not in raw[7:]:
                raise SettingsError(f"TESSERA_SMTP_URL={raw!r} is not a mail server; expected smtp://host:port")
            values["smtp_url"] = raw
        if (raw := env.get("TESSERA_MAIL_FROM")):
            if "@" not in raw:
                raise SettingsError(f"TESSERA_MAIL_FROM={raw!r} is not an e-mail address")
            values["mail_from"] = raw
        if (raw := env.get("TESSERA_BASE_URL")):
            if not raw.startswith(("http://", "https://")):
                raise SettingsError(f"TESSERA_BASE_URL={raw!r} is not a web address; expected https://host")
            values["base_url"] = raw
        return cls(**values)  # type: ignore[arg-type]


def _seconds(name: str, raw: str, most: int, note: str = "") -> float:
    """A number of seconds from 0 to `most`, or a SettingsError naming the variable."""
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= most:
        raise SettingsError(f"{name}={raw!r} is not a number of seconds (0-{most}{note})")
    return seconds


def _database_url(raw: str) -> str:
    try:
        url = make_url(raw)
    except ArgumentError:
        raise SettingsError(
            f"TESSERA_DATABASE_URL={raw!r} is not a database URL; expected "
            "sqlite:///path/to/file.db or postgresql+psycopg://user@host:5432/name"
        ) from None
    if url.get_backend_name() not in SUPPORTED_BACKENDS:
        raise SettingsError(
            f"TESSERA_DATABASE_URL uses {url.get_backend_name()!r}; Tessera runs on "
            + " or ".join(SUPPORTED_BACKENDS)
        )
    if url.get_backend_name() == "postgresql" and url.get_driver_name() not in ("psycopg", ""):
        raise SettingsError(
            "TESSERA_DATABASE_URL: PostgreSQL is reached through psycopg 3; "
            "write postgresql+psycopg://…"
        )
    if url.get_backend_name() == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def _switch(raw: str) -> bool | None:
    """on/off (and yes/no, true/false, 1/0) as a bool; None for anything else."""
    return {"on": True, "yes": True, "true": True, "1": True,
            "off": False, "no": False, "false": False, "0": False}.get(raw.strip().lower())
