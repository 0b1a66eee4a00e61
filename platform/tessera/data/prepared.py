"""Statements compiled once and run on the database driver's own cursor.

A flow transition runs a dozen small statements, and SQLAlchemy's bookkeeping for each
execution (cache key, execution context, result object, events) costs more than
PostgreSQL takes to run them. A `Prepared` statement is an ordinary SQLAlchemy statement
compiled once per database kind — so its SQL, casts and type conversions are exactly
SQLAlchemy's — and run on the DB-API cursor of the caller's transaction:

- `write(conn, params)` sends a write whose answer nobody reads; in a pipelined
  transaction (`write_transaction(pipelined=True)` on PostgreSQL) it waits for nothing
  and goes out with the next statement that waits, or with the COMMIT. Several rows for
  an INSERT go as one statement with a VALUES list (compiled once for each count).
- `read(conn, params)` returns `Rows`. In a pipelined transaction the rows are waited
  for only when first asked for: a read issued last is answered by the COMMIT's own round
  trip, so ask for its rows once the transaction has committed. Elsewhere they are read
  at once.

On PostgreSQL each is a prepared statement on the server from its first run. Errors
surface as SQLAlchemy's `DBAPIError`s, as from `Connection.execute`.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

from tessera.data.engine import in_pipeline

Processor = Callable[[Any], Any]
#: In `_Compiled.given_names`: a parameter's name given in place of its key.
_BY_NAME: tuple[str, ...] = ("",)
_NOTHING = object()


@dataclass(frozen=True)
class _Compiled:
    dialect: Dialect
    sql: str
    compiled: sa.sql.compiler.Compiled
    #: Parameter names in their order for a positional driver (SQLite), else None.
    order: tuple[str, ...] | None
    #: What the driver's execute is told besides (psycopg: prepare on the server at once).
    options: dict[str, Any]
    binders: tuple[tuple[str, Processor], ...]
    keys: tuple[str, ...]
    results: tuple[tuple[int, Processor], ...]
    #: Columns whose conversion depends on the type the database answers with (psycopg's
    #: numeric: a float or a decimal), worked out from the first answer's description.
    late: tuple[tuple[int, Any], ...] = ()
    #: The driver's values of the parameters the statement carries itself (a formula's
    #: literals: hundreds in a stored total's UPDATE), converted once; and per key a caller
    #: may give, its names. None: every run goes through SQLAlchemy's construct_params.
    constants: dict[str, Any] | None = None
    given_names: dict[str, tuple[str, ...]] | None = None
    #: The positional driver's values in order, taken from the values by name at once.
    ordered: Callable[[dict[str, Any]], Any] | None = None
    #: `binders` by name, and how many parameters there are.
    binder_of: Mapping[str, Processor] = field(default_factory=dict)
    bind_count: int = 0

    def parameters(self, given: Mapping[str, Any]) -> Any:
        if self.constants is not None and self.given_names is not None:
            values = dict(self.constants)
            binders = self.binder_of
            for key, value in given.items():
                names = self.given_names.get(key, ())
                if names is _BY_NAME:
                    break
                for name in names:
                    process = binders.get(name)
                    values[name] = process(value) if process is not None else value
            else:
                if len(values) == self.bind_count:  # else one is missing: SQLAlchemy says which
                    return values if self.ordered is None else self.ordered(values)
        values = self.compiled.construct_params(dict(given))
        for name, process in self.binders:
            values[name] = process(values[name])
        return values if self.order is None else tuple(values[name] for name in self.order)

    def row(self, raw: Sequence[Any], results: tuple[tuple[int, Processor], ...] | None = None) -> dict[str, Any]:
        values = list(raw)
        for index, process in self.results if results is None else results:
            values[index] = process(values[index])
        return dict(zip(self.keys, values, strict=True))

    def each(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """The driver's parameters of several rows that each give every parameter (an
        INSERT of the columns named): `parameters` without SQLAlchemy's per-row bookkeeping,
        column by column. A column whose rows all hold the same object (the moment and the
        user every row of a save carries) is converted once."""
        processing = dict(self.binders)
        keys = {name: bind.key for bind, name in self.compiled.bind_names.items()}
        names = self.order if self.order is not None else tuple(keys)
        columns: list[list[Any]] = []
        for name in names:
            values = list(map(operator.itemgetter(keys[name]), rows))
            process = processing.get(name)
            if process is not None and values:
                first = values[0]
                if all(map(operator.is_, values, itertools.repeat(first))):
                    values = [process(first)] * len(values)
                else:
                    values = list(map(process, values))
            columns.append(values)
        if not columns:
            return [() if self.order is not None else {} for _ in rows]
        if self.order is not None:
            return list(zip(*columns, strict=True))
        return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]

    def processors(self, description: Sequence[Any] | None) -> tuple[tuple[int, Processor], ...]:
        """The conversions of an answer's values, those that need its column types too."""
        if not self.late or description is None:
            return self.results
        out = list(self.results)
        for index, impl in self.late:
            process = impl.result_processor(self.dialect, description[index][1])
            if process is not None:
                out.append((index, process))
        return tuple(out)


