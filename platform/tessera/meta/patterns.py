"""Regular expressions someone writes — a field's `pattern`, a formula's REGEX_MATCH — run
with RE2, whose matching time grows linearly with the text: no pattern and no value can
stall the process the way a backtracking engine does on `(a+)+` and "aaaa…!".

RE2 has no look-arounds or back-references; a pattern using them is refused when it is
written, with RE2's reason.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2


def _options(dot_nl: bool) -> Any:
    options = re2.Options()
    # Problems are reported to whoever wrote the pattern, not logged on the server's stderr.
    options.log_errors = False
    options.dot_nl = dot_nl
    return options


_LINE, _TEXT = _options(False), _options(True)


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str, dot_matches_newline: bool = False) -> Any:
    """The compiled pattern; ValueError says why RE2 refuses it."""
    try:
        return re2.compile(pattern, _TEXT if dot_matches_newline else _LINE)
    except re2.error as error:
        reason = error.args[0] if error.args else error
        raise ValueError(reason.decode() if isinstance(reason, bytes) else str(reason)) from None


def matches_whole(pattern: str, text: str, dot_matches_newline: bool = False) -> bool:
    """Whether the whole `text` matches `pattern`."""
    return compile_pattern(pattern, dot_matches_newline).fullmatch(text) is not None
