"""A search query as SQL over one object's index, for SQLite and for PostgreSQL.

The query tree (`tessera.search.query`) becomes bound parameters only: an FTS5 MATCH string
whose every term is quoted, PostgreSQL tsqueries built by plainto/phraseto_tsquery from
words, LIKE patterns from Chinese runs. The statement joins the object's table, keeps live
records the reader may see (`allowed`: the same row-scope clause as a list), and looks in
the fields they may see: FTS5 column filters, and on PostgreSQL a re-check of the candidates
the GIN index found against a tsvector of the visible fields only. So a hidden field's words
never find a record, nor keep one out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tessera.data import search as fulltext
from tessera.search.query import Query, fts5, substrings, tsquery_parts

#: Records a search reads per object, at most (the best ones by rank).
MAX_HITS = 100


@dataclass(frozen=True)
class Target:
    """One object to search: its index, table and what the reader may see of it."""

    layout: fulltext.Layout
    table: sa.Table
    #: Index fields the reader may see.
    visible: tuple[fulltext.IndexField, ...]
    #: The row scope (None: every record).
    allowed: Any | None

    @property
    def hides_some(self) -> bool:
        return len(self.visible) < len(self.layout.fields)


def hits(dialect: str, target: Target, query: Query, limit: int,
         columns: Sequence[Any] = ()) -> sa.Select[Any] | None:
    """A statement of (id, score, *columns) of the best records of `target` for `query`,
    best first; None when the query cannot find anything there. `columns`: more of the
    records found (columns of the object's table; labels other than `id` and `score`)."""
    if query.empty or not target.visible:
        return None
    source, where, score = (_sqlite if dialect == "sqlite" else _postgresql)(target, query)
    table = target.table
    return (sa.select(table.c.id.label("id"), score.label("score"), *columns).select_from(source).where(*where)
            .order_by(sa.desc("score"), table.c.id.desc()).limit(min(limit, MAX_HITS)))


def matching_ids(dialect: str, target: Target, query: Query) -> sa.Select[Any]:
    """A statement of the ids of every record of `target` matching `query` (a list's
    full-text box: the list sorts and pages them); none for a query without words."""
    table = target.table
    if query.empty or not target.visible:
        return sa.select(table.c.id).where(sa.false())
    source, where, _score = (_sqlite if dialect == "sqlite" else _postgresql)(target, query)
    return sa.select(table.c.id).select_from(source).where(*where)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _live(target: Target) -> list[Any]:
    table = target.table
    return [table.c.deleted_at.is_(None), *([target.allowed] if target.allowed is not None else [])]


# -- SQLite: FTS5 ------------------------------------------------------------------------
def _sqlite(target: Target, query: Query) -> tuple[Any, list[Any], Any]:
    layout, table = target.layout, target.table
    words = fts5(query)
    wanted, excluded = substrings(query)
    # A column filter makes FTS5 read the positions of every entry of every term (to see the
    # column), not only of the rows that match them all: only when some field is hidden.
    scope = "{" + " ".join(f.key for f in target.visible) + "} : " if target.hides_some else ""
    where = _live(target)
    score: Any = sa.literal(0.0)
    if words:
        name = layout.table
        index = fulltext.words_table(layout, "sqlite")
        weights = [fulltext.WEIGHTS[f.weight][1] if f in target.visible else 0.0 for f in layout.fields]
        score = -sa.func.bm25(sa.literal_column(f'"{name}"'), *weights)
        source: Any = index.join(table, table.c.id == index.c.rowid)
        where.append(sa.literal_column(f'"{name}"').op("MATCH")(scope + f"({words})"))
    grams = fulltext.grams_table(layout)
    if not words:  # Chinese only: rank by the fields holding it, read from the trigram table
        source = grams.join(table, table.c.id == grams.c.rowid)
    for text, keep in [*((t, True) for t in wanted), *((t, False) for t in excluded)]:
        if len(text) >= 3:
            found = sa.select(grams.c.rowid).where(
                sa.literal_column(f'"{layout.grams}"').op("MATCH")(scope + '"' + text.replace('"', '""') + '"'))
        else:  # the trigram index needs three characters: look through the visible text
            found = sa.select(grams.c.rowid).where(
                sa.or_(*(grams.c[f.key].like(_like(text), escape="\\") for f in target.visible)))
        where.append(table.c.id.in_(found) if keep else table.c.id.not_in(found))
        if keep and not words:
            score = score + _weighted_presence(target, grams, text)
    return source, where, score


# -- PostgreSQL: tsvector and pg_trgm ----------------------------------------------------
def _postgresql(target: Target, query: Query) -> tuple[Any, list[Any], Any]:
    layout, table = target.layout, target.table
    index = fulltext.words_table(layout, "postgresql")
    wanted_parts = [p for p in tsquery_parts(query) if not p.excluded]
    excluded_parts = [p for p in tsquery_parts(query) if p.excluded]
    wanted, excluded = substrings(query)
    where = _live(target)
    score: Any = sa.literal(0.0)
    visible_vector = _vector(target.visible, index) if target.hides_some else index.c.document
    if wanted_parts:
        found = _joined("&&", (_ts(p) for p in wanted_parts))
        full = found
        for part in excluded_parts:
            full = full.op("&&")(sa.func.tsquery_not(_ts(part)))
        # The GIN index finds the candidates by what is wanted; exclusions and hidden fields
        # are then checked against the words the reader may see.
        where.append(index.c.document.op("@@")(full if not target.hides_some else found))
        if target.hides_some:
            where.append(visible_vector.op("@@")(full))
        score = sa.func.ts_rank_cd(visible_vector, full)
    elif excluded_parts:
        where.append(sa.not_(visible_vector.op("@@")(_joined("||", (_ts(p) for p in excluded_parts)))))
    for text, keep in [*((t, True) for t in wanted), *((t, False) for t in excluded)]:
        pattern = _like(text)
        inside = sa.or_(*(index.c[f.key].like(pattern, escape="\\") for f in target.visible))
        if keep:
            where.append(index.c.body.like(pattern, escape="\\"))  # found by the trigram index
            if target.hides_some:
                where.append(inside)
            if not wanted_parts:
                score = score + _weighted_presence(target, index, text)
        else:
            where.append(sa.not_(inside))
    return index.join(table, table.c.id == index.c.record_id), where, score


def _ts(part: Any) -> Any:
    simple = sa.literal_column("'simple'::regconfig")
    if part.kind == "plain":
        return sa.func.plainto_tsquery(simple, part.text)
    if part.kind == "phrase":
        return sa.func.phraseto_tsquery(simple, part.text)
    return sa.func.to_tsquery(simple, part.text + ":*")


def _joined(operator: str, items: Any) -> Any:
    """The items joined by a binary SQL operator (`&&`, `||`), left to right."""
    items = list(items)
    out = items[0]
    for item in items[1:]:
        out = out.op(operator)(item)
    return out


def _vector(fields: Sequence[fulltext.IndexField], index: Any) -> Any:
    simple = sa.literal_column("'simple'::regconfig")
    parts = [sa.func.setweight(sa.func.to_tsvector(simple, sa.func.coalesce(index.c[f.key], sa.literal_column("''"))),
                               sa.literal_column(f"'{fulltext.WEIGHTS[f.weight][0]}'::\"char\""))
             for f in fields]
    return _joined("||", parts)


def _weighted_presence(target: Target, columns: Any, text: str) -> Any:
    """A rank for a substring: the weights of the visible fields (`columns`: the index
    table holding their text) that contain it."""
    pattern = _like(text)
    return sum((sa.case((columns.c[f.key].like(pattern, escape="\\"), fulltext.WEIGHTS[f.weight][1]), else_=0.0)
                for f in target.visible), sa.literal(0.0))
