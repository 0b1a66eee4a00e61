"""Server-side checks of what a user submits through a form, before the save pipeline.

A form may only write what it shows as writable: a field not on the form, hidden by a
condition, or read-only there is refused, each with its own problem. Values are coerced as
the save pipeline will coerce them (so the messages are the same), and the form's own
required and `required_if` rules are applied to the record as it would be after the save.
The caller then saves through the pipeline, where the object's rules and permissions apply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tessera.errors import FieldProblem
from tessera.forms.layout import Form
from tessera.forms.lines import placeable
from tessera.forms.state import FormState
from tessera.meta.fieldtypes import FieldValueError
from tessera.meta.model import ObjectDef


def posted_values(obj: ObjectDef, items: Iterable[tuple[str, str]]) -> tuple[dict[str, Any], list[FieldProblem]]:
    """An HTML form post — (name, text) pairs, several for some widgets — read back through
    each field type's `widget_value` into API values, and a problem per value it cannot
    read. Names that are no field are kept as they came (the form's checks refuse them)."""
    grouped: dict[str, list[str]] = {}
    for name, text in items:
        grouped.setdefault(name, []).append(text)
    values: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for name, posted in grouped.items():
        fdef = placeable(obj, name)
        if fdef is None:
            values[name] = posted[-1]
            continue
        try:
            values[name] = fdef.ftype.widget_value(fdef, posted)
        except FieldValueError as error:
            problems.append(FieldProblem(name, str(error), "invalid_value"))
    return values, problems


def coerce_values(obj: ObjectDef, values: Mapping[str, Any]) -> tuple[dict[str, Any], list[FieldProblem]]:
    """The submitted values of `obj`'s writable fields as stored values, and a problem per
    value that does not fit its field. Other keys are left to `submission_problems`."""
    coerced: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for name, raw in values.items():
        fdef = placeable(obj, name)
        if fdef is None or fdef.read_only:
            continue
        try:
            value = fdef.ftype.coerce(fdef, raw)
            message = None if value is None else fdef.ftype.check(fdef, value)
        except FieldValueError as error:
            problems.append(FieldProblem(name, str(error), "invalid_value"))
            continue
        except (ValueError, TypeError, ArithmeticError):
            problems.append(FieldProblem(name, f"is not a valid {fdef.ftype.label.lower()} value", "invalid_value"))
            continue
        if message:
            problems.append(FieldProblem(name, message, "constraint"))
            continue
        coerced[name] = value
    return coerced, problems


def submission_problems(form: Form, obj: ObjectDef, values: Mapping[str, Any], state: FormState,
                        record: Mapping[str, Any], coercion: list[FieldProblem] | None = None) -> list[FieldProblem]:
    """Every reason the submission cannot be saved through this form, one per field.

    `state` is the form's state for `record`, the record as it would be after the save
    (stored values with the submitted ones over them); `coercion` the problems of
    `coerce_values`.
    """
    problems: dict[str, FieldProblem] = {}

    def add(name: str, message: str, code: str) -> None:
        problems.setdefault(name, FieldProblem(name, message, code))

    for name in values:
        placed = state.fields.get(name)
        if placed is None:
            add(name, f"is not on the form {form.label!r}", "not_on_form")
        elif not placed.visible:
            add(name, "is hidden on this form and cannot be written", "hidden")
        elif placed.read_only:
            add(name, "is read-only on this form", "read_only")
    for problem in coercion or ():
        problems.setdefault(problem.field, problem)
    for name, placed in state.fields.items():
        if not placed.required or name in problems:
            continue
        fdef = placeable(obj, name)
        if fdef is not None and fdef.ftype.is_blank(record.get(name)):
            add(name, "is required", "required")
    return list(problems.values())


def unchanged(state: FormState, values: Mapping[str, Any], stored: Mapping[str, Any]) -> set[str]:
    """Fields submitted though hidden or read-only on the form, with the value they have
    (`stored`, the record as the API returns it; blank for a new one): a page posting back
    an input it did not let the user change. They are dropped, not refused."""
    out: set[str] = set()
    for name, value in values.items():
        placed = state.fields.get(name)
        if placed is None or (placed.visible and not placed.read_only):
            continue
        current = stored.get(name)
        if value == current or (_blank(value) and _blank(current)):
            out.add(name)
    return out


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == []
