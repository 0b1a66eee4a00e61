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
from tessera.search.query import Query, TsPart, fts5, substrings, tsquery_parts

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


@dataclass(frozen=True)
class Bound:
    """A query's values as the statement's bound parameters (by name), and the shape of the
    statement they fit: two queries of one shape run the same statement with their own
    values, so a statement built once per shape serves every search of that shape."""

    shape: tuple[Any, ...]
    values: dict[str, str]


def bound(dialect: str, target: Target, query: Query) -> Bound:
    """The parameters of `query` over `target` (its visible fields) for `dialect`."""
    values: dict[str, str] = {}
    wanted, excluded = substrings(query)
    texts = [*((t, True) for t in wanted), *((t, False) for t in excluded)]
    for i, (text, _keep) in enumerate(texts):
        values[f"search_like_{i}"] = _like(text)
    if dialect == "sqlite":
        words = fts5(query)
        scope = _scope(target)
        if words:
            values["search_match"] = scope + f"({words})"
        for i, (text, _keep) in enumerate(texts):
            if len(text) >= 3:
                values[f"search_grams_{i}"] = scope + '"' + text.replace('"', '""') + '"'
        return Bound((bool(words), tuple((len(t) >= 3, keep) for t, keep in texts)), values)
    parts = tsquery_parts(query)
    for i, part in enumerate(parts):
        values[f"search_ts_{i}"] = part.text + ":*" if part.kind == "prefix" else part.text
    return Bound((tuple((p.kind, p.excluded) for p in parts), tuple(keep for _t, keep in texts)), values)


def hits(dialect: str, target: Target, query: Query, limit: int,
         columns: Sequence[Any] = (), given: Bound | None = None) -> sa.Select[Any] | None:
    """A statement of (id, score, *columns) of the best records of `target` for `query`,
    best first; None when the query cannot find anything there. `columns`: more of the
    records found (columns of the object's table; labels other than `id` and `score`).
    `given`: the query's `bound` parameters, if the caller has them already. The query's
    values are bound parameters named as in `bound`: the statement can run again with
    another query's values of the same shape."""
    if query.empty or not target.visible:
        return None
    given = given or bound(dialect, target, query)
    source, where, score = (_sqlite if dialect == "sqlite" else _postgresql)(target, query, _params(given))
    table = target.table
    return (sa.select(table.c.id.label("id"), score.label("score"), *columns).select_from(source).where(*where)
            .order_by(sa.desc("score"), table.c.id.desc()).limit(min(limit, MAX_HITS)))


def matching_ids(dialect: str, target: Target, query: Query) -> sa.Select[Any]:
    """A statement of the ids of every record of `target` matching `query` (a list's
    full-text box: the list sorts and pages them); none for a query without words."""
    table = target.table
    if query.empty or not target.visible:
        return sa.select(table.c.id).where(sa.false())
    params = _params(bound(dialect, target, query))
    source, where, _score = (_sqlite if dialect == "sqlite" else _postgresql)(target, query, params)
    return sa.select(table.c.id).select_from(source).where(*where)


def _params(given: Bound) -> dict[str, Any]:
    return {name: sa.bindparam(name, value, type_=sa.String) for name, value in given.values.items()}


def _scope(target: Target) -> str:
    # A column filter makes FTS5 read the positions of every entry of every term (to see the
    # column), not only of the rows that match them all: only when some field is hidden.
    return "{" + " ".join(f.key for f in target.visible) + "} : " if target.hides_some else ""


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _live(target: Target) -> list[Any]:
    table = target.table
    return [table.c.deleted_at.is_(None), *([target.allowed] if target.allowed is not None else [])]


