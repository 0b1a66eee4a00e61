"""`tessera user create --admin/--role` and `tessera user disable/enable`, on SQLite and
PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys

import sqlalchemy as sa

from tessera.data.engine import make_engine


def _tessera(*args: str, db_url: str) -> subprocess.CompletedProcess[str]:
    # Only this test's accounts: `make test` exports a TESSERA_ADMIN_EMAIL that every command
    # would otherwise create first.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_ADMIN_")}
    return subprocess.run([sys.executable, "-m", "tessera.cli", *args],
                          env={**env, "TESSERA_DATABASE_URL": db_url}, capture_output=True, text=True,
                          timeout=120)


def _user(db_url: str, email: str) -> dict[str, object]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT id, is_admin, is_active FROM tessera_users WHERE email = :e"),
                               {"e": email}).one()
            held = conn.execute(sa.text(
                "SELECT r.api_name FROM tessera_user_roles ur JOIN tessera_roles r ON r.id = ur.role_id "
                "WHERE ur.user_id = :u ORDER BY r.api_name"), {"u": row.id}).scalars().all()
    finally:
        engine.dispose()
    return {"admin": bool(row.is_admin), "active": bool(row.is_active), "roles": list(held)}


def test_create_with_roles_and_as_admin(db_url: str) -> None:
    made = _tessera("user", "create", "boss@example.com", "--password", "password1", "--admin", db_url=db_url)
    assert made.returncode == 0, made.stderr
    assert "boss@example.com created" in made.stdout and "admin" in made.stdout
    assert _user(db_url, "boss@example.com") == {"admin": True, "active": True, "roles": ["admin"]}
    built = _tessera("user", "create", "b@example.com", "--password", "password1", "--role", "builder", db_url=db_url)
    assert built.returncode == 0, built.stderr
    assert _user(db_url, "b@example.com") == {"admin": False, "active": True, "roles": ["builder"]}
    unknown = _tessera("user", "create", "c@example.com", "--password", "password1", "--role", "nope", db_url=db_url)
    assert unknown.returncode == 1 and "there is no role 'nope'" in unknown.stderr


def test_disable_and_enable(db_url: str) -> None:
    for email in ("boss@example.com", "rep@example.com"):
        flags = ["--admin"] if email.startswith("boss") else []
        assert _tessera("user", "create", email, "--password", "password1", *flags, db_url=db_url).returncode == 0
    done = _tessera("user", "disable", "REP@example.com", db_url=db_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "user REP@example.com disabled"
    assert _user(db_url, "rep@example.com")["active"] is False
    assert _tessera("user", "enable", "rep@example.com", db_url=db_url).returncode == 0
    assert _user(db_url, "rep@example.com")["active"] is True
    missing = _tessera("user", "disable", "ghost@example.com", db_url=db_url)
    assert missing.returncode == 1 and "no user ghost@example.com" in missing.stderr
    last = _tessera("user", "disable", "boss@example.com", db_url=db_url)
    assert last.returncode == 1 and "At least one active admin must remain" in last.stderr
