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
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

from tessera.data.engine import in_pipeline, stale_plan

Processor = Callable[[Any], Any]
#: In `_Compiled.given_names`: a parameter's name given in place of its key.
_BY_NAME: tuple[str, ...] = ("",)
_NOTHING = object()


@dataclass(frozen=True)
class _Compiled:
    dialect: Dialect
    sql: str
    compiled: sa.sql.compiler.Compiled
    #: Parameter names in their order (SQLite's positions, PostgreSQL's numbers), else None.
    order: tuple[str, ...] | None
    #: What the driver's execute is told besides (psycopg: prepare on the server at once).
    options: dict[str, Any]
    binders: tuple[tuple[str, Processor], ...]
    keys: tuple[str, ...]
    results: tuple[tuple[int, Processor], ...]
    #: A cursor of the driver's connection for this SQL.
    cursor: Callable[[Any], Any]
    #: Columns whose conversion depends on the type the database answers with (psycopg's
    #: numeric: a float or a decimal), worked out from the first answer's description.
    late: tuple[tuple[int, Any], ...] = ()
    #: `processors` by the types of the `late` columns.
    typed: dict[tuple[Any, ...], tuple[tuple[int, Processor], ...]] = field(default_factory=dict, compare=False)
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
        return dict(zip(self.keys, self.values(raw, results), strict=True))

    def values(self, raw: Sequence[Any], results: tuple[tuple[int, Processor], ...] | None = None) -> list[Any]:
        """A row's values converted, in the statement's order. NULL stays None without its
        conversion: every result type here gives None for it (a row reading several lists
        together is mostly NULLs, see runtime/forms/together.py)."""
        values = list(raw)
        for index, process in self.results if results is None else results:
            if (value := values[index]) is not None:
                values[index] = process(value)
        return values

    def each(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """The driver's parameters of several rows that each give every parameter (an
        INSERT of the columns named): `parameters` without SQLAlchemy's per-row bookkeeping,
        column by column. A column whose rows all hold the same object (the moment and the
        user every row of a save carries) is converted once."""
        return self.each_column(lambda key: list(map(operator.itemgetter(key), rows)), len(rows))

    def each_column(self, column: Callable[[str], list[Any]], count: int) -> list[Any]:
        """`each` of `count` rows given column by column: `column(key)` is every row's value
        of the parameter `key` (a caller holding its values by column builds no row dicts)."""
        processing = dict(self.binders)
        keys = {name: bind.key for bind, name in self.compiled.bind_names.items()}
        names = self.order if self.order is not None else tuple(keys)
        columns: list[list[Any]] = []
        for name in names:
            values = column(keys[name])
            process = processing.get(name)
            if process is not None and values:
                first = values[0]
                if all(map(operator.is_, values, itertools.repeat(first))):
                    values = [process(first)] * len(values)
                else:
                    values = list(map(process, values))
            columns.append(values)
        if not columns:
            return [() if self.order is not None else {} for _ in range(count)]
        if self.order is not None:
            return list(zip(*columns, strict=True))
        return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]

    def processors(self, cursor: Any) -> tuple[tuple[int, Processor], ...]:
        """The conversions of an answer's values, those that need its column types too:
        worked out once per set of types (psycopg builds a cursor's whole description anew
        each time it is asked for; its result tells a column's type alone)."""
        if not self.late:
            return self.results
        answer = getattr(cursor, "pgresult", None)
        if answer is not None:
            types = tuple(answer.ftype(index) for index, _impl in self.late)
        elif (description := cursor.description) is not None:
            types = tuple(description[index][1] for index, _impl in self.late)
        else:
            return self.results
        found = self.typed.get(types)
        if found is None:
            out = list(self.results)
            for (index, impl), code in zip(self.late, types, strict=True):
                process = impl.result_processor(self.dialect, code)
                if process is not None:
                    out.append((index, process))
            found = self.typed[types] = tuple(out)
        return found


