"""People specs: who an approval, a task, an e-mail or a notification is for.

A spec is a list of any of: `{"user": "email"}`, `{"role": "sales"}`, `{"team": "east"}`,
`{"field": "owner"}` (a user field of the record), `{"manager": "submitter" | "<user
field>", "levels": 1}` (that person's manager, N levels up), `{"formula": "…"}` (a formula
giving a user id or e-mail) and, for messages only, `{"email": "someone@example.com"}`.
Resolved in SQL against the users, roles and teams of the moment; inactive users never.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.data.tables import roles, team_members, teams, user_roles, users
from tessera.errors import FieldProblem
from tessera.formula import Schema
from tessera.formula.schema import find_field
from tessera.meta.model import ObjectDef

KINDS = ("user", "role", "team", "field", "manager", "formula", "email")
PEOPLE_SCHEMA: dict[str, Any] = {
    "type": "array", "minItems": 1,
    "items": {"type": "object", "minProperties": 1, "additionalProperties": False, "properties": {
        "user": {"type": "string"}, "role": {"type": "string"}, "team": {"type": "string"},
        "field": {"type": "string"}, "manager": {"type": "string"},
        "levels": {"type": "integer", "minimum": 1, "maximum": 10},
        "formula": {"type": "string"}, "email": {"type": "string", "format": "email"}}},
}


def people_problems(specs: Sequence[Mapping[str, Any]], obj: ObjectDef, schema: Schema, path: str,
                    conn: Connection | None = None) -> list[FieldProblem]:
    """What is wrong with a people spec: fields that are not user fields; with a
    connection, users, roles and teams that do not exist."""
    from tessera.actions.registry import formula_problems

    problems: list[FieldProblem] = []
    for index, spec in enumerate(specs):
        here = f"{path}/{index}"
        for name in (spec.get("field"), spec.get("manager") if spec.get("manager") != "submitter" else None):
            if name is None:
                continue
            fdef = find_field(obj, str(name))
            if fdef is None or fdef.type not in ("user", "lookup") or (
                    fdef.type == "lookup" and fdef.props.get("target") != "user"):
                key = "field" if "field" in spec else "manager"
                problems.append(FieldProblem(f"{here}/{key}", f"{obj.api_name} has no user field {name!r}",
                                             "unknown_field"))
        if "formula" in spec:
            problems += formula_problems(spec["formula"], obj, schema, f"{here}/formula")
        if conn is not None:
            problems += _missing(conn, spec, here)
    return problems


#: Roles and teams about to be made with what names them, as (kind, api_name): a package's
#: flow naming the package's own role is published before the role is written.
COMING: ContextVar[frozenset[tuple[str, str]]] = ContextVar("people_coming", default=frozenset())


def _missing(conn: Connection, spec: Mapping[str, Any], here: str) -> list[FieldProblem]:
    for key, table, column in (("user", users, users.c.email), ("role", roles, roles.c.api_name),
                               ("team", teams, teams.c.api_name)):
        if key in spec and (key, spec[key]) in COMING.get():
            return []
        if key in spec:
            value = str(spec[key]).lower() if key == "user" else spec[key]
            if conn.execute(sa.select(sa.literal(1)).select_from(table).where(column == value)).first() is None:
                return [FieldProblem(f"{here}/{key}", f"there is no {key} {spec[key]!r}", f"unknown_{key}")]
    return []


#: Built once: people are resolved in every flow transition that opens tasks.
_ACTIVE = users.c.is_active.is_(True)


def members(conn: Connection, kind: str, name: str) -> list[int]:
    """The active users holding a role (`kind` "role") or in a team ("team"), by id."""
    if kind == "role":
        return list(conn.execute(
            sa.select(users.c.id).join(user_roles, user_roles.c.user_id == users.c.id)
            .join(roles, roles.c.id == user_roles.c.role_id)
            .where(roles.c.api_name == name, _ACTIVE).order_by(users.c.id)).scalars())
    return list(conn.execute(
        sa.select(users.c.id).join(team_members, team_members.c.user_id == users.c.id)
        .join(teams, teams.c.id == team_members.c.team_id)
        .where(teams.c.api_name == name, _ACTIVE).order_by(users.c.id)).scalars())


def resolve(conn: Connection, specs: Sequence[Mapping[str, Any]], record: Mapping[str, Any] | None,
            submitter: int | None, evaluate: Callable[[str], Any],
            members_of: Callable[[str, str], list[int]] | None = None) -> list[int]:
    """The active users a spec names, in the order named, each once. `members_of(kind,
    name)` answers for roles and teams (a cache may); by default they are read here."""
    found: list[int] = []
    for spec in specs:
        ids: list[int] = []
        if "user" in spec:
            ids = list(conn.execute(sa.select(users.c.id).where(users.c.email == str(spec["user"]).lower(), _ACTIVE))
                       .scalars())
        elif "role" in spec or "team" in spec:
            kind = "role" if "role" in spec else "team"
            ids = (members_of or (lambda k, n: members(conn, k, n)))(kind, str(spec[kind]))
        elif "field" in spec:
            ids = _active(conn, [(record or {}).get(str(spec["field"]))])
        elif "manager" in spec:
            start = submitter if spec["manager"] == "submitter" else (record or {}).get(str(spec["manager"]))
            ids = _active(conn, [_manager(conn, start, int(spec.get("levels", 1)))])
        elif "formula" in spec:
            ids = _by_value(conn, evaluate(str(spec["formula"])))
        for user_id in ids:
            if user_id not in found:
                found.append(user_id)
    return found


def _manager(conn: Connection, user_id: Any, levels: int) -> int | None:
    current = user_id
    for _ in range(levels):
        if current is None:
            return None
        current = conn.execute(sa.select(users.c.manager_id).where(users.c.id == int(current))).scalar()
    return None if current is None else int(current)


def _active(conn: Connection, ids: list[Any]) -> list[int]:
    wanted = [int(i) for i in ids if i is not None]
    if not wanted:
        return []
    return list(conn.execute(sa.select(users.c.id).where(users.c.id.in_(wanted), _ACTIVE))
                .scalars())


def _by_value(conn: Connection, value: Any) -> list[int]:
    values = value if isinstance(value, list | tuple) else [value]
    out: list[int] = []
    for item in values:
        if isinstance(item, int) or (isinstance(item, str) and item.isdigit()):
            out += _active(conn, [int(item)])
        elif isinstance(item, str) and "@" in item:
            out += list(conn.execute(sa.select(users.c.id).where(users.c.email == item.lower(),
                                                                  users.c.is_active.is_(True))).scalars())
    return out


def emails(conn: Connection, ids: Sequence[int]) -> list[str]:
    if not ids:
        return []
    return list(conn.execute(sa.select(users.c.email).where(users.c.id.in_(list(ids))).order_by(users.c.id))
                .scalars())
