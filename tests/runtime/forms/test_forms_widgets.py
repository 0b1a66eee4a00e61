"""Forms as HTML: every field type renders its own widget (writable and read-only), values
and labels are always escaped, and a stored record's form shows its lookups by name, its
related lists, its conditions and the errors of a refused submission."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import pytest

from tessera.auth.actor import Actor
from tessera.errors import FieldProblem, InvalidInput
from tessera.forms import FieldState, FormRenderer
from tessera.meta.documents import normalize_field
from tessera.meta.fieldtypes import field_types
from tessera.meta.model import FieldDef
from tessera.runtime.forms.service import TEMPLATES

OPTIONS = [{"value": "a", "label": "Alpha"}, {"value": "b", "label": "Beta"}]
#: A stored value of every field type, and the options a field of it needs.
SAMPLES: dict[str, tuple[Any, dict[str, Any]]] = {
    "text": ("hello", {}), "long_text": ("two\nlines", {}), "rich_text": ("<p>Hi <b>there</b></p>", {}),
    "email": ("a@example.com", {}), "phone": ("+49 30 1234", {}), "url": ("https://example.com", {}),
    "integer": (7, {"min": 0, "max": 10}), "decimal": (Decimal("1.50"), {}),
    "currency": (Decimal("1200.50"), {"currency": "EUR"}), "percent": (Decimal("12.50"), {}),
    "rating": (3, {}), "duration": (5400, {}), "date": (date(2024, 12, 31), {}),
    "datetime": (datetime(2024, 6, 3, 7, 30, tzinfo=UTC), {}), "boolean": (True, {}),
    "select": ("b", {"options": OPTIONS}), "multi_select": (["a", "b"], {"options": OPTIONS}),
    "lookup": (5, {"target": "account"}), "user": (1, {}),
    "attachment": ([{"id": "0123456789abcdef0123456789abcdef", "name": "contract.pdf", "size": 2048,
                     "content_type": "application/pdf"}], {}),
    "json": ({"a": [1, None]}, {}), "autonumber": ("DL-000042", {"prefix": "DL-"}),
    "formula": (Decimal("2400.00"), {"expression": "amount * 2", "formula_type": "number", "scale": 2}),
    "rollup": (Decimal("3"), {"relation": "deals", "function": "count", "formula_type": "number"}),
    "child_table": ([{"id": 7, "quantity": "2.00"}], {"target": "quote_line"}),
}
SHOWN = {"text": "hello", "email": "a@example.com", "currency": "1200.50", "duration": "value=\"1 hour 30 minutes\"",
         "date": "2024-12-31", "datetime": "2024-06-03T07:30:00", "select": 'value="b" selected',
         "multi_select": 'value="a" checked', "lookup": '<option value="5" selected>', "json": "&#34;a&#34;",
         "autonumber": "DL-000042", "formula": "2,400.00", "rating": 'value="3" checked', "boolean": "checked",
         "attachment": "contract.pdf", "rich_text": "&lt;p&gt;Hi", "integer": 'value="7"'}
SCRIPT = "<script>alert(1)</script>"


class _Balanced(HTMLParser):
    """Counts the elements left open, to catch a template that breaks the markup."""

    VOID = {"input", "br", "img", "meta", "link", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()


def balanced(html: str) -> bool:
    parser = _Balanced()
    parser.feed(html)
    return parser.open == []


def field_of(type_name: str, **extra: Any) -> FieldDef:
    options = SAMPLES[type_name][1]
    return FieldDef(normalize_field({"api_name": f"f_{type_name}", "label": f"The {type_name}", "type": type_name,
                                     **options, **extra}))


@pytest.fixture(scope="module")
def renderer() -> FormRenderer:
    return FormRenderer(TEMPLATES)


def test_every_registered_field_type_has_a_sample() -> None:
    assert set(SAMPLES) == set(field_types())


@pytest.mark.parametrize("type_name", sorted(field_types()))
def test_every_field_type_renders_its_widget(renderer: FormRenderer, type_name: str) -> None:
    fdef = field_of(type_name, help_text="Some help")
    value = SAMPLES[type_name][0]
    html = str(renderer.widget(fdef, value, state=FieldState(True, False, False)))
    assert balanced(html), html
    assert f'data-field="f_{type_name}"' in html and f"The {type_name}" in html and "Some help" in html
    assert f'for="f-f_{type_name}"' in html and f'id="f-f_{type_name}' in html
    if not fdef.read_only:
        assert f'name="f_{type_name}"' in html, html
    if type_name in SHOWN:
        assert SHOWN[type_name] in html, html
    blank = str(renderer.widget(fdef, None, state=FieldState(True, True, False)))
    assert balanced(blank) and "required-mark" in blank


@pytest.mark.parametrize("type_name", sorted(field_types()))
def test_every_field_type_shows_its_value_read_only(renderer: FormRenderer, type_name: str) -> None:
    fdef = field_of(type_name)
    html = str(renderer.widget(fdef, SAMPLES[type_name][0], state=FieldState(True, False, True), display="Acme"))
    assert balanced(html), html
    assert "data-read-only" in html and "<input" not in html and "<select" not in html and "<textarea" not in html
    if type_name == "lookup":
        assert '<a href="/app/account/5">Acme</a>' in html


def test_a_lookup_searches_as_the_user_types(renderer: FormRenderer) -> None:
    html = str(renderer.widget(field_of("lookup"), 5, display="Acme Corp"))
    assert 'hx-get="/app/account/lookup/options"' in html and 'hx-trigger="input changed delay:250ms' in html
    assert 'hx-target="#f-f_lookup-matches"' in html and '<optgroup label="Matches" id="f-f_lookup-matches">' in html
    assert '<select name="f_lookup" id="f-f_lookup">' in html
    assert '<option value="5" selected>Acme Corp</option>' in html
    assert 'form="f-f_lookup-search-form"' in html  # the search text is never submitted with the form


@pytest.mark.parametrize("type_name", ["text", "long_text", "email", "url", "json", "select", "rich_text"])
def test_values_labels_and_help_are_escaped(renderer: FormRenderer, type_name: str) -> None:
    fdef = field_of(type_name, label=f"Label {SCRIPT}", help_text='<img src=x onerror="alert(2)">')
    value = {"json": {"k": SCRIPT}, "select": SCRIPT}.get(type_name, SCRIPT)
    for read_only in (False, True):
        html = str(renderer.widget(fdef, value, state=FieldState(True, False, read_only), errors=[SCRIPT],
                                   raw=SCRIPT if type_name == "email" else None))
        assert "<script" not in html and "<img" not in html, html
        assert "&lt;script&gt;" in html


def test_rich_text_is_shown_as_cleaned_markup(renderer: FormRenderer) -> None:
    html = str(renderer.widget(field_of("rich_text"), f'<p onclick="x()">Hi {SCRIPT}<b>there</b></p>',
                               state=FieldState(True, False, True)))
    assert "<p>Hi <b>there</b></p>" in html and "<script" not in html and "onclick" not in html


ACCOUNT = {"api_name": "account", "label": "Account", "name_field": "name", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True}]}
DEAL = {"api_name": "deal", "label": "Deal", "plural_label": "Deals", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "currency", "currency": "EUR"},
    {"api_name": "stage", "label": "Stage", "type": "select", "options": [{"value": "new"}, {"value": "lost"}]},
    {"api_name": "lost_reason", "label": "Lost reason", "type": "text"},
    {"api_name": "account", "label": "Account", "type": "lookup", "target": "account", "related_name": "deals"},
]}
ACCOUNT_FORM = {"api_name": "account_main", "label": "Account", "object": "account", "tabs": [
    {"label": "Details", "sections": [{"label": "Account", "columns": [{"fields": [{"field": "name"}]}]}]},
    {"label": "Deals", "sections": [{"label": "Open deals", "related": {
        "relation": "deals", "columns": ["name", "amount"], "sort": "amount", "descending": True, "limit": 2}}]}],
    "buttons": [{"label": "Merge", "action": "merge"}]}
DEAL_FORM = {"api_name": "deal_main", "label": "Deal", "object": "deal", "sections": [{"label": "Deal", "columns": [
    {"fields": [{"field": "name", "label": "Title", "help": "What the customer calls it"}, {"field": "amount"},
                {"field": "stage"}]},
    {"fields": [{"field": "lost_reason", "visible_if": 'stage = "lost"'}, {"field": "account"}]}]}]}


@pytest.fixture
def crm(api: Any) -> Any:
    api.ok(api.post("/meta/objects", ACCOUNT), 201)
    api.ok(api.post("/meta/objects", DEAL), 201)
    api.ok(api.post("/meta/forms", ACCOUNT_FORM), 201)
    api.ok(api.post("/meta/forms", DEAL_FORM), 201)
    return api


def admin() -> Actor:
    return Actor(user_id=1, email="admin@example.com", is_admin=True)


def test_a_stored_records_form_shows_tabs_related_lists_and_buttons(crm: Any, runtime: Any) -> None:
    acme = crm.ok(crm.post("/records/account", {"name": "Acme"}), 201)
    for name, amount in (("Small", "10"), ("Huge", "9000"), (SCRIPT, "500")):
        crm.ok(crm.post("/records/deal", {"name": name, "amount": amount, "account": acme["id"]}), 201)
    html = runtime.forms.render(admin(), "account", record_id=acme["id"])
    assert balanced(html)
    assert 'role="tablist"' in html and 'x-data="{ tab: 0 }"' in html and ">Deals</button>" in html
    assert 'data-relation="deals"' in html and '<th scope="col" data-column="amount">Amount</th>' in html
    assert "Huge" in html and "9,000.00 EUR" in html and "&lt;script&gt;" in html and "<script" not in html
    assert "Small" not in html and "More…" in html  # two rows, highest amount first
    assert 'data-action="merge"' in html and f'name="record_id" value="{acme["id"]}"' in html
    assert 'hx-post="/api/v1/forms/account/state"' in html


def test_a_form_shows_lookups_by_name_conditions_and_refused_values(crm: Any, runtime: Any) -> None:
    acme = crm.ok(crm.post("/records/account", {"name": "Acme <Corp>"}), 201)
    deal = crm.ok(crm.post("/records/deal", {"name": "D", "stage": "new", "account": acme["id"]}), 201)
    forms = runtime.forms
    html = forms.render(admin(), "deal", record_id=deal["id"])
    assert balanced(html)
    assert f'<option value="{acme["id"]}" selected>Acme &lt;Corp&gt;</option>' in html  # by name, escaped
    assert 'id="f-lost_reason-field" data-field="lost_reason" hidden' in html
    assert "Title" in html and "What the customer calls it" in html
    refused = forms.render(admin(), "deal", record_id=deal["id"], values={"stage": "lost", "amount": "lots"},
                           errors=[FieldProblem("name", "is required", "required")])
    assert 'data-field="lost_reason" hidden' not in refused
    assert 'value="lots"' in refused and "must be a number" in refused and "is required" in refused
    new = forms.render(admin(), "deal", id_prefix="new-")
    assert 'id="new-name"' in new and "record_id" not in new and 'name="form" value="deal_main"' in new


class _Post(HTMLParser):
    """What a browser submits for a form: its successful controls, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[tuple[str, str]] = []
        self._select: tuple[str, list[tuple[str, bool]]] | None = None
        self._option: list[str] | None = None
        self._textarea: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        a = dict(attrs)
        if "form" in a or "data-form-meta" in a:
            return  # belongs to another form (a lookup's search box), or is the form's own data
        name = a.get("name")
        if tag == "input" and name and (a.get("type") not in ("checkbox", "radio") or "checked" in a):
            self.items.append((name, a.get("value") or ""))
        elif tag == "select" and name:
            self._select = (name, [])
        elif tag == "option" and self._select is not None:
            self._option = [a.get("value") or "", "selected" in a]  # type: ignore[list-item]
            self._select[1].append((self._option[0], bool(self._option[1])))
        elif tag == "textarea" and name:
            self._textarea = (name, [])

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea[1].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select is not None:
            name, options = self._select
            chosen = [v for v, selected in options if selected] or [options[0][0]]
            self.items.append((name, chosen[0]))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.items.append((self._textarea[0], "".join(self._textarea[1])))
            self._textarea = None


