"""Snippets around the words found, and the likeness of misspelt words (pg_trgm's measure)."""

from __future__ import annotations

from tessera.search.query import index_words, parse, typo_candidates
from tessera.search.snippets import similarity, snippet, trigrams


def _marked(parts: list[tuple[str, bool]]) -> str:
    return "".join(f"[{t}]" if hit else t for t, hit in parts)


def test_a_snippet_marks_whole_words_and_prefixes_in_any_case_and_accent() -> None:
    assert _marked(snippet(["The Café opens at eight"], ["cafe"])) == "The [Café] opens at eight"
    assert _marked(snippet(["Acme Corporation"], ["acm"])) == "[Acme] Corporation"
    assert _marked(snippet(["preacme"], ["acme"])) == "preacme"  # not the middle of a word


def test_a_snippet_comes_from_the_first_text_with_a_hit_else_the_first_text() -> None:
    assert _marked(snippet(["nothing here", "the pump"], ["pump"])) == "the [pump]"
    assert _marked(snippet(["nothing here", "else"], ["pump"])) == "nothing here"
    assert snippet(["", "  "], ["pump"]) == []


def test_a_long_text_is_cut_around_its_first_hit_on_word_boundaries() -> None:
    text = " ".join(f"word{n}" for n in range(100)) + " pump " + " ".join(f"tail{n}" for n in range(100))
    parts = snippet([text], ["pump"], context=30)
    shown = _marked(parts)
    assert shown.startswith("…") and shown.endswith("…") and "[pump]" in shown
    assert len(shown) < 150
    assert " word" in shown and shown.split()[1].startswith("word")  # cut at a space, not inside a word


def test_chinese_is_marked_anywhere_in_a_run() -> None:
    assert _marked(snippet(["本文介绍客户管理的基本操作"], ["客户管理"])) == "本文介绍[客户管理]的基本操作"


def test_adjacent_hits_merge_into_one_mark() -> None:
    assert _marked(snippet(["客户管理"], ["客户", "管理"])) == "[客户管理]"


def test_likeness_is_pg_trgm_similarity() -> None:
    assert trigrams("cat") == {"  c", " ca", "cat", "at "}
    assert similarity("word", "word") == 1.0
    assert round(similarity("polcy", "policy"), 3) == 0.444  # what PostgreSQL's similarity() says
    assert similarity("abc", "xyz") == 0.0


def test_index_words_split_as_the_query_reader_does() -> None:
    assert index_words("Ann.Lee@ACME.com, Café-Bar v1.2") == "ann lee acme com cafe bar v1 2"


def test_only_plain_wanted_words_of_four_letters_or_more_may_be_misspelt() -> None:
    assert typo_candidates(parse('printr pri* "two words" -excluded abc 客户管理')) == ["printr"]
