"""The layout of a form: tabs, sections, columns and field placements, parsed once from a
`forms` document (or generated from an object's fields when it has no form).

Every part remembers its JSON pointer in the document, so a problem found later (a field
that does not exist, a condition that does not check) points at the place to fix, and the
dependency graph can name where a form uses a field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from tessera.meta.model import ObjectDef

#: Rows a related list shows unless the form says otherwise.
RELATED_LIMIT = 10
#: Entries a timeline shows unless the form says otherwise.
TIMELINE_LIMIT = 20


@dataclass(frozen=True)
class Placement:
    """One field placed on a form, with what this form says about it."""

    field: str
    path: str
    label: str | None = None
    help: str | None = None
    read_only: bool = False
    required: bool = False
    visible_if: str | None = None
    required_if: str | None = None
    #: Whether the placement gives a `default` value (which may be null).
    has_default: bool = False
    default: Any = None
    default_formula: str | None = None
    #: For line items (a `child_table` field): the child's fields shown as the grid's
    #: columns, in order (empty: the field's own choice, else every field of the child).
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Column:
    placements: tuple[Placement, ...]


@dataclass(frozen=True)
class RelatedList:
    """The child records of a record, through a lookup's `related_name` (`relation`)."""

    relation: str
    columns: tuple[str, ...]
    path: str
    sort: str | None = None
    descending: bool = False
    limit: int = RELATED_LIMIT

    @property
    def order(self) -> str | None:
        """The sort as the record list takes it (`-amount`)."""
        return None if self.sort is None else ("-" if self.descending else "") + self.sort


@dataclass(frozen=True)
class TimelineSource:
    """One relation whose records a timeline shows, ordered by `date` (a date or date-time
    field of the child; `created_at` unless the form says), with `columns` beside each."""

    relation: str
    path: str
    date: str = "created_at"
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Timeline:
    """The records of several relations merged into one list by their dates, newest first."""

    sources: tuple[TimelineSource, ...]
    path: str
    limit: int = TIMELINE_LIMIT


@dataclass(frozen=True)
class Section:
    """A titled group of placements in columns, a related list or a timeline."""

    label: str
    path: str
    columns: tuple[Column, ...] = ()
    related: RelatedList | None = None
    description: str | None = None
    timeline: Timeline | None = None


@dataclass(frozen=True)
class Tab:
    label: str
    path: str
    sections: tuple[Section, ...]


@dataclass(frozen=True)
class Button:
    """A button on the form that runs an action by name (what it does comes later)."""

    name: str
    label: str
    action: str
    path: str
    visible_if: str | None = None


@dataclass(frozen=True)
class Formula:
    """A formula in the document: where (`path`), about which field (`field`, or None for
    the form as a whole), and its role: `condition` (TRUE or not) or `default` (a value)."""

    path: str
    source: str
    role: str
    field: str | None = None


@dataclass(frozen=True)
class NameRef:
    """A place in the document naming an object, or a field of it. `follows_renames` is
    False where the place holds another name (a relation) and only depends on the field."""

    path: str
    object: str
    field: str | None = None
    follows_renames: bool = True


