"""The parsed sheets of the drafts being worked on, kept so that a draft's workbook is parsed
once per process, not again for its preview and its run.

Parsing is most of what reading a big workbook costs (100,000 rows: about a second), and a
draft reads its file up to three times: when it is uploaded (its columns and samples), for
the preview and for the run. The parsed sheet (its cells in the reader's compact form) is
kept for the draft it was parsed for, by the draft's id, the sheet and the hash of the
file's bytes, so it can only ever stand for those very bytes; a few drafts at most, the
least recently used going first, and a draft's sheet is let go once its run has ended.
CSV files are read as they stream and are not kept.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from tessera.imports.files import Sheet, Table, is_spreadsheet, open_sheet, read_table, sheet_table

#: Drafts whose parsed sheet is kept (a 100,000-row sheet takes some 50 MB).
KEPT = 2


class Sheets:
    def __init__(self, kept: int = KEPT) -> None:
        self.kept = kept
        self._lock = threading.Lock()
        #: (import id, sheet asked for, sha256 of the file) → the parsed sheet.
        self._sheets: OrderedDict[tuple[int, str | None, str], Sheet] = OrderedDict()

    def table(self, import_id: int | None, content: bytes, filename: str, sheet: str | None) -> Table:
        """The file's table; a workbook's sheet parsed once for the draft `import_id` (None:
        a file of no draft yet, parsed and not kept)."""
        if not is_spreadsheet(content, filename) or import_id is None:
            return read_table(content, filename, sheet=sheet)
        key = (import_id, sheet, hashlib.sha256(content).hexdigest())
        with self._lock:
            parsed = self._sheets.get(key)
            if parsed is not None:
                self._sheets.move_to_end(key)
        if parsed is None:
            parsed = open_sheet(content, sheet)
            self.keep(import_id, content, parsed, sheet)
        return sheet_table(parsed)

    def keep(self, import_id: int, content: bytes, parsed: Sheet, sheet: str | None = None) -> None:
        """Keep a sheet parsed for a draft, under the name it was asked by and its own name."""
        digest = hashlib.sha256(content).hexdigest()
        with self._lock:
            for name in {sheet, parsed.name}:
                self._sheets[(import_id, name, digest)] = parsed
                self._sheets.move_to_end((import_id, name, digest))
            while len({key[0] for key in self._sheets}) > self.kept:
                self._sheets.popitem(last=False)

    def forget(self, import_id: int) -> None:
        with self._lock:
            for key in [k for k in self._sheets if k[0] == import_id]:
                del self._sheets[key]
