"""Writing a decided chunk of rows through the save pipeline, good rows landing even when
some are bad.

New records go in as one bulk save. The pipeline checks a whole batch before it writes and
names each refused row, so the refused rows are set aside and the rest saved again; only
when that fails too (a problem no check foresaw) is the chunk written row by row, each in a
savepoint of its own. Changes to existing records go the same way: together first, then
one by one. Everything happens in the caller's transaction, with the import's checkpoint.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection

from tessera.auth.actor import Actor
from tessera.errors import FieldProblem, TesseraError
from tessera.runtime.imports.rows import CREATE, REFUSE, UPDATE, Decider, ImportPlan, Row, is_name, name_of, reason
from tessera.runtime.records.service import RecordService

_LINE_PATH = re.compile(r"^(\w+)\[(\d+)\]\.(\w+)")


class Writer:
    def __init__(self, records: RecordService, actor: Actor, plan: ImportPlan, decider: Decider) -> None:
        self.records = records
        self.actor = actor
        self.plan = plan
        self.decider = decider
        self.object = plan.obj.api_name
        self._columns = {c.target: c.name for c in plan.columns}
        self._index = {c.name: c.index for c in plan.columns}
        self._fields = {c.name: c.field for c in plan.columns}

    def write(self, conn: Connection, rows: list[Row]) -> None:
        """Save the chunk's rows that create or change a record; rows the pipeline refuses
        get its reasons."""
        self._create_missing(conn, rows)
        self.decider.vouch(conn)
        creating = [r for r in rows if r.outcome == CREATE]
        if creating and self.plan.obj.is_child:
            self._add_lines(conn, creating)
        elif creating:
            self._in_bulk(conn, creating, self._create_all, self._create_one)
        updating = [r for r in rows if r.outcome == UPDATE]
        if updating:
            self._in_bulk(conn, updating, self._update_all, self._update_one)

    # -- strategies ----------------------------------------------------------------------
    def _in_bulk(self, conn: Connection, rows: list[Row], together: Callable[[list[Row]], None],
                 alone: Callable[[Row], None]) -> None:
        pending = rows
        for attempt in range(2):
            savepoint = conn.begin_nested()
            try:
                together(pending)
            except TesseraError as error:
                savepoint.rollback()
                refused = self._by_row(error.errors) if attempt == 0 else {}
                if not refused:
                    break
                for index, problems in refused.items():
                    self._refuse(pending[index], problems, error.detail)
                pending = [r for i, r in enumerate(pending) if i not in refused]
                if not pending:
                    return
                continue
            savepoint.commit()
            return
        for row in pending:  # a problem nobody named a row for: find the rows, one by one
            savepoint = conn.begin_nested()
            try:
                alone(row)
            except TesseraError as error:
                savepoint.rollback()
                self._refuse(row, list(error.errors), error.detail)
            else:
                savepoint.commit()

    def _create_all(self, rows: list[Row]) -> None:
        made = self.records._create(self.actor, self.object, [self._input(r, r.values) for r in rows],
                                    bulk=True, echo=False)
        for row, record in zip(rows, made, strict=True):
            row.record_id = int(record["id"])

    def _create_one(self, row: Row) -> None:
        made = self.records._create(self.actor, self.object, [self._input(row, row.values)], bulk=False, echo=False)
        row.record_id = int(made[0]["id"])

    def _update_all(self, rows: list[Row]) -> None:
        for index, row in enumerate(rows):
            try:
                self._update_one(row)
            except TesseraError as error:  # name the row, so the others can be saved again
                for problem in error.errors or [FieldProblem("/", error.detail)]:
                    problem.row = index
                raise

    def _update_one(self, row: Row) -> None:
        assert row.record_id is not None
        self.records.update(self.actor, self.object, row.record_id, self._input(row, row.changes),
                            row.version, echo=False)

    def _add_lines(self, conn: Connection, rows: list[Row]) -> None:
        """Lines from a file of their own: each record named gets its rows added after its
        lines, in one save of that record (its totals and rules see them all); a problem
        refuses that record's rows and says which."""
        child = self.plan.obj
        link = child.parent_link
        assert link is not None
        snap = self.decider.snap
        parent = snap.objects[str(link.props["target"])]
        field = next(f for f in parent.line_fields if f.props.get("target") == child.api_name)
        by_parent: dict[int, list[Row]] = {}
        for row in rows:
            by_parent.setdefault(int(row.values[link.api_name]), []).append(row)
        for parent_id, group in by_parent.items():
            savepoint = conn.begin_nested()
            kept: list[dict[str, Any]] = []
            try:
                record = self.records.get(self.actor, parent.api_name, parent_id, fields=[field.api_name])
                kept = [{"id": line["id"]} for line in record.get(field.api_name) or []]
                added = [{k: v for k, v in r.values.items() if k != link.api_name} for r in group]
                self.records.update(self.actor, parent.api_name, parent_id, {field.api_name: kept + added}, None,
                                    echo=False)
            except TesseraError as error:
                savepoint.rollback()
                self._refuse_lines(group, list(error.errors), error.detail, field.api_name, len(kept))
                continue
            savepoint.commit()
            for row in group:
                row.record_id = parent_id

    def _refuse_lines(self, group: list[Row], problems: list[FieldProblem], detail: str, name: str,
                      offset: int) -> None:
        """Problems of a record's new lines ("lines[5].quantity") go to the rows they came
        from; the record's other problems refuse every row of it."""
        mine: dict[int, list[FieldProblem]] = {}
        general: list[FieldProblem] = []
        for problem in problems:
            match = _LINE_PATH.match(problem.field or "")
            if match and match.group(1) == name and 0 <= int(match.group(2)) - offset < len(group):
                mine.setdefault(int(match.group(2)) - offset, []).append(
                    FieldProblem(match.group(3), problem.message, problem.code))
            else:
                general.append(problem)
        for index, row in enumerate(group):
            if index in mine:
                self._refuse(row, mine[index], detail)
            elif general:
                self._refuse(row, general, detail)
            else:
                row.refuse(None, None, None, f"not added: another line of its record was refused ({detail})")

    # -- inputs and problems -------------------------------------------------------------
    def _input(self, row: Row, values: dict[str, Any]) -> dict[str, Any]:
        data = dict(values)
        data.update({name: [dict(item) for item in items] for name, items in row.lines.items()})
        return data

    def _create_missing(self, conn: Connection, rows: list[Row]) -> None:
        """Records lookups named that do not exist yet, when the column says to create them."""
        if not any(self.decider.missing.values()):
            return
        for column in self.plan.columns:
            names = self.decider.missing.pop(column.name, {})
            if not names:
                continue
            target = self.decider.snap.objects[str(column.field.props["target"])]
            match = target.field(column.options.match) if column.options.match else target.name_field
            if match is None:
                continue
            ordered = sorted(names.values())
            found = self.decider.found.setdefault(column.name, {})
            savepoint = conn.begin_nested()
            try:
                made = self.records._create(self.actor, target.api_name, [{match.api_name: n} for n in ordered],
                                            bulk=True, echo=False)
            except TesseraError as error:
                savepoint.rollback()
                reason = f"no {target.label} record is named {{name!r}}, and one cannot be created: {error.detail}"
                for row in rows:
                    for item in self._holders(row, column):
                        value = item.get(column.field.api_name)
                        if is_name(value):
                            item.pop(column.field.api_name)
                            row.refuse(column.name, column.field, name_of(value), reason.format(name=name_of(value)))
                continue
            savepoint.commit()
            for name, record in zip(ordered, made, strict=True):
                found[name.casefold()] = int(record["id"])
        for row in rows:
            for column in self.plan.columns:
                for item in self._holders(row, column):
                    value = item.get(column.field.api_name)
                    if is_name(value):
                        hit = self.decider.found.get(column.name, {}).get(name_of(value).casefold())
                        if isinstance(hit, int):
                            item[column.field.api_name] = hit
                        else:
                            item.pop(column.field.api_name)
                            row.refuse(column.name, column.field, name_of(value),
                                       f"no record is named {name_of(value)!r}")
            if row.outcome == UPDATE:
                row.changes = {k: row.values[k] for k in row.changes if k in row.values}

    def _holders(self, row: Row, column: Any) -> list[dict[str, Any]]:
        if column.lines is None:
            return [row.values, row.changes]
        return row.lines.get(column.lines.api_name, [])

    def _by_row(self, problems: list[FieldProblem]) -> dict[int, list[FieldProblem]]:
        out: dict[int, list[FieldProblem]] = {}
        for problem in problems:
            if problem.row is None:
                return {}
            out.setdefault(problem.row, []).append(problem)
        return out

    def _refuse(self, row: Row, problems: list[FieldProblem], detail: str) -> None:
        if not problems:
            row.refuse(None, None, None, detail)
            return
        for problem in problems:
            column, where = self._column_for(problem.field)
            fdef = self._fields.get(column) if column else self.plan.obj.field(problem.field)
            said = reason(fdef, problem.message)
            if column is not None:
                row.refuse(column, problem.field, row.cells[self._index[column]], said + where)
            elif fdef is not None or problem.field in ("/", ""):
                row.refuse(None, fdef.api_name if fdef else None, None, said)
            else:
                row.refuse(None, None, None, f"{problem.field}: {said}")
        row.outcome = REFUSE

    def _column_for(self, path: str) -> tuple[str | None, str]:
        """The column a problem's field path came from ("lines[2].quantity" → the Quantity
        column, and which line)."""
        if path in self._columns:
            return self._columns[path], ""
        match = _LINE_PATH.match(path or "")
        if match:
            name, index, child = match.groups()
            return self._columns.get(f"{name}.{child}"), f" (line item {int(index) + 1})"
        return None, ""
