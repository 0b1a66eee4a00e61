"""One search over every object a person may read: what the API, the top bar and the
/search page call.

Each object with an index is asked for its best records (matching.py: one statement each,
under the reader's row scope, in the fields they may see); the answers are merged by score.
The names and snippets of the records kept are then read from the records themselves — from
the fields the reader may see only. When nothing is found and a word may be misspelt, the
indexed word most like it (sharing its longest prefix that any record holds) among the
records the reader may see replaces it, and the answer says so (`corrected`).
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.auth.actor import Actor
from tessera.errors import FieldProblem, InvalidInput
from tessera.meta.model import ObjectDef
from tessera.runtime.kernel.catalog import Snapshot
from tessera.runtime.navigation.shortcuts import shown_name
from tessera.runtime.search.index import SearchIndex, layout_of
from tessera.runtime.search.matching import MAX_HITS, Bound, Target, bound, hits, matching_ids
from tessera.search.query import MAX_TEXT, Query, Term, fold, index_words, parse, typo_candidates
from tessera.search.snippets import named_share, named_words, similarity, snippet

if TYPE_CHECKING:
    from tessera.formula import EvalContext
    from tessera.runtime.kernel.transactions import Kernel
    from tessera.runtime.records.access import AccessService

#: Results a search returns at most.
MAX_LIMIT = 100
#: How alike (pg_trgm similarity) an indexed word must be to stand in for a misspelt one.
LIKENESS = 0.4
#: At most this many misspelt words of a query are corrected, each by prefixes of at most
#: this many letters: a query of junk words costs a few lookups, not hundreds.
MOST_CORRECTED = 3
LONGEST_PREFIX = 7
#: Records read (per object and prefix) to find the words most like a misspelt one.
TYPO_ROWS = 100
_MISSING: Any = object()


@dataclass(frozen=True)
class Found:
    obj: ObjectDef
    id: int
    score: float
    #: The record's name as the reader may see it, and the values of the visible index fields.
    title: Any = None
    values: tuple[Any, ...] = ()


class SearchService:
    def __init__(self, kernel: Kernel, access: AccessService, index: SearchIndex) -> None:
        self.kernel = kernel
        self.access = access
        self.index = index
        #: Ranking statements by (revision, dialect, object, visible fields, name, query shape, limit).
        self._statements: dict[tuple[Any, ...], sa.Select[Any] | None] = {}
        self._lock = threading.Lock()

    def searchable_objects(self, actor: Actor) -> list[ObjectDef]:
        """The objects a search by `actor` looks in (those with an index they may read)."""
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            return [t.obj for t in self._targets(conn, snap, actor, None, {})]

    def search(self, actor: Actor, text: str, *, objects: Sequence[str] | None = None,
               limit: int = 20) -> dict[str, Any]:
        """The records matching `text` that `actor` may read, best first."""
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}.",
                               [FieldProblem("limit", f"must be between 1 and {MAX_LIMIT}")])
        query = parse(text)
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            contexts: dict[str, EvalContext] = {}
            targets = self._targets(conn, snap, actor, objects, contexts)
            # The names and the visible fields' text of the records found come with them.
            titles = {t.obj.api_name: self.access.name_column(conn, snap, actor, t.obj, t.target.table, contexts)
                      for t in targets}
            found = self._find(conn, snap, targets, query, limit, titles)
            corrected = None
            if not found and (misspelt := typo_candidates(query)):
                better = self._corrected(conn, targets, misspelt, text)
                if better is not None:
                    query, corrected = parse(better), better
                    found = self._find(conn, snap, targets, query, limit, titles)
            building = self.index.building(conn, snap.revision)
            return {
                "results": self._described(targets, found, query),
                "corrected": corrected,
                "incomplete": sorted(t.obj.api_name for t in targets if t.obj.uid in building),
            }

    def clause(self, conn: Connection, snap: Snapshot, actor: Actor, obj: ObjectDef, table: sa.Table,
               text: str) -> Any | None:
        """The condition on `table` of the records of `obj` matching `text` in the fields
        `actor` may see (a list's full-text box; the list adds its row scope itself). None
        when `text` has nothing to look for."""
        query = parse(text)
        if query.empty:
            return None
        layout = layout_of(obj)
        if layout is None:
            raise InvalidInput(f"{obj.plural_label} have no searchable fields.",
                               [FieldProblem("search", f"no field of {obj.label} is searchable")])
        hidden = self.access.object(actor, snap, obj).hidden
        visible = tuple(f for f in layout.fields if f.name not in hidden)
        return table.c.id.in_(matching_ids(conn.dialect.name, Target(layout, table, visible, None), query))

    # -- steps --------------------------------------------------------------------------
    def _targets(self, conn: Connection, snap: Snapshot, actor: Actor, objects: Sequence[str] | None,
                 contexts: dict[str, EvalContext]) -> list[_Target]:
        wanted = None
        if objects:
            unknown = [n for n in objects if n not in snap.objects]
            if unknown:
                raise InvalidInput(f"Unknown objects: {', '.join(unknown)}.",
                                   [FieldProblem("objects", f"{n!r} is not an object") for n in unknown])
            wanted = set(objects)
        out = []
        for obj in snap.objects.values():
            layout = layout_of(obj)
            if layout is None or (wanted is not None and obj.api_name not in wanted):
                continue
            rights = self.access.object(actor, snap, obj)
            if not rights.may("read"):
                continue
            visible = tuple(f for f in layout.fields if f.name not in rights.hidden)
            if not visible:
                continue
            table = snap.table(obj)
            allowed = self.access.readable(conn, snap, actor, obj, table, contexts)
            out.append(_Target(obj, Target(layout, table, visible, allowed)))
        return out

    def _find(self, conn: Connection, snap: Snapshot, targets: list[_Target], query: Query, limit: int,
              titles: dict[str, Any]) -> list[Found]:
        """The best records of each target with their names (`titles`: the SQL of each
        object's name as the reader sees it) and their visible fields' values, best first."""
        wanted = named_words(query.highlight_words())
        dialect = conn.dialect.name
        found: list[Found] = []
        for target in targets:
            table, title = target.target.table, titles[target.obj.api_name]
            given = bound(dialect, target.target, query)
            plain = isinstance(title, (sa.Column, sa.Null))
            best = self._statement(dialect, snap, target, title, query, limit, given) if plain \
                else self._built(dialect, target.target, title, query, limit, given, plain)
            if best is None:
                continue
            if not plain:  # a computed name is worked out for the records kept only, not for every match
                kept = best.subquery("kept")
                best = sa.select(kept.c.id, kept.c.score, sa.cast(title, sa.String),
                                 *kept.c[2:]).select_from(kept.join(table, table.c.id == kept.c.id))
            rows = conn.execute(best, given.values).all()
            # Ranks of different indexes do not compare (bm25 weighs a word by how rare it
            # is in that object): each object's are taken relative to its best, and across
            # objects a record named by the words searched comes first.
            top = max((float(r[1] or 0.0) for r in rows), default=0.0) or 1.0
            found += [Found(target.obj, int(r[0]), named_share(str(r[2] or ""), wanted) + float(r[1] or 0.0) / top,
                            r[2], tuple(r[3:])) for r in rows]
        found.sort(key=lambda f: (-f.score, f.obj.api_name, -f.id))
        return found[:limit]

    def _statement(self, dialect: str, snap: Snapshot, target: _Target, title: Any, query: Query, limit: int,
                   given: Bound) -> sa.Select[Any] | None:
        """`_built` for a stored (or no) name, made once per metadata revision, object, fields
        the reader sees and query shape: the query's words are its bound parameters, and the
        reader's row scope is added to it for each search (it depends on who searches)."""
        key = (snap.revision, dialect, target.obj.uid, target.target.visible,
               title.key if isinstance(title, sa.Column) else None, given.shape, min(limit, MAX_HITS))
        statement = self._statements.get(key, _MISSING)
        if statement is _MISSING:
            statement = self._built(dialect, replace(target.target, allowed=None), title, query, limit, given, True)
            with self._lock:
                if len(self._statements) > 1000:
                    self._statements.clear()
                self._statements[key] = statement
        allowed = target.target.allowed
        return statement if statement is None or allowed is None else statement.where(allowed)

    @staticmethod
    def _built(dialect: str, target: Target, title: Any, query: Query, limit: int, given: Bound,
               plain: bool) -> sa.Select[Any] | None:
        table = target.table
        # Labels no field has (api names begin with a letter).
        shown = [table.c[f.name].label(f"_{i}") for i, f in enumerate(target.visible)]
        return hits(dialect, target, query, limit,
                    [sa.cast(title, sa.String).label("_title"), *shown] if plain else shown, given)

    def _corrected(self, conn: Connection, targets: list[_Target], misspelt: list[str], text: str) -> str | None:
        """`text` with its misspelt words replaced by the most alike indexed words, or None."""
        replaced = fold(text[:MAX_TEXT])
        changed = False
        for word in misspelt[:MOST_CORRECTED]:
            best = self._best(conn, targets, word)
            if best is not None:
                replaced = re.sub(rf"(?<!\w){re.escape(word)}(?!\w)", best, replaced)
                changed = True
        return replaced if changed and replaced != fold(text[:MAX_TEXT]) else None

    def _best(self, conn: Connection, targets: list[_Target], word: str) -> str | None:
        """The indexed word most like `word` (pg_trgm's similarity) in records the reader may
        see, if one is alike enough. Candidates are the words sharing its longest prefix that
        any record holds — `printr` finds `printer` by `print*`, `pasword` finds `password`
        by `pas*` — looked up in the word index, so a typo in the first three letters is
        not corrected."""
        for length in range(min(len(word) - 1, LONGEST_PREFIX), 2, -1):
            prefix = word[:length]
            best: tuple[float, str] | None = None
            for target in targets:
                for found in self._words_starting(conn, target, prefix):
                    score = similarity(word, found)
                    if found != word and score >= LIKENESS and (best is None or score > best[0]):
                        best = (score, found)
            if best is not None:
                return best[1]
        return None

    def _words_starting(self, conn: Connection, target: _Target, prefix: str) -> set[str]:
        """Words starting with `prefix` in the visible fields of records the reader may see
        (read from up to TYPO_ROWS of them)."""
        visible = target.target.visible
        table = target.target.table
        columns = [table.c[f.name].label(f"_{i}") for i, f in enumerate(visible)]
        statement = hits(conn.dialect.name, target.target, Query((Term((prefix,), prefix=True),)), TYPO_ROWS,
                         columns)
        if statement is None:
            return set()
        fields = [target.obj.field(f.name) for f in visible]
        words: set[str] = set()
        for row in conn.execute(statement):
            for fdef, value in zip(fields, row[2:], strict=True):
                if fdef is not None and value is not None:
                    words.update(w for w in index_words(fdef.ftype.search_text(fdef, value)).split()
                                 if w.startswith(prefix))
        return words

    def _described(self, targets: list[_Target], found: list[Found], query: Query) -> list[dict[str, Any]]:
        """Each record found with its name and a snippet of what the reader may see."""
        # Per object, the visible fields a snippet is cut from (its name field aside).
        fields: dict[str, list[Any]] = {}
        for t in targets:
            named = t.obj.name_field
            name_field = named.api_name if named is not None else None
            fields[t.obj.api_name] = [t.obj.field(f.name) if f.name != name_field else None for f in t.target.visible]
        words = named_words(query.highlight_words())
        out = []
        for item in found:
            texts = [fdef.ftype.search_text(fdef, value)
                     for fdef, value in zip(fields[item.obj.api_name], item.values, strict=True)
                     if fdef is not None and value is not None]
            parts = snippet(texts, words) or snippet([item.title or ""], words)
            out.append({
                "object": item.obj.api_name,
                "object_label": item.obj.label,
                "id": item.id,
                "title": shown_name(item.obj, item.title, item.id),
                "snippet": "".join(f"<mark>{html.escape(t)}</mark>" if hit else html.escape(t) for t, hit in parts),
                "score": round(item.score, 6),
            })
        return out


@dataclass(frozen=True)
class _Target:
    obj: ObjectDef
    target: Target
