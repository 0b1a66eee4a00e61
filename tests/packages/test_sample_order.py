"""Sample records whose objects point at each other in a circle load whatever the order of
their files: the required lookups are honoured, an optional one is set in a second step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tessera.auth.actor import Actor
from tessera.packages.files import read_folder
from tessera.runtime.platform import Platform

SYSTEM = Actor.system()


def fld(obj: str, name: str, ftype: str, **props: Any) -> dict[str, Any]:
    return {"uid": f"{obj}.{name}", "api_name": name, "label": name.title(), "type": ftype, **props}


def write(folder: Path, path: str, body: dict[str, Any]) -> None:
    target = folder / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(body))


def circle(folder: Path) -> Path:
    """A deal needs its account; a quote needs its deal; a contract needs its account and may
    name a quote; a deal may name the contract it renews — deal, contract and quote go round,
    and the deal's file comes first (walking from it, the quote was once put before the deal)."""
    objects = {
        "acct": [fld("acct", "name", "text", required=True)],
        "deal": [fld("deal", "name", "text", required=True),
                 fld("deal", "acct", "lookup", target="acct", required=True),
                 fld("deal", "renews", "lookup", target="deal_contract")],
        "deal_contract": [fld("deal_contract", "name", "text", required=True),
                  fld("deal_contract", "acct", "lookup", target="acct", required=True),
                  fld("deal_contract", "quote", "lookup", target="deal_quote")],
        "deal_quote": [fld("deal_quote", "name", "text", required=True),
                 fld("deal_quote", "deal", "lookup", target="deal", required=True)],
    }
    write(folder, "manifest.json", {"name": "circle", "version": "1.0.0", "title": "Circle", "publisher": "Tests"})
    for name, fields in objects.items():
        write(folder, f"objects/{name}.json", {"uid": name, "api_name": name, "label": name.title(),
                                               "name_field": "name", "fields": fields})
    write(folder, "data/acct.json", {"object": "acct", "records": [{"key": "a", "name": "Acme"}]})
    write(folder, "data/deal_contract.json", {"object": "deal_contract", "records": [
        {"key": "c1", "name": "First year", "acct": {"key": "a"}, "quote": {"key": "q1"}}]})
    write(folder, "data/deal.json", {"object": "deal", "records": [
        {"key": "d1", "name": "First deal", "acct": {"key": "a"}},
        {"key": "d2", "name": "Renewal", "acct": {"key": "a"}, "renews": {"key": "c1"}}]})
    write(folder, "data/deal_quote.json", {"object": "deal_quote", "records": [
        {"key": "q1", "name": "Quote", "deal": {"key": "d1"}}]})
    return folder


def test_records_pointing_round_in_a_circle_load_with_their_required_lookups_first(
        runtime: Platform, tmp_path: Path) -> None:
    package = read_folder(circle(tmp_path / "circle"), frozenset(runtime.packages.kinds()))
    job, _ = runtime.packages.submit(SYSTEM, package, upgrade=False)
    finished = runtime.jobs.wait(job)
    assert finished["status"] == "succeeded", finished
    assert finished["result"]["records"] == 5

    def one(obj: str, name: str) -> dict[str, Any]:
        return next(r for r in runtime.records.list(SYSTEM, obj, limit=10)["data"] if r["name"] == name)

    deal, renewal = one("deal", "First deal"), one("deal", "Renewal")
    contract, quote = one("deal_contract", "First year"), one("deal_quote", "Quote")
    assert quote["deal"] == deal["id"]
    assert contract["quote"] == quote["id"]
    assert renewal["renews"] == contract["id"]
