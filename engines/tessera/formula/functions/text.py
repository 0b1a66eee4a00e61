"""Text functions. Texts count characters (code points), compare by code point, and an
empty result is blank. Regular expressions use a subset both Python and PostgreSQL read
the same way (see `portable_regex`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from tessera.formula.ast import Node
from tessera.formula.functions import pg
from tessera.formula.functions.registry import ArgError, Example, Function, literal_text, register, sig
from tessera.formula.types import BOOLEAN, DATE, DATETIME, NUMBER, TEXT
from tessera.formula.values import MAX_TEXT, NUMBERS, as_text, int_arg, round_places
from tessera.meta.patterns import compile_pattern, matches_whole

_TRIM = " \t\n\r"
_NUMBER_TEXT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")


def _t(value: Any) -> str:
    return value or ""


def _blank(value: str) -> str | None:
    return value or None


def _size(n: Any) -> int:
    return int_arg(n, 0, MAX_TEXT)


def _left(t: str | None, n: Any) -> str | None:
    return None if t is None or n is None else _blank(t[: _size(n)])


def _right(t: str | None, n: Any) -> str | None:
    if t is None or n is None:
        return None
    k = _size(n)
    return _blank(t[-k:] if k else "")


def _mid(t: str | None, start: Any, n: Any) -> str | None:
    if t is None or start is None or n is None:
        return None
    s = int_arg(start, 1, MAX_TEXT) - 1
    return _blank(t[s : s + _size(n)])


def _substitute(t: str | None, old: str | None, new: str | None) -> str | None:
    if t is None or not old:
        return t
    return _blank(t.replace(old, new or ""))


def _find(needle: str | None, hay: str | None, start: Any = 1) -> Decimal | None:
    if start is None:
        return None
    s = int_arg(start, 1, MAX_TEXT)
    found = _t(hay)[s - 1 :].find(_t(needle)) + 1
    return Decimal(found + s - 1 if found > 0 else 0)


def _rept(t: str | None, n: Any) -> str | None:
    if t is None or n is None:
        return None
    k = _size(n)
    return None if len(t) * k > MAX_TEXT else _blank(t * k)


def _pad(left: bool) -> Any:
    def pad(t: str | None, n: Any, fill: str | None = " ") -> str | None:
        # Mirrors PostgreSQL's lpad/rpad, which also cut texts longer than n.
        if t is None or n is None:
            return None
        k, fill = _size(n), fill or " "
        if len(t) >= k:
            return _blank(t[:k])
        extra = (fill * ((k - len(t)) // len(fill) + 1))[: k - len(t)]
        return extra + t if left else t + extra

    return pad


def _replace(t: str | None, start: Any, count: Any, new: str | None) -> str | None:
    if t is None or start is None or count is None:
        return None
    s = int_arg(start, 1, MAX_TEXT) - 1
    return _blank(t[:s] + _t(new) + t[s + _size(count) :])


def _value(t: str | None) -> Decimal | None:
    if t is None:
        return None
    stripped = t.strip(_TRIM)
    return Decimal(stripped) if _NUMBER_TEXT.fullmatch(stripped) and len(stripped) <= 60 else None


# -- regular expressions --------------------------------------------------------------

_CLASSES = {"d": "0-9", "w": "A-Za-z0-9_", "s": " \\t\\n\\r\\f\\v"}
_SPECIAL = set("\\^$.|?*+()[]{}")


@lru_cache(maxsize=512)
def portable_regex(pattern: str) -> str:
    """The pattern in the subset Python's re and PostgreSQL's regexes agree on.

    Allowed: characters, escaped punctuation, `.`, `[…]` classes with ranges and `^`, `\\d \\w
    \\s` (ASCII only), `* + ? {m,n}` (and their lazy forms), `(…)`, `(?:…)` and `|`. The
    whole text must match, so `^` and `$` are not needed and not allowed.
    """
    out: list[str] = []
    i = 0
    depth = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= len(pattern):
                raise ValueError("the pattern ends with a lone backslash")
            nxt = pattern[i + 1]
            if nxt in _CLASSES:
                out.append(f"[{_CLASSES[nxt]}]")
            elif not nxt.isalnum():
                out.append("\\" + nxt)
            else:
                raise ValueError(f'"\\{nxt}" is not supported in patterns')
            i += 2
        elif ch == "[":
            j = i + 1
            body: list[str] = []
            if j < len(pattern) and pattern[j] == "^":
                body.append("^")
                j += 1
            first = True
            while j < len(pattern) and (pattern[j] != "]" or first):
                c = pattern[j]
                if c == "\\" and j + 1 < len(pattern):
                    n = pattern[j + 1]
                    body.append(_CLASSES[n] if n in _CLASSES else ("\\" + n if not n.isalnum() else "!"))
                    if body[-1] == "!":
                        raise ValueError(f'"\\{n}" is not supported in patterns')
                    j += 2
                elif c == "[":
                    raise ValueError('"[" inside a character class must be written "\\["')
                else:
                    body.append(c)
                    j += 1
                first = False
            if j >= len(pattern):
                raise ValueError('a "[" is never closed')
            out.append("[" + "".join(body) + "]")
            i = j + 1
        elif ch == "(":
            if pattern.startswith("(?:", i):
                out.append("(?:")
                i += 3
            elif pattern.startswith("(?", i):
                raise ValueError("only (…) and (?:…) groups are supported")
            else:
                out.append("(")
                i += 1
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise ValueError('a ")" has no matching "("')
            out.append(")")
            i += 1
        elif ch == "{":
            m = re.match(r"\{(\d{1,3})(,(\d{0,3}))?\}", pattern[i:])
            if not m or int(m[1]) > 255 or (m[3] and int(m[3]) > 255):
                raise ValueError("repetitions are written {m}, {m,} or {m,n} with numbers up to 255")
            out.append(m[0])
            i += len(m[0])
        elif ch in "^$":
            raise ValueError(f'"{ch}" is not needed: the whole text must match the pattern')
        else:
            out.append(ch)
            i += 1
    if depth:
        raise ValueError('a "(" is never closed')
    result = "".join(out)
    compile_pattern(result, dot_matches_newline=True)
    return result


def _regex_typer(types: Sequence[str], nodes: Sequence[Node]) -> str:
    typer = sig("text", "text", returns=BOOLEAN)
    result = typer(types, nodes)
    pattern = literal_text(nodes, 1)
    try:
        portable_regex(pattern)
    except ValueError as error:
        raise ArgError(1, f"invalid pattern: {error}") from None
    return result


def _regex(t: str | None, pattern: str | None) -> bool:
    # RE2: linear in the text, so no pattern stalls the process (see tessera.meta.patterns).
    return matches_whole(portable_regex(pattern or ""), _t(t), dot_matches_newline=True)


def _pg_regex(args: Sequence[Any]) -> Any:
    pattern = portable_regex(args[1].literal or "")
    return pg.nz(args[0].expr).op("~")(pg.txt(f"^(?:{pattern})$"))


# -- TEXT with formats ----------------------------------------------------------------

_NUMBER_FORMAT = re.compile(r"(#,##)?0(\.(0+))?(%?)")
_DATE_TOKENS = re.compile(r"YYYY|YY|MM|DD|HH|MI|SS|MON|DAY")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _text_typer(types: Sequence[str], nodes: Sequence[Node]) -> str:
    result = sig("any", "text?", returns=TEXT)(types, nodes)
    if len(types) == 2:
        fmt = literal_text(nodes, 1)
        if types[0] == NUMBER and not _NUMBER_FORMAT.fullmatch(fmt):
            raise ArgError(1, 'a number format is like "0", "0.00", "#,##0.00" or "0.0%"')
        if types[0] in (DATE, DATETIME) and not _DATE_TOKENS.search(fmt):
            raise ArgError(1, "a date format uses YYYY, YY, MM, DD, HH, MI, SS, MON or DAY")
        if types[0] not in (NUMBER, DATE, DATETIME, "blank"):
            raise ArgError(1, "formats apply to numbers and dates only")
    return result


def format_number(value: Decimal, fmt: str) -> str:
    m = _NUMBER_FORMAT.fullmatch(fmt)
    assert m
    places = len(m[3] or "")
    if m[4]:
        value = NUMBERS.multiply(value, 100)
    rounded = round_places(value, places)
    body = f"{rounded:,.{places}f}" if m[1] else f"{rounded:.{places}f}"
    return body + m[4]


def format_date(value: Any, fmt: str) -> str:
    def token(match: re.Match[str]) -> str:
        t = match[0]
        table = {
            "YYYY": f"{value.year:04d}", "YY": f"{value.year % 100:02d}", "MM": f"{value.month:02d}",
            "DD": f"{value.day:02d}", "MON": _MONTHS[value.month - 1], "DAY": _DAYS[value.weekday()],
            "HH": f"{getattr(value, 'hour', 0):02d}", "MI": f"{getattr(value, 'minute', 0):02d}",
            "SS": f"{getattr(value, 'second', 0):02d}",
        }
        return table[t]

    return _DATE_TOKENS.sub(token, fmt)


def _text(types: Sequence[str], value: Any, fmt: str | None = None) -> str | None:
    if value is None:
        return None
    if fmt is None or types[0] not in (NUMBER, DATE, DATETIME):
        return as_text(value, types[0])
    if types[0] == NUMBER:
        return format_number(value, fmt)
    if types[0] == DATETIME:
        from tessera.formula.values import utc

        value = utc(value)
    return format_date(value, fmt) or None


def _pg_text(args: Sequence[Any]) -> Any:
    value = args[0]
    if len(args) == 1 or value.type not in (NUMBER, DATE, DATETIME):
        return pg.text_of(value.expr, value.type)
    fmt = str(args[1].literal)
    if value.type == NUMBER:
        m = _NUMBER_FORMAT.fullmatch(fmt)
        assert m
        places = len(m[3] or "")
        x = value.expr * 100 if m[4] else value.expr
        rounded = sa.func.round(x, places)
        body = sa.cast(sa.func.abs(rounded), sa.Text())
        if m[1]:
            ahead = r"(?=(\d{3})+\.)" if places else r"(?=(\d{3})+$)"
            body = sa.func.regexp_replace(body, pg.txt(r"(\d)" + ahead), pg.txt(r"\1,"), pg.txt("g"))
        sign = sa.case((rounded < 0, pg.txt("-")), else_=pg.txt(""))
        return sign + body + pg.txt(m[4])
    source = pg.utc_naive(value.expr) if value.type == DATETIME else value.expr
    pieces: list[Any] = []
    pos = 0
    codes = {"YYYY": "YYYY", "YY": "YY", "MM": "MM", "DD": "DD", "HH": "HH24", "MI": "MI", "SS": "SS"}
    for match in _DATE_TOKENS.finditer(fmt):
        if match.start() > pos:
            pieces.append(pg.txt(fmt[pos : match.start()]))
        t = match[0]
        if t == "MON":
            pieces.append(sa.func.split_part(pg.txt(",".join(_MONTHS)), ",",
                                             sa.cast(sa.extract("month", source), sa.Integer)))
        elif t == "DAY":
            pieces.append(sa.func.split_part(pg.txt(",".join(_DAYS)), ",",
                                             sa.cast(sa.extract("isodow", source), sa.Integer)))
        else:
            pieces.append(sa.func.to_char(source, pg.txt(codes[t])))
        pos = match.end()
    if pos < len(fmt):
        pieces.append(pg.txt(fmt[pos:]))
    out = pieces[0]
    for piece in pieces[1:]:
        out = out + piece
    return pg.blank_if_empty(out)


def _concat(types: Sequence[str], *values: Any) -> str | None:
    return _blank("".join(as_text(v, t) or "" for v, t in zip(values, types, strict=True)))


def _pg_concat(args: Sequence[Any]) -> Any:
    return pg.blank_if_empty(sa.func.concat(*(pg.text_of(a.expr, a.type) for a in args)))


def _pg_value(args: Sequence[Any]) -> Any:
    t = sa.func.btrim(args[0].expr, pg.txt(_TRIM))
    ok = sa.and_(t.op("~")(pg.txt(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")), sa.func.length(t) <= 60)
    return sa.case((ok, sa.cast(t, sa.Numeric())))


def _pg_pad(fn: Any) -> Any:
    def build(a: Sequence[Any]) -> Any:
        fill = sa.func.coalesce(a[2].expr, pg.txt(" ")) if len(a) > 2 else pg.txt(" ")
        return pg.blank_if_empty(fn(a[0].expr, pg.size(a[1].expr), fill))

    return build


def _pg_find(a: Sequence[Any]) -> Any:
    needle, hay = pg.nz(a[0].expr), pg.nz(a[1].expr)
    if len(a) == 2:
        return sa.cast(sa.func.strpos(hay, needle), sa.Numeric())
    start = pg.integer(a[2].expr, 1, MAX_TEXT)
    found = sa.func.strpos(sa.func.substr(hay, start), needle)
    return sa.cast(sa.case((found > 0, found + start - 1), else_=0), sa.Numeric())


def _pg_rept(a: Sequence[Any]) -> Any:
    k = pg.size(a[1].expr)
    return sa.case((sa.func.length(a[0].expr) * k <= MAX_TEXT, pg.blank_if_empty(sa.func.repeat(a[0].expr, k))))


def _txt(name: str, signature: str, doc: str, typer: Any, python: Any, postgres: Any,
         *examples: tuple[str, str], wants_types: bool = False, literal_args: tuple[int, ...] = (),
         python_inline: str | None = None) -> None:
    register(Function(name, "text", signature, doc, typer, python=python, postgres=postgres,
                      examples=tuple(Example(f, r) for f, r in examples), wants_types=wants_types,
                      literal_args=literal_args, pure=True, python_inline=python_inline))


def _strict_text(fn: Any) -> Any:
    def wrapped(*args: Any) -> Any:
        return None if any(a is None for a in args) else _blank(fn(*args))

    return wrapped


_txt("CONCAT", "CONCAT(value1, [value2, …])",
     "Joins values into one text; blanks count as empty text. Numbers, dates and checkboxes are shown "
     "as TEXT shows them. Same as `a & b`.", sig("any", "any*", returns=TEXT), _concat, _pg_concat,
     ('CONCAT(first_name, " ", last_name)', '"Ada Lovelace"'), ('CONCAT("Total: ", 1.50)', '"Total: 1.5"'),
     wants_types=True)
_txt("LEN", "LEN(text)", "The number of characters; 0 for blank.", sig("text", returns=NUMBER),
     lambda t: Decimal(len(_t(t))),
     lambda a: sa.cast(sa.func.coalesce(sa.func.length(a[0].expr), 0), sa.Numeric()),
     ('LEN("Zürich")', "6"), ("LEN(BLANK())", "0"))
_txt("LEFT", "LEFT(text, count)", "The first `count` characters.", sig("text", "number", returns=TEXT), _left,
     lambda a: pg.blank_if_empty(sa.func.left(a[0].expr, pg.size(a[1].expr))), ('LEFT("Tessera", 4)', '"Tess"'))
_txt("RIGHT", "RIGHT(text, count)", "The last `count` characters.", sig("text", "number", returns=TEXT), _right,
     lambda a: pg.blank_if_empty(sa.func.right(a[0].expr, pg.size(a[1].expr))), ('RIGHT("Tessera", 3)', '"era"'))
_txt("MID", "MID(text, start, count)", "`count` characters starting at position `start` (the first is 1).",
     sig("text", "number", "number", returns=TEXT), _mid,
     lambda a: pg.blank_if_empty(sa.func.substr(a[0].expr, pg.integer(a[1].expr, 1, MAX_TEXT), pg.size(a[2].expr))),
     ('MID("Tessera", 2, 3)', '"ess"'))
_txt("UPPER", "UPPER(text)", "The text in capitals, following Unicode (ß becomes SS).",
     sig("text", returns=TEXT), _strict_text(str.upper),
     lambda a: sa.func.upper(sa.collate(a[0].expr, pg.UNICODE)), ('UPPER("straße")', '"STRASSE"'),
     python_inline="upper")
_txt("LOWER", "LOWER(text)", "The text in small letters, following Unicode.", sig("text", returns=TEXT),
     _strict_text(str.lower), lambda a: sa.func.lower(sa.collate(a[0].expr, pg.UNICODE)),
     ('LOWER("ÉCOLE")', '"école"'), python_inline="lower")
_txt("TRIM", "TRIM(text)", "The text without spaces, tabs and line breaks at either end.",
     sig("text", returns=TEXT), _strict_text(lambda t: t.strip(_TRIM)),
     lambda a: pg.blank_if_empty(sa.func.btrim(a[0].expr, pg.txt(_TRIM))), ('TRIM("  hello ")', '"hello"'))
_txt("SUBSTITUTE", "SUBSTITUTE(text, old, new)", "Replaces every occurrence of `old` with `new`.",
     sig("text", "text", "text", returns=TEXT), _substitute,
     lambda a: pg.blank_if_empty(sa.func.replace(a[0].expr, pg.nz(a[1].expr), pg.nz(a[2].expr))),
     ('SUBSTITUTE("a-b-c", "-", "/")', '"a/b/c"'))
_txt("FIND", "FIND(search, text, [start])",
     "The position (from 1) where `search` first occurs in `text` at or after `start`; 0 when it "
     "does not occur. Case-sensitive.", sig("text", "text", "number?", returns=NUMBER), _find, _pg_find,
     ('FIND("ss", "Tessera")', "3"), ('FIND("x", "Tessera")', "0"))
_txt("CONTAINS", "CONTAINS(text, search)", "TRUE when `search` occurs in `text` (case-sensitive).",
     sig("text", "text", returns=BOOLEAN), lambda t, s: _t(s) in _t(t),
     lambda a: sa.func.strpos(pg.nz(a[0].expr), pg.nz(a[1].expr)) > 0, ('CONTAINS(email, "@example.com")', "TRUE"),
     python_inline="contains")
_txt("STARTSWITH", "STARTSWITH(text, prefix)", "TRUE when the text begins with `prefix`.",
     sig("text", "text", returns=BOOLEAN), lambda t, p: _t(t).startswith(_t(p)),
     lambda a: sa.func.starts_with(pg.nz(a[0].expr), pg.nz(a[1].expr)), ('STARTSWITH(phone, "+41")', "TRUE"),
     python_inline="startswith")
_txt("ENDSWITH", "ENDSWITH(text, suffix)", "TRUE when the text ends with `suffix`.",
     sig("text", "text", returns=BOOLEAN), lambda t, p: _t(t).endswith(_t(p)),
     lambda a: sa.func.right(pg.nz(a[0].expr), sa.func.length(pg.nz(a[1].expr))) == pg.nz(a[1].expr),
     ('ENDSWITH(email, ".org")', "TRUE"), python_inline="endswith")
_txt("REGEX_MATCH", "REGEX_MATCH(text, pattern)",
     "TRUE when the whole text matches the pattern, written in quotes. Patterns use characters, `.`, "
     "`[a-z]`, `\\d \\w \\s`, `* + ? {m,n}`, `( )` and `|`.", _regex_typer, _regex, _pg_regex,
     ('REGEX_MATCH(zip, "\\\\d{5}")', "TRUE for 80331"), ('REGEX_MATCH("AB-12", "[A-Z]+-[0-9]+")', "TRUE"),
     literal_args=(1,))
_txt("TEXT", "TEXT(value, [format])",
     'The value as text. Numbers take formats like "0", "0.00", "#,##0.00", "0%"; dates and date-times '
     "take YYYY, YY, MM, DD, HH, MI, SS, MON (Jan) and DAY (Monday). Without a format numbers drop "
     'trailing zeros, dates are YYYY-MM-DD, date-times "YYYY-MM-DD HH:MM:SS" in UTC, checkboxes '
     "TRUE/FALSE.", _text_typer, _text, _pg_text,
     ('TEXT(1234.5, "#,##0.00")', '"1,234.50"'), ('TEXT(0.256, "0.0%")', '"25.6%"'),
     ('TEXT(DATE(2024, 3, 5), "DD.MM.YYYY")', '"05.03.2024"'), ("TEXT(2.50)", '"2.5"'),
     wants_types=True, literal_args=(1,))
_txt("VALUE", "VALUE(text)", "The number written in the text (like 12, -3.5 or .5); blank if it is not one.",
     sig("text", returns=NUMBER), _value, _pg_value, ('VALUE(" 42.50 ")', "42.5"), ('VALUE("abc")', "blank"))
_txt("REPT", "REPT(text, count)", "The text repeated `count` times (blank if longer than 100,000 characters).",
     sig("text", "number", returns=TEXT), _rept, _pg_rept, ('REPT("ab", 3)', '"ababab"'))
_txt("LPAD", "LPAD(text, length, [fill])",
     "The text padded on the left with `fill` (a space by default) to `length` characters; longer texts "
     "are cut to `length`.", sig("text", "number", "text?", returns=TEXT), _pad(True), _pg_pad(sa.func.lpad),
     ('LPAD("42", 5, "0")', '"00042"'))
_txt("RPAD", "RPAD(text, length, [fill])", "The text padded on the right to `length` characters.",
     sig("text", "number", "text?", returns=TEXT), _pad(False), _pg_pad(sa.func.rpad), ('RPAD("ab", 4, ".")', '"ab.."'))
_txt("REVERSE", "REVERSE(text)", "The characters in reverse order.", sig("text", returns=TEXT),
     _strict_text(lambda t: t[::-1]), lambda a: sa.func.reverse(a[0].expr), ('REVERSE("abc")', '"cba"'))
_txt("REPLACE", "REPLACE(text, start, count, new)",
     "Replaces `count` characters starting at position `start` with `new`.",
     sig("text", "number", "number", "text", returns=TEXT), _replace,
     lambda a: pg.blank_if_empty(sa.func.overlay(a[0].expr, pg.nz(a[3].expr), pg.integer(a[1].expr, 1, MAX_TEXT),
                                                 pg.size(a[2].expr))),
     ('REPLACE("2024-01-31", 6, 2, "12")', '"2024-12-31"'))
