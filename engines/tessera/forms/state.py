"""Which placements of a form are visible, required and read-only for the values at hand.

The caller evaluates formulas (it has the database for lookups and the acting user); this
module only decides what their results mean. A condition is met when its formula gives
TRUE; BLANK or FALSE is not met. A condition that cannot run at all (the metadata changed
under it) shows the field and does not require it, and is listed in `broken`, so a broken
form never hides data or blocks a save.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tessera.forms.layout import Form
from tessera.forms.lines import placeable
from tessera.formula import FormulaError
from tessera.meta.model import ObjectDef

#: evaluate(formula source, record values) → the formula's value; raises FormulaError
#: when the formula cannot be checked or run.
Evaluate = Callable[[str, Mapping[str, Any]], Any]


@dataclass(frozen=True)
class FieldState:
    visible: bool
    required: bool
    read_only: bool

    def as_json(self) -> dict[str, bool]:
        return {"visible": self.visible, "required": self.required, "read_only": self.read_only}


@dataclass(frozen=True)
class FormState:
    """Per placed field (by api_name) its state; per button whether it shows."""

    fields: dict[str, FieldState]
    buttons: dict[str, bool]
    #: Paths of conditions that could not run.
    broken: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "fields": {name: s.as_json() for name, s in self.fields.items()},
            "buttons": dict(self.buttons),
            "broken": list(self.broken),
        }


def state(form: Form, obj: ObjectDef, record: Mapping[str, Any], evaluate: Evaluate, *,
          hidden: frozenset[str] = frozenset(), locked: frozenset[str] = frozenset()) -> FormState:
    """The state of every placement for `record` (the values as they are now, stored and
    typed in). `hidden` fields (the user may not see them) are left out altogether;
    `locked` ones (the user may not change them) are read-only."""
    broken: list[str] = []

    def met(source: str | None, path: str, if_broken: bool) -> bool:
        if not source:
            return True
        try:
            return evaluate(source, record) is True
        except FormulaError:
            broken.append(path)
            return if_broken

    fields: dict[str, FieldState] = {}
    for p in form.placements:
        fdef = placeable(obj, p.field)
        if fdef is None or p.field in hidden or p.field in fields:
            continue  # a field deleted since the form was saved, or one this user may not see
        visible = met(p.visible_if, f"{p.path}/visible_if", True)
        read_only = p.read_only or fdef.read_only or p.field in locked
        required = visible and not read_only and (
            p.required or fdef.required or (bool(p.required_if) and met(p.required_if, f"{p.path}/required_if",
                                                                        False)))
        fields[p.field] = FieldState(visible, required, read_only)
    buttons = {b.name: met(b.visible_if, f"{b.path}/visible_if", True) for b in form.buttons}
    return FormState(fields, buttons, tuple(broken))


def applies(form: Form, record: Mapping[str, Any], evaluate: Evaluate, roles: frozenset[str]) -> bool:
    """Whether the form is meant for a user with `roles` and this record."""
    if form.roles and not roles & set(form.roles):
        return False
    if not form.applies_if:
        return True
    try:
        return evaluate(form.applies_if, record) is True
    except FormulaError:
        return False


def choose(forms: list[Form], record: Mapping[str, Any], evaluate: Evaluate,
           roles: frozenset[str] = frozenset()) -> Form | None:
    """The form for a user and record: the first by priority (then name) whose roles and
    `applies_if` fit, default forms last; None when none fits (use the generated form)."""
    return next((f for f in _in_order(forms) if applies(f, record, evaluate, roles)), None)


def chosen_ahead(forms: list[Form], roles: frozenset[str] = frozenset()) -> Form | None:
    """The form `choose` gives a user with `roles` whatever the record, before it is read:
    None when that depends on the record (a form with `applies_if` comes first for them) or
    when no form fits."""
    for form in _in_order(forms):
        if form.roles and not roles & set(form.roles):
            continue
        return None if form.applies_if else form
    return None


def _in_order(forms: list[Form]) -> list[Form]:
    """Forms in the order `choose` tries them."""
    return sorted(forms, key=lambda f: (f.default, f.priority, f.api_name or ""))
