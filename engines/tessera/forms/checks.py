"""What is wrong with a form document, measured against the metadata it names.

The document's JSON Schema has passed already; these are the checks a schema cannot make:
the object and fields exist, no field is placed twice, defaults are valid values, related
lists name a real relation and its fields. Every problem carries the JSON pointer of the
place to fix. Formulas are type-checked by the caller, which owns the formula cache.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from tessera.errors import FieldProblem
from tessera.forms.layout import Form, Placement, Section, parse
from tessera.forms.lines import MOST_COLUMNS, choosable, placeable
from tessera.formula import Schema
from tessera.meta.fieldtypes import FieldValueError
from tessera.meta.model import FieldDef, ObjectDef

#: Formula types a default formula can be checked against (others are checked untyped).
EXPECTABLE = ("text", "number", "boolean", "date", "datetime", "duration", "list", "record")
#: Columns every record has that a related list may sort by.
SORTABLE_SYSTEM = ("id", "created_at", "updated_at")


def form_problems(doc: Mapping[str, Any], schema: Schema) -> list[FieldProblem]:
    """Every problem of a schema-valid form document, all at once."""
    problems: list[FieldProblem] = []
    if "tabs" in doc and "sections" in doc:
        problems.append(FieldProblem("/sections", "a form has tabs or sections, not both"))
    elif "tabs" not in doc and "sections" not in doc:
        problems.append(FieldProblem("/sections", "a form needs tabs or sections to place its fields in"))
    for path, section in _sections(doc):
        if sum(key in section for key in ("columns", "related", "timeline")) != 1:
            problems.append(FieldProblem(path, "a section has either columns of fields, a related list or a "
                                               "timeline"))
    if problems:
        return problems
    form = parse(doc)
    obj = schema.object(form.object)
    if obj is None:
        return [FieldProblem("/object", f"there is no object named {form.object!r}", "unknown_object")]
    seen: dict[str, str] = {}
    for placement in form.placements:
        problems += _placement_problems(obj, placement, seen)
    for section in form.sections:
        problems += _line_problems(obj, section, schema)
    for related in form.related_lists:
        hops = relation_path(obj, schema, related.relation)
        if isinstance(hops, str):
            problems.append(FieldProblem(f"{related.path}/relation", hops, "unknown_relation"))
            continue
        child_obj = hops[-1][0]
        for index, name in enumerate(related.columns):
            if child_obj.field(name) is None:
                problems.append(_unknown_field(f"{related.path}/columns/{index}", child_obj, name))
        if related.sort and related.sort not in SORTABLE_SYSTEM and child_obj.field(related.sort) is None:
            problems.append(_unknown_field(f"{related.path}/sort", child_obj, related.sort))
    for timeline in form.timelines:
        for source in timeline.sources:
            where = source.path if isinstance(_source_doc(doc, source.path), str) else f"{source.path}/relation"
            hops = relation_path(obj, schema, source.relation)
            if isinstance(hops, str):
                problems.append(FieldProblem(where, hops, "unknown_relation"))
                continue
            child_obj = hops[-1][0]
            for index, name in enumerate(source.columns):
                if child_obj.field(name) is None:
                    problems.append(_unknown_field(f"{source.path}/columns/{index}", child_obj, name))
            if source.date not in SORTABLE_SYSTEM:
                dated = child_obj.field(source.date)
                if dated is None:
                    problems.append(_unknown_field(f"{source.path}/date", child_obj, source.date))
                elif (dated.props.get("formula_type") or dated.ftype.formula_type) not in ("date", "datetime"):
                    problems.append(FieldProblem(f"{source.path}/date", f"{dated.label} is no date: a timeline "
                                                 "orders records by a date or date-time field", "not_a_date"))
    names: dict[str, int] = {}
    for index, button in enumerate(form.buttons):
        if button.name in names:
            problems.append(FieldProblem(f"/buttons/{index}/name",
                                         f"another button is already named {button.name!r}"))
        names.setdefault(button.name, index)
    return problems


def formula_expectations(form: Form, obj: ObjectDef) -> list[tuple[str, str, str | None]]:
    """(path, source, expected type) of every formula of the form, for type-checking:
    conditions are boolean, a default formula has its field's type."""
    out: list[tuple[str, str, str | None]] = []
    for formula in form.formulas():
        expect: str | None = "boolean"
        if formula.role == "default":
            fdef = obj.field(formula.field or "")
            if fdef is None:
                continue  # reported as an unknown field
            expect = fdef.ftype.formula_type if fdef.ftype.formula_type in EXPECTABLE else None
        out.append((formula.path, formula.source, expect))
    return out


def relations(obj: ObjectDef, schema: Schema) -> dict[str, tuple[ObjectDef, FieldDef]]:
    """The related lists an object has: relation name → (child object, its lookup)."""
    return {
        str(lookup.props["related_name"]): (child, lookup)
        for child, lookup in schema.children(obj) if lookup.props.get("related_name")
    }


