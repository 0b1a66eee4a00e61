"""Shared fixtures: a fresh database per test on SQLite and on PostgreSQL, a runtime, and
an API client signed in as an admin.

PostgreSQL tests clone a migrated template database, so each test gets its own database in
milliseconds. Without a reachable server they skip on a laptop and fail under CI=true.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

import tessera.auth.users as users_module
from tessera.data.engine import make_engine
from tessera.data.migrate import upgrade
from tessera.runtime.platform import Platform
from tessera.settings import Settings

# Passwords are hashed with argon2's cheapest parameters here: hashes are real and verified
# the same way (argon2 keeps its parameters in the hash), but the suite signs in thousands of
# times, and the production parameters cost a tenth of a second of CPU each.
users_module._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
users_module._DUMMY_HASH = users_module._hasher.hash(secrets.token_hex(8))

# Each pytest-xdist worker (gw0, gw1, …) has its own Redis database: Celery queues and caches
# of tests running side by side never meet.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0) % 16
REDIS_URL = os.environ.get("TESSERA_TEST_REDIS", f"redis://127.0.0.1:6379/{_WORKER}")
PG_ADMIN_URL = os.environ.get("TESSERA_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
# The installed plugins (the example plugin, installed by `make test`) stay out of every
# platform the suite builds, so tests of built-in behaviour see built-in names only; the
# plugin tests (tests/plugins) install them on purpose.
os.environ["TESSERA_PLUGINS"] = "off"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password"
_TEMPLATE = f"tessera_tpl_{os.getpid()}"


def _pg_admin() -> sa.Engine:
    return sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


ScratchDatabase = Callable[[str], AbstractContextManager[str]]


@contextmanager
def pg_database(name: str, template: str | None = None) -> Iterator[str]:
    """A PostgreSQL database of this name, empty or cloned from `template`, dropped afterwards."""
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def scratch_pg_database() -> ScratchDatabase:
    """Makes throwaway PostgreSQL databases: `with scratch_pg_database(name) as url: …`
    creates an empty one and drops it afterwards. Skips on a laptop without a server; fails
    under CI=true, where PostgreSQL must be tested."""
    try:
        with _pg_admin().connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.OperationalError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI and is not reachable: {error}")
        pytest.skip(f"PostgreSQL not reachable: {error}")

    return pg_database


@pytest.fixture(scope="session")
def pg_template(scratch_pg_database: ScratchDatabase) -> Iterator[str]:
    """A migrated PostgreSQL database that per-test databases are cloned from."""
    with scratch_pg_database(_TEMPLATE) as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield _TEMPLATE


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database that per-test databases are copied from."""
    path = tmp_path_factory.mktemp("sqlite-template") / "tessera.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@contextmanager
def database_from(backend: str, template: Path | str, tmp_path: Path) -> Iterator[str]:
    """A database of its own made from a template: the SQLite file copied, the PostgreSQL
    database (by name) cloned and dropped afterwards."""
    if backend == "sqlite":
        path = tmp_path / "tessera.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    with pg_database(f"tessera_t_{secrets.token_hex(6)}", str(template)) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, migrated, empty database on each backend."""
    template = request.getfixturevalue("sqlite_template" if request.param == "sqlite" else "pg_template")
    with database_from(request.param, template, tmp_path) as url:
        yield url


@pytest.fixture
def runtime(db_url: str, tmp_path: Path) -> Iterator[Platform]:
    rt = Platform(Settings(database_url=db_url, attachments_dir=tmp_path / "attachments"))
    rt.users.ensure_admin(ADMIN_EMAIL, ADMIN_PASSWORD)
    yield rt
    rt.dispose()


class Api:
    """A signed-in API client: `api.post(path, json)` returns the response."""

    def __init__(self, client: Any, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                **kwargs: Any) -> Any:
        return self.client.request(method, f"/api/v1{path}", headers={**self.headers, **(headers or {})},
                                   **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", path, json=json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("PATCH", path, json=json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    def ok(self, response: Any, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json() if response.content else None


@pytest.fixture
def client(runtime: Platform) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from tessera.app import create_app

    with TestClient(create_app(runtime)) as test_client:
        yield test_client


@pytest.fixture
def api(client: Any) -> Api:
    response = client.post("/api/v1/auth/token", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.text
    return Api(client, response.json()["access_token"])


class MailCatcher:
    """A real SMTP server's mailbox (aiosmtpd): what Tessera sent lands in `inbox`."""

    def __init__(self) -> None:
        self.inbox: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        from email import message_from_bytes, policy

        # policy.default: headers come back decoded, as a reader sees them.
        self.inbox.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[str, MailCatcher]]:
    """(smtp_url, catcher): a mail server on localhost collecting what is sent."""
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    catcher = MailCatcher()
    controller = Controller(catcher, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", catcher
    finally:
        controller.stop()


@pytest.fixture
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.exceptions.ConnectionError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required in CI and is not reachable: {error}")
        pytest.skip(f"Redis not reachable: {error}")
    return REDIS_URL


@pytest.fixture
def pg_url(scratch_pg_database: Any) -> Iterator[str]:
    """A migrated PostgreSQL database of its own (Celery runs against PostgreSQL here)."""
    from tessera.data.engine import make_engine
    from tessera.data.migrate import upgrade

    with scratch_pg_database(f"tessera_celery_{os.getpid()}") as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
