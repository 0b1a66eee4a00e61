"""The line-items grid (pure): how each column's cells are typed in after its field type's
widget, which columns are only shown, what each cell holds and shows, where problems go,
and the footer's totals."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tessera.forms.grid import grid, grid_columns, totals
from tessera.meta.documents import normalize_field
from tessera.meta.model import FieldDef

FIELDS = [
    {"api_name": "product", "label": "Product", "type": "lookup", "target": "product"},
    {"api_name": "quantity", "label": "Quantity", "type": "decimal", "required": True},
    {"api_name": "unit_price", "label": "Unit price", "type": "currency", "currency": "EUR"},
    {"api_name": "discount", "label": "Discount", "type": "percent"},
    {"api_name": "colour", "label": "Colour", "type": "select",
     "options": [{"value": "red", "label": "Red"}, {"value": "blue", "label": "Blue"}]},
    {"api_name": "gift", "label": "Gift", "type": "boolean"},
    {"api_name": "ships", "label": "Ships", "type": "datetime"},
    {"api_name": "tags", "label": "Tags", "type": "multi_select", "options": [{"value": "a"}]},
    {"api_name": "note", "label": "Note", "type": "text", "read_only": True},
    {"api_name": "net", "label": "Net", "type": "formula", "expression": "quantity * unit_price",
     "formula_type": "number", "scale": 2},
]


def fields(*names: str) -> list[FieldDef]:
    out = [FieldDef(normalize_field(doc)) for doc in FIELDS]
    return [f for f in out if not names or f.api_name in names]


def by_name(columns: Any) -> dict[str, Any]:
    return {c.name: c for c in columns}


def test_a_column_is_typed_in_as_its_fields_widget_is_and_computed_ones_are_shown() -> None:
    columns = by_name(grid_columns(fields(), fill_from={"unit_price": ["product"]}))
    assert {name: c.kind for name, c in columns.items()} == {
        "product": "lookup", "quantity": "number", "unit_price": "number", "discount": "number",
        "colour": "select", "gift": "checkbox", "ships": "date", "tags": "shown", "note": "shown", "net": "shown"}
    assert columns["product"].target == "product" and columns["product"].editable
    assert columns["colour"].options == (("red", "Red"), ("blue", "Blue"))
    assert columns["ships"].input_type == "datetime-local" and columns["unit_price"].unit == "EUR"
    assert columns["unit_price"].fill_from == ("product",) and columns["quantity"].required
    assert not columns["net"].editable and not columns["note"].editable and not columns["net"].required
    # Counts and money are summed; shares are not; a formula giving a number is.
    assert {name for name, c in columns.items() if c.summed} == {"quantity", "unit_price", "net"}
    assert columns["net"].numeric and columns["discount"].numeric and not columns["colour"].numeric


def test_a_field_the_person_may_not_change_is_shown_not_edited() -> None:
    columns = by_name(grid_columns(fields("quantity", "product"), locked=frozenset({"quantity"})))
    assert columns["quantity"].kind == "shown" and not columns["quantity"].editable
    assert columns["product"].kind == "lookup" and columns["product"].target == "product"


def test_cells_hold_what_their_inputs_take_and_show_what_a_person_reads() -> None:
    columns = grid_columns(fields())
    lines = [{"id": 7, "product": 3, "quantity": Decimal("2.00"), "unit_price": Decimal("1200.5"), "gift": True,
              "colour": "blue", "ships": datetime(2026, 3, 1, 9, 30, tzinfo=UTC), "net": "2401.00"},
             {"id": None, "quantity": None, "product": 4}]
    made = grid("lines", columns, lines, names={"lines[0].product": "Bolt"}, zone=ZoneInfo("Europe/Berlin"))
    first = {c.column.name: c for c in made.rows[0].cells}
    assert made.rows[0].id == 7 and made.rows[1].id is None
    assert (first["product"].value, first["product"].display) == ("3", "Bolt")
    assert first["quantity"].value == "2.00" and first["unit_price"].value == "1200.50"
    assert first["gift"].value == "true" and first["colour"].value == "blue"
    assert first["ships"].value == "2026-03-01T10:30:00"  # in the reader's zone, as the input takes it
    assert first["net"].display == "2,401.00"
    second = {c.column.name: c for c in made.rows[1].cells}
    assert second["product"].display == "#4"  # a record the reader may not see keeps its id
    assert second["gift"].value == "false" and second["quantity"].value == ""


def test_what_did_not_convert_is_shown_as_typed_with_its_problem_beside_it() -> None:
    columns = grid_columns(fields("quantity", "unit_price"))
    made = grid("lines", columns, [{"quantity": None}, {"quantity": Decimal(1)}],
                texts=[{"quantity": "lots"}, {}],
                errors={"lines[0].quantity": ["must be a number"], "lines[1]": ["a line must be a JSON object"],
                        "lines[1].id": ["is not a line of this Quote"], "lines[1].colour": ["is hidden"],
                        "total": ["not about lines"]})
    first = {c.column.name: c for c in made.rows[0].cells}
    assert first["quantity"].value == "lots" and first["quantity"].errors == ("must be a number",)
    assert made.rows[0].errors == ()
    # Problems of the line as a whole, and of fields the grid does not show, are the line's own.
    assert made.rows[1].errors == ("a line must be a JSON object", "is not a line of this Quote", "is hidden")


def test_a_new_line_starts_from_the_fields_defaults() -> None:
    made = grid("lines", grid_columns(fields("quantity", "colour")), [], blank={"quantity": Decimal(1)})
    assert [c.value for c in made.blank.cells] == ["1.00", ""] and made.rows == ()


def test_the_footer_sums_counts_and_money_as_their_fields_show_them() -> None:
    columns = grid_columns(fields("quantity", "unit_price", "discount", "net"))
    lines = [{"quantity": Decimal("2"), "unit_price": Decimal("1000.50"), "discount": Decimal(5), "net": "2001.00"},
             {"quantity": Decimal("0.5"), "unit_price": None, "net": Decimal("10.255")},
             {"quantity": None, "unit_price": Decimal("1"), "net": None}]
    assert totals(columns, lines) == {"quantity": "2.50", "unit_price": "1,001.50 EUR", "net": "2,011.26"}
    assert totals(columns, []) == {"quantity": "0.00", "unit_price": "0.00 EUR", "net": "0.00"}
    assert grid("lines", columns, lines).has_totals
    assert not grid("lines", grid_columns(fields("colour")), []).has_totals
    chosen = grid_columns(fields("quantity", "unit_price", "discount", "net"), totals=["quantity", "net"])
    assert totals(chosen, lines) == {"quantity": "2.50", "net": "2,011.26"}
