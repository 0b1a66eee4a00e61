"""Snippets of search results and the likeness of misspelt words — pure.

A snippet is cut from the text of the fields a reader may see (never from the index, which
also holds hidden fields) around the first place a searched word appears, as parts a page
marks up itself: (text, is_hit). Likeness is pg_trgm's word similarity, so SQLite and
PostgreSQL forgive the same typos.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence

from tessera.search.query import fold

#: Characters of context a snippet shows on either side of its first hit.
CONTEXT = 60
_SPACE = re.compile(r"\s+")


def snippet(texts: Iterable[str], words: Sequence[str], *, context: int = CONTEXT) -> list[tuple[str, bool]]:
    """The best passage of `texts` (the first with a hit; else the first text) as parts
    (text, hit). Words match at the start of a word, in any case and accents, and mark the
    whole word (a prefix `acm` marks `Acme`); Chinese and other runs without spaces match
    anywhere."""
    wanted = named_words(words)
    first = None
    for raw in texts:  # the texts after the first with a hit are not even tidied
        text = _SPACE.sub(" ", raw).strip() if raw else ""
        if not text:
            continue
        spans = _hits(text, wanted)
        if spans:
            return _cut(text, spans, context)
        first = first or text
    if first is None:
        return []
    return [(first[: context * 2] + ("…" if len(first) > context * 2 else ""), False)]


def named_words(words: Sequence[str]) -> list[str]:
    """The words of a query as `named_share` and `snippet` look for them (folded, once each)."""
    return [w for w in dict.fromkeys(fold(w) for w in words) if w]


def named_share(name: str, wanted: Sequence[str]) -> float:
    """The share of the `wanted` words (`named_words`) that appear in a record's name (0 to
    1): across objects, a record named by what was searched comes before one that only
    mentions it."""
    if not wanted or not name:
        return 0.0
    folded, _positions = _folded_with_positions(name)
    return sum(1 for w in wanted if _found(folded, w)) / len(wanted)


def _found(folded: str, word: str) -> bool:
    """Whether `word` is in the folded text where `_hits` would mark it."""
    anywhere = not word.isascii()
    start = 0
    while (at := folded.find(word, start)) >= 0:
        if anywhere or at == 0 or not folded[at - 1].isalnum():
            return True
        start = at + 1
    return False


def _hits(text: str, words: list[str]) -> list[tuple[int, int]]:
    """Where the words are in `text` (start, end), folded the way the index folds."""
    folded, positions = _folded_with_positions(text)
    spans: list[tuple[int, int]] = []
    for word in words:
        anywhere = not word.isascii()
        start = 0
        while (at := folded.find(word, start)) >= 0:
            start = at + 1
            if not anywhere and at > 0 and folded[at - 1].isalnum():
                continue
            end = at + len(word)
            while not anywhere and end < len(folded) and folded[end].isalnum():
                end += 1  # a prefix marks the whole word it begins
            spans.append((positions[at], positions[end - 1] + 1) if positions is not None else (at, end))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for begin, end in spans:
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((begin, end))
    return merged


def _folded_with_positions(text: str) -> tuple[str, list[int] | None]:
    """`text` folded, and for each folded character the index of the character it came from
    (None: the same index, as ASCII text folds one character for one)."""
    if text.isascii():  # one character for one: lower case is the whole folding
        return text.lower(), None
    out: list[str] = []
    positions: list[int] = []
    for index, char in enumerate(text):
        for folded in _fold_char(char):
            out.append(folded)
            positions.append(index)
    return "".join(out), positions


@functools.lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    return fold(char)


def _cut(text: str, spans: list[tuple[int, int]], context: int) -> list[tuple[str, bool]]:
    begin = max(0, spans[0][0] - context)
    if begin:
        space = text.find(" ", begin)
        begin = space + 1 if 0 <= space < spans[0][0] else begin
    end = min(len(text), spans[0][1] + context * 2)
    if end < len(text):
        space = text.rfind(" ", spans[0][1], end)
        end = space if space > spans[0][1] else end
    parts: list[tuple[str, bool]] = []
    at = begin
    for start, stop in spans:
        if start >= end:
            break
        if start > at:
            parts.append((text[at:start], False))
        parts.append((text[start:min(stop, end)], True))
        at = min(stop, end)
    if at < end:
        parts.append((text[at:end], False))
    if begin > 0:
        parts.insert(0, ("…", False))
    if end < len(text):
        parts.append(("…", False))
    return parts


def trigrams(word: str) -> set[str]:
    """pg_trgm's trigrams of one word: padded with two spaces in front and one behind."""
    padded = f"  {fold(word)} "
    return {padded[i:i + 3] for i in range(len(padded) - 2)}


def similarity(a: str, b: str) -> float:
    """pg_trgm's similarity of two words: shared trigrams over all their trigrams."""
    ta, tb = trigrams(a), trigrams(b)
    if not ta or not tb:
        return 0.0
    return len(ta & tb) / len(ta | tb)