class Prepared:
    """One statement, compiled on first use for each kind of database. `statement` is a
    SQLAlchemy statement, or a function of the dialect's name giving one (for clauses such
    as ON CONFLICT that each database spells its own way); `columns`: the columns an
    INSERT or UPDATE is given values for."""

    #: Rows an INSERT sends in one statement, at most (more go in several).
    MAX_ROWS = 50

    def __init__(self, statement: sa.Executable | Callable[[str], sa.Executable],
                 columns: Iterable[str] | None = None, *, prepare: bool = True, plan_each: bool = False) -> None:
        """`prepare=False`: PostgreSQL prepares it only as any repeated statement (psycopg's
        threshold) — for a read of an object's own columns, whose types a field's change
        of type can change under a statement already prepared on another connection.
        `plan_each`: never prepared on the server, so PostgreSQL plans every run for its own
        values and the table as it is then — for an array parameter (`= ANY`), whose generic
        plan, kept once chosen, may scan a table that was empty when it was chosen."""
        self._statement = statement
        self._columns = None if columns is None else list(columns)
        self._prepare = prepare
        self._plan_each = plan_each
        self._compiled: dict[tuple[str, int], _Compiled] = {}
        self._spreads: dict[tuple[str, int], Callable[[list[Any]], Any]] = {}

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
        sql = str(compiled)
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        cursor: Callable[[Any], Any] = _driver_cursor
        options: dict[str, Any] = {}
        if dialect.driver == "psycopg":
            # Sent as PostgreSQL numbers its parameters ($1, $2, …): psycopg would otherwise
            # parse the SQL for its %(name)s on every run of a long statement (a record's
            # formulas), which it keeps parsed only for short ones.
            sql, order = _numbered(sql)
            cursor = _raw_cursor
            if self._plan_each or self._prepare:
                options = {"prepare": not self._plan_each}
        constants, given_names = _constants(compiled, binders)
        ordered = None if order is None else _ordered(order)
        return _Compiled(dialect, sql, compiled, order, options, tuple(binders.items()), tuple(keys),
                         tuple(results), cursor, tuple(late), constants=constants, given_names=given_names,
                         ordered=ordered, binder_of=binders, bind_count=len(set(compiled.bind_names.values())))

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
        self.write_columns(conn, lambda key: list(map(operator.itemgetter(key), params)), len(params))

    def write_columns(self, conn: Connection, column: Callable[[str], list[Any]], count: int) -> None:
        """`write_each` of `count` sets of values given column by column (see `each_column`).
        On PostgreSQL the rows of an INSERT go as statements of up to MAX_ROWS rows with a
        VALUES list (as `write` sends them), in a pipelined transaction without waiting: an
        executemany costs the driver Python work a row and the server a statement a row."""
        compiled = self._for(conn)
        rows = compiled.each_column(column, count)
        cursor = compiled.cursor(conn.connection.driver_connection)
        if compiled.dialect.driver == "psycopg" and compiled.compiled.isinsert and compiled.order is not None:
            try:
                for start in range(0, count, self.MAX_ROWS):
                    chunk = rows[start:start + self.MAX_ROWS]
                    many, spread = self._spread(conn, len(chunk))
                    cursor.execute(many.sql, spread(list(itertools.chain.from_iterable(chunk))), **many.options)
            except compiled.dialect.loaded_dbapi.Error as error:
                raise _wrapped(compiled, None, error) from error
            return
        try:
            cursor.executemany(compiled.sql, rows)
        except compiled.dialect.loaded_dbapi.Error as error:
            raise _wrapped(compiled, None, error) from error
        finally:
            cursor.close()

    def _spread(self, conn: Connection, rows: int) -> tuple[_Compiled, Callable[[list[Any]], Any]]:
        """The INSERT of `rows` rows, and how its parameters are taken, in its order, from
        the rows' driver values one after another (each in the one-row statement's order)."""
        many = self._for(conn, rows)
        found = self._spreads.get((conn.dialect.name, rows))
        if found is None:
            single = self._for(conn)
            assert single.order is not None and many.order is not None
            keys = {name: bind.key for bind, name in single.compiled.bind_names.items()}
            place = {keys[name]: index for index, name in enumerate(single.order)}
            width = len(single.order)
            at = {f"{key}_{n}": n * width + place[key] for n in range(rows) for key in place}
            found = self._spreads[(conn.dialect.name, rows)] = _ordered_at(tuple(at[name] for name in many.order))
        return many, found

    def read_each(self, conn: Connection, params: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Run a write with RETURNING for each of several sets of values; the first row each
        answers, in their order. On PostgreSQL one executemany of the prepared statement, in
        one round trip (a multi-row VALUES list of hundreds of parameters is parsed anew by
        the driver each time); elsewhere one statement each."""
        compiled = self._for(conn)
        cursor = compiled.cursor(conn.connection.driver_connection)
        out: list[dict[str, Any]] = []
        try:
            if compiled.dialect.driver == "psycopg":
                cursor.executemany(compiled.sql, compiled.each(params), returning=True)
                results = compiled.processors(cursor)
                while True:
                    out.append(compiled.row(cursor.fetchone(), results))
                    if not cursor.nextset():
                        break
            else:
                for one in params:
                    cursor.execute(compiled.sql, compiled.parameters(one), **compiled.options)
                    out.append(compiled.row(cursor.fetchone(), compiled.processors(cursor)))
        except compiled.dialect.loaded_dbapi.Error as error:
            raise _wrapped(compiled, None, error) from error
        finally:
            cursor.close()
        return out

    def _execute(self, conn: Connection, compiled: _Compiled, params: Mapping[str, Any]) -> Any:
        driver = conn.connection.driver_connection
        cursor = compiled.cursor(driver)
        try:
            cursor.execute(compiled.sql, compiled.parameters(params), **compiled.options)
        except compiled.dialect.loaded_dbapi.Error as error:
            if not stale_plan(driver, error):
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
            rows.values()
        return rows


class Rows:
    """The rows a `Prepared.read` returns, fetched when first asked for."""

    def __init__(self, compiled: _Compiled, cursor: Any) -> None:
        self._compiled = compiled
        self._cursor: Any = cursor
        self._values: list[list[Any]] = []
        self._rows: list[dict[str, Any]] | None = None

    def all(self) -> list[dict[str, Any]]:
        if self._rows is None:
            keys = self._compiled.keys
            self._rows = [dict(zip(keys, values, strict=True)) for values in self.values()]
        return self._rows

    def values(self) -> list[list[Any]]:
        """The rows as lists of their values in the statement's order, converted as all()'s
        are (for a caller reading thousands of rows by place: no dict each)."""
        if self._cursor is not None:
            cursor, self._cursor = self._cursor, None
            try:
                raws = cursor.fetchall()
                compiled = self._compiled
                results = compiled.processors(cursor)
                self._values = [compiled.values(raw, results) for raw in raws]
            except self._compiled.dialect.loaded_dbapi.Error as error:
                raise _wrapped(self._compiled, None, error) from error
            finally:
                cursor.close()
        return self._values

    def first(self) -> dict[str, Any] | None:
        rows = self.all()
        return rows[0] if rows else None

    def one(self) -> dict[str, Any]:
        rows = self.all()
        if len(rows) != 1:
            raise sa.exc.NoResultFound("No row was found") if not rows else sa.exc.MultipleResultsFound(
                "More than one row was found")
        return rows[0]


_PYFORMAT = re.compile(r"%%|%\((.+?)\)s")


def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """SQL in psycopg's %(name)s style as PostgreSQL numbers parameters ($1, …: a name
    used twice is one number), and the names in the order of their numbers."""
    names: dict[str, int] = {}

    def number(found: re.Match[str]) -> str:
        name = found.group(1)
        if name is None:
            return "%"  # %% is a literal percent sign
        return f"${names.setdefault(name, len(names) + 1)}"

    return _PYFORMAT.sub(number, sql), tuple(names)


def _driver_cursor(driver: Any) -> Any:
    return driver.cursor()


def _raw_cursor(driver: Any) -> Any:
    """A psycopg cursor that sends the SQL as it is, its parameters by number."""
    import psycopg  # only here: the driver of PostgreSQL alone

    return psycopg.RawCursor(driver)


def _constants(compiled: sa.sql.compiler.Compiled,
               binders: Mapping[str, Processor]) -> tuple[dict[str, Any] | None, dict[str, tuple[str, ...]] | None]:
    """The converted values of the parameters that carry their own (literals), and the
    names of each key a caller may give: what `_Compiled.parameters` needs to skip
    construct_params. (None, None) where that would not give the same values: escaped
    names, values worked out at run time, or a name shared by two parameters of different
    keys or of which one must be given. Two of one key alike (a formula's TODAY() in two
    columns, a record's id in each of several lists read together) are one value, as
    construct_params makes them: the one given, else the last's own."""
    constants: dict[str, Any] = {}
    names: dict[str, list[str]] = {}
    seen: dict[str, Any] = {}
    if getattr(compiled, "escaped_bind_names", None):
        return None, None
    for bind, name in compiled.bind_names.items():
        if bind.callable is not None:
            return None, None
        other = seen.get(name)
        if other is not None and other is not bind and (other.key != bind.key or other.required != bind.required):
            return None, None
        seen[name] = bind
        if name not in (keyed := names.setdefault(bind.key, [])):
            keyed.append(name)
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


def _ordered_at(places: tuple[int, ...]) -> Callable[[list[Any]], tuple[Any, ...]]:
    """The values at `places`, as a tuple (itemgetter: one C call)."""
    if len(places) > 1:
        return operator.itemgetter(*places)
    return lambda values: tuple(values[place] for place in places)


def _wrapped(compiled: _Compiled, params: Any, error: Exception) -> sa.exc.DBAPIError:
    return sa.exc.DBAPIError.instance(compiled.sql, params, error, compiled.dialect.loaded_dbapi.Error,
                                      dialect=compiled.dialect)
