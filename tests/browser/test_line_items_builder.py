"""Line items as a builder makes them, in a real browser: a Quote line object made as a
child, its fields, a Quote with a Line items field picking it (the picker lists only free
child objects), the pages saying whose lines they are and which fields the platform keeps,
and the form designer placing the lines (the full width of a section) with three columns
chosen and put in order — which the record form then shows."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from .conftest import go
from .test_build_and_use_an_app import drag, sign_in


def add_field(page: Any, label: str, kind: str) -> None:
    page.fill("#field-label", label)
    page.select_option("#field-type", kind)
    page.click("text=Add field")
    page.wait_for_selector(f"#fields >> text={label}")


def create_object(page: Any, base: str, label: str, *, child: bool = False) -> None:
    go(page, f"{base}/builder")
    page.fill("#object-label", label)
    if child:
        page.get_by_label("Its records are lines of another object (child)").check()
    page.click("text=Create object")
    page.wait_for_selector(f"h1 >> text={label}")


def test_a_builder_makes_quote_lines_and_chooses_their_columns(page: Any, server: Any, shot: Any,
                                                               admin_login: tuple[str, str]) -> None:
    base, runtime = server
    sign_in(page, base, *admin_login)

    # -- a child object and its fields ---------------------------------------------------
    go(page, f"{base}/builder")
    assert page.get_by_text("has no list of its own").is_visible()  # the choice is explained
    create_object(page, base, "Quote line", child=True)
    assert page.url == f"{base}/builder/objects/quote_line"
    assert page.locator("#lines-of").inner_text().startswith("Lines of no object yet.")
    assert page.get_by_role("link", name="Design the form").count() == 0
    for label, kind in (("Description", "text"), ("Quantity", "decimal"), ("Unit price", "currency"),
                        ("Discount", "percent")):
        add_field(page, label, kind)
    # A child's lines cannot have lines of their own.
    assert page.locator("#field-type option[value=child_table]").count() == 0

    # -- the parent and its Line items field ---------------------------------------------
    create_object(page, base, "Quote")
    page.fill("#field-label", "Lines")
    page.select_option("#field-type", label="Line items")
    assert page.locator("#field-lines option").all_inner_texts() == ["Quote line"]
    page.select_option("#field-lines", label="Quote line")
    page.click("text=Add field")
    row = page.locator("#fields tr", has_text="Lines")
    row.wait_for()
    assert "Line items" in row.inner_text() and "lines: Quote line" in row.inner_text()
    shot(page, "line-items-parent")
    # Quote line holds Quote's lines now: a second Line items field has no child to pick.
    page.select_option("#field-type", label="Line items")
    assert "There is no child object to hold the lines yet" in page.locator("#field-lines-none").inner_text()
    assert page.locator("form button.primary", has_text="Add field").is_disabled()

    # The field's own page says which object's lines it holds.
    row.get_by_role("link", name="Lines").click()
    page.wait_for_url(f"{base}/builder/objects/quote/fields/lines")
    assert page.locator("#lines-target").inner_text().startswith("Lines of the object Quote line.")
    shot(page, "line-items-field")
    go(page, f"{base}/builder/objects/quote")
    row = page.locator("#fields tr", has_text="Lines")

    # -- the child says whose lines it holds, and what the platform keeps ----------------
    row.get_by_role("link", name="Quote line").click()
    page.wait_for_url(f"{base}/builder/objects/quote_line")
    assert page.locator("#lines-of strong").first.inner_text() == "Lines of Quote"
    kept = page.locator("#fields tr.system-field")
    assert kept.count() == 2
    link = kept.nth(0).inner_text()
    assert "Kept by the platform" in link and "the record this line belongs to" in link
    assert kept.locator("a").count() == 0  # no way in to change or delete them
    shot(page, "line-items-child")
    go(page, f"{base}/builder/objects/quote_line/fields/quote")  # typed in the address bar
    assert "It cannot be changed or deleted here." in page.locator("main").inner_text()
    assert page.locator("main form input").count() == 0
    go(page, f"{base}/builder")
    assert page.locator("tr", has_text="Quote line").locator(".badge").inner_text() == "Lines of Quote"
    # ... and the navigation lists Quotes, not their lines.
    assert page.locator("nav.nav-objects a").all_inner_texts() == ["Quotes"]

    # -- the form designer: the lines take a section's full width; three columns --------
    go(page, f"{base}/builder/objects/quote/form")
    page.locator("#canvas [data-section]").first.get_by_role("button", name="Add column").click()
    second_column = page.locator("#canvas [data-section]").first.locator("[data-column]").nth(1)
    drag(page, page.locator("#canvas .placement[data-field=lines]"), second_column)
    page.wait_for_selector("#designer-status >> text=Lines takes the full width of a section")
    own = page.locator("#canvas [data-section]").nth(1)
    assert own.locator("[data-column]").count() == 1 and own.locator(".placement[data-field=lines]").count() == 1
    own.get_by_role("button", name="Add column").click()
    page.wait_for_selector("#designer-status >> text=add the column in another section")
    assert own.locator("[data-column]").count() == 1

    page.locator("#canvas .placement[data-field=lines]").click()
    columns = page.locator("#line-column-choices")
    assert [t.strip() for t in columns.locator("label").all_inner_texts()] == [
        "Description", "Quantity", "Unit price", "Discount"]
    assert columns.locator("input:checked").count() == 4  # without a choice, every field is a column
    columns.get_by_role("checkbox", name="Description").uncheck()
    columns.get_by_role("button", name="Move Discount up").click()
    summary = page.locator("#canvas .placement[data-field=lines] [data-line-columns]")
    expect(summary).to_have_text("Columns: Quantity, Discount, Unit price")
    shot(page, "line-items-designer")
    # A problem is told by the field it is about, marked on the form.
    page.fill("#p-visible_if", "quantity >")
    page.click("#save-form")
    status = page.locator("#designer-status")
    expect(status).to_contain_text("Lines: ")
    assert "/sections/" not in status.inner_text()
    expect(page.locator("#canvas .placement.has-error")).to_have_attribute("data-field", "lines")
    page.fill("#p-visible_if", "")
    page.click("#save-form")
    page.wait_for_selector("#designer-status.ok")

    stored = runtime.documents.get("forms", "quote_form")
    placed = [p for s in stored["sections"] for c in s["columns"] for p in c["fields"] if p["field"] == "lines"]
    assert placed == [{"field": "lines", "columns": ["quantity", "discount", "unit_price"]}]
    assert len(stored["sections"]) == 2  # the section the lines left, empty, is gone

    go(page, f"{base}/builder/objects/quote/form")
    assert page.locator("#canvas .placement[data-field=lines] [data-line-columns]").inner_text() == (
        "Columns: Quantity, Discount, Unit price")
    page.locator("#canvas .placement[data-field=lines]").click()
    ticked = page.locator("#line-column-choices li:has(input:checked) label").all_inner_texts()
    assert [t.strip() for t in ticked] == ["Quantity", "Discount", "Unit price"]

    # -- the record form shows those columns, in that order ------------------------------
    go(page, f"{base}/app/quote/new")
    grid = page.locator("[data-field=lines]").first
    grid.wait_for()
    headers = [h.strip() for h in grid.locator("thead th").all_inner_texts() if h.strip()]
    labels = ("Description", "Quantity", "Discount", "Unit price")  # a header may add its unit: "Unit price USD"
    shown = [label for h in headers for label in labels if h.startswith(label)]
    assert shown == ["Quantity", "Discount", "Unit price"]
    shot(page, "line-items-record-form")


def test_the_builder_pages_fit_a_phone(page: Any, server: Any, shot: Any, admin_login: tuple[str, str]) -> None:
    base, _ = server
    sign_in(page, base, *admin_login)
    create_object(page, base, "Expense line", child=True)
    add_field(page, "Amount", "currency")
    create_object(page, base, "Expense report")
    page.fill("#field-label", "Items")
    page.select_option("#field-type", label="Line items")
    page.select_option("#field-lines", label="Expense line")
    page.click("text=Add field")
    page.locator("#fields tr", has_text="Items").wait_for()
    page.set_viewport_size({"width": 390, "height": 844})
    for path, name in (("/builder", "home"), ("/builder/objects/expense_line", "child"),
                       ("/builder/objects/expense_report/form", "designer")):
        go(page, f"{base}{path}")
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"{path} is wider than the phone by {overflow}px"
        shot(page, f"line-items-phone-{name}")
    go(page, f"{base}/builder/objects/expense_line")
    assert page.locator("#lines-of strong").first.inner_text() == "Lines of Expense report"
    assert page.locator("#fields tr.system-field >> text=Kept by the platform").count() == 2
    go(page, f"{base}/builder/objects/expense_report/form")
    page.locator("#canvas .placement[data-field=items]").click()
    assert page.locator("#line-column-choices label").all_inner_texts()[0].strip() == "Amount"
