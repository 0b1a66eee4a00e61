"""Users, their passwords (argon2), signing in, and who a token or session signs in.

Tokens are random, shown once, and stored only as a SHA-256 digest, so a copy of the
database does not hand out sign-ins. A verified sign-in (token or session) is kept in a
small per-process cache, stamped with the auth revision it was verified at, together with
the user's roles, teams and the roles' permissions. Everything that can change what a user
may do (disabling a user, revoking a token, changing roles, teams or a role's permissions)
bumps that revision in its own transaction (`access_changed`), and a sign-in verified at an
older revision is checked again before it is used: by the request's first transaction
(Platform.snapshot), and, for a change this process made or has already seen, before the
request starts. So a disabled user loses access at once, tokens and sessions included, and
a role change holds from the next request, while a busy API does not look each token up anew.
"""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection, Engine

from tessera.auth import attempts, audit
from tessera.auth.actor import Actor, Grants, acting
from tessera.auth.tokens import digest, insert_token
from tessera.data import metastore
from tessera.data.engine import after_commit, read_transaction, write_transaction
from tessera.data.tables import roles, team_members, teams, tokens, user_roles, users
from tessera.errors import Unauthorized

if TYPE_CHECKING:
    from tessera.auth.accounts import AccountService
    from tessera.auth.audit import AuditLog
    from tessera.auth.roles import RoleService
    from tessera.auth.sessions import SessionService
    from tessera.auth.teams import TeamService
    from tessera.auth.tokens import TokenService

T = TypeVar("T")
_hasher = PasswordHasher()
# Verifying against a real hash for unknown e-mails keeps response times alike.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(8))
WRONG_PASSWORD = "The e-mail or the password is wrong."
MAX_PASSWORD = 1024


def hash_password(password: str) -> str:
    return _hasher.hash(password)


