"""Objects and fields as read-only definitions, parsed from their metadata documents.

A document is the JSON a builder writes; a definition is the same document with the
questions everyone asks of it answered once (which type, which column, which fields).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tessera.meta.fieldtypes.base import FieldType

#: Columns every object table has; field api_names may not take these names.
SYSTEM_COLUMNS = (
    "id", "version", "created_at", "created_by", "updated_at", "updated_by", "owner",
    "deleted_at", "deleted_by", "deleted_batch",
)
#: System columns a client may write.
WRITABLE_SYSTEM_COLUMNS = ("owner",)
#: Field types an object's `order_field` may be: the numbers its records are ordered by.
ORDER_TYPES = ("integer", "decimal", "percent", "currency")
#: At most this many live records make an object small enough for its records to be offered
#: as choices: a board's lanes, a funnel's stages (a lookup to a sales stage, not to an account).
MAX_CHOICES = 50


@dataclass(frozen=True, eq=False)
class FieldDef:
    """One field of an object; `props` is the whole field document."""

    props: Mapping[str, Any]

    @property
    def uid(self) -> str:
        return str(self.props["uid"])

    @property
    def api_name(self) -> str:
        return str(self.props["api_name"])

    @property
    def label(self) -> str:
        return str(self.props.get("label") or self.api_name)

    @property
    def type(self) -> str:
        return str(self.props["type"])

    @property
    def column(self) -> str:
        """The physical column name: readable, and renamed with the field."""
        return self.api_name

    @property
    def required(self) -> bool:
        return bool(self.props.get("required"))

    @property
    def unique(self) -> bool:
        return bool(self.props.get("unique")) or self.ftype.always_unique

    @property
    def indexed(self) -> bool:
        return bool(self.props.get("indexed"))

    @property
    def deprecated(self) -> bool:
        """Removed by a later version of the package that made it: kept with its data and
        readable, but no longer offered in generated forms, default columns or pickers."""
        return bool(self.props.get("deprecated"))

    @property
    def read_only(self) -> bool:
        ftype = self.ftype
        return bool(self.props.get("read_only")) or ftype.system_generated or ftype.computed or not ftype.available

    @property
    def default(self) -> Any:
        return self.props.get("default")

    @property
    def help_text(self) -> str:
        return str(self.props.get("help_text") or "")

    @cached_property
    def ftype(self) -> FieldType:
        """The field's type; `Unavailable` when no installed code provides it (a removed
        plugin's), so the object, its table and its other fields keep working."""
        from tessera.meta.fieldtypes import field_type
        from tessera.meta.fieldtypes.base import Unavailable

        try:
            return field_type(self.type)
        except KeyError:
            return Unavailable(self.type)

    @property
    def stored(self) -> bool:
        """Whether the field has a column: every stored type, and computed fields marked
        `"store": true` (kept current by the platform instead of computed in each query)."""
        return self.ftype.stored or (self.ftype.computed and bool(self.props.get("store")))

    @property
    def computed(self) -> bool:
        return self.ftype.computed

    @property
    def system(self) -> str | None:
        """What the platform added this field for, if it did: "parent" (a line's link to
        the record it belongs to) or "line_number" (its place among its siblings)."""
        value = self.props.get("system")
        return str(value) if value else None


@dataclass(frozen=True, eq=False)
class ObjectDef:
    """An object (a kind of record) and its fields, from an `objects` document."""

    doc: Mapping[str, Any]
    version: int = 1
    #: The fields that hold a value of the record (every field but line items).
    fields: tuple[FieldDef, ...] = field(init=False)
    #: The line-item fields (`child_table`): lists of child records, read and written with
    #: the record but kept in their own tables, so lists, reports and formulas of this
    #: object never meet them as values.
    line_fields: tuple[FieldDef, ...] = field(init=False)

    def __post_init__(self) -> None:
        every = [FieldDef(f) for f in self.doc.get("fields", [])]
        object.__setattr__(self, "fields", tuple(f for f in every if not _holds_lines(f)))
        object.__setattr__(self, "line_fields", tuple(f for f in every if _holds_lines(f)))

    @property
    def uid(self) -> str:
        return str(self.doc["uid"])

    @property
    def api_name(self) -> str:
        return str(self.doc["api_name"])

    @property
    def label(self) -> str:
        return str(self.doc.get("label") or self.api_name)

    @property
    def plural_label(self) -> str:
        """What many of its records are called: the builder's `plural_label`, else the label
        made plural by the rules of English ("Company" → "Companies")."""
        return str(self.doc.get("plural_label") or english_plural(self.label))

    @property
    def table_name(self) -> str:
        return self.api_name

    @cached_property
    def _by_name(self) -> dict[str, FieldDef]:
        return {f.api_name: f for f in self.fields}

    @cached_property
    def _by_uid(self) -> dict[str, FieldDef]:
        return {f.uid: f for f in self.fields}

    def field(self, api_name: str) -> FieldDef | None:
        return self._by_name.get(api_name)

    def line_field(self, api_name: str) -> FieldDef | None:
        return next((f for f in self.line_fields if f.api_name == api_name), None)

    @property
    def is_child(self) -> bool:
        """Whether this object's records are lines of another's (`"child": true`)."""
        return bool(self.doc.get("child"))

    @cached_property
    def parent_link(self) -> FieldDef | None:
        """A child object's lookup to the record each line belongs to (once attached)."""
        return next((f for f in self.fields if f.system == "parent"), None)

    @cached_property
    def line_number(self) -> FieldDef | None:
        """A child object's field keeping each line's place (1, 2, 3 …) among its siblings."""
        return next((f for f in self.fields if f.system == "line_number"), None)

    def field_by_uid(self, uid: str) -> FieldDef | None:
        return self._by_uid.get(uid)

    @property
    def stored_fields(self) -> tuple[FieldDef, ...]:
        return tuple(f for f in self.fields if f.stored)

    @property
    def name_field(self) -> FieldDef | None:
        """The field that names a record in lists and lookups."""
        named = self.doc.get("name_field")
        if named and (found := self.field(named)):
            return found
        return next((f for f in self.fields if f.type == "text"), None)

    @property
    def order_field(self) -> FieldDef | None:
        """The number field (`order_field`) that orders the object's records wherever they
        are offered as choices (board lanes, funnel stages, report groups, the record
        picker); None: they come by their name."""
        named = self.doc.get("order_field")
        return self.field(str(named)) if named else None


def _holds_lines(fdef: FieldDef) -> bool:
    return fdef.ftype.lines


_KEEP = {"series", "species", "news", "data", "staff", "equipment", "information", "feedback"}
_IRREGULAR = {"person": "people", "child": "children", "man": "men", "woman": "women", "analysis": "analyses",
              "criterion": "criteria"}


def english_plural(label: str) -> str:
    """The plural of a label's last word, keeping its case: Opportunity → Opportunities,
    Address → Addresses, Sales person → Sales people, Quote line → Quote lines."""
    head, _, word = label.rpartition(" ")
    lower = word.lower()
    if not word or lower in _KEEP:
        return label
    if lower in _IRREGULAR:
        plural = _IRREGULAR[lower]
        plural = plural.capitalize() if word[0].isupper() else plural
    elif lower.endswith("y") and len(lower) > 1 and lower[-2] not in "aeiou":
        plural = word[:-1] + "ies"
    elif lower.endswith(("s", "x", "z", "ch", "sh")):
        plural = word + "es"
    else:
        plural = word + "s"
    return f"{head} {plural}" if head else plural
