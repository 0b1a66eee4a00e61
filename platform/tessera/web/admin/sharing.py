"""Sharing rules as the role and team pages show and change them.

A sharing rule lives on its object's document (`sharing_rules`, see docs/permissions.md):
the records matching a condition are opened to some roles and teams, to read or to edit.
A role's page lists the rules that name the role, a team's page those that name the team;
both add one — the condition picked (field, operator, value) or written as a formula — and
remove one, through the metadata service like any change to an object, so its checks (the
formula, at least one role or team) are the ones shown beside the inputs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from tessera.auth.actor import Actor
from tessera.errors import FieldProblem, InvalidInput, NotFound
from tessera.meta.model import FieldDef, ObjectDef
from tessera.runtime.platform import Platform
from tessera.runtime.records.views import OPERATOR_LABELS, condition_formula
from tessera.web.admin.page import problems
from tessera.web.builder import api_name

#: What a rule's `access` lets its people do, in words.
ACCESS = {"read": "read", "edit": "read and edit"}
#: Field types a condition picker cannot compare with a typed value (write a formula instead).
NOT_PICKED = frozenset({"lookup", "user", "child_table", "attachment", "json", "rich_text"})


def offered(obj: ObjectDef) -> list[FieldDef]:
    """The fields the condition picker offers."""
    return [f for f in obj.fields if f.type not in NOT_PICKED]


def listed(rt: Platform, key: str, name: str) -> list[dict[str, Any]]:
    """The rules whose `key` ("roles" or "teams") names `name`, with their object, condition,
    access and people in words."""
    with rt.read() as conn:
        snap = rt.snapshot(conn)
    role_labels = {r["api_name"]: r["label"] for r in rt.users.roles.list(rt.snapshot)}
    team_labels = {t["api_name"]: t["label"] for t in rt.users.teams.list()}
    out = []
    for obj in sorted(snap.objects.values(), key=lambda o: o.label.casefold()):
        for rule in obj.doc.get("sharing_rules") or []:
            if name not in (rule.get(key) or []):
                continue
            whom = [role_labels.get(r, r) for r in rule.get("roles") or []]
            whom += [f"team {team_labels.get(t, t)}" for t in rule.get("teams") or []]
            out.append({"object": obj, "name": rule["name"], "label": rule.get("label") or rule["name"],
                        "condition": rule["condition"], "access": ACCESS.get(rule["access"], rule["access"]),
                        "whom": whom, "active": rule.get("active", True)})
    return out


def picker(rt: Platform, chosen: str | None) -> dict[str, Any]:
    """What the add-a-rule form offers: the objects, and for the chosen one its fields and
    the operators of the condition picker."""
    with rt.read() as conn:
        snap = rt.snapshot(conn)
    objects = sorted(snap.objects.values(), key=lambda o: o.label.casefold())
    obj = snap.objects.get(chosen or "")
    return {"objects": objects, "chosen": obj, "fields": offered(obj) if obj else [], "operators": OPERATOR_LABELS,
            "role_choices": rt.users.roles.list(rt.snapshot), "team_choices": rt.users.teams.list()}


def add(rt: Platform, me: Actor, form: FormData) -> dict[str, Any]:
    """Add the rule the form describes to its object; returns the rule. Problems come as an
    InvalidInput whose fields are the form's inputs (label, field, op, value, formula,
    access, whom)."""
    with rt.read() as conn:
        obj = rt.snapshot(conn).objects.get(str(form.get("object") or ""))
    if obj is None:
        raise InvalidInput("Choose the object whose records the rule shares.",
                           [FieldProblem("object", "choose an object")])
    existing = copy.deepcopy(list(obj.doc.get("sharing_rules") or []))
    formula = str(form.get("formula") or "").strip()
    label = str(form.get("label") or "").strip()
    if not formula:
        fdef = obj.field(str(form.get("field") or ""))
        op, value = str(form.get("op") or ""), str(form.get("value") or "").strip()
        if fdef is None or fdef.type in NOT_PICKED:
            raise InvalidInput("Pick a field for the condition, or write a formula.",
                               [FieldProblem("field", "pick a field, or write a formula below")])
        try:
            formula = condition_formula(obj, {"field": fdef.api_name, "op": op, "value": value})
        except InvalidInput as error:
            raise InvalidInput(error.detail, [FieldProblem("value", p.message) for p in error.errors]) from None
        label = label or " ".join(part for part in (fdef.label, OPERATOR_LABELS.get(op, op), _shown(fdef, value))
                                  if part)
    label = (label or f"Where {formula}")[:200]
    taken = {r.get("name") for r in existing}
    base = api_name(label) or "shared"
    name = next(n for n in (base if i == 1 else f"{base[:58]}_{i}" for i in range(1, 10_000)) if n not in taken)
    rule: dict[str, Any] = {"name": name, "label": label, "condition": formula,
                            "access": str(form.get("access") or "read")}
    for key in ("roles", "teams"):
        if chosen := [str(v) for v in form.getlist(key) if str(v)]:
            rule[key] = chosen
    index = len(existing)
    try:
        rt.metadata.update_object(me, obj.api_name, {"sharing_rules": [*existing, rule]})
    except InvalidInput as error:
        inputs = {f"/sharing_rules/{name}/condition": "formula", f"/sharing_rules/{index}/condition": "formula",
                  f"/sharing_rules/{name}": "whom", f"/sharing_rules/{index}": "whom",
                  f"/sharing_rules/{index}/access": "access", f"/sharing_rules/{index}/label": "label",
                  f"/sharing_rules/{index}/roles": "whom", f"/sharing_rules/{index}/teams": "whom",
                  "/sharing_rules": "label"}
        found = problems(error, lambda pointer: inputs.get(pointer, "form" if pointer.startswith("/sharing") else None))
        raise InvalidInput(error.detail, [FieldProblem(k, m) for k, ms in found.items() for m in ms]) from None
    return rule


def remove(rt: Platform, me: Actor, object_name: str, rule_name: str) -> dict[str, Any]:
    """Take the rule off its object; returns it."""
    with rt.read() as conn:
        obj = rt.snapshot(conn).objects.get(object_name)
    rules = list(obj.doc.get("sharing_rules") or []) if obj is not None else []
    gone = next((r for r in rules if r.get("name") == rule_name), None)
    if obj is None or gone is None:
        raise NotFound("There is no such sharing rule; it may have been removed already.")
    rt.metadata.update_object(me, obj.api_name, {"sharing_rules": [r for r in rules if r is not gone]})
    return gone


def change(rt: Platform, me: Actor, action: str, form: FormData, show: Callable[..., HTMLResponse]) -> HTMLResponse:
    """Add a sharing rule (`share`) or remove one (`unshare`) from a role's or team's page,
    and `show` that page again with what happened (or the problems beside the picker)."""
    if action == "unshare":
        gone = remove(rt, me, str(form.get("object") or ""), str(form.get("rule") or ""))
        return show(flash={"kind": "ok", "text": f"Sharing rule “{gone.get('label') or gone['name']}” removed."})
    try:
        rule = add(rt, me, form)
    except InvalidInput as error:
        return show(status=error.status, share=str(form.get("object") or ""), share_values=values(form),
                    share_errors=by_input(error), flash={"kind": "error", "text": error.detail})
    return show(flash={"kind": "ok", "text": f"Sharing rule “{rule['label']}” added."})


def _shown(fdef: FieldDef, value: str) -> str:
    """A typed value as the rule's name shows it: an option by its label."""
    for option in fdef.props.get("options") or []:
        if value.casefold() in (str(option.get("value", "")).casefold(), str(option.get("label") or "").casefold()):
            return str(option.get("label") or option.get("value"))
    return value


def values(form: FormData) -> dict[str, Any]:
    """What the add-a-rule form held, to show it again with its problems."""
    return {**{k: str(form.get(k) or "") for k in ("label", "field", "op", "value", "formula", "access")},
            "roles": [str(v) for v in form.getlist("roles")], "teams": [str(v) for v in form.getlist("teams")]}


def by_input(error: InvalidInput) -> dict[str, list[str]]:
    """The problems `add` raised, by the form's input."""
    out: dict[str, list[str]] = {}
    for problem in error.errors:
        out.setdefault(problem.field or "form", []).append(problem.message)
    return out
