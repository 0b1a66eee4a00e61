"""The language as builders meet it: syntax, errors that point at the character, types,
blank semantics, exact numbers, change context, limits, and a fuzzed parser."""

from __future__ import annotations

import contextlib
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera.formula import (
    EvalContext,
    FormulaError,
    Function,
    SimpleSchema,
    all_functions,
    check,
    compile_python,
    complete,
    evaluate,
    register,
    rename_field,
    sig,
)
from tessera.formula.functions.registry import unregister
from tessera.meta.model import ObjectDef

from .conftest import ACCOUNT, DEAL, NOW, SCHEMA, PythonSide


def run(formula: str, record: dict[str, Any] | None = None, **ctx: Any) -> Any:
    return evaluate(check(formula, DEAL, SCHEMA), record or {}, EvalContext(now=NOW, **ctx))


def error_of(formula: str, obj: Any = DEAL, **kwargs: Any) -> FormulaError:
    with pytest.raises(FormulaError) as caught:
        check(formula, obj, SCHEMA, **kwargs)
    return caught.value


# -- syntax -----------------------------------------------------------------------------


def test_operators_follow_excel_precedence() -> None:
    assert run("1 + 2 * 3 - 4 / 2") == Decimal(5)
    assert run('"a" & 1 + 2 = "a3"') is True
    assert run("NOT 1 > 2 AND TRUE OR FALSE") is True
    assert run("-2 * -3") == 6


def test_keywords_and_symbols_are_interchangeable() -> None:
    assert run("TRUE && !FALSE || false") is True
    assert run("and(true, or(false, not(false)))") is True
    assert run("1 != 2") is run("1 <> 2") is True


def test_comments_are_ignored() -> None:
    assert run("1 + /* two */ 2 // three\n + 3") == 6


def test_text_escapes() -> None:
    assert run(r'"say \"hi\"" & ' + r"'it\'s'") == "say \"hi\"it's"
    assert run(r'"tab\there"') == "tab\there"
    assert run(r'"\u00e9"') == "é"


def test_syntax_error_points_at_the_character() -> None:
    error = error_of("IF(amount > 1000,\n  \"big\" \"small\")")
    assert (error.line, error.column) == (2, 9)
    assert "^" in error.render() and '  "big" "small")' in error.render()


def test_unclosed_text_and_parenthesis_are_explained() -> None:
    assert "never closed" in error_of('"abc').message
    assert "ends too early" in error_of("ROUND(amount, 2").message


def test_unknown_field_suggests_the_nearest() -> None:
    error = error_of("amout * 2")
    assert error.suggestion == "amount" and error.column == 1
    assert 'did you mean "amount"?' in str(error)


def test_a_select_compared_with_a_text_that_is_no_option_names_the_option_meant() -> None:
    error = error_of('stage = "Lost"')
    assert error.suggestion == '"lost"' and '"Lost" is not an option of' in str(error)
    assert error_of('"wonn" <> stage').suggestion == '"won"'
    assert 'is not an option' in str(error_of('account.industry = "Finance"'))
    check('stage = "lost"', DEAL, SCHEMA)
    check('stage = ""', DEAL, SCHEMA)


def test_unknown_function_suggests_the_nearest() -> None:
    error = error_of("ROUDN(amount, 2)")
    assert error.suggestion == "ROUND"


def test_unknown_field_through_a_lookup_names_the_object() -> None:
    error = error_of("account.nme")
    assert "on Account" in error.message and error.suggestion == "name" and error.column == 9


def test_every_problem_is_reported() -> None:
    error = error_of("amout + nme")
    assert len(error.errors) == 2


def test_type_errors_point_at_the_operator() -> None:
    error = error_of('name + 1')
    assert 'use & to join' in error.message and error.column == 6
    assert "cannot compare" in error_of('amount = "x"').message


def test_expected_type_is_enforced() -> None:
    assert "must give a boolean" in error_of("amount * 2", expect="boolean").message
    assert check("amount > 2", DEAL, SCHEMA, expect="boolean").type == "boolean"


