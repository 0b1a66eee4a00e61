"""API tokens: made by signing in or by a user for a script (personal tokens), stored as a
SHA-256 digest, shown once, listed with when they were made, last used and expire."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.auth import audit
from tessera.auth.actor import Actor
from tessera.data.engine import read_transaction, write_transaction
from tessera.data.tables import tokens, users
from tessera.errors import FieldProblem, InvalidInput, NotFound

if TYPE_CHECKING:
    from tessera.auth.users import UserService

#: Tokens from signing in (POST /api/v1/auth/token).
TOKEN_LIFETIME = timedelta(days=30)
#: Personal tokens: 90 days unless asked otherwise, at most ten years.
PERSONAL_DAYS = 90
MAX_PERSONAL_DAYS = 3650


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def insert_token(conn: Connection, user_id: int, name: str, *, personal: bool = False,
                 lifetime: timedelta = TOKEN_LIFETIME) -> str:
    token = secrets.token_urlsafe(32)
    at = datetime.now(UTC)
    conn.execute(sa.insert(tokens).values(
        user_id=user_id, token_hash=digest(token), name=name, created_at=at, expires_at=at + lifetime,
        personal=personal))
    return token


def _iso(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at else None


def _out(row: Any, current: str | None) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "personal": row.personal, "created_at": _iso(row.created_at),
            "last_used_at": _iso(row.last_used_at), "expires_at": _iso(row.expires_at),
            "current": row.token_hash == current}


class TokenService:
    """A user's own tokens (GET/POST/DELETE /api/v1/me/tokens)."""

    def __init__(self, users: UserService) -> None:
        self.users = users

    def list(self, actor: Actor) -> list[dict[str, Any]]:
        """Tokens that still work, newest first; `current` marks the one of this request."""
        with read_transaction(self.users.engine) as conn:
            rows = conn.execute(sa.select(tokens).where(
                tokens.c.user_id == actor.user_id, tokens.c.revoked_at.is_(None),
                sa.or_(tokens.c.expires_at.is_(None), tokens.c.expires_at > datetime.now(UTC)),
            ).order_by(tokens.c.id.desc())).all()
        current = actor.token_digest if actor.credential == "token" else None
        return [_out(r, current) for r in rows]

    def create(self, actor: Actor, doc: Any) -> dict[str, Any]:
        """A personal token: `{"name": …, "expires_in_days": 90}`; the token is in the answer only."""
        if not isinstance(doc, dict):
            raise InvalidInput("Send {\"name\": …}.", [FieldProblem("name", "is required", "required")])
        problems = []
        name = doc.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            problems.append(FieldProblem("name", "must be text of 1 to 200 characters"))
        days = doc.get("expires_in_days", PERSONAL_DAYS)
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_PERSONAL_DAYS:
            problems.append(FieldProblem("expires_in_days", f"must be a whole number of days from 1 to "
                                                            f"{MAX_PERSONAL_DAYS}"))
        problems += [FieldProblem(k, "is not a property of a token", "unknown_field")
                     for k in doc if k not in ("name", "expires_in_days")]
        if problems:
            raise InvalidInput("The token request is not valid.", problems)
        assert actor.user_id is not None and isinstance(name, str)
        with write_transaction(self.users.engine) as conn:
            token = insert_token(conn, actor.user_id, name.strip(), personal=True, lifetime=timedelta(days=days))
            row = conn.execute(sa.select(tokens).where(tokens.c.token_hash == digest(token))).one()
            audit.record(conn, "token.created", actor_id=actor.user_id, target=f"token:{row.id}",
                         detail={"name": row.name, "expires_at": _iso(row.expires_at)})
        return {**_out(row, None), "token": token}

    def everyone(self, *, limit: int = 200) -> list[dict[str, Any]]:
        """Everyone's tokens that still work, newest first, with whose they are (the admin's
        page); `current` is never set, the admin's page is not signed in with a token."""
        limit = max(1, min(limit, 1000))
        with read_transaction(self.users.engine) as conn:
            rows = conn.execute(
                sa.select(tokens, users.c.email, users.c.name.label("user_name"))
                .join(users, users.c.id == tokens.c.user_id)
                .where(tokens.c.revoked_at.is_(None),
                       sa.or_(tokens.c.expires_at.is_(None), tokens.c.expires_at > datetime.now(UTC)))
                .order_by(tokens.c.id.desc()).limit(limit)).all()
        return [{**_out(r, None), "user": {"id": r.user_id, "email": r.email, "name": r.user_name}} for r in rows]

    def revoke_any(self, actor: Actor, token_id: int) -> dict[str, Any]:
        """An admin revokes anyone's token; returns the token as `everyone` listed it."""
        with write_transaction(self.users.engine) as conn:
            row = conn.execute(
                sa.select(tokens, users.c.email, users.c.name.label("user_name"))
                .join(users, users.c.id == tokens.c.user_id)
                .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))).first()
            if row is None:
                raise NotFound(f"There is no token {token_id} that still works.")
            conn.execute(sa.update(tokens).where(tokens.c.id == token_id).values(revoked_at=datetime.now(UTC)))
            audit.record(conn, "token.revoked", actor_id=actor.user_id, target=f"token:{token_id}",
                         detail={"name": row.name, "user": row.email, "by": "admin"})
            self.users.access_changed(conn)
        self.users.forget(row.token_hash)
        return {**_out(row, None), "user": {"id": row.user_id, "email": row.email, "name": row.user_name}}

    def revoke(self, actor: Actor, token_id: int) -> None:
        with write_transaction(self.users.engine) as conn:
            row = conn.execute(sa.select(tokens.c.id, tokens.c.name, tokens.c.token_hash).where(
                tokens.c.id == token_id, tokens.c.user_id == actor.user_id, tokens.c.revoked_at.is_(None))).first()
            if row is None:
                raise NotFound(f"You have no token {token_id}.")
            conn.execute(sa.update(tokens).where(tokens.c.id == token_id).values(revoked_at=datetime.now(UTC)))
            audit.record(conn, "token.revoked", actor_id=actor.user_id, target=f"token:{token_id}",
                         detail={"name": row.name})
            self.users.access_changed(conn)
        self.users.forget(row.token_hash)
