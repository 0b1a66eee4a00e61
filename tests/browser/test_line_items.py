"""Line items in a real browser: a salesperson opens Quotes from the navigation, makes a new
quote, adds a line and picks a product (its list price fills the unit price), types a
quantity, pastes three rows copied from a spreadsheet (the lines are added, the products
found by name), drags the last line to the top, moves lines with the keyboard, duplicates
and deletes one, sees the line formulas and the footer and quote totals follow as the
server works them out, saves, and reads the lines back in their order on the record page;
at phone width the lines are cards, still editable."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import expect

from tessera.auth.actor import Actor

from .conftest import ADMIN, go

PRODUCT = {"api_name": "product", "label": "Product", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "list_price", "label": "List price", "type": "currency", "currency": "EUR"}]}
QUOTE_LINE = {"api_name": "quote_line", "label": "Quote line", "child": True, "fields": [
    {"api_name": "product", "label": "Product", "type": "lookup", "target": "product"},
    {"api_name": "quantity", "label": "Quantity", "type": "decimal", "required": True, "min": 0},
    # Picking a product fills its price: a default formula the server works out per line.
    {"api_name": "unit_price", "label": "Unit price", "type": "currency", "currency": "EUR",
     "default_formula": "product.list_price"},
    {"api_name": "net", "label": "Net", "type": "formula", "scale": 2, "expression": "quantity * unit_price"}]}
QUOTE = {"api_name": "quote", "label": "Quote", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "lines", "label": "Lines", "type": "child_table", "target": "quote_line"},
    {"api_name": "total", "label": "Total", "type": "formula", "scale": 2, "expression": "SUM(lines.net)"}]}
SALES = ("sales@example.com", "sales-password")
#: What a spreadsheet puts on the clipboard: rows on lines, cells between tabs (a blank price
#: is left for the product's list price to fill).
COPIED = "Nut\t10\t\nwasher\t100\t0.25\nHinge\t2\t\n"


def _drag(page: Any, source: Any, target: Any) -> None:
    """A mouse drag SortableJS follows (it listens to pointer events, as on a touch screen)."""
    box, goal = source.bounding_box(), target.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 5, box["y"] + box["height"] / 2 + 5, steps=3)
    page.mouse.move(goal["x"] + goal["width"] / 2, goal["y"] + goal["height"] / 4, steps=12)
    page.mouse.move(goal["x"] + goal["width"] / 2, goal["y"] + goal["height"] / 4 - 2, steps=2)
    page.mouse.up()


def _set_up(base: str, runtime: Any) -> None:
    """The objects and products, made through the JSON API as an integrator would; a
    salesperson who may work quotes and read products."""
    with httpx.Client(base_url=f"{base}/api/v1") as api:
        token = api.post("/auth/token", json={"email": ADMIN[0], "password": ADMIN[1]}).json()["access_token"]
        api.headers["Authorization"] = f"Bearer {token}"
        for doc in (PRODUCT, QUOTE_LINE, QUOTE):
            made = api.post("/meta/objects", json=doc)
            assert made.status_code == 201, made.text
        for name, price in (("Bolt", "2.50"), ("Nut", "1.00"), ("Washer", "0.20"), ("Hinge", "7.90")):
            made = api.post("/records/product", json={"name": name, "list_price": price})
            assert made.status_code == 201, made.text
    runtime.users.roles.create(Actor.system(), {"api_name": "sales", "label": "Sales", "permissions": {
        "quote": {"create": True, "read": "all", "edit": "all", "delete": "own"},
        "product": {"create": False, "read": "all", "edit": "none", "delete": "none"}}}, runtime.snapshot)
    runtime.users.accounts.add(Actor.system(), {"email": SALES[0], "name": "Sam Sales", "password": SALES[1],
                                                "roles": ["sales"]})


def _rows(page: Any) -> Any:
    return page.locator("[data-field=lines] tr[data-line]")


def _products(page: Any) -> list[str]:
    return [row.locator("td[data-column=product] input").input_value() for row in _rows(page).all()]


def test_a_salesperson_fills_in_a_quotes_lines_and_saves_them(page: Any, server: Any, shot: Any) -> None:
    base, runtime = server
    _set_up(base, runtime)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    go(page, f"{base}/login")
    page.fill("#email", SALES[0])
    page.fill("#password", SALES[1])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/app")

    page.get_by_role("navigation", name="Objects").get_by_role("link", name="Quotes").click()
    page.wait_for_url(f"{base}/app/quote")
    page.get_by_role("link", name="New", exact=False).first.click()
    page.wait_for_url(f"{base}/app/quote/new")
    page.get_by_label("Name").fill("Hardware for Acme")

    # A line, a product picked by typing part of its name: the server fills its price.
    page.get_by_role("button", name="Add line").click()
    product = page.get_by_role("combobox", name="Product, line 1")
    expect(product).to_be_focused()
    product.type("bol")
    page.get_by_role("option", name="Bolt").click()
    expect(page.get_by_label("Unit price, line 1")).to_have_value("2.50")
    quantity = page.get_by_label("Quantity, line 1")
    quantity.fill("4")
    quantity.press("Tab")
    expect(_rows(page).nth(0).locator("td[data-column=net]")).to_contain_text("10.00")

    # Three rows from a spreadsheet, pasted into the product cell of a new line: the grid
    # adds the lines it needs, finds the products by name and the server fills the prices.
    page.get_by_role("button", name="Add line").click()
    page.evaluate("text => navigator.clipboard.writeText(text)", COPIED)
    page.get_by_role("combobox", name="Product, line 2").focus()
    page.keyboard.press("Control+V")
    expect(_rows(page)).to_have_count(4)
    expect(page.get_by_role("combobox", name="Product, line 4")).to_have_value("Hinge")
    assert _products(page) == ["Bolt", "Nut", "Washer", "Hinge"]
    expect(page.get_by_label("Unit price, line 2")).to_have_value("1.00")
    expect(page.get_by_label("Unit price, line 3")).to_have_value("0.25")  # as pasted, not the list price
    expect(page.get_by_label("Unit price, line 4")).to_have_value("7.90")
    # 10.00 + 10.00 + 25.00 + 15.80, in the footer and in the quote's total, from the server.
    expect(page.locator("[data-field=lines] tfoot td[data-total=net]")).to_contain_text("60.80")
    expect(page.locator("[data-field=total] output")).to_have_text("60.80")
    shot(page, "line-items-pasted")

    # The last line dragged by its handle to the top.
    _drag(page, _rows(page).nth(3).locator(".line-handle"), _rows(page).nth(0))
    expect(page.get_by_role("combobox", name="Product, line 1")).to_have_value("Hinge")
    assert _products(page) == ["Hinge", "Bolt", "Nut", "Washer"]
    # A quantity changed: the line, the footer and the quote's total follow.
    quantity = page.get_by_label("Quantity, line 1")
    quantity.fill("3")
    quantity.press("Enter")
    expect(page.get_by_label("Quantity, line 2")).to_be_focused()  # Enter moves down, never saves
    expect(page.locator("[data-field=lines] tfoot td[data-total=net]")).to_contain_text("68.70")
    expect(page.locator("[data-field=total] output")).to_have_text("68.70")

    # The keyboard: ↑ to the line above, Alt+↓ / Alt+↑ move the line with the cell focused.
    page.keyboard.press("ArrowUp")
    expect(page.get_by_label("Quantity, line 1")).to_be_focused()
    page.keyboard.press("Alt+ArrowDown")
    assert _products(page) == ["Bolt", "Hinge", "Nut", "Washer"]
    expect(page.get_by_label("Quantity, line 2")).to_be_focused()
    page.keyboard.press("Alt+ArrowUp")
    assert _products(page) == ["Hinge", "Bolt", "Nut", "Washer"]
    # A copy of a line comes right below it; deleting it leaves the lines as they were.
    page.get_by_role("button", name="Duplicate line 4").click()
    assert _products(page) == ["Hinge", "Bolt", "Nut", "Washer", "Washer"]
    expect(page.locator("[data-field=lines] tfoot td[data-total=net]")).to_contain_text("93.70")
    page.get_by_role("button", name="Delete line 5").click()
    expect(_rows(page)).to_have_count(4)
    expect(page.locator("[data-field=lines] tfoot td[data-total=net]")).to_contain_text("68.70")

    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(rf"{re.escape(base)}/app/quote/\d+$"))
    assert _products(page) == ["Hinge", "Bolt", "Nut", "Washer"]
    assert [row.locator("td[data-column=quantity] input").input_value() for row in _rows(page).all()] == [
        "3.00", "4.00", "10.00", "100.00"]
    expect(page.locator("[data-field=total] output")).to_have_text("68.70")
    shot(page, "line-items-saved")
    record_url = page.url

    # At phone width every line is a card of "label: value" rows, still editable.
    page.set_viewport_size({"width": 390, "height": 844})
    go(page, record_url)
    first = _rows(page).nth(0)
    assert first.evaluate("row => getComputedStyle(row).display") == "block"
    assert page.locator("[data-field=lines] thead").evaluate("head => getComputedStyle(head).display") == "none"
    label = first.locator("td[data-column=quantity] .cell-label")
    expect(label).to_be_visible()
    assert label.inner_text() == "Quantity"
    card, cell = first.bounding_box(), first.locator("td[data-column=quantity] input").bounding_box()
    assert card["width"] <= 390 and cell["x"] + cell["width"] <= card["x"] + card["width"] + 1
    expect(page.get_by_label("Quantity, line 1")).to_be_editable()
    shot(page, "line-items-phone")
