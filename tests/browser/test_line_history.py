"""A quote's history tells the changes of its lines in words, in a real browser: an
integrator changes a quote's lines through the JSON API (a quantity, a line added with a
product, a line removed); a salesperson opens Quotes, picks the quote from the list and
reads "Lines — line 2: Quantity 2.00 → 4.00", "line 3 added: Product Bolt, …" and "line
1 removed" in its history."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect

from tessera.auth.actor import Actor

from .conftest import ADMIN, go

PRODUCT = {"api_name": "product", "label": "Product", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True}]}
QUOTE_LINE = {"api_name": "quote_line", "label": "Quote line", "child": True, "fields": [
    {"api_name": "product", "label": "Product", "type": "lookup", "target": "product"},
    {"api_name": "quantity", "label": "Quantity", "type": "decimal", "required": True, "min": 0}]}
QUOTE = {"api_name": "quote", "label": "Quote", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "lines", "label": "Lines", "type": "child_table", "target": "quote_line"}]}
SALES = ("sales@example.com", "sales-password")


def test_a_salesperson_reads_the_changes_of_a_quotes_lines_in_its_history(page: Any, server: Any, shot: Any) -> None:
    base, runtime = server
    with httpx.Client(base_url=f"{base}/api/v1") as api:
        token = api.post("/auth/token", json={"email": ADMIN[0], "password": ADMIN[1]}).json()["access_token"]
        api.headers["Authorization"] = f"Bearer {token}"
        for doc in (PRODUCT, QUOTE_LINE, QUOTE):
            assert api.post("/meta/objects", json=doc).status_code == 201
        nut = api.post("/records/product", json={"name": "Nut"}).json()["id"]
        bolt = api.post("/records/product", json={"name": "Bolt"}).json()["id"]
        made = api.post("/records/quote", json={"name": "Harbour refit", "lines": [
            {"product": nut, "quantity": "1"}, {"product": nut, "quantity": "2"}]})
        assert made.status_code == 201, made.text
        quote = made.json()
        first, second = (line["id"] for line in quote["lines"])
        changed = api.patch(f"/records/quote/{quote['id']}", json={"lines": [
            {"id": first}, {"id": second, "quantity": "4"}, {"product": bolt, "quantity": "1"}]},
            headers={"If-Match": f'"{quote["version"]}"'})
        assert changed.status_code == 200, changed.text
        removed = api.patch(f"/records/quote/{quote['id']}", json={"lines": [
            {"id": line["id"]} for line in changed.json()["lines"][1:]]})
        assert removed.status_code == 200, removed.text
    runtime.users.roles.create(Actor.system(), {"api_name": "sales", "label": "Sales", "permissions": {
        "quote": {"create": True, "read": "all", "edit": "all"}, "product": {"read": "all"}}}, runtime.snapshot)
    runtime.users.accounts.add(Actor.system(), {"email": SALES[0], "name": "Sam Sales", "password": SALES[1],
                                                "roles": ["sales"]})

    go(page, f"{base}/login")
    page.fill("#email", SALES[0])
    page.fill("#password", SALES[1])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/app")
    page.get_by_role("link", name="Quotes").first.click()
    page.locator("#rows tr", has_text="Harbour refit").get_by_role("link", name="Harbour refit").click()
    page.wait_for_url(f"{base}/app/quote/{quote['id']}")
    history = page.locator(".timeline").first
    expect(history).to_contain_text("Lines — line 2: Quantity 2.00 → 4.00")
    expect(history).to_contain_text("Lines — line 3 added: Product Bolt, Quantity 1.00")
    expect(history).to_contain_text("Lines — line 1 removed: Product Nut, Quantity 1.00")
    expect(history).to_contain_text("Lines — line 2 moved to 1")
    expect(history.get_by_text("Lines — line 2: Quantity 2.00 → 4.00")).to_contain_text("by Admin")
    assert "{'line'" not in history.inner_text() and '"line"' not in history.inner_text()
    shot(page, "line-history")
