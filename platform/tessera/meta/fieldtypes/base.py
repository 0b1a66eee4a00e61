"""The field-type contract and its registry.

A field type is one class that knows everything about its kind of value: the column it is
stored in, the JSON Schema of its value in the API, how input is coerced, how it is shown,
the type it has in formulas, and how an imported cell is read. Engines and plugins add
types by registering a class; nothing else in Tessera switches on a type name.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, overload

import sqlalchemy as sa

from tessera.meta.patterns import matches_whole
from tessera.registry import Registry

if TYPE_CHECKING:
    from tessera.meta.model import FieldDef


class FieldValueError(ValueError):
    """A value does not fit its field; the message is written for the person who typed it."""


class FormulaType:
    """The types a value has inside the formula language."""

    TEXT = "text"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    DURATION = "duration"
    LIST = "list"
    RECORD = "record"
    JSON = "json"


def no_problem(_field: FieldDef, _value: Any) -> str | None:
    """The checker of a field whose values have nothing to be checked (no bounds set)."""
    return None


class FieldType:
    """Base class of every field type; subclasses set the class attributes and override."""

    name: ClassVar[str]
    label: ClassVar[str]
    formula_type: ClassVar[str] = FormulaType.TEXT
    #: False for computed types whose value lives in no column of their own.
    stored: ClassVar[bool] = True
    #: True for types whose value the platform works out from a formula (formula, rollup):
    #: in the query, or, with `"store": true`, in a column recomputed when its inputs change.
    computed: ClassVar[bool] = False
    #: True for types whose value is a list of child records kept in their own table
    #: (child_table): not a column, read and written with the record (records/lines.py).
    lines: ClassVar[bool] = False
    #: True for types whose values the platform sets (autonumber); input is refused.
    system_generated: ClassVar[bool] = False
    #: Whether a field of this type may have a `default` value.
    takes_default: ClassVar[bool] = True
    #: True for types whose values are unique whatever the field says (autonumber).
    always_unique: ClassVar[bool] = False
    #: Whether a `unique` or `indexed` property makes sense for this type.
    indexable: ClassVar[bool] = True
    #: Whether a field of this type may opt into full-text search (`"searchable": true`):
    #: its values are words people type into a search box (text, e-mail, a ticket number).
    searchable: ClassVar[bool] = False
    #: False for a type no installed code provides any more (`Unavailable`).
    available: ClassVar[bool] = True
    #: Whether records can be converted to or from this type by re-reading their values.
    convertible: ClassVar[bool] = True
    #: JSON Schema (properties only) of the options this type adds to a field document.
    options_schema: ClassVar[dict[str, Any]] = {}
    #: Which of the common constraint properties apply to this type.
    constraints: ClassVar[frozenset[str]] = frozenset()

    # -- storage ------------------------------------------------------------------------
    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        raise NotImplementedError

    # -- API ----------------------------------------------------------------------------
    def value_schema(self, field: FieldDef) -> dict[str, Any]:
        """JSON Schema of a non-blank value, as the API returns it."""
        raise NotImplementedError

    def input_schema(self, field: FieldDef) -> dict[str, Any]:
        """JSON Schema of a non-blank value the API accepts; by default what it returns."""
        return self.value_schema(field)

    def coerce(self, field: FieldDef, value: Any) -> Any:
        """Turn API input into the Python value stored; None means blank."""
        raise NotImplementedError

    def coercer(self, field: FieldDef) -> Callable[[FieldDef, Any], Any]:
        """`coerce` for many values of `field` (a save plan binds it once per field): a type
        whose coercion reads the field's options may read them here, once. Call it with
        `field` only (it may answer for `field` whatever it is passed)."""
        return self.coerce

    def to_json(self, field: FieldDef, value: Any) -> Any:
        """Turn a stored Python value into its JSON form."""
        return value

    def json_converter(self, field: FieldDef) -> Callable[[Any], Any] | None:
        """`to_json` of `field`'s non-blank values, bound once (a serializer converts a whole
        page); None when a value is its own JSON."""
        if type(self).to_json is FieldType.to_json:
            return None
        return functools.partial(self.to_json, field)

    def display(self, field: FieldDef, value: Any) -> str:
        """The value as a person reads it in a list or an e-mail."""
        return "" if value is None else str(value)

    def search_text(self, field: FieldDef, value: Any) -> str:
        """The words of a stored value as the search index keeps them (searchable types)."""
        return self.display(field, value)

    def parse_import(self, field: FieldDef, cell: Any) -> Any:
        """Read a cell of an imported file (text, number, date or bool from openpyxl/CSV)."""
        if isinstance(cell, str):
            cell = cell.strip()
        return self.coerce(field, cell)

    # -- checks -------------------------------------------------------------------------
    def check(self, field: FieldDef, value: Any) -> str | None:
        """The message for a coerced non-blank value that breaks the field's constraints."""
        props = field.props
        if "min" in self.constraints and props.get("min") is not None:
            low = self.coerce(field, props["min"])
            if value < low:
                return f"must be at least {self.display(field, low)}"
        if "max" in self.constraints and props.get("max") is not None:
            high = self.coerce(field, props["max"])
            if value > high:
                return f"must be at most {self.display(field, high)}"
        limit = props.get("max_length") if "max_length" in self.constraints else None
        if limit is not None and len(value) > limit:
            return f"must be at most {limit} characters long"
        pattern = props.get("pattern") if "pattern" in self.constraints else None
        if pattern and not matches_whole(pattern, value):
            return props.get("pattern_message") or f"must match the pattern {pattern}"
        return None

    def checker(self, field: FieldDef) -> Callable[[FieldDef, Any], str | None]:
        """`check` for many values of `field`, bound once as `coercer` is (`no_problem`
        when nothing is to be checked: the save leaves the field out of its checks)."""
        return self.check

    def is_blank(self, value: Any) -> bool:
        # Only text and lists can be empty ("" and [] are all a blank value is besides None);
        # comparing a Decimal or a date with "" costs more than asking what it is.
        return value is None or (isinstance(value, str | list) and not value)

    def default_options(self, field: FieldDef) -> dict[str, Any]:
        """Options filled in when a field of this type is created without them."""
        return {}

    # -- forms --------------------------------------------------------------------------
    #: The Jinja2 template (under builder-ui/templates/) that renders this type's input in
    #: a form. It gets `field` (name, id, label, help, required, read_only, display, errors:
    #: the same for every type) and `widget`, this type's `widget_context`.
    widget_template: ClassVar[str] = "widgets/text.html"

    def widget_context(self, field: FieldDef, value: Any) -> dict[str, Any]:
        """What the widget template needs to show a stored value (None: blank): at least
        `value`, the text an input holds, and `display`, the value as a person reads it."""
        shown = None if value is None else self.to_json(field, value)
        return {"value": "" if shown is None else str(shown), "display": self.display(field, value)}

    def widget_value(self, field: FieldDef, posted: list[str]) -> Any:
        """What the widget sent back in an HTML form post (text; several values for some
        widgets), as API input for `coerce`. Raises FieldValueError for text it cannot read."""
        return posted[-1] if posted else None