def browser_post(html: str) -> list[tuple[str, str]]:
    parser = _Post()
    parser.feed(html)
    parser.close()
    return parser.items


EVERY = {"api_name": "every", "label": "Every", "fields": [
    {"api_name": f"f_{t}", "label": t, "type": t, **SAMPLES[t][1]} for t in sorted(field_types())
    if t not in ("lookup", "rollup", "formula", "child_table")] + [
    {"api_name": "f_lookup", "label": "lookup", "type": "lookup", "target": "account"},
    {"api_name": "f_formula", "label": "formula", "type": "formula", "expression": "f_integer * 2"}]}
STORED = {"f_text": "hello <b>", "f_long_text": "two\nlines", "f_rich_text": "<p>Hi <b>there</b></p>",
          "f_email": "a@example.com", "f_phone": "+49 30 1234", "f_url": "https://example.com/a?b=1&c=2",
          "f_integer": 7, "f_decimal": "1.5", "f_currency": "1200.5", "f_percent": "12.5", "f_rating": 3,
          "f_duration": "1:30:15", "f_date": "2024-12-31", "f_datetime": "2024-06-03T09:30:00+02:00",
          "f_boolean": False, "f_select": "b", "f_multi_select": ["a", "b"], "f_user": 1,
          "f_json": {"a": [1, None], "s": "<x>"}, "f_autonumber": None}


