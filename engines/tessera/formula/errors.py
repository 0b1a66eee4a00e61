"""Formula errors that point at the character: a message, a line and column, a caret.

Every problem with a formula — a typo, an unknown field, a type mismatch, a formula too
long or too deep — is a `FormulaError`, so callers (the API, the builder UI, the save
pipeline) handle exactly one exception type.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


class FormulaError(Exception):
    """A formula that cannot be parsed, typed, compiled or run.

    `pos` is the 0-based offset of the offending character in `source`; `line` and
    `column` are 1-based as people count them. `errors` lists every problem found when
    more than one was (the first is this error itself).
    """

    def __init__(
        self,
        message: str,
        source: str = "",
        pos: int | None = None,
        end: int | None = None,
        suggestion: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.pos = pos
        self.end = end
        self.suggestion = suggestion
        self.errors: list[FormulaError] = [self]

    @property
    def line(self) -> int | None:
        if self.pos is None:
            return None
        return self.source.count("\n", 0, self.pos) + 1

    @property
    def column(self) -> int | None:
        if self.pos is None:
            return None
        return self.pos - (self.source.rfind("\n", 0, self.pos) + 1) + 1

    def render(self) -> str:
        """The message, where it is, and the line of the formula with a caret under it."""
        text = self.message
        # A message that already names what was meant (an option's value) is not told twice.
        if self.suggestion and "did you mean" not in text:
            text += f'; did you mean "{self.suggestion}"?'
        if self.pos is None or not self.source:
            return text
        start = self.source.rfind("\n", 0, self.pos) + 1
        stop = self.source.find("\n", self.pos)
        line_text = self.source[start : stop if stop >= 0 else len(self.source)]
        # Long lines are cut around the caret so the message stays readable.
        col = self.pos - start
        if len(line_text) > 100:
            left = max(0, col - 50)
            prefix = "…" if left else ""
            line_text = prefix + line_text[left : left + 100]
            col = col - left + len(prefix)
        width = max(1, min((self.end or self.pos + 1) - self.pos, len(line_text) - col))
        caret = " " * col + "^" * width
        return f"{text}\n  line {self.line}, column {self.column}\n  {line_text}\n  {caret}"

    def __str__(self) -> str:
        return self.render()

    def to_dict(self) -> dict[str, Any]:
        """The error as the API reports it."""
        return {
            "message": self.message,
            "line": self.line,
            "column": self.column,
            "position": self.pos,
            "end": self.end,
            "suggestion": self.suggestion,
            "display": self.render(),
        }


def combine(errors: list[FormulaError]) -> FormulaError:
    """One error to raise that carries all of them."""
    first = errors[0]
    first.errors = list(errors)
    return first


def nearest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate a person most likely meant when typing `name`, if any is close."""
    pool = list(candidates)
    lowered = {c.lower(): c for c in pool}
    if name.lower() in lowered:
        return lowered[name.lower()]
    found = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[found[0]] if found else None
