"""Reading a search box: words, phrases, exclusions and prefixes, safely, for FTS5 and
PostgreSQL; hostile input never becomes an operator."""

from __future__ import annotations

import pytest

from tessera.search.query import MAX_TERMS, TsPart, fts5, parse, substrings, tsquery_parts


def test_words_phrases_exclusions_and_prefixes_are_recognised() -> None:
    query = parse('acme "blue widget" -cancelled inv*')
    assert [(t.text, t.phrase, t.prefix, t.excluded) for t in query.terms] == [
        ("acme", False, False, False), ("blue widget", True, False, False),
        ("cancelled", False, False, True), ("inv", False, True, False)]
    assert fts5(query) == '("acme" AND "blue widget" AND "inv" *) NOT "cancelled"'
    assert tsquery_parts(query) == [TsPart("plain", "acme"), TsPart("phrase", "blue widget"),
                                    TsPart("plain", "cancelled", True), TsPart("prefix", "inv")]


def test_case_and_accents_are_folded() -> None:
    assert fts5(parse("Café MÜLLER")) == '"cafe" AND "muller"'


@pytest.mark.parametrize("text", ['"', '""', "NOT", "a OR b", "a AND", "col:value", "NEAR(a b)", "^a", "a)",
                                  "'; DROP TABLE x; --", "*", "-", "--a", "\x00", "a" * 10_000, "✓ ☃ 🙂"])
def test_hostile_input_gives_quoted_terms_only(text: str) -> None:
    expression = fts5(parse(text))
    outside_quotes = "".join(part for i, part in enumerate(expression.split('"')) if i % 2 == 0)
    assert set(outside_quotes) <= set(" ()*ANDNOT")


def test_operators_typed_as_words_are_words() -> None:
    assert fts5(parse("a OR b")) == '"a" AND "or" AND "b"'
    assert fts5(parse("NEAR(a b)")) == '"near a" AND "b"'


def test_only_exclusions_look_for_nothing() -> None:
    assert parse("-spam").empty and fts5(parse("-spam")) == ""
    assert parse("").empty and parse("   ").empty


def test_an_email_or_part_number_is_a_phrase_of_its_words() -> None:
    term = parse("ann@acme.com").terms[0]
    assert term.phrase and term.words == ("ann", "acme", "com")


def test_chinese_runs_are_found_as_substrings() -> None:
    query = parse("华为 -测试 server")
    assert substrings(query) == (["华为"], ["测试"])
    assert fts5(query) == '"server"'


def test_long_input_is_cut_to_a_bounded_number_of_terms() -> None:
    assert len(parse(" ".join(f"w{i}" for i in range(100))).terms) == MAX_TERMS
