"""A plugin's formula function passes the test the built-in ones pass: Python, SQLite and
PostgreSQL give the same answer on the same records (the example plugin's IBAN_COUNTRY)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tessera.formula import register
from tessera.registry import forget, registering_for

from .conftest import Backend, PythonSide
from .helpers import in_python, in_sql, same


@pytest.fixture(autouse=True)
def example_function() -> Iterator[None]:
    from tessera_example.functions import IBAN_COUNTRY

    with registering_for("example"):
        register(IBAN_COUNTRY)
    yield
    forget("example")


@pytest.mark.parametrize("formula", [
    "IBAN_COUNTRY(name)", "IBAN_COUNTRY(code)", "IBAN_COUNTRY(UPPER(name) & code)", 'IBAN_COUNTRY(" de89")',
    'IBAN_COUNTRY("x")', "IBAN_COUNTRY(BLANK())", 'IBAN_COUNTRY(name) = "AC"', "LEN(IBAN_COUNTRY(code))",
])
def test_a_plugin_function_gives_the_same_values_in_python_and_sql(formula: str, backend: Backend,
                                                                  py: PythonSide) -> None:
    expected = in_python(formula, py)
    got = in_sql(formula, backend, py)
    mismatches = [(py.deals[i]["id"], e, g) for i, (e, g) in enumerate(zip(expected, got, strict=True))
                  if not same(e, g)]
    assert not mismatches, mismatches[:5]