class Prepared:
    """One statement, compiled on first use for each kind of database. `statement` is a
    SQLAlchemy statement, or a function of the dialect's name giving one (for clauses such
    as ON CONFLICT that each database spells its own way); `columns`: the columns an
    INSERT or UPDATE is given values for."""

    #: Rows an INSERT sends in one statement, at most (more go in several).
    MAX_ROWS = 50

    def __init__(self, statement: sa.Executable | Callable[[str], sa.Executable],
                 columns: Iterable[str] | None = None, *, prepare: bool = True) -> None:
        """`prepare=False`: PostgreSQL prepares it only as any repeated statement (psycopg's
        threshold) — for a read of an object's own columns, whose types a field's change
        of type can change under a statement already prepared on another connection."""
        self._statement = statement
        self._columns = None if columns is None else list(columns)
        self._prepare = prepare
        self._compiled: dict[tuple[str, int], _Compiled] = {}

    def _for(self, conn: Connection, rows: int = 0) -> _Compiled:
        dialect = conn.dialect
        found = self._compiled.get((dialect.name, rows))
        if found is None:
            found = self._compiled[(dialect.name, rows)] = self._compile(dialect, rows)
        return found

    def _compile(self, dialect: Dialect, rows: int) -> _Compiled:
        """`rows`: 0 for the statement as given, else an INSERT of that many rows, whose
        parameters are named `column_n` for the nth."""
        statement = self._statement if isinstance(self._statement, sa.Executable) else self._statement(dialect.name)
        if rows:
            assert isinstance(statement, sa.Insert) and self._columns, "only an INSERT of named columns has rows"
            table = statement.table
            statement = statement.values([{c: sa.bindparam(f"{c}_{n}", type_=table.c[c].type) for c in self._columns}
                                          for n in range(rows)])
        compiled = statement.compile(dialect=dialect, column_keys=None if rows else self._columns)
        binders: dict[str, Processor] = {}  # by name: a parameter used twice is converted once
        for bind, name in compiled.bind_names.items():
            if bind.expanding:
                raise ValueError(f"{bind.key}: an expanding parameter cannot be prepared once")
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                binders[name] = process
        keys: list[str] = []
        results: list[tuple[int, Processor]] = []
        late: list[tuple[int, Any]] = []
        for index, column in enumerate(getattr(statement, "exported_columns", ())):
            keys.append(str(column.key))
            impl = column.type.dialect_impl(dialect)
            try:
                process = impl.result_processor(dialect, None)
            except TypeError:  # it needs the answer's column type
                late.append((index, impl))
                continue
            if process is not None:
                results.append((index, process))
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        options = {"prepare": True} if dialect.driver == "psycopg" and self._prepare else {}
        constants, given_names = _constants(compiled, binders)
        ordered = None if order is None else _ordered(order)
        return _Compiled(dialect, str(compiled), compiled, order, options, tuple(binders.items()), tuple(keys),
                         tuple(results), tuple(late), constants, given_names, ordered, binders,
                         len(set(compiled.bind_names.values())))

    def sql(self, conn: Connection) -> str:
        """The statement's SQL for the connection's database (compiled now if not yet)."""
        return self._for(conn).sql

    def write(self, conn: Connection, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
        """Run the write, for one set of values or for each of several."""
        single = self._for(conn)
        if isinstance(params, Mapping):
            self._execute(conn, single, params)
        elif single.compiled.isinsert:
            for start in range(0, len(params), self.MAX_ROWS):
                chunk = params[start:start + self.MAX_ROWS]
                if len(chunk) == 1:
                    self._execute(conn, single, chunk[0])
                else:
                    self._execute(conn, self._for(conn, len(chunk)),
                                  {f"{k}_{n}": v for n, row in enumerate(chunk) for k, v in row.items()})
        else:
            for one in params:
                self._execute(conn, single, one)

    def write_each(self, conn: Connection, params: Sequence[Mapping[str, Any]]) -> None:
        """Run a write for each of several sets of values, each naming every parameter (an
        INSERT of the columns given), as one executemany of the driver."""
        compiled = self._for(conn)
        cursor = conn.connection.driver_connection.cursor()
        try:
            cursor.executemany(compiled.sql, compiled.each(params))
        except compiled.dialect.loaded_dbapi.Error as error:
            raise _wrapped(compiled, None, error) from error
        finally:
            cursor.close()

    def read_each(self, conn: Connection, params: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Run a write with RETURNING for each of several sets of values; the first row each
        answers, in their order. On PostgreSQL one executemany of the prepared statement, in
        one round trip (a multi-row VALUES list of hundreds of parameters is parsed anew by
        the driver each time); elsewhere one statement each."""
        compiled = self._for(conn)
        cursor = conn.connection.driver_connection.cursor()
        out: list[dict[str, Any]] = []
        try:
            if compiled.dialect.driver == "psycopg":
                cursor.executemany(compiled.sql, compiled.each(params), returning=True)
                results = compiled.processors(cursor.description)
                while True:
                    out.append(compiled.row(cursor.fetchone(), results))
                    if not cursor.nextset():
                        break
            else:
                for one in params:
                    cursor.execute(compiled.sql, compiled.parameters(one), **compiled.options)
                    out.append(compiled.row(cursor.fetchone(), compiled.processors(cursor.description)))
        except compiled.dialect.loaded_dbapi.Error as error:
            raise _wrapped(compiled, None, error) from error
        finally:
            cursor.close()
        return out

    def _execute(self, conn: Connection, compiled: _Compiled, params: Mapping[str, Any]) -> Any:
        driver = conn.connection.driver_connection
        cursor = driver.cursor()
        try:
            cursor.execute(compiled.sql, compiled.parameters(params), **compiled.options)
        except compiled.dialect.loaded_dbapi.Error as error:
            if not _stale_plan(driver, error):
                raise _wrapped(compiled, params, error) from error
            # Another connection changed a column's type (a field's type change) since this
            # one prepared the statement. Outside a transaction nothing is lost: forget this
            # connection's prepared statements (psycopg forgets its own record of them on
            # DEALLOCATE ALL) and run it again, prepared afresh.
            driver.execute("DEALLOCATE ALL")
            try:
                cursor.execute(compiled.sql, compiled.parameters(params), **compiled.options)
            except compiled.dialect.loaded_dbapi.Error as again:
                raise _wrapped(compiled, params, again) from again
        return cursor

    def read(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Rows:
        """Run the query (or a write with RETURNING); its rows as dictionaries."""
        compiled = self._for(conn)
        rows = Rows(compiled, self._execute(conn, compiled, params or {}))
        if not in_pipeline(conn):
            rows.all()
        return rows


class Rows:
    """The rows a `Prepared.read` returns, fetched when first asked for."""

    def __init__(self, compiled: _Compiled, cursor: Any) -> None:
        self._compiled = compiled
        self._cursor: Any = cursor
        self._rows: list[dict[str, Any]] = []

    def all(self) -> list[dict[str, Any]]:
        if self._cursor is not None:
            cursor, self._cursor = self._cursor, None
            try:
                raws = cursor.fetchall()
                compiled = self._compiled
                results = compiled.processors(cursor.description)
                self._rows = [compiled.row(raw, results) for raw in raws]
            except self._compiled.dialect.loaded_dbapi.Error as error:
                raise _wrapped(self._compiled, None, error) from error
            finally:
                cursor.close()
        return self._rows

    def first(self) -> dict[str, Any] | None:
        rows = self.all()
        return rows[0] if rows else None

    def one(self) -> dict[str, Any]:
        rows = self.all()
        if len(rows) != 1:
            raise sa.exc.NoResultFound("No row was found") if not rows else sa.exc.MultipleResultsFound(
                "More than one row was found")
        return rows[0]


def _constants(compiled: sa.sql.compiler.Compiled,
               binders: Mapping[str, Processor]) -> tuple[dict[str, Any] | None, dict[str, tuple[str, ...]] | None]:
    """The converted values of the parameters that carry their own (literals), and the
    names of each key a caller may give: what `_Compiled.parameters` needs to skip
    construct_params. (None, None) where that would not give the same values: escaped
    names, values worked out at run time, or a name shared by two parameters."""
    constants: dict[str, Any] = {}
    names: dict[str, list[str]] = {}
    seen: dict[str, Any] = {}
    if getattr(compiled, "escaped_bind_names", None):
        return None, None
    for bind, name in compiled.bind_names.items():
        if bind.callable is not None or (name in seen and seen[name] is not bind):
            return None, None
        seen[name] = bind
        names.setdefault(bind.key, []).append(name)
        if not bind.required:
            process = binders.get(name)
            constants[name] = process(bind.value) if process is not None else bind.value
    out = {key: tuple(found) for key, found in names.items()}
    # A parameter's name other than its key, given, is taken by construct_params (when its
    # key is not given): such a key is left to it.
    for name in compiled.bind_names.values():
        out.setdefault(name, _BY_NAME)
    return constants, out


def _ordered(order: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """The values of the names in `order`, as a tuple (itemgetter: one C call)."""
    if len(order) > 1:
        return operator.itemgetter(*order)
    return lambda values: tuple(values[name] for name in order)


def _stale_plan(driver: Any, error: Exception) -> bool:
    """Whether PostgreSQL refused a statement prepared before a column's type changed, on a
    connection in autocommit (where running it again is safe)."""
    return (getattr(error, "sqlstate", None) == "0A000" and "cached plan must not change result type" in str(error)
            and getattr(driver, "autocommit", False))


def _wrapped(compiled: _Compiled, params: Any, error: Exception) -> sa.exc.DBAPIError:
    return sa.exc.DBAPIError.instance(compiled.sql, params, error, compiled.dialect.loaded_dbapi.Error,
                                      dialect=compiled.dialect)
