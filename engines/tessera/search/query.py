"""What a person typed into a search box, as a query tree — pure.

The text is read, never trusted: words, "quoted phrases", -exclusions and prefix* are
recognised and everything else is treated as words, so no input is an operator of the
database's own query language. The tree is then written out for SQLite FTS5 (`fts5`: every
term a quoted string) and for PostgreSQL (`tsquery_parts`: terms the caller binds as
parameters of plainto/phraseto_tsquery, prefixes of word characters only).

Words are what `unicode61` and PostgreSQL's parser see as words: runs of letters and
digits. Chinese, Japanese and Korean text has no spaces between words, so a run of those
characters is kept whole and searched by substring (`substrings`: the trigram index, and
LIKE for runs shorter than three characters).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

#: Longest query read (characters); the rest is ignored, so a pasted page cannot stall a search.
MAX_TEXT = 500
#: At most this many terms are used.
MAX_TERMS = 16
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_TOKEN = re.compile(r'(-?)"([^"]*)"?|(-?)([^\s"]+)')
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


@dataclass(frozen=True)
class Term:
    """One thing to look for: its words (one for a word, more for a phrase)."""

    words: tuple[str, ...]
    phrase: bool = False
    prefix: bool = False
    excluded: bool = False

    @property
    def text(self) -> str:
        return " ".join(self.words)

    @property
    def substring(self) -> bool:
        """Whether this is a run of CJK text, found as a substring rather than a word."""
        return any(_CJK.search(w) for w in self.words)


@dataclass(frozen=True)
class Query:
    terms: tuple[Term, ...] = field(default_factory=tuple)

    @property
    def wanted(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if not t.excluded)

    @property
    def excluded(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if t.excluded)

    @property
    def empty(self) -> bool:
        """Nothing to look for (only exclusions finds nothing: a search needs something)."""
        return not self.wanted

    def highlight_words(self) -> list[str]:
        """The words a snippet marks (not the excluded ones)."""
        return [w for t in self.wanted for w in t.words]


def fold(text: str) -> str:
    """Lower case with accents removed, as the indexes store words (café → cafe)."""
    if text.isascii():
        return text.lower()  # no accents to remove, and casefold is lower for ASCII
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def parse(text: str) -> Query:
    """The query tree of a search box's text; never raises."""
    text = (text or "")[:MAX_TEXT].replace("\x00", " ")
    terms: list[Term] = []
    for match in _TOKEN.finditer(text):
        if match.group(2) is not None:  # "a phrase" (an unclosed quote runs to the end)
            words = tuple(fold(w) for w in _WORD.findall(match.group(2)))
            if words:
                terms.append(Term(words, phrase=len(words) > 1, excluded=match.group(1) == "-"))
            continue
        raw = match.group(4)
        excluded = match.group(3) == "-"
        prefix = raw.endswith("*")
        words = tuple(fold(w) for w in _WORD.findall(raw))
        if not words:
            continue
        if len(words) > 1:  # e-mail, part numbers: "ann@acme.com" is the phrase ann acme com
            terms.append(Term(words, phrase=True, prefix=prefix, excluded=excluded))
        else:
            terms.append(Term(words, prefix=prefix, excluded=excluded))
        if len(terms) >= MAX_TERMS:
            break
    unique = list(dict.fromkeys(terms))[:MAX_TERMS]
    return Query(tuple(unique))


def fts5(query: Query) -> str:
    """The FTS5 MATCH expression of the query's word terms (CJK runs are left to the
    substring search); '' when it has none. Every term is a double-quoted string, so nothing
    the user typed is read as FTS5 syntax."""
    def quoted(term: Term) -> str:
        body = '"' + " ".join(term.words).replace('"', '""') + '"'
        return body + " *" if term.prefix else body

    wanted = [quoted(t) for t in query.wanted if not t.substring]
    if not wanted:
        return ""
    expression = " AND ".join(wanted)
    excluded = [quoted(t) for t in query.excluded if not t.substring]
    if excluded:
        expression = f"({expression})" + "".join(f" NOT {e}" for e in excluded)
    return expression


@dataclass(frozen=True)
class TsPart:
    """A piece of a PostgreSQL tsquery: `kind` says which function builds it from `text`
    (plain: plainto_tsquery, phrase: phraseto_tsquery, prefix: to_tsquery of `text:*`,
    where `text` is word characters only)."""

    kind: str
    text: str
    excluded: bool = False


def tsquery_parts(query: Query) -> list[TsPart]:
    out = []
    for term in query.terms:
        if term.substring:
            continue
        if term.prefix and not term.phrase:
            out.append(TsPart("prefix", term.words[0], term.excluded))
        elif term.phrase:
            out.append(TsPart("phrase", term.text, term.excluded))
        else:
            out.append(TsPart("plain", term.text, term.excluded))
    return out


def substrings(query: Query) -> tuple[list[str], list[str]]:
    """The CJK runs to find as substrings: (wanted, excluded)."""
    return ([t.text.replace(" ", "") for t in query.wanted if t.substring],
            [t.text.replace(" ", "") for t in query.excluded if t.substring])


def has_substrings(text: str) -> bool:
    """Whether `text` holds Chinese, Japanese or Korean, searched by substring."""
    # Those scripts lie above U+3040: most text is told by its kind or its highest character
    # (isascii reads a flag, max a C loop), well before a regular expression.
    return not text.isascii() and max(text) >= "\u3040" and _CJK.search(text) is not None


def index_words(text: str) -> str:
    """Text as the PostgreSQL index keeps it: folded words separated by spaces, split where
    the query reader splits (`ann@acme.com` is ann acme com), so both sides see one word
    list whatever the database's own parser would make of e-mails, versions or hyphens."""
    return " ".join(_WORD.findall(fold(text)))


def typo_candidates(query: Query) -> list[str]:
    """The words of a query that may be misspelt: plain wanted words of four letters or
    more (shorter ones have too many neighbours to guess from)."""
    return [t.words[0] for t in query.wanted
            if not t.phrase and not t.prefix and not t.substring and len(t.words[0]) >= 4]
