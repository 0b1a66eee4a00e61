"""Searching records: words, phrases, exclusions, prefixes, Chinese words, typos, ranking by
field weight, snippets and hostile input — on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tessera.errors import InvalidInput
from tessera.runtime.platform import Platform

from .conftest import SYSTEM, titles


@pytest.fixture
def kb(rt: Platform) -> Platform:
    for title, body in (
        ("Reset a password", "Open Settings, choose Security and click Reset password."),
        ("Printer offline", "When the printer shows offline, restart the print spooler."),
        ("Password policy", "Passwords need twelve characters. Reset them every year."),
        ("客户管理系统入门", "本文介绍客户管理的基本操作和客户服务流程。"),
        ("Café opening hours", "The café opens at eight."),
    ):
        rt.records.create(SYSTEM, "article", {"title": title, "body": body})
    return rt


def test_words_find_records_in_any_searchable_field_and_all_words_must_be_there(rt: Platform) -> None:
    rt.records.create(SYSTEM, "account", {"name": "Acme Corporation", "city": "Boston"})
    rt.records.create(SYSTEM, "account", {"name": "Globex", "city": "Boston"})
    rt.records.create(SYSTEM, "account", {"name": "Acme Japan", "city": "Tokyo"})
    assert sorted(titles(rt.search.search(SYSTEM, "acme"))) == ["Acme Corporation", "Acme Japan"]
    assert titles(rt.search.search(SYSTEM, "acme boston")) == ["Acme Corporation"]
    assert titles(rt.search.search(SYSTEM, "ACME bostön")) == ["Acme Corporation"]


def test_a_word_in_a_high_weight_field_ranks_above_the_same_word_in_a_low_one(kb: Platform) -> None:
    found = titles(kb.search.search(SYSTEM, "password"))
    assert found[:2] == ["Reset a password", "Password policy"] or found[:2] == ["Password policy", "Reset a password"]
    kb.records.create(SYSTEM, "article", {"title": "Security basics", "body": "Choose a strong password."})
    found = titles(kb.search.search(SYSTEM, "password"))
    assert found[-1] == "Security basics"  # only in the body, which weighs low


def test_phrases_exclusions_and_prefixes(kb: Platform) -> None:
    assert titles(kb.search.search(SYSTEM, '"reset password"')) == ["Reset a password"]
    assert titles(kb.search.search(SYSTEM, '"password reset"')) == []
    assert titles(kb.search.search(SYSTEM, "password -policy")) == ["Reset a password"]
    assert sorted(titles(kb.search.search(SYSTEM, "print*"))) == ["Printer offline"]
    assert sorted(titles(kb.search.search(SYSTEM, "pass*"))) == ["Password policy", "Reset a password"]
    assert titles(kb.search.search(SYSTEM, "cafe")) == ["Café opening hours"]


def test_chinese_words_of_two_and_four_characters_are_found_inside_longer_text(kb: Platform) -> None:
    assert titles(kb.search.search(SYSTEM, "客户")) == ["客户管理系统入门"]
    assert titles(kb.search.search(SYSTEM, "客户管理")) == ["客户管理系统入门"]
    assert titles(kb.search.search(SYSTEM, "服务流程")) == ["客户管理系统入门"]
    assert titles(kb.search.search(SYSTEM, "客户 -服务")) == []
    assert titles(kb.search.search(SYSTEM, "管理 销售")) == []


def test_a_misspelt_word_finds_what_the_right_one_would_and_says_so(kb: Platform) -> None:
    result = kb.search.search(SYSTEM, "printr")
    assert titles(result) == ["Printer offline"]
    assert result["corrected"] in ("print", "printer")  # one letter away, both in that article
    result = kb.search.search(SYSTEM, "pasword polcy")
    assert result["corrected"] == "password policy"
    assert titles(result) == ["Password policy"]
    assert kb.search.search(SYSTEM, "printer")["corrected"] is None
    assert kb.search.search(SYSTEM, "zzzzqqq")["results"] == []


def test_snippets_show_the_words_found_marked_and_escaped(rt: Platform) -> None:
    rt.records.create(SYSTEM, "article", {"title": "Spooler", "body": "Restart <b>the</b> print spooler when stuck."})
    [hit] = rt.search.search(SYSTEM, "spooler restart")["results"]
    assert hit["object"] == "article" and hit["object_label"] == "Article"
    assert "<mark>Restart</mark> &lt;b&gt;the&lt;/b&gt; print <mark>spooler</mark>" in hit["snippet"]
    assert hit["score"] > 0


def test_contacts_are_found_by_email_and_by_phone_as_written_or_as_digits(rt: Platform) -> None:
    rt.records.create(SYSTEM, "contact", {"name": "Ann Lee", "email": "ann.lee@acme.com", "phone": "+86 138 0013 8000"})
    assert titles(rt.search.search(SYSTEM, "ann.lee@acme.com")) == ["Ann Lee"]
    assert titles(rt.search.search(SYSTEM, "8613800138000")) == ["Ann Lee"]
    assert titles(rt.search.search(SYSTEM, "0013 8000")) == ["Ann Lee"]


def test_a_record_is_found_by_its_auto_number(rt: Platform) -> None:
    made = rt.records.create(SYSTEM, "article", {"title": "Numbers"})
    assert titles(rt.search.search(SYSTEM, made["number"])) == ["Numbers"]


def test_results_can_be_limited_to_objects_and_in_number(kb: Platform) -> None:
    kb.records.create(SYSTEM, "account", {"name": "Password Inc"})
    assert {r["object"] for r in kb.search.search(SYSTEM, "password")["results"]} == {"article", "account"}
    assert titles(kb.search.search(SYSTEM, "password", objects=["account"])) == ["Password Inc"]
    assert len(kb.search.search(SYSTEM, "password", limit=1)["results"]) == 1
    with pytest.raises(InvalidInput):
        kb.search.search(SYSTEM, "password", objects=["nope"])
    with pytest.raises(InvalidInput):
        kb.search.search(SYSTEM, "password", limit=0)


@pytest.mark.parametrize("text", [
    '"', '""', '"unclosed phrase', "AND OR NOT", "NEAR(a b)", "a:b", "{title}: x", "*", "-", "--x", "(((",
    "'; DROP TABLE article; --", "\\", "%", "_", "a" * 5000, " ".join(["word"] * 400), "\x00abc", "title:reset",
    "!!x & y | z", "x:*", "<script>", "😀 password", "^reset", "reset*password",
])
def test_hostile_queries_never_fail_and_find_only_what_their_words_say(kb: Platform, text: str) -> None:
    result = kb.search.search(SYSTEM, text)
    assert isinstance(result["results"], list)


def test_only_exclusions_or_nothing_finds_nothing(kb: Platform) -> None:
    assert kb.search.search(SYSTEM, "-password")["results"] == []
    assert kb.search.search(SYSTEM, "   ")["results"] == []


def test_across_objects_a_record_named_by_the_words_comes_before_one_that_mentions_them(rt: Platform) -> None:
    for n in range(30):  # a common word in contacts' e-mails, rare among accounts
        rt.records.create(SYSTEM, "contact", {"name": f"Person {n}", "email": f"p{n}@acme.com"})
    rt.records.create(SYSTEM, "account", {"name": "Acme Corporation", "city": "Boston"})
    found = rt.search.search(SYSTEM, "acme", limit=5)["results"]
    assert (found[0]["object"], found[0]["title"]) == ("account", "Acme Corporation")
    assert [r["object"] for r in found[1:]] == ["contact"] * 4


def test_an_object_without_a_declared_name_field_weighs_its_first_text_field_high(rt: Platform) -> None:
    rt.metadata.create_object(SYSTEM, {"api_name": "note", "label": "Note", "fields": [
        {"api_name": "subject", "label": "Subject", "type": "text", "searchable": True},
        {"api_name": "body", "label": "Body", "type": "long_text", "searchable": True}]})
    rt.records.create(SYSTEM, "note", {"subject": "Other", "body": "the pump and the pump again, pump"})
    rt.records.create(SYSTEM, "note", {"subject": "Pump", "body": "a note"})
    assert titles(rt.search.search(SYSTEM, "pump", objects=["note"]))[0] == "Pump"


def test_a_query_of_many_junk_words_corrects_few_and_answers(kb: Platform) -> None:
    junk = " ".join(f"qwertyuiop{n}zzzzzz" for n in range(16))
    answer = kb.search.search(SYSTEM, junk)
    assert answer["results"] == [] and answer["corrected"] is None
    assert kb.search.search(SYSTEM, "pasword")["corrected"] == "password"
