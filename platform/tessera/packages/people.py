"""The people side of a package: its teams (`teams/*.json`), and the demo's people
(`demo/people.json`), whom only `tessera demo` makes.

Teams are made in the install's own transaction, before any document is written or checked,
so an assignment rule of the package can name a team the package brings (and a failed
install leaves no team behind); a team of that name that exists is kept as it is. A
template's teams start empty: who is in them is the admin's business (or the demo's people's).
Uninstalling leaves teams, like roles: people are in them.

The demo's people are made after the roles are granted and before the sample records load,
so they hold the package's roles, sit in its teams, and sample records can name them as
owners. A person who exists already keeps their name, password and manager, and only gains
the roles and teams the demo gives them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.auth import audit
from tessera.auth import schemas as auth_schemas
from tessera.auth.actor import Actor
from tessera.data import metastore
from tessera.data.tables import roles, teams, users
from tessera.errors import FieldProblem
from tessera.packages.files import TEAMS, Package, problem
from tessera.packages.identity import platform_uid
from tessera.packages.plan import Plan, Step

if TYPE_CHECKING:
    from tessera.auth.users import UserService

#: The prefix of a package team's platform uid.
TEAM_PREFIX = "tea"


def team_steps(conn: Connection, plan: Plan) -> list[FieldProblem]:
    """Add what the package's teams do to the plan — create one that is missing, keep one
    that exists — and return their problems."""
    problems: list[FieldProblem] = []
    held = set(conn.execute(sa.select(teams.c.api_name)).scalars())
    for item in plan.package.teams:
        doc = {k: v for k, v in item.body.items() if k != "uid"}
        found = auth_schemas.problems("teams", doc)
        if "members" in doc:
            found = [p for p in found if not p.field.startswith("/members")]
            found.append(FieldProblem("/members", "a template's teams start empty: who is in a team is up to the "
                                      "admin (the demo's people name their teams in demo/people.json)",
                                      "not_in_a_package"))
        problems += [problem(item.path, p.field, p.message, p.code) for p in found]
        if found:
            continue
        name = str(doc["api_name"])
        step = Step(TEAMS, platform_uid(plan.package.identity, TEAM_PREFIX, item.uid), item.uid, item.path, name,
                    str(doc["label"]), "unchanged" if name in held else "create", body=doc, base=doc,
                    owner=plan.package.name)
        if name in held:
            step.notes.append("a team of that name exists: kept as it is")
        plan.steps.append(step)
    return problems


def make_teams(conn: Connection, actor: Actor, plan: Plan) -> int:
    """Create the plan's new teams in the caller's transaction; the number made."""
    made = 0
    at = metastore.now()
    for step in plan.steps:
        if step.kind != TEAMS or step.action != "create" or step.body is None:
            continue
        savepoint = conn.begin_nested()
        try:
            conn.execute(sa.insert(teams).values(api_name=step.api_name, label=step.body["label"],
                                                 description=step.body.get("description", ""),
                                                 created_at=at, updated_at=at))
        except sa.exc.IntegrityError:  # made meanwhile: kept as it is
            savepoint.rollback()
            continue
        savepoint.commit()
        audit.record(conn, "team.created", actor_id=actor.user_id, target=f"team:{step.api_name}",
                     detail={"label": step.body["label"], "members": [], "package": plan.package.name})
        made += 1
    return made


def team_now(conn: Connection, api_name: str, author_uid: str) -> dict[str, Any] | None:
    """A package's team as it is now, as a package file holds it (None: deleted since)."""
    row = conn.execute(sa.select(teams.c.api_name, teams.c.label, teams.c.description)
                       .where(teams.c.api_name == api_name)).first()
    if row is None:
        return None
    out = {"uid": author_uid, "api_name": row.api_name, "label": row.label}
    return out | ({"description": row.description} if row.description else {})


# -- the demo's people -------------------------------------------------------------------------
def demo_problems(conn: Connection, plan: Plan) -> list[FieldProblem]:
    """What keeps the demo's people from being made: a role or team that neither exists nor
    comes with the package, a manager who is nobody, a manager chain that loops."""
    package = plan.package
    if package.demo is None:
        return []
    path = package.demo.path
    role_names = set(conn.execute(sa.select(roles.c.api_name)).scalars())
    role_names |= {str(r.body.get("api_name")) for r in package.roles}
    team_names = set(conn.execute(sa.select(teams.c.api_name)).scalars())
    team_names |= {str(t.body.get("api_name")) for t in package.teams}
    people = list(package.demo.body.get("people", []))
    emails = {str(p["email"]).strip().lower() for p in people}
    managers = {str(p["email"]).strip().lower(): str(p["manager"]).strip().lower()
                for p in people if p.get("manager")}
    outside = sorted(set(managers.values()) - emails)
    known = set(conn.execute(sa.select(users.c.email).where(users.c.email.in_(outside))).scalars()) if outside \
        else set()
    out: list[FieldProblem] = []
    for index, person in enumerate(people):
        for at, name in enumerate(person.get("roles", [])):
            if name not in role_names:
                out.append(problem(path, f"/people/{index}/roles/{at}", f"there is no role {name!r} here or in "
                                   "the package's roles/", "unknown_role"))
        for at, name in enumerate(person.get("teams", [])):
            if name not in team_names:
                out.append(problem(path, f"/people/{index}/teams/{at}", f"there is no team {name!r} here or in "
                                   "the package's teams/", "unknown_team"))
        email = str(person["email"]).strip().lower()
        boss = managers.get(email)
        if boss is not None and boss not in emails and boss not in known:
            out.append(problem(path, f"/people/{index}/manager", f"{boss!r} is neither one of the demo's people "
                               "nor a user here", "unknown_user"))
        seen = [email]
        while boss is not None and boss not in seen:
            seen.append(boss)
            boss = managers.get(boss)
        if boss == email:
            out.append(problem(path, f"/people/{index}/manager", "the managers make a loop: "
                               + " → ".join([*seen, email]), "manager_loop"))
    return out


def make_people(directory: UserService, actor: Actor, package: Package, password: str) -> dict[str, int]:
    """Make the demo's people (a person who exists keeps what they have and only gains the
    demo's roles and teams), then give each their manager where they have none. Counts of
    people created and changed."""
    if package.demo is None:
        return {"created": 0, "changed": 0}
    people = [p for p in package.demo.body.get("people", []) if isinstance(p, Mapping)]
    created = changed = 0
    ids: dict[str, int] = {}
    for person in people:
        email = str(person["email"]).strip().lower()
        found = directory.id_for_email(email)
        wanted = {"roles": sorted(set(person.get("roles", []))), "teams": sorted(set(person.get("teams", [])))}
        if found is None:
            ids[email] = int(directory.accounts.add(actor, {
                "email": email, "name": str(person["name"]).strip(), "password": password, **wanted})["id"])
            created += 1
            continue
        ids[email] = found
        have = directory.accounts.get(found)
        more = {k: sorted({*have[k], *v}) for k, v in wanted.items() if not set(v) <= set(have[k])}
        if more:
            directory.accounts.change(actor, found, more)
            changed += 1
    for person in people:
        email = str(person["email"]).strip().lower()
        if person.get("manager") and directory.accounts.get(ids[email])["manager"] is None:
            directory.accounts.change(actor, ids[email], {"manager": str(person["manager"]).strip().lower()})
    return {"created": created, "changed": changed}