# -- SQLite: FTS5 ------------------------------------------------------------------------
def _sqlite(target: Target, query: Query, params: dict[str, Any]) -> tuple[Any, list[Any], Any]:
    layout, table = target.layout, target.table
    wanted, excluded = substrings(query)
    where = _live(target)
    score: Any = sa.literal(0.0)
    words = "search_match" in params
    if words:
        name = layout.table
        index = fulltext.words_table(layout, "sqlite")
        weights = [fulltext.WEIGHTS[f.weight][1] if f in target.visible else 0.0 for f in layout.fields]
        score = -sa.func.bm25(sa.literal_column(f'"{name}"'), *weights)
        source: Any = index.join(table, table.c.id == index.c.rowid)
        where.append(sa.literal_column(f'"{name}"').op("MATCH")(params["search_match"]))
    grams = fulltext.grams_table(layout)
    if not words:  # Chinese only: rank by the fields holding it, read from the trigram table
        source = grams.join(table, table.c.id == grams.c.rowid)
    for i, (text, keep) in enumerate([*((t, True) for t in wanted), *((t, False) for t in excluded)]):
        like = params[f"search_like_{i}"]
        if len(text) >= 3:
            found = sa.select(grams.c.rowid).where(
                sa.literal_column(f'"{layout.grams}"').op("MATCH")(params[f"search_grams_{i}"]))
        else:  # the trigram index needs three characters: look through the visible text
            found = sa.select(grams.c.rowid).where(
                sa.or_(*(grams.c[f.key].like(like, escape="\\") for f in target.visible)))
        where.append(table.c.id.in_(found) if keep else table.c.id.not_in(found))
        if keep and not words:
            score = score + _weighted_presence(target, grams, like)
    return source, where, score


# -- PostgreSQL: tsvector and pg_trgm ----------------------------------------------------
def _postgresql(target: Target, query: Query, params: dict[str, Any]) -> tuple[Any, list[Any], Any]:
    layout, table = target.layout, target.table
    index = fulltext.words_table(layout, "postgresql")
    parts = [(_ts(p, params[f"search_ts_{i}"]), p.excluded) for i, p in enumerate(tsquery_parts(query))]
    wanted_parts = [ts for ts, excluded in parts if not excluded]
    excluded_parts = [ts for ts, excluded in parts if excluded]
    wanted, excluded = substrings(query)
    where = _live(target)
    score: Any = sa.literal(0.0)
    visible_vector = _vector(target.visible, index) if target.hides_some else index.c.document
    if wanted_parts:
        found = _joined("&&", wanted_parts)
        full = found
        for part in excluded_parts:
            full = full.op("&&")(sa.func.tsquery_not(part))
        # The GIN index finds the candidates by what is wanted; exclusions and hidden fields
        # are then checked against the words the reader may see.
        where.append(index.c.document.op("@@")(full if not target.hides_some else found))
        if target.hides_some:
            where.append(visible_vector.op("@@")(full))
        score = sa.func.ts_rank_cd(visible_vector, full)
    elif excluded_parts:
        where.append(sa.not_(visible_vector.op("@@")(_joined("||", excluded_parts))))
    for i, (_text, keep) in enumerate([*((t, True) for t in wanted), *((t, False) for t in excluded)]):
        pattern = params[f"search_like_{i}"]
        inside = sa.or_(*(index.c[f.key].like(pattern, escape="\\") for f in target.visible))
        if keep:
            where.append(index.c.body.like(pattern, escape="\\"))  # found by the trigram index
            if target.hides_some:
                where.append(inside)
            if not wanted_parts:
                score = score + _weighted_presence(target, index, pattern)
        else:
            where.append(sa.not_(inside))
    return index.join(table, table.c.id == index.c.record_id), where, score


def _ts(part: TsPart, text: Any) -> Any:
    """The tsquery of one part; `text`: its bound words (a prefix's with `:*`)."""
    simple = sa.literal_column("'simple'::regconfig")
    if part.kind == "plain":
        return sa.func.plainto_tsquery(simple, text)
    if part.kind == "phrase":
        return sa.func.phraseto_tsquery(simple, text)
    return sa.func.to_tsquery(simple, text)


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


def _weighted_presence(target: Target, columns: Any, pattern: Any) -> Any:
    """A rank for a substring (`pattern`: its LIKE pattern): the weights of the visible
    fields (`columns`: the index table holding their text) that contain it."""
    return sum((sa.case((columns.c[f.key].like(pattern, escape="\\"), fulltext.WEIGHTS[f.weight][1]), else_=0.0)
                for f in target.visible), sa.literal(0.0))