@dataclass(frozen=True, eq=False)
class Form:
    """A parsed form. `api_name` is None for a form generated from the object's fields."""

    label: str
    object: str
    tabs: tuple[Tab, ...]
    api_name: str | None = None
    #: Whether the document has tabs (rendered as a tab bar) or only sections.
    tabbed: bool = False
    buttons: tuple[Button, ...] = ()
    roles: tuple[str, ...] = ()
    applies_if: str | None = None
    priority: int = 0
    default: bool = False
    doc: Mapping[str, Any] = field(default_factory=dict)

    @property
    def generated(self) -> bool:
        return self.api_name is None

    @cached_property
    def sections(self) -> tuple[Section, ...]:
        return tuple(s for tab in self.tabs for s in tab.sections)

    @cached_property
    def placements(self) -> tuple[Placement, ...]:
        """Every placement, in reading order (tab, section, column, top to bottom)."""
        return tuple(p for s in self.sections for c in s.columns for p in c.placements)

    @cached_property
    def _by_field(self) -> dict[str, Placement]:
        found: dict[str, Placement] = {}
        for placement in self.placements:
            found.setdefault(placement.field, placement)
        return found

    def placement(self, field_name: str) -> Placement | None:
        return self._by_field.get(field_name)

    @property
    def related_lists(self) -> tuple[RelatedList, ...]:
        return tuple(s.related for s in self.sections if s.related is not None)

    @property
    def timelines(self) -> tuple[Timeline, ...]:
        return tuple(s.timeline for s in self.sections if s.timeline is not None)

    @property
    def relations_used(self) -> tuple[tuple[str, str, tuple[str, ...], str | None], ...]:
        """Every relation a related list or timeline names: (relation, its path, the child's
        fields named there with their paths' tails, the sort or date field)."""
        out: list[tuple[str, str, tuple[str, ...], str | None]] = []
        for related in self.related_lists:
            out.append((related.relation, related.path, related.columns, related.sort))
        for timeline in self.timelines:
            for source in timeline.sources:
                out.append((source.relation, source.path, source.columns, source.date))
        return tuple(out)

    def formulas(self) -> list[Formula]:
        """Every formula of the form, with its path."""
        out: list[Formula] = []
        if self.applies_if:
            out.append(Formula("/applies_if", self.applies_if, "condition"))
        for p in self.placements:
            for key in ("visible_if", "required_if"):
                source = getattr(p, key)
                if source:
                    out.append(Formula(f"{p.path}/{key}", source, "condition", p.field))
            if p.default_formula:
                out.append(Formula(f"{p.path}/default_formula", p.default_formula, "default", p.field))
        for button in self.buttons:
            if button.visible_if:
                out.append(Formula(f"{button.path}/visible_if", button.visible_if, "condition"))
        return out

    def names(self, children: Mapping[str, Any] | None = None,
              lines: Mapping[str, str] | None = None) -> list[NameRef]:
        """The objects and fields the form names. `children` maps a relation to its
        (child object, lookup field) — for a path of relations (`opportunities.quotes`), to
        the list of those pairs, hop by hop; relations not in it name nothing. `lines` maps
        a line field to its child object, whose fields a placement's `columns` name."""
        out = [NameRef("/object", self.object)]
        out += [NameRef(f"{p.path}/field", self.object, p.field) for p in self.placements]
        for p in self.placements:
            child_object = (lines or {}).get(p.field)
            if child_object is not None:
                out += [NameRef(f"{p.path}/columns/{i}", child_object, name) for i, name in enumerate(p.columns)]
        for relation, path, shown, order in self.relations_used:
            child = (children or {}).get(relation)
            if not child:
                continue
            hops = [child] if isinstance(child, tuple) else list(child)
            for child_object, lookup in hops:
                out.append(NameRef(f"{path}/relation", child_object, lookup, follows_renames=False))
            child_object = hops[-1][0]
            out += [NameRef(f"{path}/columns/{i}", child_object, name) for i, name in enumerate(shown)]
            if order and order not in ("id", "created_at", "updated_at"):
                key = "sort" if path.endswith("/related") else "date"
                out.append(NameRef(f"{path}/{key}", child_object, order))
        return out


def parse(doc: Mapping[str, Any]) -> Form:
    """A Form from a `forms` document that passed its JSON Schema."""
    tabbed = "tabs" in doc
    if tabbed:
        tabs = tuple(
            Tab(str(tab.get("label", "")), f"/tabs/{t}",
                tuple(_section(s, f"/tabs/{t}/sections/{i}") for i, s in enumerate(tab.get("sections", []))))
            for t, tab in enumerate(doc.get("tabs", []))
        )
    else:
        sections = tuple(_section(s, f"/sections/{i}") for i, s in enumerate(doc.get("sections", [])))
        tabs = (Tab(str(doc.get("label", "")), "", sections),)
    buttons = tuple(
        Button(str(b.get("name") or b["action"]), str(b["label"]), str(b["action"]), f"/buttons/{i}",
               b.get("visible_if"))
        for i, b in enumerate(doc.get("buttons", []))
    )
    return Form(
        label=str(doc.get("label") or doc.get("api_name") or ""), object=str(doc["object"]), tabs=tabs,
        api_name=str(doc["api_name"]), tabbed=tabbed, buttons=buttons, roles=tuple(doc.get("roles", ())),
        applies_if=doc.get("applies_if"), priority=int(doc.get("priority", 0)), default=bool(doc.get("default")),
        doc=doc,
    )


