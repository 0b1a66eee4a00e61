"""Dashboard filters at load time: the values a viewer chose (or the filters' defaults)
checked and made active, and each widget's share of them as one formula ANDed into its
report's filter, on the field each filter names for that widget's object.

    active = activate_filters(doc, {"period": "last_quarter", "owner": "me"}, today, user_id, team_members)
    widget_filter(schema, deal, widget, active)     # the quarter's close dates AND the viewer's deals
    compared_period(widget, active, "deal")         # the quarter before, for a KPI's comparison

Who is in a team is the caller's to say: `team_members(name)` gives the user ids of the
team's members, or None when there is no such team.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from tessera.errors import FieldProblem, InvalidInput
from tessera.formula import Schema
from tessera.meta.model import ObjectDef
from tessera.reports.dashboard import field_path, follows, formula_type, resolve_path
from tessera.reports.periods import Period, period

#: The user ids of a team's members by its api_name (None: there is no such team).
TeamMembers = Callable[[str], tuple[int, ...] | None]


@dataclass(frozen=True)
class ActiveFilter:
    """A dashboard filter with the value it has in this load."""

    spec: Mapping[str, Any]
    value: Any
    period: Period | None = None
    members: tuple[int, ...] = ()

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def type(self) -> str:
        return str(self.spec["type"])


def activate_filters(doc: Mapping[str, Any], given: Mapping[str, Any], today: date, user_id: int | None,
                     team_members: TeamMembers) -> list[ActiveFilter]:
    """The dashboard's filters that have a value: `given` maps filter names to values as
    typed in an address (missing: the filter's default). `user_id` is who "me" is. Raises
    InvalidInput naming every filter (`filter.<name>`) whose value does not fit, and every
    name the dashboard has no filter for."""
    known = {f["name"]: f for f in doc.get("filters") or []}
    unknown = sorted(set(given) - set(known))
    problems = [FieldProblem(f"filter.{n}", "the dashboard has no such filter", "unknown_name") for n in unknown]
    active: list[ActiveFilter] = []
    for name, spec in known.items():
        value = given[name] if name in given else spec.get("default")
        if value is None or value == "":
            continue
        try:
            active.append(_activate(spec, value, today, user_id, team_members))
        except ValueError as error:
            problems.append(FieldProblem(f"filter.{name}", str(error)))
    if problems:
        raise InvalidInput("The dashboard's filter values are not valid.", problems)
    return active


def _activate(spec: Mapping[str, Any], value: Any, today: date, user_id: int | None,
              team_members: TeamMembers) -> ActiveFilter:
    kind = spec["type"]
    if kind == "date_range":
        found = period(value, today)
        return ActiveFilter(spec, found.text() if found else "all", found)
    if kind == "owner":
        if value == "me":
            if user_id is None:
                raise ValueError('"me" needs a signed-in user')
            return ActiveFilter(spec, "me", members=(user_id,))
        text = str(value)
        if not text.isdigit():
            raise ValueError(f'{text!r} is not a user id (or "me")')
        return ActiveFilter(spec, int(text), members=(int(text),))
    if kind == "team":
        members = team_members(str(value))
        if members is None:
            raise ValueError(f"there is no team named {value!r}")
        return ActiveFilter(spec, str(value), members=members)
    return ActiveFilter(spec, value)


def field_choices(schema: Schema, spec: Mapping[str, Any], object_names: Iterable[str]) -> list[dict[str, Any]]:
    """The values a `field` filter offers: the options of the first select field it names
    (or Yes/No for a checkbox); nothing for a field typed in. A filter naming one field for
    every object looks for it on each of `object_names` in turn."""
    given = spec.get("field")
    pairs = list(given.items()) if isinstance(given, Mapping) else [(o, given) for o in object_names]
    for object_name, path in pairs:
        obj = schema.object(object_name)
        fdef = resolve_path(schema, obj, str(path)) if obj is not None else None
        if fdef is not None and fdef.props.get("options"):
            return [{"value": o["value"], "label": o.get("label") or o["value"]} for o in fdef.props["options"]]
        if fdef is not None and fdef.type == "boolean":
            return [{"value": "true", "label": "Yes"}, {"value": "false", "label": "No"}]
    return []


# -- filters as formulas ------------------------------------------------------------------

def filter_condition(schema: Schema, obj: ObjectDef, filt: ActiveFilter, at: Period | None = None) -> str | None:
    """The formula a filter adds to a widget on `obj` (None: it leaves the widget alone);
    `at` replaces a date range's own period."""
    path = field_path(filt.spec, obj.api_name)
    if path is None:
        return None
    fdef = resolve_path(schema, obj, path)
    if fdef is None:
        raise InvalidInput(f"The filter {filt.name!r} narrows {path!r}, which {obj.label} does not have.",
                           [FieldProblem(f"filter.{filt.name}", f"{obj.label} has no field {path!r}",
                                         "unknown_field")])
    kind = formula_type(fdef)
    if filt.type == "date_range":
        span = at or filt.period
        if span is None:
            return None
        subject = f"DATEVALUE({path})" if kind == "datetime" else path
        parts = ([f"{subject} >= {_date(span.start)}"] if span.start else []) + (
            [f"{subject} <= {_date(span.end)}"] if span.end else [])
        return " AND ".join(parts) or None
    if filt.type in ("owner", "team"):
        if not filt.members:
            return "FALSE"
        return "(" + " OR ".join(f"{path}.id = {m}" for m in filt.members) + ")"
    return _equals(path, kind, filt.value, filt.name)


def widget_filter(schema: Schema, obj: ObjectDef, widget: Mapping[str, Any], active: list[ActiveFilter],
                  at: Period | None = None) -> str | None:
    """The dashboard filters of one widget as one formula (None: nothing to narrow);
    `at` replaces the date range (the previous period of a KPI)."""
    parts = []
    for filt in active:
        if not follows(widget, filt.spec):
            continue
        found = filter_condition(schema, obj, filt, at if filt.type == "date_range" else None)
        if found:
            parts.append(found)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else " AND ".join(f"({p})" for p in parts)


def compared_period(widget: Mapping[str, Any], active: list[ActiveFilter], object_name: str) -> Period | None:
    """The period a KPI compares with: the one before the dashboard's date range that
    narrows this widget (a calendar unit for presets, else its own length); None without."""
    ranged = next((f for f in active if f.type == "date_range" and f.period is not None and follows(widget, f.spec)
                   and field_path(f.spec, object_name)), None)
    return ranged.period.previous() if ranged is not None and ranged.period is not None else None


def _date(day: date | None) -> str:
    assert day is not None
    return f"DATE({day.year}, {day.month}, {day.day})"


def _text(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


def _equals(path: str, kind: str, value: Any, name: str) -> str:
    """`path = value` with the value written as a literal of the field's formula type."""
    text = str(value).strip()
    if kind in ("number", "duration"):
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise InvalidInput(f"The filter {name!r} needs a number.",
                               [FieldProblem(f"filter.{name}", f"{text!r} is not a number")]) from None
        return f"{path} = {format(number, 'f')}" if kind == "number" else f"SECONDS({path}) = {int(number)}"
    if kind == "boolean":
        truth = text.lower() in ("true", "yes", "1")
        return path if truth else f"NOT({path})"
    if kind in ("record", "user"):
        if not text.isdigit():
            raise InvalidInput(f"The filter {name!r} needs a record id.",
                               [FieldProblem(f"filter.{name}", f"{text!r} is not a record id")])
        return f"{path}.id = {int(text)}"
    if kind == "date":
        try:
            return f"{path} = {_date(date.fromisoformat(text))}"
        except ValueError:
            raise InvalidInput(f"The filter {name!r} needs a date.",
                               [FieldProblem(f"filter.{name}", f"{text!r} is not a date (YYYY-MM-DD)")]) from None
    return f"{path} = {_text(text)}"