def test_what_the_widgets_post_back_saves_the_record_unchanged(crm: Any, runtime: Any) -> None:
    """Each widget posts back exactly the value it shows: a form submitted untouched changes nothing."""
    crm.ok(crm.post("/meta/objects", EVERY), 201)
    acme = crm.ok(crm.post("/records/account", {"name": "Acme"}), 201)
    upload = crm.request("POST", "/attachments", files={"file": ("a.txt", b"abc", "text/plain")})
    file_id = crm.ok(upload, 201)["id"]
    stored = {k: v for k, v in STORED.items() if v is not None}
    record = crm.ok(crm.post("/records/every", {**stored, "f_lookup": acme["id"], "f_attachment": [file_id]}), 201)
    forms = runtime.forms
    html = forms.render(admin(), "every", record_id=record["id"])
    posted = browser_post(html)
    assert {name for name, _ in posted} == {f["api_name"] for f in EVERY["fields"]} - {"f_formula", "f_autonumber"}
    values = forms.posted("every", posted)
    assert values["f_boolean"] is False and values["f_multi_select"] == ["a", "b"]
    assert values["f_json"] == {"a": [1, None], "s": "<x>"} and values["f_attachment"] == [file_id]
    saved = forms.submit(admin(), "every", record_id=record["id"], values=values)
    assert saved == record  # nothing changed, not even the version
    ticked = forms.posted("every", [("f_boolean", "false"), ("f_boolean", "true"), ("f_json", ""), ("x", "y")])
    assert ticked == {"f_boolean": True, "f_json": None, "x": "y"}
    with pytest.raises(InvalidInput) as refused:
        forms.posted("every", [("f_json", "{oops")])
    assert refused.value.errors[0].field == "f_json"