def _timeline(doc: Mapping[str, Any] | None, path: str) -> Timeline | None:
    if doc is None:
        return None
    sources = []
    for i, item in enumerate(doc.get("relations", [])):
        spec = {"relation": item} if isinstance(item, str) else item
        sources.append(TimelineSource(str(spec["relation"]), f"{path}/relations/{i}",
                                      str(spec.get("date") or "created_at"), tuple(spec.get("columns", ()))))
    return Timeline(tuple(sources), path, int(doc.get("limit", TIMELINE_LIMIT)))


def _section(doc: Mapping[str, Any], path: str) -> Section:
    related = doc.get("related")
    return Section(
        timeline=_timeline(doc.get("timeline"), f"{path}/timeline"),
        label=str(doc.get("label", "")), path=path, description=doc.get("description"),
        columns=tuple(
            Column(tuple(_placement(p, f"{path}/columns/{c}/fields/{i}") for i, p in enumerate(col.get("fields", []))))
            for c, col in enumerate(doc.get("columns", []))
        ),
        related=None if related is None else RelatedList(
            relation=str(related["relation"]), columns=tuple(related.get("columns", ())),
            path=f"{path}/related", sort=related.get("sort"), descending=bool(related.get("descending")),
            limit=int(related.get("limit", RELATED_LIMIT)),
        ),
    )


def _placement(doc: Mapping[str, Any], path: str) -> Placement:
    return Placement(
        field=str(doc["field"]), path=path, label=doc.get("label"), help=doc.get("help"),
        read_only=bool(doc.get("read_only")), required=bool(doc.get("required")),
        visible_if=doc.get("visible_if"), required_if=doc.get("required_if"),
        has_default="default" in doc, default=doc.get("default"), default_formula=doc.get("default_formula"),
        columns=tuple(str(c) for c in doc.get("columns", ())),
    )


def generated_document(obj: ObjectDef, hidden: Iterable[str] = ()) -> dict[str, Any]:
    """A form document placing every field in one section, to start a designed form from;
    each line-items field in a section of its own after it (a grid takes the full width)."""
    left_out = set(hidden)
    name = obj.api_name[:58] + "_form"
    sections: list[dict[str, Any]] = [
        {"label": obj.label, "columns": [{"fields": [{"field": f.api_name} for f in obj.fields
                                                      if f.api_name not in left_out and not f.deprecated]}]}]
    sections += [{"columns": [{"fields": [{"field": f.api_name}]}]}
                 for f in obj.line_fields if f.api_name not in left_out]
    return {"api_name": name, "label": obj.label, "object": obj.api_name, "sections": sections}


def generated(obj: ObjectDef, hidden: Iterable[str] = ()) -> Form:
    """The form of an object that has none: every field, in the object's order (but those a
    package deprecated), then each line-items field in a section of its own."""
    left_out = set(hidden)
    placements = tuple(
        Placement(f.api_name, f"/sections/0/columns/0/fields/{i}")
        for i, f in enumerate(f for f in obj.fields if f.api_name not in left_out and not f.deprecated)
    )
    sections = [Section(obj.label, "/sections/0", (Column(placements),))]
    for f in obj.line_fields:
        if f.api_name not in left_out:
            path = f"/sections/{len(sections)}"
            sections.append(Section("", path, (Column((Placement(f.api_name, f"{path}/columns/0/fields/0"),)),)))
    return Form(label=obj.label, object=obj.api_name, tabs=(Tab(obj.label, "", tuple(sections)),))
