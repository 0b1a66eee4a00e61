"""An embedded (SQLite) database busy with another write: a request waits up to the
configured bound (`TESSERA_BUSY_TIMEOUT`), then gets 503 with Retry-After — never a 500 —
and nothing of it is written; reads go on meanwhile, and the same request succeeds once the
other write is done."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tessera.app import create_app
from tessera.data.engine import make_engine
from tessera.data.migrate import upgrade
from tessera.runtime.platform import Platform
from tessera.settings import Settings, SettingsError

ADMIN = ("admin@example.com", "admin-password")


@pytest.fixture
def busy_site(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], Path]]:
    path = tmp_path / "busy.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    platform = Platform(Settings(database_url=f"sqlite:///{path}", attachments_dir=tmp_path / "files",
                                 busy_timeout=0.3))
    platform.users.ensure_admin(*ADMIN)
    with TestClient(create_app(platform)) as client:
        token = client.post("/api/v1/auth/token", json={"email": ADMIN[0], "password": ADMIN[1]}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        assert client.post("/api/v1/meta/objects", headers=headers, json={
            "api_name": "note", "label": "Note", "fields": [{"api_name": "text", "label": "Text", "type": "text"}],
        }).status_code == 201
        yield client, headers, path
    platform.dispose()


def test_a_write_kept_waiting_by_another_writer_is_a_503_with_retry_after_and_writes_nothing(
        busy_site: tuple[TestClient, dict[str, str], Path]) -> None:
    client, headers, path = busy_site
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        refused = client.post("/api/v1/records/note", headers=headers, json={"text": "hello"})
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["title"] == "Busy" and "nothing was saved" in refused.json()["detail"]
        listed = client.get("/api/v1/records/note", headers=headers)  # reads are not held up
        assert listed.status_code == 200 and listed.json()["data"] == []
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert client.post("/api/v1/records/note", headers=headers, json={"text": "hello"}).status_code == 201
    assert [r["text"] for r in client.get("/api/v1/records/note", headers=headers).json()["data"]] == ["hello"]


@pytest.mark.parametrize("raw", ["-1", "601", "soon"])
def test_a_bad_busy_timeout_stops_start_up_with_a_message(raw: str) -> None:
    with pytest.raises(SettingsError, match="TESSERA_BUSY_TIMEOUT"):
        Settings.from_env({"TESSERA_BUSY_TIMEOUT": raw})


def test_the_busy_timeout_is_read_from_the_environment() -> None:
    settings: Any = Settings.from_env({"TESSERA_BUSY_TIMEOUT": "2.5"})
    assert settings.busy_timeout == 2.5