def test_limits_on_length_and_depth() -> None:
    assert "at most 10,000" in error_of("1+" * 5001 + "1").message
    assert "nested too deeply" in error_of("(" * 100 + "1" + ")" * 100).message
    assert "nested too deeply" in error_of("ABS(" * 70 + "1" + ")" * 70).message


@settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list('abc()+-*/&=<>!,."\'$ \n\\0123456789_AIFNDORTXU/*é')), max_size=60)
       | st.text(max_size=40))
def test_any_text_gives_a_result_or_a_formula_error(source: str) -> None:
    try:
        checked = check(source, DEAL, SCHEMA)
    except FormulaError as error:
        error.render()
        return
    with contextlib.suppress(FormulaError):
        evaluate(checked, {}, EvalContext(now=NOW))


# -- values and blanks ------------------------------------------------------------------


def test_numbers_are_exact_decimals() -> None:
    assert run("0.1 + 0.2") == Decimal("0.3")
    assert isinstance(run("qty * 2", {"qty": 3}), Decimal)


def test_division_rounds_half_away_from_zero_to_ten_places() -> None:
    assert run("2 / 3") == Decimal("0.6666666667")
    assert run("-2 / 3") == Decimal("-0.6666666667")
    assert run("1 / 0") is None


def test_blank_semantics() -> None:
    blank = {"amount": None, "name": None, "flag": None}
    assert run("amount + 1", blank) is None
    assert run('name & "x"', blank) == "x"
    assert run("amount = BLANK()", blank) is True
    assert run("amount = 1", blank) is False
    assert run("amount <> 1", blank) is True
    assert run("amount < 1", blank) is False and run("amount >= 1", blank) is False
    assert run("IF(flag, 1, 2)", blank) == 2
    assert run("NOT flag", blank) is True
    assert run('name = ""', blank) is True
    assert run('ISBLANK("")') is True


def test_dates_and_durations() -> None:
    assert run("DATE(2024, 3, 1) - DATE(2024, 2, 1)") == 29
    assert run("DATEADD(DATE(2024, 1, 31), 1, \"month\")") == date(2024, 2, 29)
    assert run("TODAY()") == NOW.date()
    assert run("HOURS(NOW() - DATEADD(NOW(), -90, \"minute\"))") == Decimal("1.5")


def test_user_context() -> None:
    user = {"id": 7, "email": "ada@example.com"}
    assert run("$user.email", user=user) == "ada@example.com"
    assert run("owner = $user", {"owner": 7}, user=user) is True


def test_change_context_for_rules() -> None:
    before = {"stage": "open", "amount": Decimal(10)}
    after = {"stage": "won", "amount": Decimal(10)}
    assert run("ISCHANGED(stage)", after, prior=before) is True
    assert run("ISCHANGED(amount)", after, prior=before) is False
    assert run("PRIORVALUE(stage)", after, prior=before) == "open"
    assert run("ISNEW()", after) is True and run("ISCHANGED(stage)", after) is False


def test_change_context_is_refused_in_sql(sqlite_backend: Any) -> None:
    from tessera.formula import compile_sql

    with pytest.raises(FormulaError, match="only works in rules"):
        compile_sql(check("ISCHANGED(stage)", DEAL, SCHEMA), "sqlite", sqlite_backend.table_for)


def test_aggregates_need_a_child_list() -> None:
    assert "works on a list of related records" in error_of("COUNT(amount)", ACCOUNT).message
    assert "list of related records" in error_of("deals", ACCOUNT).message
    assert "cannot be nested" in error_of("SUM(deals.amount, COUNT(deals) > 1)", ACCOUNT).message


def test_aggregates_evaluate_over_children(py: PythonSide) -> None:
    checked = check('COUNT(deals, deals.stage = "won") + SUM(deals.qty)', ACCOUNT, SCHEMA)
    ctx = py.context()
    got = evaluate(checked, py.accounts[1], ctx)
    children = [d for d in py.deals if d["account"] == 1]
    assert got == sum(d["stage"] == "won" for d in children) + sum(d["qty"] or 0 for d in children)


