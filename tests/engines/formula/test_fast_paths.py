"""The Python compiler's fast paths give exactly what the plain translation gives.

`compile_python(checked)` folds constant calls, uses specialised ROUND/ROUNDUP/ROUNDDOWN/TRUNC
and division by a constant, writes LOWER/UPPER/CONTAINS/STARTSWITH/ENDSWITH inline and
skips number conversions the types make needless; `compile_python(checked, fast=False)` does
none of that. Both must agree on every record — same values, same Decimal digits, same errors.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera.formula import FormulaError, Function, check, compile_python, register, sig
from tessera.formula import values as V
from tessera.formula.functions.registry import VARIES, get, unregister

from .conftest import ACCOUNT, DEAL, SCHEMA, PythonSide
from .test_equivalence import CURATED, CURATED_ACCOUNT, formulas

#: Records the shared data set lacks: empty texts, ints where numbers are, extreme digits.
ODD_DEALS: list[dict[str, Any]] = [
    {"id": 101, "name": "", "code": "", "amount": 5, "rate": 3, "qty": 7, "stage": ""},
    {"id": 102, "name": "ACME Inc", "code": "acme", "amount": Decimal("-0"), "rate": Decimal("-0.0000"), "qty": 0},
    {"id": 103, "name": "Straße", "code": "SS", "amount": Decimal("0.00000000004999999999995"),
     "rate": Decimal("123456789012345678.123456789"), "qty": -1},
    {"id": 104, "name": None, "code": None, "amount": Decimal("2.5"), "rate": Decimal("-2.5"), "qty": None},
    {"id": 105, "name": "x", "amount": Decimal("1E+20"), "rate": Decimal("0.05"), "day": date(2024, 1, 1)},
]

EXTRA = [
    "ROUND(amount * (1 - rate / 100), 2)", "amount / 100", "amount / 10", "amount / 1", "amount / 0.1",
    "amount / 1000", "rate / -100", "rate / 3", "qty / 100", "amount / (50 * 2)", "amount / (1 - 1)",
    "amount / BLANK()", "ROUND(amount)", "ROUND(amount, -2)", "ROUND(rate, 2.7)", "ROUND(qty, 1)",
    "ROUND(amount, BLANK())", "ROUND(amount, 40)", "ROUNDUP(rate, 3)", "ROUNDDOWN(rate, -1)", "TRUNC(amount, 1)",
    "ROUND(1.005, 2) + amount", "ROUND(amount / 7, 4) * qty", "-(2 * 3) + amount", "amount * (1 - 0.2)",
    "day >= DATE(2024, 1, 1)", "day < DATEADD(DATE(2024, 1, 31), 1, \"month\")", "day = DATE(2023, 2, 29)",
    "DATEDIFF(day, TODAY(), \"day\")", "YEAR(DATE(2024, 5, 1)) + qty", "LOWER(name)", "UPPER(code)",
    "CONTAINS(LOWER(name), \"acme\")", "CONTAINS(name, \"\")", "CONTAINS(\"\", name)", "CONTAINS(name, code)",
    "CONTAINS(UPPER(LOWER(name)), UPPER(\"s\"))", "STARTSWITH(LOWER(name), \"a\")", "ENDSWITH(code, BLANK())",
    "STARTSWITH(name, LOWER(code))", "LOWER(name) = \"acme inc\"", "name = \"ACME Inc\"", "\"x\" <> name",
    "stage = \"won\"", "stage = \"\"", "name = BLANK()", "AND(stage = \"won\", day >= DATE(2024, 1, 1), "
    "CONTAINS(LOWER(name), \"acme\"))", "IF(qty > 1, amount / 100, rate * 2)", "IF(flag, 1, 2) + amount",
    "LEN(LOWER(\"ABC\")) + qty", "TEXT(ROUND(2.345, 2)) & name", "IF(FALSE, POWER(POWER(POWER(POWER(10, 50), 50), "
    "50), 50), 1)", "POWER(POWER(POWER(POWER(10, 50), 50), 50), 50) + amount", "SQRT(2) * amount",
    "MIN(qty, 3)", "MAX(qty, 3) + 0", "ABS(qty)", "SUM(qty)", "-qty", "COUNTITEMS(tags) + LEN(\"ab\")",
]


def _run(fn: Any, record: dict[str, Any], ctx: Any) -> Any:
    try:
        return fn(record, ctx)
    except FormulaError as error:
        return ("error", str(error))


def _same(a: Any, b: Any) -> bool:
    """Identical formula values: equal, same type, and for Decimals the same digits."""
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return str(a) == str(b)
    return (a == b and type(a) is type(b)) or (a is None and b is None)


def _agree(formula: str, py: PythonSide, records: list[dict[str, Any]], obj: Any = DEAL) -> None:
    checked = check(formula, obj, SCHEMA)
    fast, plain = compile_python(checked), compile_python(checked, fast=False)
    ctx = py.context()
    bad = [(r.get("id"), f, p) for r in records
           if not _same(f := _run(fast, r, ctx), p := _run(plain, r, ctx))]
    assert not bad, f"{formula}: {bad[:3]}\n{fast.python_source}"


@pytest.mark.parametrize("formula", CURATED + EXTRA)
def test_fast_code_agrees_with_the_plain_translation(formula: str, py: PythonSide) -> None:
    _agree(formula, py, py.all_deals + ODD_DEALS)


@pytest.mark.parametrize("formula", CURATED_ACCOUNT)
def test_fast_code_agrees_on_aggregates(formula: str, py: PythonSide) -> None:
    _agree(formula, py, list(py.accounts.values()), ACCOUNT)


@settings(max_examples=300, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(formula=st.sampled_from(["number", "text", "date", "boolean"]).flatmap(formulas))
def test_random_formulas_agree_fast_and_plain(formula: str, py: PythonSide) -> None:
    _agree(formula, py, py.all_deals + ODD_DEALS)


def _constants(fn: Any) -> list[Any]:
    return [v for k, v in fn.__globals__.items() if k.startswith("_c")]


def test_calls_with_constant_arguments_are_computed_once() -> None:
    fn = compile_python(check("day >= DATE(2024, 1, 1)", DEAL, SCHEMA))
    assert date(2024, 1, 1) in _constants(fn)
    assert fn({"day": date(2024, 3, 1)}) is True
    fn = compile_python(check("YEAR(DATE(2024, 5, 1)) + 1", DEAL, SCHEMA))
    assert "(" not in fn.python_source.split("return", 1)[1].split("\n")[0].replace("(_c", "")
    assert fn({}) == Decimal(2025)


def test_clock_and_impure_functions_are_not_folded(py: PythonSide) -> None:
    fn = compile_python(check("DATEDIFF(DATE(2024, 1, 1), TODAY(), \"day\")", DEAL, SCHEMA))
    assert "ctx.today" in fn.python_source
    calls: list[int] = []

    def counted(x: Any) -> Any:
        calls.append(1)
        return x

    register(Function("COUNTED_ID", "test", "COUNTED_ID(n)", "n", sig("number", returns="number"),
                      python=counted), replace=True)
    try:
        fn = compile_python(check("COUNTED_ID(2) + amount", DEAL, SCHEMA))
        assert calls == []
        fn({"amount": Decimal(1)})
        fn({"amount": Decimal(1)})
        assert len(calls) == 2
    finally:
        unregister("COUNTED_ID")


def test_a_constant_that_fails_fails_at_run_time_only_when_reached() -> None:
    huge = "POWER(POWER(POWER(POWER(10, 50), 50), 50), 50)"
    assert compile_python(check(f"IF(FALSE, {huge}, 1)", DEAL, SCHEMA))({}) == Decimal(1)
    fn = compile_python(check(f"{huge} + amount", DEAL, SCHEMA))
    with pytest.raises(FormulaError):
        fn({"amount": Decimal(1)})


def test_a_replaced_builtin_is_not_inlined() -> None:
    original = get("LOWER")
    assert original is not None and original.python_inline == "lower"
    register(Function("LOWER", "text", "LOWER(text)", "shouts", sig("text", returns="text"),
                      python=lambda t: None if t is None else t.upper() + "!"), replace=True)
    try:
        fn = compile_python(check('LOWER(name)', DEAL, SCHEMA))
        assert fn({"name": "abc"}) == "ABC!"
    finally:
        register(original, replace=True)
    assert compile_python(check('LOWER(name)', DEAL, SCHEMA))({"name": "ABC"}) == "abc"


def test_compiled_fast_source_holds_no_user_text() -> None:
    fn = compile_python(check('AND(CONTAINS(LOWER(name), "__import__"), code = "os.system", '
                              'ROUND(amount / 100, 2) > 0, STARTSWITH(UPPER(name), "eval("))', DEAL, SCHEMA))
    for word in ("import", "system", "eval", "name", "code", "amount"):
        assert word not in fn.python_source.replace("_formula", "")


DIVIDENDS = ["0", "-0", "0.00", "1", "-1", "12.34", "-12.345", "0.00000000004999999999995",
             "0.000000004999999999995", "-0.000000000050000000000",
             "0.0000000000499999999999999999999", "123456789012345678901234567890.123456789", "1E+30", "7E-25",
             "99999999999.99999999995", "2.5", "-2.5", "0.05", "1234567.891011121314151617181920212223"]
DIVISORS = ["100", "10", "1", "0.1", "0.01", "1000", "1E+5", "100.00", "-100", "3", "7", "-7", "0.3", "1E-12", "0"]


@pytest.mark.parametrize("divisor", DIVISORS)
def test_division_by_a_constant_gives_the_same_digits(divisor: str) -> None:
    b = Decimal(divisor)
    by = V.div_by(b)
    for text in DIVIDENDS:
        a = Decimal(text)
        assert str(by(a)) == str(V.div(a, b)), (text, divisor)
    for a_int in (0, 1, -3, 10**20, True):
        assert str(by(a_int)) == str(V.div(a_int, b))
    assert by(None) is None


@pytest.mark.parametrize("rounding", [ROUND_HALF_UP, ROUND_UP, ROUND_DOWN])
def test_specialised_rounding_gives_the_same_digits(rounding: str) -> None:
    name = {ROUND_HALF_UP: "ROUND", ROUND_UP: "ROUNDUP", ROUND_DOWN: "ROUNDDOWN"}[rounding]
    spec = get(name)
    assert spec is not None and spec.python_specialise is not None
    for places in [None, Decimal(0), Decimal(2), Decimal("2.9"), Decimal(-2), Decimal(-40), Decimal(45)]:
        constants = (VARIES,) if places is None else (VARIES, places)
        fast = spec.python_specialise(constants)
        assert fast is not None
        for text in DIVIDENDS:
            for value in (Decimal(text), -Decimal(text)):
                args = (value,) if places is None else (value, places)
                assert str(fast(value)) == str(spec.python(*args)), (name, text, places)
        assert fast(None) is None
        assert str(fast(7)) == str(spec.python(7) if places is None else spec.python(7, places))
    assert spec.python_specialise((VARIES, None)) is None
    assert spec.python_specialise((VARIES, VARIES)) is None
