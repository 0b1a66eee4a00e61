"""Which column of a file goes into which field — pure suggestions the import page shows.

A column matches a field by its api_name or its label, ignoring case, spaces, underscores and
punctuation ("Close Date", "close_date", "CLOSE-DATE"); else by a close name (a misspelling,
"Ammount"), offered as a suggestion only. Each field takes one column at most: the better
match wins, and a column that matches nothing is shown as ignored.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from difflib import SequenceMatcher

#: How alike two names must be for one to be suggested for the other.
CLOSE = 0.8


@dataclass(frozen=True)
class Suggestion:
    column: str
    field: str | None
    #: "name" (the api_name), "label", "close" (a close name: check it), or "" (ignored).
    how: str


def key(text: str) -> str:
    """A name reduced to what tells names apart: letters and digits, lower case, accents gone."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode() or text
    return re.sub(r"[\W_]+", "", folded.lower()) or text.strip().lower()


def suggest(columns: Iterable[str], fields: Mapping[str, str]) -> list[Suggestion]:
    """A suggestion per column; `fields` maps api_name → label of the fields one may import into."""
    columns = list(columns)
    candidates: list[tuple[float, int, str, str, str]] = []  # (score, column index, column, field, how)
    for index, column in enumerate(columns):
        wanted = key(column)
        for name, label in fields.items():
            if wanted == key(name):
                candidates.append((3.0, index, column, name, "name"))
            elif wanted == key(label):
                candidates.append((2.0, index, column, name, "label"))
            else:
                likeness = max(SequenceMatcher(None, wanted, key(name)).ratio(),
                               SequenceMatcher(None, wanted, key(label)).ratio())
                if likeness >= CLOSE:
                    candidates.append((likeness, index, column, name, "close"))
    chosen: dict[int, Suggestion] = {}
    taken: set[str] = set()
    for _, index, column, name, how in sorted(candidates, key=lambda c: (-c[0], c[1])):
        if index not in chosen and name not in taken:
            chosen[index] = Suggestion(column, name, how)
            taken.add(name)
    return [chosen.get(index, Suggestion(column, None, "")) for index, column in enumerate(columns)]
