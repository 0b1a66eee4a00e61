"""Text-like field types: text, long text, rich text, e-mail, phone and URL."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import nh3
import sqlalchemy as sa
from markupsafe import Markup

from tessera.meta.fieldtypes.base import FieldType, FieldValueError, FormulaType, register
from tessera.meta.model import FieldDef

_LENGTH_OPTIONS = {
    "max_length": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
    "pattern": {"type": "string", "format": "regex", "maxLength": 500},
    "pattern_message": {"type": "string", "maxLength": 200},
}


class _Text(FieldType):
    formula_type = FormulaType.TEXT
    searchable = True
    constraints = frozenset({"max_length", "pattern"})
    options_schema = _LENGTH_OPTIONS
    #: Longest value accepted when the field sets no max_length.
    hard_limit = 10_000
    #: The HTML input type of the widget.
    input_type: ClassVar[str] = "text"

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.Text()

    def value_schema(self, field: FieldDef) -> dict[str, Any]:
        limit = field.props.get("max_length") or self.hard_limit
        return {"type": "string", "maxLength": limit}

    def input_schema(self, field: FieldDef) -> dict[str, Any]:
        # A number is taken as the text it reads as ("0042" stays text; 42 becomes "42").
        return {"anyOf": [self.value_schema(field), {"type": "number"}]}

    def coerce(self, field: FieldDef, value: Any) -> Any:
        if value.__class__ is str:  # the common case first: a save coerces every value
            text = value
        elif value is None:
            return None
        elif isinstance(value, bool) or not isinstance(value, str | int | float):
            raise FieldValueError("must be text")
        else:
            text = str(value)
        if "\x00" in text:
            raise FieldValueError("must not contain NUL characters")
        text = self.normalize(text)
        if text == "":
            return None
        limit = field.props.get("max_length") or self.hard_limit
        if len(text) > limit:
            raise FieldValueError(f"must be at most {limit} characters long")
        return text

    def normalize(self, text: str) -> str:
        return text.strip()

    def parse_import(self, field: FieldDef, cell: Any) -> Any:
        # Spreadsheets hand over typed cells; read them as the person saw them in the sheet.
        if isinstance(cell, float) and cell.is_integer():
            cell = int(cell)
        elif isinstance(cell, datetime):
            cell = cell.isoformat(sep=" ")
        elif isinstance(cell, date):
            cell = cell.isoformat()
        elif isinstance(cell, bool):
            cell = "yes" if cell else "no"
        return super().parse_import(field, cell)

    def widget_context(self, field: FieldDef, value: Any) -> dict[str, Any]:
        return {**super().widget_context(field, value), "input_type": self.input_type,
                "max_length": field.props.get("max_length") or self.hard_limit}


@register
class TextField(_Text):
    name = "text"
    label = "Text"
    hard_limit = 1_000


@register
class LongTextField(_Text):
    name = "long_text"
    label = "Long text"
    hard_limit = 100_000
    indexable = False
    widget_template = "widgets/textarea.html"

    def normalize(self, text: str) -> str:
        return text.rstrip()


@register
class RichTextField(_Text):
    """HTML written in an editor, cleaned of scripts and event handlers on the way in."""

    name = "rich_text"
    label = "Rich text"
    hard_limit = 200_000
    indexable = False
    constraints = frozenset({"max_length"})
    options_schema = {"max_length": _LENGTH_OPTIONS["max_length"]}
    widget_template = "widgets/rich_text.html"

    def normalize(self, text: str) -> str:
        return nh3.clean(text).strip()

    def display(self, field: FieldDef, value: Any) -> str:
        if value is None:
            return ""
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", value)).strip()

    def widget_context(self, field: FieldDef, value: Any) -> dict[str, Any]:
        # Cleaned again on the way out: a value may predate the cleaning or come from elsewhere.
        html = Markup(nh3.clean(value)) if value else Markup("")
        return {**super().widget_context(field, value), "html": html}


# An address as RFC 6531 has it (letters of any script allowed): a dot-atom before the @,
# and at least two domain labels of letters, digits and inner hyphens after it.
_ATEXT = r"[\w!#$%&'*+/=?^`{|}~-]"
_LABEL = r"[^\W_](?:(?:[^\W_]|-)*[^\W_])?"
_EMAIL = re.compile(rf"^{_ATEXT}+(?:\.{_ATEXT}+)*@{_LABEL}(?:\.{_LABEL})+$")


@register
class EmailField(_Text):
    name = "email"
    label = "E-mail"
    hard_limit = 254
    input_type = "email"

    def value_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": "string", "format": "idn-email", "maxLength": self.hard_limit}

    def input_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": "string", "maxLength": self.hard_limit, "pattern": r"^\s*([^@\s]+@[^@\s]+\.[^@\s]+)?\s*$"}

    def normalize(self, text: str) -> str:
        text = text.strip()
        if text and not _EMAIL.match(text):
            raise FieldValueError("must be an e-mail address like name@example.com")
        # Stored in lower case so that a unique e-mail field treats Info@ and info@ as one.
        return text.lower()


_PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{2,30}$")


@register
class PhoneField(_Text):
    name = "phone"
    label = "Phone"
    hard_limit = 40
    input_type = "tel"

    def input_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": "string", "maxLength": self.hard_limit, "pattern": r"^\s*(\+?[0-9][0-9 ()./-]{2,30})?\s*$"}

    def normalize(self, text: str) -> str:
        text = text.strip()
        if text and not _PHONE.match(text):
            raise FieldValueError("must be a phone number: digits, spaces, ( ) - . and a leading +")
        return text

    def search_text(self, field: FieldDef, value: Any) -> str:
        # As written and as digits only: people type a number either way.
        digits = re.sub(r"\D", "", str(value))
        return f"{value} {digits}" if digits != str(value) else str(value)


#: A host name, or an IPv6 address (urlsplit has already removed its brackets).
_HOST = re.compile(r"^([0-9a-f:.]+|[^\s/?#@:\[\]]+)$")


@register
class UrlField(_Text):
    name = "url"
    label = "URL"
    hard_limit = 2_000
    input_type = "url"

    def normalize(self, text: str) -> str:
        text = text.strip()
        if not text:
            return text
        if "://" not in text:
            text = "https://" + text
        parts = urlsplit(text)
        try:
            # Reading the port validates it: "javascript:alert(1)" would otherwise pass as
            # host "javascript" once https:// is put in front of it.
            valid = parts.port is None or parts.port > 0
        except ValueError:
            valid = False
        if (
            not valid or parts.scheme not in ("http", "https") or " " in text
            or not parts.hostname or not _HOST.match(parts.hostname)
        ):
            raise FieldValueError("must be a web address like https://example.com")
        return text
