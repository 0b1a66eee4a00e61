"""The line-items field type's form parts (pure): what the grid's hidden input holds, and
how the form post of it is read back — a JSON list of lines, each an object of cell texts
and, for a stored line, its id; anything else is refused with a message a person reads."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tessera.meta.documents import normalize_field
from tessera.meta.fieldtypes import FieldValueError
from tessera.meta.model import FieldDef


def lines_field(**props: Any) -> FieldDef:
    return FieldDef(normalize_field({"api_name": "lines", "label": "Lines", "type": "child_table",
                                     "target": "quote_line", **props}))


def read(text: str, **props: Any) -> Any:
    field = lines_field(**props)
    return field.ftype.widget_value(field, [text])


def test_a_posted_list_of_lines_is_read_as_cell_texts_and_ids() -> None:
    posted = json.dumps([{"id": 7, "quantity": "2", "product": "3"}, {"quantity": "1.5", "unit_price": ""},
                         {"id": "8"}])
    assert read(posted) == [{"id": 7, "quantity": "2", "product": "3"}, {"quantity": "1.5", "unit_price": ""},
                            {"id": 8}]


def test_numbers_and_booleans_become_the_text_a_cell_would_post() -> None:
    assert read('[{"quantity": 2, "price": 2.5, "taxable": true, "gift": false, "note": null}]') == [
        {"quantity": "2", "price": "2.5", "taxable": "true", "gift": "false", "note": None}]


@pytest.mark.parametrize("blank", ["", "   "])
def test_nothing_posted_is_no_lines(blank: str) -> None:
    assert read(blank) == []
    field = lines_field()
    assert field.ftype.widget_value(field, []) == []


@pytest.mark.parametrize(("posted", "message"), [
    ("[{", "not sent as a JSON list"),
    ('{"id": 1}', "not sent as a list"),
    ('["x"]', "line 1 is not an object of cells"),
    ('[{"quantity": "1"}, 3]', "line 2 is not an object of cells"),
    ('[{"id": true}]', "line 1 has an id that is no record's id"),
    ('[{"id": -4}]', "line 1 has an id that is no record's id"),
    ('[{"id": "abc"}]', "line 1 has an id that is no record's id"),
    ('[{"quantity": {"a": 1}}]', "line 1's 'quantity' is not text"),
    ('[{"quantity": [1]}]', "line 1's 'quantity' is not text"),
])
def test_what_is_no_list_of_lines_is_refused_in_words(posted: str, message: str) -> None:
    with pytest.raises(FieldValueError) as refused:
        read(posted)
    assert message in str(refused.value)


def test_more_lines_than_the_field_allows_are_refused() -> None:
    with pytest.raises(FieldValueError) as refused:
        read(json.dumps([{}] * 3), max_lines=2)
    assert "has 3 lines; at most 2 are allowed" in str(refused.value)


def test_the_hidden_input_posts_stored_lines_by_id_and_new_ones_with_their_values() -> None:
    field = lines_field()
    context = field.ftype.widget_context(field, [
        {"id": 7, "quantity": "2.00", "net": "5.00", "line_number": 1},
        {"quantity": "3", "product": 4, "_display": "ignored", "nested": {"no": 1}}])
    assert json.loads(context["value"]) == [{"id": 7}, {"quantity": "3", "product": 4}]
    assert context["display"] == "2 lines" and context["count"] == 2
    blank = field.ftype.widget_context(field, None)
    assert blank["value"] == "[]" and blank["display"] == "0 lines"
    # What the input holds reads back as the same lines.
    assert field.ftype.widget_value(field, [context["value"]]) == [{"id": 7}, {"quantity": "3", "product": "4"}]