def test_references_list_the_fields_read() -> None:
    checked = check("account.name & name", DEAL, SCHEMA)
    assert [(r.object.api_name, r.field.api_name) for r in checked.references] == [
        ("deal", "account"), ("account", "name"), ("deal", "name")]
    assert checked.fields == ["account", "name"]


def test_rename_rewrites_only_real_references() -> None:
    source = 'name & " name " & account.name'
    assert rename_field(source, DEAL, SCHEMA, "account", "name", "title") == 'name & " name " & account.title'
    assert rename_field(source, DEAL, SCHEMA, "deal", "name", "title") == 'title & " name " & account.name'


def test_completions_follow_lookups() -> None:
    inserts = [c.insert for c in complete("account.na", 10, DEAL, SCHEMA)]
    assert inserts == ["name"]
    assert {"ROUND", "ROUNDUP", "ROUNDDOWN"} <= {c.label for c in complete("ROU", 3, DEAL, SCHEMA)}
    assert "deals" in {c.insert for c in complete("de", 2, ACCOUNT, SCHEMA)}


LABELLED = ObjectDef({"uid": "opp", "api_name": "opportunity", "label": "Opportunity", "fields": [
    {"uid": "opp.name", "api_name": "name", "label": "Name", "type": "text"},
    {"uid": "opp.stage", "api_name": "stage", "label": "Sales stage", "type": "select", "options": [
        {"value": "open", "label": "Open"}, {"value": "closed_won", "label": "Closed won"},
        {"value": "closed_lost", "label": "Closed lost"}]},
    {"uid": "opp.close", "api_name": "close_on", "label": "Expected close date", "type": "date"},
    {"uid": "opp.margin", "api_name": "margin", "label": "Margin", "type": "decimal"},
    {"uid": "opp.account", "api_name": "account", "label": "Customer", "type": "lookup", "target": "account"},
]})
LABELLED_SCHEMA = SimpleSchema([ACCOUNT, LABELLED])


def test_completions_find_fields_by_any_word_of_their_label_and_insert_the_name() -> None:
    found = complete("Sta", 3, LABELLED, LABELLED_SCHEMA)
    assert (found[0].label, found[0].insert, found[0].replace, found[0].kind) == ("Sales stage", "stage", 3, "field")
    assert found[0].detail == "stage · choice"
    assert next(c.insert for c in complete("date", 4, LABELLED, LABELLED_SCHEMA) if c.kind == "field") == "close_on"
    assert complete("cust", 4, LABELLED, LABELLED_SCHEMA)[0].detail == "account · lookup to Account"
    assert [c.insert for c in complete("account.ind", 11, LABELLED, LABELLED_SCHEMA)] == ["industry"]
    # Functions come with their signatures, after the fields.
    rounds = [c for c in complete("ROUND", 5, LABELLED, LABELLED_SCHEMA) if c.kind == "function"]
    assert rounds[0].insert == "ROUND(" and rounds[0].detail.startswith("ROUND(")


def test_after_a_select_and_an_operator_its_options_are_offered_by_label_with_the_stored_value_quoted() -> None:
    after = complete("stage =", 7, LABELLED, LABELLED_SCHEMA)
    assert [(c.label, c.insert, c.replace, c.kind) for c in after] == [
        ("Open", ' "open"', 0, "option"), ("Closed won", ' "closed_won"', 0, "option"),
        ("Closed lost", ' "closed_lost"', 0, "option")]
    spaced = complete("stage <> won", 12, LABELLED, LABELLED_SCHEMA)
    assert (spaced[0].label, spaced[0].insert, spaced[0].replace) == ("Closed won", '"closed_won"', 3)
    quoted = complete('name = "x" AND stage = "Closed l', 32, LABELLED, LABELLED_SCHEMA)
    assert [(c.label, c.insert, c.replace) for c in quoted] == [("Closed lost", '"closed_lost"', 9)]
    assert complete('stage = "zzz', 12, LABELLED, LABELLED_SCHEMA) == []
    # A multi-select's options in INCLUDES(list, …); a text compared is no select.
    tags = complete("INCLUDES(tags, ", 15, DEAL, SCHEMA)
    assert [c.insert for c in tags] == ['"vip"', '"new"', '"äö"']
    assert all(c.kind != "option" for c in complete("name = ", 7, LABELLED, LABELLED_SCHEMA))
    # Through a lookup: the target's select.
    assert [c.insert for c in complete("account.industry = ", 19, LABELLED, LABELLED_SCHEMA)] == ['"retail"', '"tech"']


