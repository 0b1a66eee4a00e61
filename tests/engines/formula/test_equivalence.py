"""Python, SQLite and PostgreSQL give the same answer for the same formula on the same
records: curated formulas for every family, then random well-typed formulas (hypothesis)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera.formula import check, compile_filter

from .conftest import ACCOUNT, DEAL, SCHEMA, Backend, PythonSide
from .helpers import in_python, in_sql, same

CURATED = [
    "amount + rate * qty", "amount / 3", "amount / 0", "-amount", "rate / 7", "ROUND(amount * 1.075, 2)",
    "ROUND(rate, 2)", "ROUNDUP(rate, 1)", "ROUNDDOWN(amount, -1)", "FLOOR(amount, 0.2)", "CEILING(rate, 0.5)",
    "FLOOR(amount)", "CEILING(rate)", "MOD(qty, 3)", "MOD(amount, -7)", "POWER(rate, 2)", "POWER(qty, -2)",
    "SQRT(ABS(amount))", "SIGN(rate)", "INT(rate)", "TRUNC(rate, 2)", "MIN(amount, rate, qty)",
    "MAX(amount, BLANK())", "SUM(amount, rate, qty)", "AVERAGE(amount, rate, BLANK())",
    "amount > 1000", "amount >= 12345.67", "amount < 0.005", "amount = 1000", "amount <> 1000", "amount = rate",
    "rate > amount", "qty > 2", "qty = 3", "amount = BLANK()", "name = code", "name < code", "name <> \"x\"",
    "name & \" / \" & amount & \" / \" & day & \" / \" & flag & \" / \" & at & \" / \" & tags",
    "CONCAT(name, qty, spent)", "LEN(name)", "LEFT(name, 3)", "RIGHT(name, 2)", "MID(name, 2, 3)", "UPPER(name)",
    "LOWER(code)", "TRIM(name)", "SUBSTITUTE(name, \"a\", \"ä\")", "FIND(\"a\", name)", "FIND(\"e\", name, 3)",
    "CONTAINS(name, \"a\")", "STARTSWITH(name, \"A\")", "ENDSWITH(code, \"e\")", "REGEX_MATCH(code, \"[A-Za-z ]+\")",
    "REGEX_MATCH(name, \"\\\\d+(\\\\.\\\\d+)?\")", "TEXT(amount, \"#,##0.00\")", "TEXT(rate, \"0.0%\")",
    "TEXT(amount)", "TEXT(day, \"DD.MM.YYYY DAY MON\")", "TEXT(at, \"YYYY-MM-DD HH:MI:SS\")", "TEXT(flag)",
    "VALUE(code)", "REPT(name, 2)", "LPAD(code, 6, \"*\")", "RPAD(name, 4)", "REVERSE(name)",
    "REPLACE(name, 2, 1, \"#\")", "DATE(2024, 2, 29)", "DATE(2023, 2, 29)", "DATETIME(2024, 12, 31, 23, 59, 59)",
    "YEAR(day)", "MONTH(at)", "DAY(day)", "HOUR(at)", "MINUTE(at)", "SECOND(at)", "WEEKDAY(day)", "WEEKNUM(day)",
    "ISOWEEKNUM(day)", "DATEADD(day, 1, \"month\")", "DATEADD(day, -1, \"year\")", "DATEADD(at, 36, \"hour\")",
    "DATEADD(at, 1, \"quarter\")", "DATEDIFF(day, DATE(2024, 6, 14), \"day\")", "DATEDIFF(day, TODAY(), \"month\")",
    "DATEDIFF(at, NOW(), \"minute\")", "DATEDIFF(day, DATE(2025, 1, 1), \"week\")", "EOMONTH(day, 1)",
    "EOMONTH(at, -1)", "WORKDAY(day, 3)", "WORKDAY(day, -6)", "DATEVALUE(code)", "DATEVALUE(at)", "day + 30",
    "day - qty", "TODAY() - day", "at - NOW()", "at + spent", "NOW() - DURATION(1, 30)", "spent + spent",
    "HOURS(spent)", "SECONDS(spent)", "INCLUDES(tags, \"vip\")", "COUNTITEMS(tags)", "tags = tags",
    "IF(flag, amount, rate)", "IF(amount > 100, \"big\", BLANK())", "IFS(qty > 10, \"many\", qty > 1, \"some\")",
    "SWITCH(stage, \"won\", 1, \"lost\", 0, 0.5)", "AND(flag, amount > 0)", "OR(flag, NOT flag)", "XOR(flag, qty > 1)",
    "NOT(amount > 5)", "!(name = code)", "ISBLANK(amount)", "ISBLANK(flag)", "BLANKVALUE(amount, rate)",
    "COALESCE(name, code, \"none\")", "account.name", "account.parent.name", "account.industry = \"retail\"",
    "owner.email", "owner.manager.email", "$user.email", "$user", "owner = $user", "id", "stage = \"won\"",
]
CURATED_ACCOUNT = [
    "COUNT(deals)", "COUNT(deals, deals.stage = \"won\")", "SUM(deals.amount)", "SUM(deals.rate * deals.qty)",
    "SUM(deals.amount, deals.day >= TODAY() - 90)", "AVG(deals.amount)", "AVG(deals.rate, deals.flag)",
    "MIN(deals.amount)", "MAX(deals.rate)", "MIN(deals.day)", "MAX(deals.at)", "MAX(deals.spent)",
    "AND(COUNT(deals) >= 3, AVG(deals.amount) > 1000)", "COUNT(deals, deals.name = name)", "parent.parent.name",
]


@pytest.mark.parametrize("formula", CURATED)
def test_formula_gives_the_same_values_in_python_and_sql(formula: str, backend: Backend, py: PythonSide) -> None:
    expected = in_python(formula, py)
    got = in_sql(formula, backend, py)
    pairs = zip(expected, got, strict=True)
    mismatches = [(py.deals[i]["id"], e, g) for i, (e, g) in enumerate(pairs) if not same(e, g)]
    assert not mismatches, mismatches[:5]


@pytest.mark.parametrize("formula", CURATED_ACCOUNT)
def test_aggregates_and_paths_agree(formula: str, backend: Backend, py: PythonSide) -> None:
    expected = in_python(formula, py, ACCOUNT)
    got = in_sql(formula, backend, py, ACCOUNT)
    assert all(same(e, g) for e, g in zip(expected, got, strict=True)), (expected, got)


@pytest.mark.parametrize("formula", [f for f in CURATED if check(f, DEAL, SCHEMA).type == "boolean"])
def test_filter_selects_the_records_python_finds_true(formula: str, backend: Backend, py: PythonSide) -> None:
    checked = check(formula, DEAL, SCHEMA)
    where = compile_filter(checked, backend.dialect, backend.table_for, py.context())
    expected = [row["id"] for row, v in zip(py.deals, in_python(formula, py), strict=True) if v]
    assert backend.ids(where) == expected


# -- random formulas ------------------------------------------------------------------

_NUM_FIELDS = ["amount", "rate", "qty"]
_TEXT_FIELDS = ["name", "code", "stage"]
_ALPHABET = st.sampled_from(list("aAbß éÉ-1.5日😀Σς_İ"))


def _number_literal() -> st.SearchStrategy[str]:
    return st.one_of(*(st.decimals(min_value=-10000, max_value=10000, places=p, allow_nan=False,
                                   allow_infinity=False) for p in (0, 2, 3))).map(
        lambda d: f"({d})" if d < 0 else str(d))


@st.composite
def formulas(draw: Any, t: str, depth: int = 0) -> str:
    leaf = depth >= 3 or draw(st.integers(0, 3)) == 0
    if t == "number":
        if leaf:
            return draw(st.one_of(st.sampled_from(_NUM_FIELDS), _number_literal(), st.just("BLANK()")))
        kind = draw(st.integers(0, 9))
        a, b = draw(formulas("number", depth + 1)), draw(formulas("number", depth + 1))
        if kind <= 2:
            return f"({a} {draw(st.sampled_from(['+', '-', '*', '/']))} {b})"
        if kind == 3:
            fn = draw(st.sampled_from(["ROUND", "ROUNDUP", "ROUNDDOWN", "TRUNC"]))
            return f"{fn}({a}, {draw(st.integers(-2, 4))})"
        if kind == 4:
            fn = draw(st.sampled_from(["ABS", "SIGN", "INT", "FLOOR", "CEILING", "-"]))
            return f"{fn}({a})" if fn != "-" else f"-({a})"
        if kind == 5:
            fn = draw(st.sampled_from(["MOD", "MIN", "MAX", "SUM", "AVERAGE", "FLOOR", "CEILING"]))
            return f"{fn}({a}, {b})"
        if kind == 6:
            return f"IF({draw(formulas('boolean', depth + 1))}, {a}, {b})"
        if kind == 7:
            return f"LEN({draw(formulas('text', depth + 1))})"
        if kind == 8:
            fn = draw(st.sampled_from(["YEAR", "MONTH", "DAY", "WEEKDAY", "WEEKNUM"]))
            return f"{fn}({draw(formulas('date', depth + 1))})"
        unit = draw(st.sampled_from(["day", "week", "month", "year"]))
        return f'DATEDIFF({draw(formulas("date", depth + 1))}, {draw(formulas("date", depth + 1))}, "{unit}")'
    if t == "text":
        if leaf:
            lit = draw(st.text(_ALPHABET, max_size=6)).replace("\\", "")
            return draw(st.one_of(st.sampled_from(_TEXT_FIELDS), st.just(f'"{lit}"')))
        kind = draw(st.integers(0, 6))
        a = draw(formulas("text", depth + 1))
        if kind == 0:
            return f"({a} & {draw(formulas(draw(st.sampled_from(['text', 'number', 'date', 'boolean'])), depth + 1))})"
        if kind == 1:
            return f"{draw(st.sampled_from(['UPPER', 'LOWER', 'TRIM', 'REVERSE']))}({a})"
        if kind == 2:
            return f"{draw(st.sampled_from(['LEFT', 'RIGHT', 'REPT']))}({a}, {draw(st.integers(-1, 4))})"
        if kind == 3:
            return f"MID({a}, {draw(st.integers(0, 4))}, {draw(st.integers(0, 3))})"
        if kind == 4:
            fmt = draw(st.sampled_from(["0", "0.00", "#,##0.0", "0%"]))
            return f'TEXT({draw(formulas("number", depth + 1))}, "{fmt}")'
        if kind == 5:
            return f"IF({draw(formulas('boolean', depth + 1))}, {a}, {draw(formulas('text', depth + 1))})"
        return f'SUBSTITUTE({a}, "{draw(st.sampled_from(["a", "ß", " ", "1"]))}", {draw(formulas("text", depth + 1))})'
    if t == "date":
        if leaf:
            return draw(st.sampled_from(["day", "TODAY()", "DATE(2024, 2, 29)", "DATE(2023, 13, 1)", "IF(FALSE, day)"]))
        kind = draw(st.integers(0, 3))
        a = draw(formulas("date", depth + 1))
        if kind == 0:
            unit = draw(st.sampled_from(["day", "month", "year", "week"]))
            return f'DATEADD({a}, {draw(st.integers(-30, 30))}, "{unit}")'
        if kind == 1:
            return f"({a} + {draw(st.integers(-400, 400))})"
        if kind == 2:
            return f"EOMONTH({a}, {draw(st.integers(-3, 3))})"
        return f"WORKDAY({a}, {draw(st.integers(-8, 8))})"
    # boolean
    if leaf:
        return draw(st.sampled_from(["flag", "TRUE", "FALSE", "ISBLANK(amount)", 'INCLUDES(tags, "vip")']))
    kind = draw(st.integers(0, 4))
    if kind <= 1:
        sub = draw(st.sampled_from(["number", "text", "date"]))
        op = draw(st.sampled_from(["=", "<>", "<", "<=", ">", ">="]))
        return f"({draw(formulas(sub, depth + 1))} {op} {draw(formulas(sub, depth + 1))})"
    if kind == 2:
        op = draw(st.sampled_from(["AND", "OR", "&&", "||"]))
        return f"({draw(formulas('boolean', depth + 1))} {op} {draw(formulas('boolean', depth + 1))})"
    if kind == 3:
        return f"NOT({draw(formulas('boolean', depth + 1))})"
    fn = draw(st.sampled_from(["CONTAINS", "STARTSWITH", "ENDSWITH"]))
    return f"{fn}({draw(formulas('text', depth + 1))}, {draw(formulas('text', depth + 1))})"


def _agree(formula: str, backend: Backend, py: PythonSide) -> None:
    expected = in_python(formula, py)
    try:
        got = in_sql(formula, backend, py)
    except Exception as error:
        raise AssertionError(f"{formula}: {error}") from error
    bad = [(py.deals[i]["id"], e, g) for i, (e, g) in enumerate(zip(expected, got, strict=True)) if not same(e, g)]
    assert not bad, f"{formula}: {bad[:3]}"


_SETTINGS = settings(max_examples=200, derandomize=True, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@_SETTINGS
@given(formula=st.sampled_from(["number", "text", "date", "boolean"]).flatmap(formulas))
def test_random_formulas_agree_in_sqlite(formula: str, sqlite_backend: Backend, py: PythonSide) -> None:
    _agree(formula, sqlite_backend, py)


@pytest.mark.postgres
@_SETTINGS
@given(formula=st.sampled_from(["number", "text", "date", "boolean"]).flatmap(formulas))
def test_random_formulas_agree_in_postgresql(formula: str, pg_backend: Backend, py: PythonSide) -> None:
    _agree(formula, pg_backend, py)