class Unavailable(FieldType):
    """The stand-in for a type no installed code provides (the plugin that registered it was
    removed): the field keeps its column and data, its values are read as the database
    stores them and shown as text, and it takes no input until the type is back."""

    available = False
    indexable = False
    convertible = False
    takes_default = False
    widget_template = "widgets/unavailable.html"

    def __init__(self, name: str) -> None:
        self.name = name  # type: ignore[misc]
        self.label = f"{name} (unavailable)"  # type: ignore[misc]

    @property
    def problem(self) -> str:
        return f"the field type {self.name!r} is not installed (the plugin that provided it is missing)"

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.types.NullType()

    def value_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"description": f"As stored: {self.problem}."}

    def coerce(self, field: FieldDef, value: Any) -> Any:
        if value is None or value == "":
            return None
        raise FieldValueError(f"cannot be changed: {self.problem}")

    def to_json(self, field: FieldDef, value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float | str | list | dict):
            return value
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        return value.isoformat() if hasattr(value, "isoformat") else str(value)


_REGISTRY: Registry[FieldType] = Registry("field type")

_Type = TypeVar("_Type", bound=type[FieldType])


@overload
def register(cls: _Type, /, *, replace: bool = False) -> _Type: ...
@overload
def register(cls: None = None, /, *, replace: bool = False) -> Callable[[_Type], _Type]: ...


def register(cls: _Type | None = None, /, *, replace: bool = False) -> _Type | Callable[[_Type], _Type]:
    """Class decorator: make a field type available under its `name`.

    `@register` refuses a name already registered with `DuplicateName`;
    `@register(replace=True)` replaces the type registered under that name.
    """

    def decorate(cls: _Type) -> _Type:
        _REGISTRY.register(cls.name, cls(), replace=replace)
        return cls

    return decorate if cls is None else decorate(cls)


def field_type(name: str) -> FieldType:
    """The type registered as `name`; KeyError("unknown field type 'name'") if there is none."""
    return _REGISTRY[name]


def field_types() -> dict[str, FieldType]:
    return _REGISTRY.as_dict()
