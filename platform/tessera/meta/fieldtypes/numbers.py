"""Number field types: integer, decimal, currency, percent, rating and duration."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from datetime import time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, ClassVar

import sqlalchemy as sa

from tessera.meta.columns import ScaledDecimal
from tessera.meta.durations import WORDS_PATTERN, in_words, parse_words
from tessera.meta.fieldtypes.base import FieldType, FieldValueError, FormulaType, no_problem, register
from tessera.meta.model import FieldDef
from tessera.meta.percents import percent_text

_BOUND = {"type": ["number", "string"]}
#: An ISO currency code before or after an amount: "EUR 1200", "1200.50 USD".
_CURRENCY_CODE = re.compile(r"^[A-Z]{3}\s*|\s*[A-Z]{3}$")
_INT64 = 2**63 - 1


@register
class IntegerField(FieldType):
    name = "integer"
    label = "Integer"
    formula_type = FormulaType.NUMBER
    constraints = frozenset({"min", "max"})
    options_schema = {"min": {"type": "integer"}, "max": {"type": "integer"}}

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.BigInteger()

    def value_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": "integer", "minimum": -_INT64, "maximum": _INT64}

    def input_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"anyOf": [self.value_schema(field), _WHOLE_TEXT]}

    def coerce(self, field: FieldDef, value: Any) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise FieldValueError("must be a whole number")
        if isinstance(value, str):
            text = value.strip().replace(",", "").replace("_", "")
            if not re.fullmatch(r"[+-]?\d+(\.0*)?", text):
                raise FieldValueError("must be a whole number")
            value = int(text.split(".")[0])
        elif isinstance(value, float):
            if not value.is_integer():
                raise FieldValueError("must be a whole number")
            value = int(value)
        elif isinstance(value, Decimal):
            if value != value.to_integral_value():
                raise FieldValueError("must be a whole number")
            value = int(value)
        elif not isinstance(value, int):
            raise FieldValueError("must be a whole number")
        if not -_INT64 <= value <= _INT64:
            raise FieldValueError("is too large")
        return value

    def display(self, field: FieldDef, value: Any) -> str:
        return "" if value is None else f"{value:,}"

    def checker(self, field: FieldDef) -> Callable[[FieldDef, Any], str | None]:
        """`check` with the bounds read once (a line's place is checked on every line saved)."""
        if type(self).check is not FieldType.check:  # a subtype that checks more itself
            return self.check
        props = field.props
        try:
            low, high = (None if props.get(key) is None else self.coerce(field, props[key]) for key in ("min", "max"))
        except (FieldValueError, ValueError, TypeError):  # refused as `check` refuses it, value by value
            return self.check
        if low is None and high is None:
            return no_problem
        return _within(self, field, low, high)

    widget_template = "widgets/number.html"

    def widget_context(self, field: FieldDef, value: Any) -> dict[str, Any]:
        return {**super().widget_context(field, value), "input_type": "number", "inputmode": "numeric",
                "step": "1", "min": field.props.get("min"), "max": field.props.get("max")}


def _number(value: Any) -> Decimal:
    """A decimal from a float, a string or a whole number; FieldValueError otherwise."""
    try:
        if isinstance(value, float):
            return Decimal(repr(value))
        if isinstance(value, str):
            return Decimal(value.strip().replace(",", "").replace("_", ""))
        if isinstance(value, int | Decimal):
            return Decimal(value)
    except InvalidOperation:
        raise FieldValueError("must be a number") from None
    raise FieldValueError("must be a number")


@functools.lru_cache(maxsize=64)
def _limits(scale: int, precision: int) -> tuple[Decimal, int, Decimal]:
    """(the quantum of `scale` places, digits before the point, the first value too large)."""
    digits = precision - scale
    return Decimal(1).scaleb(-scale), digits, Decimal(10) ** digits


def _within(kind: FieldType, field: FieldDef, low: Any, high: Any) -> Callable[[FieldDef, Any], str | None]:
    """A field's check of its bounds (already coerced; None: no bound), with its messages
    written once."""
    too_low = None if low is None else f"must be at least {kind.display(field, low)}"
    too_high = None if high is None else f"must be at most {kind.display(field, high)}"

    def check(_field: FieldDef, value: Any) -> str | None:
        if low is not None and value < low:
            return too_low
        if high is not None and value > high:
            return too_high
        return None
    return check


def decimal_text(value: Decimal) -> str:
    """A decimal as plain text: its str() unless that is in exponent notation (a very
    small or zero value of many places), twice as fast as format(value, "f")."""
    text = str(value)
    return text if "E" not in text and "e" not in text else format(value, "f")


@functools.lru_cache(maxsize=64)
def _decimal_coercer(scale: int, precision: int) -> Callable[[FieldDef, Any], Decimal | None]:
    """The coercion of API input to a decimal of `scale` places and `precision` digits, with
    the quantum and limits worked out once (a save of 50 lines coerces 150 values)."""
    quantum, digits, _limit = _limits(scale, precision)
    too_many = f"must have at most {digits} digits before the decimal point"

    def coerce(_field: FieldDef, value: Any) -> Decimal | None:
        # The common cases first: text from the API (a quote's lines give 150 values), and
        # decimals an import hands on.
        if value.__class__ is str and value:
            try:  # plain decimal text, as most is; what Decimal refuses is read leniently below
                number = Decimal(value)
            except InvalidOperation:
                number = _number(value)
        elif value.__class__ is Decimal:
            number = value
        elif value is None or value == "":
            return None
        elif isinstance(value, bool):
            raise FieldValueError("must be a number")
        else:
            number = _number(value)
        if not number.is_finite():
            raise FieldValueError("must be a finite number")
        # Checked before rounding too: quantizing a huge value overflows the decimal context.
        if number and number.adjusted() >= digits:
            raise FieldValueError(too_many)
        number = number.quantize(quantum, rounding=ROUND_HALF_UP)
        # Rounding may carry it up to 10^digits (a nonzero number is at least 10^digits
        # exactly when its adjusted exponent is at least digits).
        if number and number.adjusted() >= digits:
            raise FieldValueError(too_many)
        # -0.00 would come back as 0.00 from SQLite's scaled integers but not from PostgreSQL.
        return abs(number) if number.is_zero() else number
    return coerce


class _Decimal(FieldType):
    formula_type = FormulaType.NUMBER
    constraints = frozenset({"min", "max"})
    default_precision = 18
    default_scale = 2
    options_schema = {
        "precision": {"type": "integer", "minimum": 1, "maximum": 18},
        "scale": {"type": "integer", "minimum": 0, "maximum": 10},
        "min": _BOUND,
        "max": _BOUND,
    }

    def scale(self, field: FieldDef) -> int:
        return int(field.props.get("scale", self.default_scale))

    def precision(self, field: FieldDef) -> int:
        return int(field.props.get("precision", self.default_precision))

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return ScaledDecimal(self.precision(field), self.scale(field))

    def value_schema(self, field: FieldDef) -> dict[str, Any]:
        return {
            "type": "string",
            "pattern": r"^-?\d+(\.\d+)?$",
            "description": f"decimal with {self.scale(field)} places, as a string",
        }

    def input_schema(self, field: FieldDef) -> dict[str, Any]:
        digits = self.precision(field) - self.scale(field)
        bound = float(10**digits) - 1
        return {
            "anyOf": [
                {"type": "string", "pattern": r"^\s*[+-]?\d{1,18}(\.\d{0,10})?\s*$"},
                {"type": "number", "minimum": -bound, "maximum": bound},
            ]
        }

    def coerce(self, field: FieldDef, value: Any) -> Any:
        return _decimal_coercer(self.scale(field), self.precision(field))(field, value)

    def coercer(self, field: FieldDef) -> Callable[[FieldDef, Any], Any]:
        return _decimal_coercer(self.scale(field), self.precision(field))

    def check(self, field: FieldDef, value: Any) -> str | None:
        props = field.props
        low, high = props.get("min"), props.get("max")
        if low is None and high is None:
            return None
        try:  # a bound read once per field's options, not once per value (a bulk save checks many)
            low, high = self._bounds(self.scale(field), self.precision(field), low, high)
        except TypeError:  # an unhashable bound: as the base type reads it
            return super().check(field, value)
        if low is not None and value < low:
            return f"must be at least {self.display(field, low)}"
        if high is not None and value > high:
            return f"must be at most {self.display(field, high)}"
        return None

    def checker(self, field: FieldDef) -> Callable[[FieldDef, Any], str | None]:
        props = field.props
        low, high = props.get("min"), props.get("max")
        if low is None and high is None:
            return no_problem
        try:  # the bounds coerced once per field, as `check` does once per field's options
            low, high = self._bounds(self.scale(field), self.precision(field), low, high)
        except (TypeError, FieldValueError):  # unhashable or invalid: refused as `check` does
            return self.check
        return _within(self, field, low, high)

    @functools.lru_cache(maxsize=256)  # noqa: B019 — field types are registered singletons
    def _bounds(self, scale: int, precision: int, low: Any, high: Any) -> tuple[Any, Any]:
        field = FieldDef({"uid": "bound", "api_name": "bound", "type": self.name, "scale": scale,
                          "precision": precision})
        return (None if low is None else self.coerce(field, low)), (None if high is None else self.coerce(field, high))

    def is_blank(self, value: Any) -> bool:
        return value is None or (not isinstance(value, Decimal) and super().is_blank(value))

    def parse_import(self, field: FieldDef, cell: Any) -> Any:
        if isinstance(cell, str):
            cell = self.strip_affixes(cell.strip())
            # Accountants write negative amounts in parentheses: (1,200.00).
            if cell.startswith("(") and cell.endswith(")"):
                cell = "-" + cell[1:-1].strip()
        return super().parse_import(field, cell)

    def strip_affixes(self, text: str) -> str:
        """Remove what a spreadsheet prints around the number (a currency, a % sign)."""
        return text

    def to_json(self, field: FieldDef, value: Any) -> Any:
        return None if value is None else format(value, "f")

    def json_converter(self, field: FieldDef) -> Callable[[Any], Any] | None:
        return decimal_text if type(self).to_json is _Decimal.to_json else super().json_converter(field)

    def display(self, field: FieldDef, value: Any) -> str:
        return "" if value is None else f"{value:,.{self.scale(field)}f}"

    widget_template = "widgets/number.html"
    #: Shown after the input (a currency code, a % sign).
    unit: ClassVar[str] = ""

    def widget_context(self, field: FieldDef, value: Any) -> dict[str, Any]:
        # Text, not type=number: browsers round long decimals in number inputs.
        places = self.scale(field)
        return {**super().widget_context(field, value), "input_type": "text", "inputmode": "decimal",
                "placeholder": "0" + ("." + "0" * places if places else ""), "unit": self.unit_of(field)}

    def unit_of(self, field: FieldDef) -> str:
        return self.unit


@register
class DecimalField(_Decimal):
    name = "decimal"
    label = "Decimal"


#: The currencies a builder picks from (any ISO 4217 code is taken through the API).
CURRENCIES = (("USD", "US dollar"), ("EUR", "Euro"), ("GBP", "Pound sterling"), ("CNY", "Chinese yuan"),
              ("JPY", "Japanese yen"), ("CHF", "Swiss franc"), ("CAD", "Canadian dollar"),
              ("AUD", "Australian dollar"), ("NZD", "New Zealand dollar"), ("HKD", "Hong Kong dollar"),
              ("SGD", "Singapore dollar"), ("TWD", "New Taiwan dollar"), ("KRW", "South Korean won"),
              ("INR", "Indian rupee"), ("AED", "UAE dirham"), ("SAR", "Saudi riyal"), ("ILS", "Israeli shekel"),
              ("TRY", "Turkish lira"), ("SEK", "Swedish krona"), ("NOK", "Norwegian krone"),
              ("DKK", "Danish krone"), ("PLN", "Polish złoty"), ("CZK", "Czech koruna"), ("HUF", "Hungarian forint"),
              ("BRL", "Brazilian real"), ("MXN", "Mexican peso"), ("ZAR", "South African rand"))


@register
class CurrencyField(_Decimal):
    """An amount of money in one currency (`currency`, an ISO 4217 code), shown grouped
    with its code: 1,234,567.50 EUR."""

    name = "currency"
    label = "Currency"
    options_schema = {
        **_Decimal.options_schema,
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
    }

    def display(self, field: FieldDef, value: Any) -> str:
        text = super().display(field, value)
        code = field.props.get("currency")
        return f"{text} {code}" if text and code else text

    def unit_of(self, field: FieldDef) -> str:
        return str(field.props.get("currency") or "")

    def strip_affixes(self, text: str) -> str:
        # Symbols are Unicode's currency signs ($, €, £, ¥, ₹, …), on either side.
        text = _CURRENCY_CODE.sub("", text)
        return "".join(c for c in text if unicodedata.category(c) != "Sc").strip()


@register
class PercentField(_Decimal):
    """A share written as percent: 12.5 means 12.5 %."""

    name = "percent"
    label = "Percent"
    default_precision = 9
    default_scale = 2
    unit = "%"

    def display(self, field: FieldDef, value: Any) -> str:
        # The house style every page shares (reports' conversions too): 75.00 reads "75 %".
        return percent_text(value, self.scale(field))

    def strip_affixes(self, text: str) -> str:
        return text.removesuffix("%").rstrip()


@register
class RatingField(FieldType):
    name = "rating"
    label = "Rating"
    formula_type = FormulaType.NUMBER
    options_schema = {"max": {"type": "integer", "minimum": 1, "maximum": 10}}

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.SmallInteger()

    def top(self, field: FieldDef) -> int:
        return int(field.props.get("max", 5))

    def value_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": "integer", "minimum": 0, "maximum": self.top(field)}

    def input_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"anyOf": [self.value_schema(field), _WHOLE_TEXT]}

    def coerce(self, field: FieldDef, value: Any) -> Any:
        number = IntegerField.coerce(self, field, value)  # type: ignore[arg-type]
        if number is not None and not 0 <= number <= self.top(field):
            raise FieldValueError(f"must be between 0 and {self.top(field)}")
        return number

    def display(self, field: FieldDef, value: Any) -> str:
        return "" if value is None else "★" * value + "☆" * (self.top(field) - value)

    widget_template = "widgets/rating.html"

    def widget_context(self, field: FieldDef, value: Any) -> dict[str, Any]:
        return {**super().widget_context(field, value), "choices": list(range(1, self.top(field) + 1)),
                "current": value or 0}


