"""How pages show a formula's value: numbers grouped, as money or as a percentage when the
field says so, instants readably — from the value worked out or from its JSON text."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tessera.meta.fieldtypes.computed import FormulaField
from tessera.meta.model import FieldDef


def _field(**props: Any) -> FieldDef:
    return FieldDef({"api_name": "x", "label": "X", "type": "formula", "expression": "1",
                     "formula_type": "number", **props})


@pytest.mark.parametrize(("props", "value", "shown"), [
    ({"scale": 2, "format": "currency", "currency": "USD"}, Decimal("314400"), "314,400.00 USD"),
    ({"scale": 2, "format": "currency", "currency": "EUR"}, "1234.5", "1,234.50 EUR"),
    ({"scale": 1, "format": "percent"}, "85.7", "85.7\u202f%"),
    ({}, Decimal("-1234567.5"), "-1,234,567.5"),
    ({"scale": 2}, "-0.50", "-0.50"),
    ({"format": "number"}, "12", "12"),
    ({"format": "currency"}, "99", "99"),  # no currency named: just the number
])
def test_a_number_formula_reads_grouped_as_money_or_as_a_percentage(props: dict[str, Any], value: Any,
                                                                    shown: str) -> None:
    assert FormulaField().display(_field(**props), value) == shown


def test_an_instant_reads_as_a_time_not_as_iso_text() -> None:
    field = _field(formula_type="datetime")
    assert FormulaField().display(field, "2026-12-01T18:00:14Z") == "2026-12-01 18:00 UTC"
    assert FormulaField().display(field, datetime(2026, 12, 1, 18, 0, 14, tzinfo=UTC)) == "2026-12-01 18:00 UTC"


def test_text_and_blank_results_read_as_they_are() -> None:
    assert FormulaField().display(_field(formula_type="text"), "At risk") == "At risk"
    assert FormulaField().display(_field(), None) == ""
