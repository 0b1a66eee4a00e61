"""The `tessera` command: database upgrade, user creation, and clear start-up errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from tessera.data.engine import make_engine
from tessera.data.migrate import current


def _tessera(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tessera.cli", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


def test_db_upgrade_creates_platform_tables_and_first_admin(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {"TESSERA_DATABASE_URL": url, "TESSERA_ADMIN_EMAIL": "boss@example.com",
           "TESSERA_ADMIN_PASSWORD": "very-secret"}
    result = _tessera("db", "upgrade", env=env)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    engine = make_engine(url)
    assert current(engine) is not None
    with engine.connect() as conn:
        admins = conn.execute(sa.text("SELECT email FROM tessera_users WHERE is_admin")).scalars().all()
    engine.dispose()
    assert admins == ["boss@example.com"]
    # Running it again changes nothing and does not fail.
    assert _tessera("db", "upgrade", env=env).returncode == 0


def test_user_create_refuses_a_taken_email(tmp_path: Path) -> None:
    env = {"TESSERA_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    first = _tessera("user", "create", "rep@example.com", "--password", "password1", env=env)
    assert first.returncode == 0, first.stderr
    again = _tessera("user", "create", "rep@example.com", "--password", "password1", env=env)
    assert again.returncode == 1
    assert "exists" in again.stderr


def test_bad_setting_stops_with_a_message_not_a_traceback(tmp_path: Path) -> None:
    result = _tessera("db", "upgrade", env={"TESSERA_DATABASE_URL": "mysql://x@y/z"})
    assert result.returncode == 2
    assert "TESSERA_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_is_one_line_not_a_traceback() -> None:
    result = _tessera("db", "upgrade", env={
        "TESSERA_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/nothing"})
    assert result.returncode == 2
    assert "cannot use the database" in result.stderr
    assert "Traceback" not in result.stderr