class UserService:
    """Signing in and the sign-ins of one process; the other identity services hang off it
    (`accounts`, `roles`, `teams`, `tokens`, `sessions`, `audit`)."""

    #: Cached sign-ins per process; beyond this many, the cache starts over.
    CACHE_SIZE = 10_000

    def __init__(self, engine: Engine, *, time_zone: str = "UTC") -> None:
        self.engine = engine
        #: The zone times are shown in to people who have not chosen theirs.
        self.time_zone = time_zone
        self._verified: dict[str, tuple[Actor, datetime | None]] = {}
        self._grants: dict[tuple[str, ...], tuple[int, Grants]] = {}
        self._used: set[str] = set()
        self._lock = threading.Lock()
        #: The newest auth revision this process has seen; cached sign-ins verified before it
        #: are verified again before use.
        self.auth_revision = 0

    # -- the other services --------------------------------------------------------------
    @cached_property
    def accounts(self) -> AccountService:
        from tessera.auth.accounts import AccountService

        return AccountService(self)

    @cached_property
    def roles(self) -> RoleService:
        from tessera.auth.roles import RoleService

        return RoleService(self)

    @cached_property
    def teams(self) -> TeamService:
        from tessera.auth.teams import TeamService

        return TeamService(self)

    @cached_property
    def tokens(self) -> TokenService:
        from tessera.auth.tokens import TokenService

        return TokenService(self)

    @cached_property
    def sessions(self) -> SessionService:
        from tessera.auth.sessions import SessionService

        return SessionService(self)

    @cached_property
    def audit(self) -> AuditLog:
        return audit.AuditLog(self.engine)

    # -- accounts (kept for the CLI, settings and tests; the admin API uses `accounts`) ---
    def create(self, email: str, name: str, password: str, *, is_admin: bool = False,
               roles: tuple[str, ...] | list[str] = (), teams: tuple[str, ...] | list[str] = (),
               manager: str | None = None) -> int:
        doc: dict[str, Any] = {"email": email, "name": name, "password": password,
                               "roles": sorted({*roles, *(["admin"] if is_admin else [])}), "teams": list(teams)}
        if manager:
            doc["manager"] = manager
        return int(self.accounts.add(Actor.system(), doc)["id"])

    def ensure_admin(self, email: str, password: str) -> int:
        """The first admin, from settings; an existing account is left as it is."""
        with read_transaction(self.engine) as conn:
            found = conn.execute(sa.select(users.c.id).where(users.c.email == email.lower())).first()
        if found:
            return int(found.id)
        return self.create(email, email.split("@")[0].title(), password, is_admin=True)

    def id_for_email(self, email: str) -> int | None:
        """The id of the user with this e-mail (any case, surrounding spaces ignored), or None."""
        with read_transaction(self.engine) as conn:
            found = conn.execute(sa.select(users.c.id).where(users.c.email == email.strip().lower())).scalar()
        return None if found is None else int(found)

    def set_active(self, user_id: int, active: bool) -> None:
        """Enable or disable a user; a disabled user's next request is refused."""
        self.accounts.change(Actor.system(), user_id, {"active": active})

    def revoke_tokens(self, user_id: int) -> int:
        """Revoke every token of a user (sign out everywhere)."""
        with write_transaction(self.engine) as conn:
            done = conn.execute(sa.update(tokens).where(
                tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None)
            ).values(revoked_at=datetime.now(UTC))).rowcount
            self.access_changed(conn)
        return int(done)

    def access_changed(self, conn: Connection) -> None:
        """Within a write: what some user may do has changed. Cached sign-ins everywhere are
        checked again, here before the next request, elsewhere by its first transaction."""
        metastore.bump_auth_revision(conn)
        revision = metastore.revisions(conn)[1]
        after_commit(conn, lambda: self.saw_auth_revision(revision))

    def saw_auth_revision(self, revision: int) -> None:
        if revision > self.auth_revision:
            self.auth_revision = revision

    # -- signing in ---------------------------------------------------------------------
    def sign_in(self, email: str, password: str, *, ip: str | None = None) -> str:
        """A new bearer token for the e-mail and password (POST /api/v1/auth/token)."""
        return self.check_password(email, password, ip=ip, via="token",
                                   then=lambda conn, user_id: insert_token(conn, user_id, "sign-in"))

    def check_password(self, email: str, password: str, *, ip: str | None, via: str,
                       then: Any) -> Any:
        """Sign in: refuse while the e-mail or the address has failed too often, verify the
        password, record the attempt, and call `then(conn, user_id)` in the same transaction."""
        email = email.strip().lower()[:254]
        ip = (ip or "")[:64]  # "": not over the network (CLI, tests), no address to count
        at = datetime.now(UTC)
        with read_transaction(self.engine) as conn:
            wait = attempts.retry_after(conn, email, ip, at)
            row = None if wait else conn.execute(
                sa.select(users.c.id, users.c.password_hash, users.c.is_active).where(users.c.email == email)).first()
        if wait:
            with write_transaction(self.engine) as conn:
                audit.record(conn, "sign_in.throttled", target=f"user:{email}", detail={"via": via}, ip=ip or None)
            raise attempts.TooManyAttempts(
                f"Too many failed sign-ins; try again in {attempts.in_words(wait)}.",
                extra={"retry_after": wait})
        try:
            _hasher.verify(row.password_hash if row and row.password_hash else _DUMMY_HASH, password[:MAX_PASSWORD])
            reason = None if row is not None else "unknown_user"
        except (VerificationError, InvalidHashError):
            reason = "wrong_password" if row is not None else "unknown_user"
        if reason is None and row is not None and not row.is_active:
            reason = "disabled"
        with write_transaction(self.engine) as conn:
            attempts.record(conn, email, ip, succeeded=reason is None, at=at)
            if reason is not None:
                audit.record(conn, "sign_in.failed", target=f"user:{email}", detail={"via": via, "reason": reason},
                             ip=ip or None)
                failed = True
            else:
                assert row is not None
                conn.execute(sa.update(users).where(users.c.id == row.id).values(last_sign_in_at=at))
                audit.record(conn, "sign_in.succeeded", actor_id=row.id, target=f"user:{email}", detail={"via": via},
                             ip=ip or None)
                result = then(conn, row.id)
                failed = False
        if failed:
            raise Unauthorized(WRONG_PASSWORD)
        return result

    def issue_token(self, user_id: int, name: str) -> str:
        with write_transaction(self.engine) as conn:
            return insert_token(conn, user_id, name)

    # -- who a token signs in -----------------------------------------------------------
    def cached(self, token: str) -> Actor | None:
        """The sign-in of a token verified before, without I/O, unless access may have
        changed since (then None: verify it with actor_for_token)."""
        return self._fresh(self._verified.get(digest(token)))

    def _fresh(self, found: tuple[Actor, datetime | None] | None) -> Actor | None:
        if found is None:
            return None
        actor, expires = found
        if (expires is not None and expires <= datetime.now(UTC)) or (actor.verified_at or 0) < self.auth_revision:
            return None
        return actor

    def actor_for_token(self, token: str) -> Actor:
        """The actor a bearer token signs in."""
        if (known := self.cached(token)) is not None:
            return known
        token_digest = digest(token)
        with read_transaction(self.engine) as conn:
            auth_revision = metastore.revisions(conn)[1]
            actor = self._verify(conn, token_digest, auth_revision)
        if token_digest not in self._used:
            self._first_use(token_digest, actor)
        return actor

    def _first_use(self, token_digest: str, actor: Actor) -> None:
        with write_transaction(self.engine) as conn:
            token_id = conn.execute(sa.update(tokens).where(tokens.c.token_hash == token_digest)
                                    .values(last_used_at=datetime.now(UTC)).returning(tokens.c.id)).scalar()
            audit.record(conn, "token.first_use", actor_id=actor.user_id, target=f"token:{token_id}")
        with self._lock:
            if len(self._used) >= self.CACHE_SIZE * 10:
                self._used.clear()
            self._used.add(token_digest)

    def reverify(self, conn: Connection, actor: Actor, auth_revision: int) -> Actor:
        """Check a cached sign-in again, inside the caller's transaction; the fresh one
        becomes the acting actor of the request."""
        assert actor.token_digest is not None
        if actor.credential == "session":
            fresh = self.sessions.verify(conn, actor.token_digest, auth_revision)[0]
        else:
            fresh = self._verify(conn, actor.token_digest, auth_revision)
        if acting.get() is actor:
            acting.set(fresh)
        return fresh

    def current(self, actor: Actor) -> Actor:
        """The actor as of now: verified again (one indexed read, more if it is outdated)."""
        if actor.token_digest is None:
            return actor
        with read_transaction(self.engine) as conn:
            auth_revision = metastore.revisions(conn)[1]
            self.saw_auth_revision(auth_revision)
            if actor.verified_at == auth_revision:
                return actor
            return self.reverify(conn, actor, auth_revision)

    def _verify(self, conn: Connection, token_digest: str, auth_revision: int) -> Actor:
        row = conn.execute(
            sa.select(users.c.id, users.c.email, users.c.is_admin, tokens.c.expires_at)
            .join(tokens, tokens.c.user_id == users.c.id)
            .where(tokens.c.token_hash == token_digest, tokens.c.revoked_at.is_(None),
                   users.c.is_active.is_(True))
        ).first()
        if row is None or (row.expires_at and row.expires_at < datetime.now(UTC)):
            self._verified.pop(token_digest, None)
            raise Unauthorized("The access token is not valid; sign in again.")
        actor = self.load_actor(conn, row.id, row.email, row.is_admin, auth_revision,
                                token_digest=token_digest, credential="token")
        self.remember(token_digest, actor, row.expires_at)
        return actor

    def remember(self, key: str, actor: Actor, expires: datetime | None) -> None:
        with self._lock:
            if len(self._verified) >= self.CACHE_SIZE:
                self._verified.clear()
            self._verified[key] = (actor, expires)
        self.saw_auth_revision(actor.verified_at or 0)

    def forget(self, key: str) -> None:
        self._verified.pop(key, None)

    def lookup(self, key: str) -> Actor | None:
        """A cached sign-in by its key (token or session digest), if still fresh."""
        return self._fresh(self._verified.get(key))

    # -- actors -------------------------------------------------------------------------
    def load_actor(self, conn: Connection, user_id: int, email: str, is_admin: bool, auth_revision: int, *,
                   token_digest: str | None = None, credential: str = "token") -> Actor:
        """The actor of a user, with roles, teams and the roles' permissions."""
        held = conn.execute(
            sa.select(roles.c.api_name, roles.c.permissions).select_from(user_roles.join(roles))
            .where(user_roles.c.user_id == user_id).order_by(roles.c.api_name)).all()
        member_of = conn.execute(
            sa.select(teams.c.id, teams.c.api_name).select_from(team_members.join(teams))
            .where(team_members.c.user_id == user_id).order_by(teams.c.api_name)).all()
        names = tuple(r.api_name for r in held)
        is_admin = bool(is_admin) or "admin" in names
        person = conn.execute(sa.select(users.c.time_zone, users.c.name).where(users.c.id == user_id)).one_or_none()
        zone, name = (person.time_zone, person.name) if person is not None else (None, "")
        return Actor(
            user_id=user_id, email=email, name=name or "", is_admin=is_admin, token_digest=token_digest,
            verified_at=auth_revision if token_digest is not None else None,
            is_builder=is_admin or "builder" in names, roles=names,
            team_ids=tuple(t.id for t in member_of), team_names=tuple(t.api_name for t in member_of),
            credential=credential, time_zone=zone or self.time_zone,
            grants=self._grants_of(names, [dict(r.permissions or {}) for r in held], auth_revision),
        )

    def _grants_of(self, names: tuple[str, ...], documents: list[dict[str, Any]], auth_revision: int) -> Grants:
        """One Grants object per set of roles and auth revision, shared by everyone holding them."""
        found = self._grants.get(names)
        if found is not None and found[0] == auth_revision:
            return found[1]
        grants = Grants(tuple(documents))
        with self._lock:
            if len(self._grants) >= 1000:
                self._grants.clear()
            self._grants[names] = (auth_revision, grants)
        return grants

    def actor_for_user(self, user_id: int) -> Actor:
        """The actor of an active user, for work done on their behalf (jobs, flow steps)."""
        with read_transaction(self.engine) as conn:
            auth_revision = metastore.revisions(conn)[1]
            row = conn.execute(sa.select(users.c.id, users.c.email, users.c.is_admin).where(
                users.c.id == user_id, users.c.is_active.is_(True))).first()
            if row is None:
                raise Unauthorized(f"There is no active user with id {user_id}.")
            return self.load_actor(conn, row.id, row.email, row.is_admin, auth_revision)
