"""Users, their passwords (argon2) and their bearer tokens.

Tokens are random, shown once, and stored only as a SHA-256 digest, so a copy of the
database does not hand out sign-ins. A verified token is kept in a small per-process cache,
stamped with the auth revision it was verified at; everything that can take access away
(disabling a user, revoking a token) bumps that revision in its own transaction, and every
request's first read sees the bump and checks its token again. So a disabled user loses
access at once, tokens included, while a busy API does not look each token up anew.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection, Engine

from tessera.auth.actor import Actor
from tessera.data import metastore
from tessera.data.engine import read_transaction, write_transaction
from tessera.data.tables import tokens, users
from tessera.errors import Conflict, FieldProblem, InvalidInput, Unauthorized

TOKEN_LIFETIME = timedelta(days=30)
_hasher = PasswordHasher()
# Verifying against a real hash for unknown e-mails keeps response times alike.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(8))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserService:
    #: Cached sign-ins per process; beyond this many, the cache starts over.
    CACHE_SIZE = 10_000

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._verified: dict[str, tuple[Actor, datetime | None]] = {}
        self._lock = threading.Lock()

    def create(self, email: str, name: str, password: str, *, is_admin: bool = False) -> int:
        email = email.strip().lower()
        if "@" not in email:
            raise InvalidInput("Not an e-mail address.", [FieldProblem("email", "is not an e-mail address")])
        if len(password) < 8:
            raise InvalidInput("The password is too short.",
                               [FieldProblem("password", "must be at least 8 characters long")])
        with write_transaction(self.engine) as conn:
            if conn.execute(sa.select(users.c.id).where(users.c.email == email)).first():
                raise Conflict("A user with this e-mail exists.", [FieldProblem("email", "is taken", "taken")])
            return int(conn.execute(sa.insert(users).values(
                email=email, name=name, password_hash=_hasher.hash(password), is_active=True,
                is_admin=is_admin, created_at=datetime.now(UTC),
            ).returning(users.c.id)).scalar_one())

    def ensure_admin(self, email: str, password: str) -> int:
        """The first admin, from settings; an existing account is left as it is."""
        with read_transaction(self.engine) as conn:
            found = conn.execute(sa.select(users.c.id).where(users.c.email == email.lower())).first()
        if found:
            return int(found.id)
        return self.create(email, email.split("@")[0].title(), password, is_admin=True)

    def sign_in(self, email: str, password: str) -> str:
        with read_transaction(self.engine) as conn:
            row = conn.execute(sa.select(users).where(users.c.email == email.strip().lower())).first()
        try:
            _hasher.verify(row.password_hash if row and row.password_hash else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            row = None
        if row is None or not row.is_active:
            raise Unauthorized("The e-mail or the password is wrong.")
        return self.issue_token(row.id, "sign-in")

    def issue_token(self, user_id: int, name: str) -> str:
        token = secrets.token_urlsafe(32)
        at = datetime.now(UTC)
        with write_transaction(self.engine) as conn:
            conn.execute(sa.insert(tokens).values(
                user_id=user_id, token_hash=_digest(token), name=name, created_at=at,
                expires_at=at + TOKEN_LIFETIME))
        return token

    def cached(self, token: str) -> Actor | None:
        """The sign-in of a token verified before, without I/O; Runtime.snapshot checks it
        again if access may have changed since."""
        found = self._verified.get(_digest(token))
        if found is not None and (found[1] is None or found[1] > datetime.now(UTC)):
            return found[0]
        return None

    def actor_for_token(self, token: str) -> Actor:
        """The actor a bearer token signs in."""
        if (known := self.cached(token)) is not None:
            return known
        digest = _digest(token)
        with read_transaction(self.engine) as conn:
            auth_revision = metastore.revisions(conn)[1]
            return self._verify(conn, digest, auth_revision)

    def reverify(self, conn: Connection, actor: Actor, auth_revision: int) -> Actor:
        """Check a cached sign-in again, inside the caller's transaction."""
        assert actor.token_digest is not None
        return self._verify(conn, actor.token_digest, auth_revision)

    def _verify(self, conn: Connection, digest: str, auth_revision: int) -> Actor:
        row = conn.execute(
            sa.select(users.c.id, users.c.email, users.c.is_admin, tokens.c.expires_at)
            .join(tokens, tokens.c.user_id == users.c.id)
            .where(tokens.c.token_hash == digest, tokens.c.revoked_at.is_(None),
                   users.c.is_active.is_(True))
        ).first()
        if row is None or (row.expires_at and row.expires_at < datetime.now(UTC)):
            self._verified.pop(digest, None)
            raise Unauthorized("The access token is not valid; sign in again.")
        actor = Actor(user_id=row.id, email=row.email, is_admin=row.is_admin,
                      token_digest=digest, verified_at=auth_revision)
        with self._lock:
            if len(self._verified) >= self.CACHE_SIZE:
                self._verified.clear()
            self._verified[digest] = (actor, row.expires_at)
        return actor

    def set_active(self, user_id: int, active: bool) -> None:
        """Enable or disable a user; a disabled user's next request is refused."""
        with write_transaction(self.engine) as conn:
            conn.execute(sa.update(users).where(users.c.id == user_id).values(is_active=active))
            metastore.bump_auth_revision(conn)

    def revoke_tokens(self, user_id: int) -> int:
        """Revoke every token of a user (sign out everywhere)."""
        with write_transaction(self.engine) as conn:
            done = conn.execute(sa.update(tokens).where(
                tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None)
            ).values(revoked_at=datetime.now(UTC))).rowcount
            metastore.bump_auth_revision(conn)
        return int(done)