_ISO_DURATION = re.compile(
    r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?$"
)
_CLOCK = re.compile(r"^(?P<neg>-)?(?P<h>\d+):(?P<m>[0-5]?\d)(?::(?P<s>[0-5]?\d))?$")


#: A whole number written as text, thousands separated or not ("1,000").
_NOT_A_DURATION = "must be a duration like 4 hours, 1 day 2 hours, 90 min or 1:30"
_WHOLE_TEXT = {"type": "string", "pattern": r"^\s*[+-]?[0-9][0-9,_]*(\.0*)?\s*$"}


@register
class DurationField(FieldType):
    """A length of time, stored as whole seconds; input in words (`1 hour 30 minutes`,
    `1h 30m`), as `1:30`, seconds, or `PT1H30M`; shown in words."""

    name = "duration"
    label = "Duration"
    formula_type = FormulaType.DURATION
    constraints = frozenset({"min", "max"})
    options_schema = {"min": _BOUND, "max": _BOUND}

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.BigInteger()

    def value_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": "integer", "description": "seconds", "minimum": -_INT64, "maximum": _INT64}

    def input_schema(self, field: FieldDef) -> dict[str, Any]:
        return {
            "anyOf": [
                {"type": "integer", "minimum": -(10**15), "maximum": 10**15},
                {"type": "string", "pattern": r"^(\d+:[0-5]?\d(:[0-5]?\d)?|P(\d+D)?(T(\d+H)?(\d+M)?(\d+S)?)?"
                                              "|" + WORDS_PATTERN + ")$"},
            ]
        }

    def coerce(self, field: FieldDef, value: Any) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise FieldValueError(_NOT_A_DURATION)
        if isinstance(value, timedelta | time):
            # Spreadsheets give durations as timedelta ([h]:mm cells) or time (h:mm cells).
            if isinstance(value, time):
                value = timedelta(hours=value.hour, minutes=value.minute, seconds=value.second,
                                  microseconds=value.microsecond)
            if value % timedelta(seconds=1):
                raise FieldValueError("must be a duration in whole seconds")
            seconds = value // timedelta(seconds=1)
        elif isinstance(value, int):
            seconds = value
        elif isinstance(value, float) and value.is_integer():
            seconds = int(value)
        elif isinstance(value, str) and (m := _CLOCK.match(value.strip())):
            seconds = int(m["h"]) * 3600 + int(m["m"]) * 60 + int(m["s"] or 0)
            seconds = -seconds if m["neg"] else seconds
        elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
            seconds = int(value.strip())
        elif isinstance(value, str) and (m := _ISO_DURATION.match(value.strip())) and any(m.groups()):
            seconds = (
                int(m["d"] or 0) * 86400 + int(m["h"] or 0) * 3600
                + int(m["m"] or 0) * 60 + int(m["s"] or 0)
            )
        elif isinstance(value, str) and (words := parse_words(value)) is not None:
            seconds = words
        else:
            raise FieldValueError(_NOT_A_DURATION)
        if abs(seconds) > _INT64:
            raise FieldValueError("is too long")
        return seconds

    def display(self, field: FieldDef, value: Any) -> str:
        return "" if value is None else in_words(value)

    def widget_context(self, field: FieldDef, value: Any) -> dict[str, Any]:
        # Shown in words, which the input also reads back (as it reads 1:30 and 90 min).
        return {**super().widget_context(field, value), "value": "" if value is None else in_words(value),
                "input_type": "text", "placeholder": "4 hours"}