def relation_path(obj: ObjectDef, schema: Schema, relation: str) -> list[tuple[ObjectDef, FieldDef]] | str:
    """The hops of a relation from `obj`: `contacts` is one (the contacts whose lookup
    points here), `opportunities.quotes` two (the quotes of the record's opportunities);
    each hop is (the child object, its lookup to the object before). A problem in words
    when a name is no relation of the object it is reached from."""
    hops: list[tuple[ObjectDef, FieldDef]] = []
    current = obj
    for name in relation.split("."):
        children = relations(current, schema)
        found = children.get(name)
        if found is None:
            known = ", ".join(sorted(children)) or "none"
            return f"{current.label} has no related list named {name!r} (known: {known})"
        hops.append(found)
        current = found[0]
    return hops


def relation_filter(hops: list[tuple[ObjectDef, FieldDef]], record_id: int) -> str:
    """The list filter, on the last hop's object, of the records a relation reaches from the
    record `record_id`: `opportunity.account.id = 7` for `opportunities.quotes`."""
    return relation_filter_head(hops) + str(int(record_id))


def relation_filter_head(hops: list[tuple[ObjectDef, FieldDef]]) -> str:
    """`relation_filter` but for the record's id, which follows it: `opportunity.account.id = `."""
    return ".".join(lookup.api_name for _child, lookup in reversed(hops)) + ".id = "


def _source_doc(doc: Mapping[str, Any], path: str) -> Any:
    found: Any = doc
    for part in path.strip("/").split("/"):
        found = found[int(part)] if isinstance(found, list) else found[part]
    return found


def _sections(doc: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    if "tabs" in doc:
        return [(f"/tabs/{t}/sections/{i}", s) for t, tab in enumerate(doc["tabs"])
                for i, s in enumerate(tab.get("sections", []))]
    return [(f"/sections/{i}", s) for i, s in enumerate(doc.get("sections", []))]


def _line_problems(obj: ObjectDef, section: Section, schema: Schema) -> list[FieldProblem]:
    """Line items take the whole width of their section, and show columns of their child."""
    problems: list[FieldProblem] = []
    for column in section.columns:
        for placement in column.placements:
            fdef = placeable(obj, placement.field)
            if fdef is None:
                continue
            if not fdef.ftype.lines:
                if placement.columns:
                    problems.append(FieldProblem(f"{placement.path}/columns", f"{fdef.label} is no line items "
                                                 "field: only line items have columns", "not_lines"))
                continue
            if len(section.columns) > 1:
                problems.append(FieldProblem(f"{placement.path}/field", f"{fdef.label} takes the full width of its "
                                             "section: place it in a section with one column", "full_width"))
            child = schema.object(str(fdef.props.get("target")))
            if child is None:
                continue  # the object's own checks report the missing child
            names = {f.api_name for f in choosable(child)}
            for index, name in enumerate(placement.columns):
                if name in names:
                    continue
                path = f"{placement.path}/columns/{index}"
                added = child.field(name)
                if added is not None:
                    problems.append(FieldProblem(path, f"{added.label} is kept by the platform and is no column "
                                                 "to choose", "system_field"))
                else:
                    problems.append(_unknown_field(path, child, name))
            if len(placement.columns) > MOST_COLUMNS:
                problems.append(FieldProblem(f"{placement.path}/columns", f"at most {MOST_COLUMNS} columns"))
    return problems


def _placement_problems(obj: ObjectDef, placement: Placement, seen: dict[str, str]) -> list[FieldProblem]:
    fdef = placeable(obj, placement.field)
    if fdef is None:
        return [_unknown_field(f"{placement.path}/field", obj, placement.field)]
    if placement.field in seen:
        return [FieldProblem(f"{placement.path}/field", f"{placement.field!r} is placed twice on this form "
                             f"(first at {seen[placement.field]})", "duplicate")]
    seen[placement.field] = placement.path
    problems: list[FieldProblem] = []
    fixed = fdef.ftype.computed or fdef.ftype.system_generated
    if fixed and (placement.required or placement.required_if):
        key = "required" if placement.required else "required_if"
        problems.append(FieldProblem(f"{placement.path}/{key}",
                                     f"{fdef.label} is set by the platform and cannot be required"))
    if placement.has_default and placement.default_formula:
        problems.append(FieldProblem(f"{placement.path}/default_formula",
                                     "give a default value or a default formula, not both"))
    elif fixed and (placement.has_default or placement.default_formula):
        key = "default" if placement.has_default else "default_formula"
        problems.append(FieldProblem(f"{placement.path}/{key}", f"{fdef.label} is set by the platform"))
    elif placement.has_default and placement.default is not None:
        if not fdef.ftype.takes_default:
            problems.append(FieldProblem(f"{placement.path}/default", f"a {fdef.type} field cannot have a default"))
        elif message := value_problem(fdef, placement.default):
            problems.append(FieldProblem(f"{placement.path}/default", message))
    return problems


def value_problem(fdef: FieldDef, value: Any) -> str | None:
    """Why `value` is no valid input for the field (coercion and constraints), or None."""
    try:
        coerced = fdef.ftype.coerce(fdef, value)
        return None if coerced is None else fdef.ftype.check(fdef, coerced)
    except FieldValueError as error:
        return str(error)
    except (ValueError, TypeError, ArithmeticError):
        return f"is not a valid {fdef.ftype.label.lower()} value"


def _unknown_field(path: str, obj: ObjectDef, name: str) -> FieldProblem:
    close = difflib.get_close_matches(name, [f.api_name for f in (*obj.fields, *obj.line_fields)], n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return FieldProblem(path, f"{obj.label} has no field named {name!r}{hint}", "unknown_field")
