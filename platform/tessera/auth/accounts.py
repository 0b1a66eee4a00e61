"""User accounts as admins manage them: create, change, disable, list.

    {"email": "rep@example.com", "name": "Rep", "password": "…", "roles": ["sales"],
     "teams": ["east"], "manager": "lead@example.com", "time_zone": "Europe/Paris"}

Users are never deleted (records, history and the audit log point at them); disabling is
the way, and it ends every session and revokes every token of the user at once. `is_admin`
and the `admin` role always agree; at least one active admin remains. A manager chain never
loops. Every change that alters what a user may do bumps the auth revision.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.auth import audit, schemas
from tessera.auth.actor import Actor
from tessera.auth.permissions import permissions_for
from tessera.auth.roles import MetadataReader
from tessera.auth.sessions import revoke_all
from tessera.data.engine import read_transaction, write_transaction
from tessera.data.paging import decode_cursor, encode_cursor
from tessera.data.tables import roles, team_members, teams, tokens, user_roles, users
from tessera.errors import Conflict, FieldProblem, InvalidInput, NotFound
from tessera.meta.times import is_time_zone

if TYPE_CHECKING:
    from tessera.auth.users import UserService

MESSAGES = {
    ("/email", "pattern"): "is not an e-mail address",
    ("/email", "maxLength"): "is longer than 254 characters",
    ("/password", "minLength"): "must be at least 8 characters long",
    ("/password", "maxLength"): "must be at most 1024 characters long",
    ("/password", "type"): "must be text",
}
MAX_LIMIT = 500


def _iso(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at else None


def _check(doc: Any, *, partial: bool) -> None:
    problems = schemas.problems("users", doc, messages=MESSAGES, secret=("/password",), partial=partial,
                                pointers=False)
    if not problems and isinstance(doc, dict) and doc.get("time_zone") is not None \
            and not is_time_zone(doc["time_zone"]):
        problems.append(FieldProblem("time_zone", "is not a time zone like Europe/Paris", "unknown_time_zone"))
    if problems:
        first = problems[0]
        title = {("email", "is not an e-mail address"): "Not an e-mail address.",
                 ("password", "must be at least 8 characters long"): "The password is too short."}.get(
            (first.field, first.message), "The user is not valid; nothing was saved.")
        raise InvalidInput(title if len(problems) == 1 else "The user is not valid; nothing was saved.", problems)


class AccountService:
    def __init__(self, users: UserService) -> None:
        self.users = users

    # -- reading ------------------------------------------------------------------------
    def get(self, user_id: int) -> dict[str, Any]:
        with read_transaction(self.users.engine) as conn:
            found = self._out(conn, [user_id])
        if not found:
            raise NotFound(f"There is no user with id {user_id}.")
        return found[0]

    def list(self, *, q: str | None = None, role: str | None = None, team: str | None = None,
             active: bool | None = None, limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
        """Users by id, `limit` at a time; `q` searches e-mail and name."""
        limit = max(1, min(limit, MAX_LIMIT))
        query = sa.select(users.c.id).order_by(users.c.id).limit(limit + 1)
        if cursor:
            try:
                after = int(decode_cursor(cursor, "users")[0])
            except (ValueError, IndexError, TypeError):
                raise InvalidInput("The cursor is not one this API returned.",
                                   [FieldProblem("cursor", "is not a cursor of the user list")]) from None
            query = query.where(users.c.id > after)
        if q:
            needle = q.strip().lower()
            query = query.where(sa.or_(users.c.email.contains(needle, autoescape=True),
                                       sa.func.lower(users.c.name).contains(needle, autoescape=True)))
        if active is not None:
            query = query.where(users.c.is_active.is_(active))
        if role:
            query = query.where(users.c.id.in_(sa.select(user_roles.c.user_id).select_from(user_roles.join(roles))
                                               .where(roles.c.api_name == role)))
        if team:
            query = query.where(users.c.id.in_(sa.select(team_members.c.user_id)
                                               .select_from(team_members.join(teams)).where(teams.c.api_name == team)))
        with read_transaction(self.users.engine) as conn:
            ids = list(conn.execute(query).scalars())
            data = self._out(conn, ids[:limit])
        return {"data": data, "next_cursor": encode_cursor("users", [ids[limit - 1]]) if len(ids) > limit else None}

    def me(self, actor: Actor) -> dict[str, Any]:
        """Who is signed in: the user, their roles, teams and manager."""
        if actor.user_id is None:
            return {"id": None, "email": actor.email, "name": "System", "roles": list(actor.roles), "teams": [],
                    "manager": None, "is_admin": actor.is_admin, "is_builder": actor.is_builder, "time_zone": None}
        user = self.get(actor.user_id)
        return {k: user[k] for k in ("id", "email", "name", "roles", "teams", "manager", "is_admin", "time_zone")} | {
            "is_builder": user["is_admin"] or "builder" in user["roles"]}

    #: What people may change of their own account (the rest is an admin's).
    OWN = ("name", "time_zone")

    def change_own(self, actor: Actor, changes: Any) -> dict[str, Any]:
        """The signed-in user changes their name or time zone (PATCH /api/v1/me)."""
        if actor.user_id is None:
            raise InvalidInput("Only a signed-in person has an account to change.",
                               [FieldProblem("user", "is the platform itself", "no_account")])
        if isinstance(changes, dict):
            others = sorted(set(changes) - set(self.OWN))
            if others:
                raise InvalidInput("Only your name and time zone can be changed here; nothing was saved.",
                                   [FieldProblem(k, "is changed by an admin", "not_yours") for k in others])
        self.change(actor, actor.user_id, changes)
        return self.me(actor)

    def permissions(self, actor: Actor, metadata: MetadataReader) -> dict[str, Any]:
        """What the user may do per object, for the UI (GET /api/v1/me/permissions)."""
        with read_transaction(self.users.engine) as conn:
            snap = metadata(conn)
        return permissions_for(actor, snap).as_json()

    # -- changing -----------------------------------------------------------------------
    def add(self, actor: Actor, doc: Any) -> dict[str, Any]:
        """Create a user (201 on the API)."""
        _check(doc, partial=False)
        from tessera.auth.users import hash_password

        email = doc["email"].strip().lower()
        password_hash = hash_password(doc["password"])  # slow on purpose: outside the transaction
        with write_transaction(self.users.engine) as conn:
            if conn.execute(sa.select(users.c.id).where(users.c.email == email)).first():
                raise Conflict("A user with this e-mail exists.", [FieldProblem("email", "is taken", "taken")])
            try:
                user_id = int(conn.execute(sa.insert(users).values(
                    email=email, name=(doc.get("name") or email.split("@")[0]).strip() or email,
                    password_hash=password_hash, time_zone=doc.get("time_zone") or None,
                    is_active=doc.get("active", True), is_admin="admin" in (doc.get("roles") or []),
                    created_at=datetime.now(UTC),
                ).returning(users.c.id)).scalar_one())
            except sa.exc.IntegrityError:  # made meanwhile by another request
                raise Conflict("A user with this e-mail exists.",
                               [FieldProblem("email", "is taken", "taken")]) from None
            self._set_roles(conn, user_id, doc.get("roles") or [])
            self._set_teams(conn, user_id, doc.get("teams") or [])
            if doc.get("roles") or doc.get("teams"):
                self.users.access_changed(conn)  # who a role or team names has changed
            if doc.get("manager"):
                self._set_manager(conn, user_id, doc["manager"])
            created = self._out(conn, [user_id])[0]
            audit.record(conn, "user.created", actor_id=actor.user_id, target=f"user:{email}",
                         detail={k: created[k] for k in ("id", "name", "roles", "teams", "manager", "active")})
        return created

    def change(self, actor: Actor, user_id: int, changes: Any) -> dict[str, Any]:
        """Change a user; `"active": false` disables them, ending their sessions and tokens."""
        _check(changes, partial=True)
        from tessera.auth.users import hash_password

        password_hash = hash_password(changes["password"]) if "password" in changes else None
        with write_transaction(self.users.engine) as conn:
            found = self._out(conn, [user_id])
            if not found:
                raise NotFound(f"There is no user with id {user_id}.")
            before = found[0]
            values: dict[str, Any] = {}
            if "email" in changes and changes["email"].strip().lower() != before["email"]:
                values["email"] = changes["email"].strip().lower()
                if conn.execute(sa.select(users.c.id).where(users.c.email == values["email"])).first():
                    raise Conflict("A user with this e-mail exists.", [FieldProblem("email", "is taken", "taken")])
            if "name" in changes and changes["name"].strip() != before["name"]:
                values["name"] = changes["name"].strip()
            if "time_zone" in changes and (changes["time_zone"] or None) != before["time_zone"]:
                values["time_zone"] = changes["time_zone"] or None
            if "active" in changes and changes["active"] != before["active"]:
                values["is_active"] = changes["active"]
            if "roles" in changes and sorted(changes["roles"]) != before["roles"]:
                values["is_admin"] = "admin" in changes["roles"]
                self._set_roles(conn, user_id, changes["roles"])
            if password_hash is not None:
                values["password_hash"] = password_hash
            if values:
                conn.execute(sa.update(users).where(users.c.id == user_id).values(**values))
            if "teams" in changes and sorted(changes["teams"]) != before["teams"]:
                self._set_teams(conn, user_id, changes["teams"])
            if "manager" in changes and changes["manager"] != before["manager"]:
                self._set_manager(conn, user_id, changes["manager"])
            after = self._out(conn, [user_id])[0]
            changed = sorted(k for k in ("email", "name", "active", "roles", "teams", "manager", "time_zone")
                             if before[k] != after[k]) + (["password"] if password_hash else [])
            if not changed:
                return after
            if before["is_admin"] and before["active"]:  # only an admin's change can leave none
                self._keep_an_admin(conn, "active" if values.get("is_active") is False else "roles")
            ended = 0
            if values.get("is_active") is False:
                ended = self._sign_out_everywhere(conn, user_id, keep=None)
            elif password_hash is not None:
                ended = self._sign_out_everywhere(conn, user_id, keep=actor, personal_too=False)
            # A new time zone too: signed-in actors carry it, and are loaded again at the next revision.
            if set(changed) & {"active", "roles", "teams", "time_zone"} or ended:
                self.users.access_changed(conn)
            action = {False: "user.disabled", True: "user.enabled"}.get(values.get("is_active"), "user.changed")
            audit.record(conn, action, actor_id=actor.user_id, target=f"user:{after['email']}", detail={
                "id": user_id, "changed": changed,
                "before": {k: before[k] for k in changed if k != "password"},
                "after": {k: after[k] for k in changed if k != "password"},
                **({"signed_out": ended} if ended else {})})
        return after

    def adopt_time_zone(self, user_id: int, name: str) -> None:
        """Take the browser's time zone for a user who has not chosen one (at sign-in)."""
        if not is_time_zone(name):
            return
        with write_transaction(self.users.engine) as conn:
            done = conn.execute(sa.update(users).where(users.c.id == user_id, users.c.time_zone.is_(None))
                                .values(time_zone=name)).rowcount
            if done:
                self.users.access_changed(conn)

    # -- parts --------------------------------------------------------------------------
    @staticmethod
    def _set_roles(conn: Connection, user_id: int, names: list[str]) -> None:
        found = dict(conn.execute(sa.select(roles.c.api_name, roles.c.id).where(roles.c.api_name.in_(names))).all())
        missing = [FieldProblem("roles", f"there is no role {n!r}", "unknown_role") for n in names if n not in found]
        if missing:
            raise InvalidInput("The user names roles that do not exist; nothing was saved.", missing)
        conn.execute(sa.delete(user_roles).where(user_roles.c.user_id == user_id))
        if found:
            conn.execute(sa.insert(user_roles), [{"user_id": user_id, "role_id": i} for i in sorted(found.values())])

    @staticmethod
    def _set_teams(conn: Connection, user_id: int, names: list[str]) -> None:
        found = dict(conn.execute(sa.select(teams.c.api_name, teams.c.id).where(teams.c.api_name.in_(names))).all())
        missing = [FieldProblem("teams", f"there is no team {n!r}", "unknown_team") for n in names if n not in found]
        if missing:
            raise InvalidInput("The user names teams that do not exist; nothing was saved.", missing)
        conn.execute(sa.delete(team_members).where(team_members.c.user_id == user_id))
        if found:
            conn.execute(sa.insert(team_members), [{"user_id": user_id, "team_id": i} for i in sorted(found.values())])

    @staticmethod
    def _set_manager(conn: Connection, user_id: int, email: str | None) -> None:
        manager_id = None
        if email:
            manager_id = conn.execute(sa.select(users.c.id).where(users.c.email == email.strip().lower())).scalar()
            if manager_id is None:
                raise InvalidInput("The manager is not a user; nothing was saved.",
                                   [FieldProblem("manager", f"there is no user {email!r}", "unknown_user")])
            chain = _chain(conn, manager_id)
            if user_id in chain:
                names = dict(conn.execute(sa.select(users.c.id, users.c.email).where(users.c.id.in_(chain))).all())
                loop = [names[i] for i in chain[:chain.index(user_id) + 1]]
                me = names.get(user_id) or conn.execute(sa.select(users.c.email).where(users.c.id == user_id)).scalar()
                path = " → ".join([str(me), *loop])
                raise InvalidInput("A manager chain may not loop; nothing was saved.", [FieldProblem(
                    "manager", f"would make a loop: {path}", "manager_loop", detail={"loop": [me, *loop]})])
        conn.execute(sa.update(users).where(users.c.id == user_id).values(manager_id=manager_id))

    @staticmethod
    def _keep_an_admin(conn: Connection, field: str) -> None:
        left = conn.execute(sa.select(sa.func.count()).where(users.c.is_admin.is_(True),
                                                             users.c.is_active.is_(True))).scalar_one()
        if not left:
            raise Conflict("At least one active admin must remain; nothing was saved.",
                           [FieldProblem(field, "the last active admin cannot lose the admin role or be disabled",
                                         "last_admin")])

    @staticmethod
    def _sign_out_everywhere(conn: Connection, user_id: int, *, keep: Actor | None,
                             personal_too: bool = True) -> int:
        """End the user's sessions and revoke their tokens (personal ones too, unless not
        `personal_too`), except the sign-in of `keep` when it is theirs."""
        kept = keep.token_digest if keep is not None and keep.user_id == user_id else None
        where = [tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None)]
        if not personal_too:
            where.append(tokens.c.personal.is_(False))
        if kept:
            where.append(tokens.c.token_hash != kept)
        done = conn.execute(sa.update(tokens).where(*where).values(revoked_at=datetime.now(UTC))).rowcount
        if kept:
            from tessera.data.tables import sessions

            done += conn.execute(sa.update(sessions).where(
                sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None), sessions.c.id != kept,
            ).values(revoked_at=datetime.now(UTC))).rowcount
        else:
            done += revoke_all(conn, user_id)
        return int(done)

    @staticmethod
    def _out(conn: Connection, ids: list[int]) -> list[dict[str, Any]]:
        """Users as the API shows them, in the order of `ids` (missing ones left out)."""
        if not ids:
            return []
        manager = users.alias("manager")
        rows = conn.execute(
            sa.select(users.c.id, users.c.email, users.c.name, users.c.is_active, users.c.is_admin,
                      users.c.created_at, users.c.last_sign_in_at, users.c.time_zone,
                      manager.c.email.label("manager"))
            .select_from(users.outerjoin(manager, manager.c.id == users.c.manager_id))
            .where(users.c.id.in_(ids))).all()
        held: dict[int, list[str]] = {}
        for user_id, name in conn.execute(sa.select(user_roles.c.user_id, roles.c.api_name)
                                          .select_from(user_roles.join(roles)).where(user_roles.c.user_id.in_(ids))
                                          .order_by(roles.c.api_name)):
            held.setdefault(user_id, []).append(name)
        member: dict[int, list[str]] = {}
        for user_id, name in conn.execute(sa.select(team_members.c.user_id, teams.c.api_name)
                                          .select_from(team_members.join(teams))
                                          .where(team_members.c.user_id.in_(ids)).order_by(teams.c.api_name)):
            member.setdefault(user_id, []).append(name)
        by_id = {r.id: {
            "id": r.id, "email": r.email, "name": r.name, "active": r.is_active, "is_admin": r.is_admin,
            "roles": held.get(r.id, []), "teams": member.get(r.id, []), "manager": r.manager,
            "created_at": _iso(r.created_at), "last_sign_in_at": _iso(r.last_sign_in_at),
            "time_zone": r.time_zone,
        } for r in rows}
        return [by_id[i] for i in ids if i in by_id]


def _chain(conn: Connection, user_id: int) -> list[int]:
    """`user_id` and its managers upwards, stopping where the chain ends or comes round."""
    chain: list[int] = []
    current: int | None = user_id
    while current is not None and current not in chain:
        chain.append(current)
        current = conn.execute(sa.select(users.c.manager_id).where(users.c.id == current)).scalar()
    return chain