def test_completions_never_offer_what_the_caller_may_not_see() -> None:
    def visible(obj: ObjectDef, field: Any) -> bool:
        return field.api_name not in ("margin", "industry")

    assert "margin" not in {c.insert for c in complete("mar", 3, LABELLED, LABELLED_SCHEMA, visible=visible)}
    assert "margin" in {c.insert for c in complete("mar", 3, LABELLED, LABELLED_SCHEMA)}
    assert complete("account.ind", 11, LABELLED, LABELLED_SCHEMA, visible=visible) == []
    assert complete("account.industry = ", 19, LABELLED, LABELLED_SCHEMA, visible=visible) == []


def test_plugins_register_functions() -> None:
    register(Function("DOUBLE_IT", "plugins", "DOUBLE_IT(number)", "Twice the number.",
                      sig("number", returns="number"), python=lambda v: None if v is None else v * 2),
             replace=True)
    try:
        assert run("DOUBLE_IT(21)") == 42
        assert "DOUBLE_IT" in {c.label for c in complete("DOUB", 4, DEAL, SCHEMA)}
    finally:
        unregister("DOUBLE_IT")


def test_compiled_source_holds_no_user_text() -> None:
    fn = compile_python(check('IF(name = "__import__(\'os\')", amount, 0)', DEAL, SCHEMA))
    assert "import" not in fn.python_source and "name" not in fn.python_source.replace("_formula", "")


def test_at_least_seventy_documented_functions() -> None:
    from pathlib import Path

    functions = all_functions()
    assert len(functions) >= 70
    docs = (Path(__file__).parents[3] / "docs" / "formulas.md").read_text()
    for spec in functions.values():
        assert spec.doc and spec.examples, spec.name
        assert f"### {spec.name}" in docs, f"{spec.name} is missing from docs/formulas.md"
        assert all(example.formula in docs for example in spec.examples), spec.name


def test_blank_branch_takes_the_type_of_the_other_branch_in_sql() -> None:
    """IF(cond, number, BLANK()) must compile to one CASE type on PostgreSQL."""
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql

    from tessera.formula import SimpleSchema, check, compile_sql
    from tessera.meta.model import ObjectDef

    deal = ObjectDef({"uid": "obj_t", "api_name": "deal", "label": "Deal", "fields": [
        {"uid": "fld_a", "api_name": "amount", "label": "Amount", "type": "currency"}]})
    table = sa.table("deal", sa.column("amount", sa.Numeric()), sa.column("id"))
    checked = check("IF(amount > 5, amount * 2, BLANK())", deal, SimpleSchema([deal]))
    sql = str(compile_sql(checked, "postgresql", lambda _o: table).compile(dialect=postgresql.dialect()))
    assert "AS TEXT" not in sql and "AS NUMERIC" in sql


def test_labels_in_other_scripts_find_their_fields_and_options() -> None:
    chinese = ObjectDef({"uid": "cn", "api_name": "opportunity", "label": "商机", "fields": [
        {"uid": "cn.stage", "api_name": "stage", "label": "销售阶段", "type": "select",
         "options": [{"value": "won", "label": "赢单"}, {"value": "lost", "label": "输单"}]},
        {"uid": "cn.size", "api_name": "size", "label": "Größe", "type": "integer"}]})
    schema = SimpleSchema([chinese])
    found = complete("阶段", 2, chinese, schema)
    assert [(c.label, c.insert, c.replace) for c in found] == [("销售阶段", "stage", 2)]
    assert [c.insert for c in complete("size > 1 AND Grö", 16, chinese, schema)] == ["size"]
    assert [(c.label, c.insert) for c in complete("stage = 赢", 9, chinese, schema)][:1] == [("赢单", '"won"')]
