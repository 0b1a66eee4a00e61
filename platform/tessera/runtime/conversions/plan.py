"""A conversion document read against the metadata: which objects it makes, each field's
formula checked against what it may read, and the fields it fills by default.

Formulas of a conversion are formulas over the source record. The records made by earlier
targets are seen as lookups of the source named by the targets' keys: in the third target
`account.id` and `account.name` read the account the first target matched or created, as
`account.name` would read a lookup field. The object the formulas are checked against is
the source object with those lookups added (`reading`), so the formula engine type-checks
`contact.account.region` like any path, and at run time the keys are bound to the ids of
the records made — formulas never reach Python objects.

The same reading serves the save-time check (problems at their place in the document, like
`/targets/1/fields/name`) and the run (the plan the service follows).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tessera.errors import FieldProblem, formula_problem
from tessera.formula import Checked, FormulaError, Schema, check, parse
from tessera.formula.ast import Path, walk
from tessera.meta.model import SYSTEM_COLUMNS, FieldDef, ObjectDef
from tessera.runtime.records.plan import OWNER

#: What a formula's result may be written into, by the written field's formula type: a
#: lookup takes an id (a number) as well as a record, a date-time a date.
_ACCEPTS = {"record": ("record", "number"), "datetime": ("datetime", "date"), "duration": ("duration", "number")}
_KEY_UID = "conversion-key-"
_KEY_ID = re.compile(r"\s*([a-z][a-z0-9_]*)(?:\.id)?\s*")
#: Field types whose values a conversion never copies by default (files belong to their record).
_NOT_COPIED = ("attachment", "autonumber")
#: Other field types a field of a type takes by default, besides its own: (source, target).
_WIDENING = {("text", "long_text"), ("integer", "decimal"), ("integer", "currency"), ("decimal", "currency"),
             ("currency", "decimal")}
#: Formula results a stored field of these types takes by default (a formula field's value
#: copied into a plain field of the same kind).
_PLAIN = {"text": ("text", "long_text"), "number": ("decimal", "currency"), "date": ("date",),
          "datetime": ("datetime",), "boolean": ("boolean",)}


@dataclass(frozen=True)
class FieldMap:
    """One field a conversion writes: `formula` over `reads` gives its value. `path` is where
    the document says so (None: filled by default from the field of the same name or label)."""

    field: FieldDef
    formula: str
    path: str | None
    checked: Checked | None = None
    #: The key of an earlier target when the formula is just its id (`account.id`,
    #: `account`): the value is the id bound to the key, read without loading the record.
    key: str | None = None

    @property
    def default(self) -> bool:
        return self.path is None


@dataclass(frozen=True)
class LinesPlan:
    """Lines copied from the source's line-items field into the target's. `via`: the lines
    are those of the record a lookup of the source points at (`"from": "quote.lines"` copies
    the lines of the contract's quote), not the source's own."""

    source_field: FieldDef
    target_field: FieldDef
    source_child: ObjectDef
    target_child: ObjectDef
    fields: tuple[FieldMap, ...]
    via: FieldDef | None = None

    @property
    def computed_reads(self) -> list[FieldDef]:
        return computed_reads(self.source_child, self.fields)


@dataclass(frozen=True)
class TargetPlan:
    index: int
    key: str
    label: str
    obj: ObjectDef
    #: The source as this target's formulas read it: with the earlier targets' keys.
    reads: ObjectDef
    match: tuple[FieldMap, ...]
    create: bool
    fields: tuple[FieldMap, ...]
    lines: LinesPlan | None


@dataclass(frozen=True)
class Plan:
    uid: str
    api_name: str
    label: str
    button_label: str
    obj: ObjectDef
    when: Checked | None
    allow_again: bool
    targets: tuple[TargetPlan, ...]
    after: tuple[FieldMap, ...]
    #: The source with every target's key: what `after` reads.
    reads: ObjectDef

    @property
    def computed_reads(self) -> list[FieldDef]:
        """Computed fields of the source the formulas read (worked out in SQL at run time)."""
        maps = [*self.after, *(m for t in self.targets for m in (*t.match, *t.fields))]
        return computed_reads(self.obj, maps, [self.when])


def computed_reads(obj: ObjectDef, maps: Iterable[FieldMap], more: Iterable[Checked | None] = ()) -> list[FieldDef]:
    """The computed fields of `obj` that `maps` (and the formulas `more`) read: a record read
    from its table has none of them, so they are worked out in SQL beside it."""
    maps = list(maps)
    names: set[str] = set()
    for checked in [*more, *(m.checked for m in maps)]:
        for ref in checked.references if checked is not None else ():
            if ref.object.api_name == obj.api_name and ref.field.computed and not ref.field.stored:
                names.add(ref.field.api_name)
    names.update(m.formula for m in maps if m.default)  # a default reads its source field by name
    return [f for f in obj.fields if f.api_name in names and f.computed and not f.stored]


def reading(source: ObjectDef, made: Iterable[tuple[str, str, ObjectDef]]) -> ObjectDef:
    """The source object with a lookup per record made so far: (key, label, object)."""
    made = list(made)
    if not made:
        return source
    doc = dict(source.doc)
    doc["uid"] = source.uid + "".join(f"+{key}:{obj.uid}" for key, _label, obj in made)
    doc["fields"] = [*source.doc.get("fields", []), *(
        {"uid": f"{_KEY_UID}{key}", "api_name": key, "label": label, "type": "lookup",
         "target": obj.api_name} for key, label, obj in made)]
    return ObjectDef(doc, source.version)


def read(doc: Mapping[str, Any], schema: Schema) -> tuple[Plan | None, list[FieldProblem]]:
    """The plan of a document that passed its JSON Schema, or None and every problem."""
    problems: list[FieldProblem] = []
    source = schema.object(str(doc["object"]))
    if source is None:
        return None, [FieldProblem("/object", f"there is no object named {doc['object']!r}", "unknown_object")]
    when = None
    if doc.get("when"):
        when = _checked(doc["when"], source, schema, "/when", problems, "boolean")
    keys = [str(t["key"]) for t in doc["targets"]]
    targets: list[TargetPlan] = []
    made: list[tuple[str, str, ObjectDef]] = []
    for index, tdoc in enumerate(doc["targets"]):
        here = f"/targets/{index}"
        key = str(tdoc["key"])
        obj = schema.object(str(tdoc["object"]))
        if obj is None:
            problems.append(FieldProblem(f"{here}/object", f"there is no object named {tdoc['object']!r}",
                                         "unknown_object"))
        problems += _key_problems(key, keys[:index], source, f"{here}/key")
        reads = reading(source, made)
        later = {k: i for i, k in enumerate(keys) if i >= index}
        if obj is None:
            continue
        match = _maps(tdoc.get("match", {}), obj, reads, schema, f"{here}/match", later, problems)
        fields = _maps(tdoc.get("fields", {}), obj, reads, schema, f"{here}/fields", later, problems)
        lines = _lines(tdoc["lines"], source, obj, schema, f"{here}/lines", problems) if tdoc.get("lines") else None
        given = {m.field.api_name for m in (*match, *fields)}
        defaults = tuple(m for m in default_maps(obj, reads) if m.field.api_name not in given)
        label = str(tdoc.get("label") or obj.label)
        targets.append(TargetPlan(index, key, label, obj, reads, match, tdoc.get("create", True), fields + defaults,
                                  lines))
        made.append((key, label, obj))
    reads = reading(source, made)
    after = _maps(doc.get("after", {}), source, reads, schema, "/after", {}, problems)
    if problems:
        return None, problems
    return Plan(uid=str(doc.get("uid", "")), api_name=str(doc["api_name"]), label=str(doc["label"]),
                button_label=str(doc.get("button_label") or doc["label"]), obj=source, when=when,
                allow_again=bool(doc.get("allow_again", False)), targets=tuple(targets), after=after,
                reads=reads), []


def _is_key(fdef: FieldDef) -> bool:
    """Whether a field of the source as a target reads it is an earlier target's key."""
    return fdef.uid.startswith(_KEY_UID)


def _key_problems(key: str, earlier: list[str], source: ObjectDef, path: str) -> list[FieldProblem]:
    if key in earlier:
        return [FieldProblem(path, f"another target is keyed {key!r} already", "duplicate")]
    if source.field(key) is not None or key in SYSTEM_COLUMNS:
        return [FieldProblem(path, f"{source.label} has a field named {key!r}: formulas could not tell the two "
                             "apart; choose another key", "taken")]
    return []


def _checked(formula: str, reads: ObjectDef, schema: Schema, path: str, problems: list[FieldProblem],
             expect: str | None = None) -> Checked | None:
    try:
        checked = check(formula, reads, schema, expect)
    except FormulaError as error:
        problems.append(formula_problem(path, error))
        return None
    if checked.change_context:
        problems.append(FieldProblem(path, "a conversion takes the record as it is: ISNEW, ISCHANGED and PRIORVALUE "
                                     "have no meaning here", "formula"))
        return None
    return checked


def _maps(given: Mapping[str, str], obj: ObjectDef, reads: ObjectDef, schema: Schema, path: str,
          later: Mapping[str, int], problems: list[FieldProblem]) -> tuple[FieldMap, ...]:
    """The field maps a document gives for records of `obj`, checked."""
    out = []
    for name, formula in given.items():
        here = f"{path}/{name}"
        fdef = obj.field(name) or (OWNER if name == "owner" else None)  # the owner is set like a person field
        if fdef is None and obj.line_field(name) is not None:
            problems.append(FieldProblem(here, f"{name!r} holds line items: copy lines with \"lines\"", "lines"))
            continue
        if fdef is None:
            problems.append(FieldProblem(here, f"{obj.label} has no field {name!r}", "unknown_field"))
            continue
        if not writable(fdef):
            problems.append(FieldProblem(here, f"{fdef.label} is worked out by the platform and cannot be set",
                                         "read_only"))
            continue
        ahead = _later_keys(formula, later)
        if ahead:
            problems.append(FieldProblem(here, ahead, "later_target"))
            continue
        checked = _checked(formula, reads, schema, here, problems)
        if checked is not None and (mismatch := _mismatch(checked, fdef)):
            problems.append(FieldProblem(here, mismatch, "type"))
        found = _KEY_ID.fullmatch(formula)
        key = found.group(1) if found and (made := reads.field(found.group(1))) and _is_key(made) else None
        out.append(FieldMap(fdef, formula, here, checked, key))
    return tuple(out)


def _later_keys(formula: str, later: Mapping[str, int]) -> str | None:
    """Why a formula may not read a key: the record is made by this target or a later one."""
    if not later:
        return None
    try:
        tree = parse(formula)
    except FormulaError:
        return None  # the check says what is wrong with it
    for node in walk(tree):
        if isinstance(node, Path) and not node.context and node.parts and node.parts[0] in later:
            name = node.parts[0]
            if later[name] == min(later.values()):
                return f"{name!r} is this target's own record: a target's formulas read the records made before it"
            return (f"{name!r} is made by a later target (targets/{later[name]}): a target's formulas read only "
                    "the records made before it; move that target up")
    return None


def _mismatch(checked: Checked, fdef: FieldDef) -> str | None:
    wanted = result_type(fdef)
    got = checked.type
    if got == "blank" or wanted == "json" or got in _ACCEPTS.get(wanted, (wanted,)):
        return None
    return f"the formula gives {_article(got)}, but {fdef.label} takes {_article(wanted)}"


def _article(type_name: str) -> str:
    return f"{'an' if type_name[:1] in 'aeiou' else 'a'} {type_name}"


def result_type(fdef: FieldDef) -> str:
    """The formula type of a field's values (a formula field's: its result's)."""
    if fdef.computed:
        return str(fdef.props.get("formula_type") or "text")
    return str(fdef.ftype.formula_type)


def writable(fdef: FieldDef) -> bool:
    """Whether a conversion may write the field: stored, set by people, not line items."""
    return fdef.stored and not fdef.read_only and not fdef.ftype.lines and fdef.system is None


def compatible(source: FieldDef, target: FieldDef) -> bool:
    """Whether the source field's value fits the target field as it is (defaults only)."""
    if source.type in _NOT_COPIED or target.type in _NOT_COPIED or source.ftype.lines or source.system:
        return False
    if target.type in ("lookup", "user") or source.type in ("lookup", "user"):
        return source.type == target.type and source.props.get("target") == target.props.get("target")
    if source.type == target.type or (source.type, target.type) in _WIDENING:
        return True
    return source.computed and target.type in _PLAIN.get(result_type(source), ())


def default_maps(target: ObjectDef, reads: ObjectDef) -> list[FieldMap]:
    """Fields of `target` filled from the source's field of the same api_name, else of the
    same label (ignoring case), when their types are compatible."""
    by_label: dict[str, list[FieldDef]] = {}
    for fdef in reads.fields:
        by_label.setdefault(fdef.label.strip().lower(), []).append(fdef)
    out = []
    for fdef in target.fields:
        if not writable(fdef):
            continue
        same = reads.field(fdef.api_name)
        if same is not None and compatible(same, fdef):
            out.append(FieldMap(fdef, same.api_name, None))
            continue
        found = next((f for f in by_label.get(fdef.label.strip().lower(), []) if compatible(f, fdef)), None)
        if found is not None:
            out.append(FieldMap(fdef, found.api_name, None))
    return out


def line_source(source: ObjectDef, name: str,
                schema: Schema) -> tuple[FieldDef | None, ObjectDef, FieldDef | None, str]:
    """Where a conversion's `lines.from` reads lines: `(via, parent, field, problem)`. `name`
    is the source's line-items field (`lines`), or a lookup of the source and that record's
    line-items field (`quote.lines`): then `via` is the lookup and `parent` its object. A
    problem is said in words (field None)."""
    via = None
    parent = source
    if "." in name:
        first, _, rest = name.partition(".")
        via = source.field(first)
        if via is None or via.type != "lookup":
            return None, source, None, f"{source.label} has no lookup field {first!r} to read lines through"
        found = schema.object(str(via.props.get("target")))
        if found is None:
            return via, source, None, f"the object {via.props.get('target')!r} of {via.label} is missing"
        parent, name = found, rest
    fdef = parent.line_field(name)
    if fdef is None:
        return via, parent, None, f"{parent.label} has no line-items field {name!r}"
    return via, parent, fdef, ""


def _lines(ldoc: Mapping[str, Any], source: ObjectDef, target: ObjectDef, schema: Schema, path: str,
           problems: list[FieldProblem]) -> LinesPlan | None:
    ends = []
    via = None
    for key, obj in (("from", source), ("to", target)):
        if key == "from":
            via, _parent, fdef, why = line_source(source, str(ldoc[key]), schema)
        else:
            fdef = obj.line_field(str(ldoc[key]))
            why = f"{obj.label} has no line-items field {ldoc[key]!r}"
        if fdef is None:
            problems.append(FieldProblem(f"{path}/{key}", why, "unknown_field"))
            ends.append(None)
            continue
        child = schema.object(str(fdef.props.get("target")))
        if child is None:
            problems.append(FieldProblem(f"{path}/{key}", f"the lines' object {fdef.props.get('target')!r} is missing",
                                         "unknown_object"))
            ends.append(None)
            continue
        ends.append((fdef, child))
    if ends[0] is None or ends[1] is None:
        return None
    (source_field, source_child), (target_field, target_child) = ends
    fields = _maps(ldoc.get("fields", {}), target_child, source_child, schema, f"{path}/fields", {}, problems)
    given = {m.field.api_name for m in fields}
    defaults = tuple(m for m in default_maps(target_child, source_child) if m.field.api_name not in given)
    return LinesPlan(source_field, target_field, source_child, target_child, fields + defaults, via)


def plain_formulas(doc: Mapping[str, Any], schema: Schema) -> list[tuple[str, str, str, str | None]]:
    """(path, object, formula, expected type) of the document's formulas that read the source
    alone (or a source line), for the dependency graph: a field they read is renamed in them."""
    source = schema.object(str(doc.get("object")))
    if source is None:
        return []
    found: list[tuple[str, str, str, str | None]] = []
    if doc.get("when"):
        found.append(("/when", source.api_name, str(doc["when"]), "boolean"))
    for index, tdoc in enumerate(doc.get("targets", [])):
        for part in ("match", "fields"):
            found += [(f"/targets/{index}/{part}/{name}", source.api_name, formula, None)
                      for name, formula in tdoc.get(part, {}).items()]
        ldoc = tdoc.get("lines") or {}
        lines = line_source(source, str(ldoc.get("from")), schema)[2] if ldoc else None
        child = schema.object(str(lines.props.get("target"))) if lines is not None else None
        if child is not None:
            found += [(f"/targets/{index}/lines/fields/{name}", child.api_name, formula, None)
                      for name, formula in ldoc.get("fields", {}).items()]
    found += [(f"/after/{name}", source.api_name, formula, None) for name, formula in doc.get("after", {}).items()]
    out = []
    for path, object_name, formula, expect in found:
        obj = schema.object(object_name)
        try:
            if obj is not None:
                check(formula, obj, schema, expect)
                out.append((path, object_name, formula, expect))
        except FormulaError:
            continue  # reads a target's key, or is wrong (then the check reports it)
    return out


__all__ = ["FieldMap", "LinesPlan", "Plan", "TargetPlan", "compatible", "default_maps", "line_source",
           "plain_formulas", "read", "reading", "result_type", "writable"]
