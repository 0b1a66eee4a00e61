"""The rules tests' platform: the suite's `runtime` (SQLite and PostgreSQL, an admin), as `rt`."""

from __future__ import annotations

import pytest

from tessera.runtime.platform import Platform


@pytest.fixture
def rt(runtime: Platform) -> Platform:
    return runtime
