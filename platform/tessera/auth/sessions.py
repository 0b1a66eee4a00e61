"""Sign-in sessions for the web UI: kept on the server, named by a signed cookie.

The cookie holds a random session secret, signed with TESSERA_SECRET_KEY (itsdangerous) so
that a forged or tampered cookie is refused before any look-up; the database keeps only the
secret's SHA-256 digest, the user, when it ends, and the CSRF token that every cookie-signed
request that changes something must repeat in an `X-CSRF-Token` header. Signing out revokes
the session; disabling the user ends all of theirs at once (see UserService).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.engine import Connection

from tessera.auth import audit
from tessera.auth.actor import Actor
from tessera.auth.tokens import digest
from tessera.data import metastore
from tessera.data.engine import read_transaction, write_transaction
from tessera.data.tables import sessions, users
from tessera.errors import NotFound, Unauthorized

if TYPE_CHECKING:
    from tessera.auth.users import UserService

COOKIE = "tessera_session"
CSRF_HEADER = "X-CSRF-Token"
LIFETIME = timedelta(hours=12)
_SALT = "tessera.session"
ENDED = "The session has ended; sign in again."
#: How many characters of a session's key name it on the admin's page.
REF_LENGTH = 16


def sign_cookie(secret_key: str, session_secret: str) -> str:
    return URLSafeTimedSerializer(secret_key, salt=_SALT).dumps(session_secret)


def read_cookie(secret_key: str, cookie: str) -> str | None:
    """The session secret of a cookie this server signed (and not too long ago), else None."""
    try:
        value = URLSafeTimedSerializer(secret_key, salt=_SALT).loads(cookie, max_age=int(LIFETIME.total_seconds()))
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


class SessionService:
    def __init__(self, users: UserService) -> None:
        self.users = users
        self._csrf: dict[str, str] = {}

    def start(self, email: str, password: str, *, ip: str | None = None,
              user_agent: str | None = None) -> dict[str, Any]:
        """Sign in with e-mail and password: {"secret", "csrf_token", "expires_at", "user_id"};
        the secret goes into the cookie and nowhere else."""

        def open_session(conn: Connection, user_id: int) -> dict[str, Any]:
            secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            at = datetime.now(UTC)
            conn.execute(sa.insert(sessions).values(
                id=digest(secret), user_id=user_id, csrf_token=csrf, created_at=at, expires_at=at + LIFETIME,
                ip=(ip or "")[:64] or None, user_agent=(user_agent or "")[:300] or None))
            conn.execute(sa.delete(sessions).where(sessions.c.expires_at < at))
            return {"secret": secret, "csrf_token": csrf, "expires_at": at + LIFETIME, "user_id": user_id}

        return self.users.check_password(email, password, ip=ip, via="session", then=open_session)

    def cached(self, secret: str) -> tuple[Actor, str] | None:
        """The sign-in and CSRF token of a session verified before, without I/O."""
        key = digest(secret)
        actor = self.users.lookup(key)
        csrf = self._csrf.get(key)
        return (actor, csrf) if actor is not None and csrf is not None else None

    def actor_for_session(self, secret: str) -> tuple[Actor, str]:
        if (known := self.cached(secret)) is not None:
            return known
        with read_transaction(self.users.engine) as conn:
            auth_revision = metastore.revisions(conn)[1]
            return self.verify(conn, digest(secret), auth_revision)

    def verify(self, conn: Connection, key: str, auth_revision: int) -> tuple[Actor, str]:
        row = conn.execute(
            sa.select(users.c.id, users.c.email, users.c.is_admin, sessions.c.expires_at, sessions.c.csrf_token)
            .join(sessions, sessions.c.user_id == users.c.id)
            .where(sessions.c.id == key, sessions.c.revoked_at.is_(None), users.c.is_active.is_(True))
        ).first()
        if row is None or row.expires_at <= datetime.now(UTC):
            self.users.forget(key)
            self._csrf.pop(key, None)
            raise Unauthorized(ENDED)
        actor = self.users.load_actor(conn, row.id, row.email, row.is_admin, auth_revision,
                                      token_digest=key, credential="session")
        self._csrf[key] = row.csrf_token
        self.users.remember(key, actor, row.expires_at)
        return actor, row.csrf_token

    def csrf_token(self, actor: Actor) -> str | None:
        return self._csrf.get(actor.token_digest or "") if actor.credential == "session" else None

    def details(self, actor: Actor) -> dict[str, Any]:
        """The session of a cookie-signed request: its CSRF token and when it ends."""
        if actor.credential != "session":
            raise NotFound("This request is signed in with a token, not a session.")
        with read_transaction(self.users.engine) as conn:
            row = conn.execute(sa.select(sessions.c.csrf_token, sessions.c.created_at, sessions.c.expires_at)
                               .where(sessions.c.id == actor.token_digest)).first()
        if row is None:
            raise Unauthorized(ENDED)
        return {"csrf_token": row.csrf_token, "created_at": _iso(row.created_at), "expires_at": _iso(row.expires_at)}

    def active(self, *, limit: int = 200) -> list[dict[str, Any]]:
        """Sessions that still work, everyone's, newest first (the admin's sessions page).
        `ref` names a session for `end_for` without handing out its key."""
        limit = max(1, min(limit, 1000))
        with read_transaction(self.users.engine) as conn:
            rows = conn.execute(
                sa.select(sessions.c.id, sessions.c.created_at, sessions.c.expires_at, sessions.c.ip,
                          sessions.c.user_agent, users.c.id.label("user_id"), users.c.email, users.c.name)
                .join(users, users.c.id == sessions.c.user_id)
                .where(sessions.c.revoked_at.is_(None), sessions.c.expires_at > datetime.now(UTC))
                .order_by(sessions.c.created_at.desc(), sessions.c.id).limit(limit)).all()
        return [{"ref": r.id[:REF_LENGTH], "user": {"id": r.user_id, "email": r.email, "name": r.name},
                 "created_at": _iso(r.created_at), "expires_at": _iso(r.expires_at), "ip": r.ip,
                 "user_agent": r.user_agent} for r in rows]

    def end_for(self, actor: Actor, ref: str) -> dict[str, Any]:
        """An admin signs someone out: the session `ref` (from `active`) stops working at
        once. Returns whose session it was."""
        if not isinstance(ref, str) or len(ref) != REF_LENGTH or any(c not in "0123456789abcdef" for c in ref):
            raise NotFound("There is no such session; it may have ended already.")
        with write_transaction(self.users.engine) as conn:
            found = conn.execute(
                sa.select(sessions.c.id, users.c.email, users.c.name).join(users, users.c.id == sessions.c.user_id)
                .where(sessions.c.id.startswith(ref), sessions.c.revoked_at.is_(None),
                       sessions.c.expires_at > datetime.now(UTC))).all()
            if len(found) != 1:
                raise NotFound("There is no such session; it may have ended already.")
            row = found[0]
            conn.execute(sa.update(sessions).where(sessions.c.id == row.id).values(revoked_at=datetime.now(UTC)))
            audit.record(conn, "session.ended", actor_id=actor.user_id, target=f"user:{row.email}",
                         detail={"by": "admin"})
            self.users.access_changed(conn)
        self.users.forget(row.id)
        self._csrf.pop(row.id, None)
        return {"email": row.email, "name": row.name}

    def end(self, actor: Actor) -> None:
        """Sign out: the session of this request stops working everywhere at once."""
        if actor.credential != "session" or actor.token_digest is None:
            return
        with write_transaction(self.users.engine) as conn:
            conn.execute(sa.update(sessions).where(sessions.c.id == actor.token_digest,
                                                   sessions.c.revoked_at.is_(None))
                         .values(revoked_at=datetime.now(UTC)))
            audit.record(conn, "session.ended", actor_id=actor.user_id, target=f"user:{actor.email}")
            self.users.access_changed(conn)
        self.users.forget(actor.token_digest)
        self._csrf.pop(actor.token_digest, None)


def revoke_all(conn: Connection, user_id: int) -> int:
    """End every session of a user, within the caller's transaction."""
    return int(conn.execute(sa.update(sessions).where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
                            .values(revoked_at=datetime.now(UTC))).rowcount)


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")
