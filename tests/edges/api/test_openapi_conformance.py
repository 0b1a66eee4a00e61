"""Schemathesis's full checks over the whole JSON API, as a client generator would use it:
every operation, every check (server errors, status codes, media types, response schemas
and headers, `Allow` on unsupported methods, 401 before anything else without a sign-in,
schema-violating input refused, schema-valid input accepted, resources gone after DELETE),
through its coverage, fuzzing and stateful phases, on SQLite and PostgreSQL.

Schema-valid input may still be refused with 422 when it breaks a rule no JSON Schema can
say (a filter formula that is not a condition, a cursor this API never gave, a unique
value taken): the configuration below accepts that answer, and only that one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tessera.auth.actor import Actor
from tessera.runtime.platform import Platform
from tessera.settings import Settings

from .test_openapi_fuzz import FULL, LINE, PARENT, _every_type

ROOT = Path(__file__).resolve().parents[3]
#: Examples per operation and phase: enough to find the classes of disagreement a client
#: generator trips on (about two minutes per database here).
EXAMPLES = 25
#: An object with a field named `data`, which a page of records also has.
AWKWARD = {"api_name": "fuzz_data", "label": "Fuzz data", "fields": [
    {"api_name": "data", "label": "Data", "type": "multi_select", "options": [{"value": "a"}, {"value": "b"}]},
    {"api_name": "next_cursor", "label": "Next cursor", "type": "integer"}]}
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "412", "422", "428", "429"]
"""


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[str]:
    import socket

    import uvicorn

    from tessera.app import create_app

    runtime = Platform(Settings(database_url=db_url, attachments_dir=tmp_path / "files"))
    runtime.users.ensure_admin("admin@example.com", "admin-password")
    system = Actor.system()
    runtime.metadata.create_object(system, PARENT)
    runtime.metadata.create_object(system, LINE)
    runtime.metadata.create_object(system, _every_type())
    runtime.metadata.create_object(system, AWKWARD)
    parent = runtime.records.create(system, "fuzz_parent", {"name": "p"})
    runtime.records.create(system, "fuzz_all", FULL | {"f_lookup": parent["id"]})
    runtime.records.create(system, "fuzz_data", {"data": ["a"], "next_cursor": 3})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    runtime.dispose()


def test_the_whole_api_passes_schemathesis_full_checks(served: str, db_url: str, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    env = {**os.environ, "TESSERA_DATABASE_URL": db_url, "PYTHONPATH": str(ROOT),
           "SCHEMATHESIS_HOOKS": "tests.edges.api.schemathesis_auth", "NO_COLOR": "1"}
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
               f"{served}/api/v1/openapi.json", "--checks", "all", "--max-examples", str(EXAMPLES),
               "--seed", "20261206", "--workers", "1", "--request-timeout", "60",
               "--suppress-health-check", "all"]
    result: Any = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800, cwd=tmp_path)
    report = ROOT / "test-artifacts" / f"schemathesis-{db_url.split(':')[0].split('+')[0]}.txt"
    report.parent.mkdir(exist_ok=True)
    report.write_text(result.stdout + result.stderr)
    tail = result.stdout[-20000:]
    assert result.returncode == 0, f"{tail}\n{result.stderr[-3000:]}"
