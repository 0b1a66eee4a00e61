"""Sign-in attempts and the limit on failures, counted in the database so that every
process and machine shares them.

After `LIMIT` failed attempts within `WINDOW` for one e-mail address, or from one client
address, further attempts are refused (429, with Retry-After) without looking at the
password, until the oldest of those failures is out of the window. A successful sign-in
clears the count of its e-mail (not of its address: one account of one's own must not
reset the count for guessing others'). Refused attempts are not counted, so they do not
lengthen the wait.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.data.tables import signin_attempts
from tessera.errors import TesseraError

WINDOW = timedelta(minutes=15)
LIMIT = 5
#: Attempts are kept this long (the audit log keeps the story for longer).
KEEP = timedelta(days=1)


class TooManyAttempts(TesseraError):
    status = 429
    title = "Too many sign-in attempts"
    type_slug = "too-many-attempts"


def retry_after(conn: Connection, email: str, ip: str, now: datetime) -> int | None:
    """Seconds until the e-mail and the address may try again, or None if they may now
    (`ip` "" when the attempt does not come over the network: only the e-mail counts)."""
    since = now - WINDOW
    last_success = conn.execute(sa.select(sa.func.max(signin_attempts.c.at)).where(
        signin_attempts.c.email == email, signin_attempts.c.succeeded.is_(True),
        signin_attempts.c.at > since)).scalar()
    waits = [_wait(conn, signin_attempts.c.email == email, max(since, last_success) if last_success else since, now)]
    if ip:
        waits.append(_wait(conn, signin_attempts.c.ip == ip, since, now))
    return max((w for w in waits if w is not None), default=None)


def _wait(conn: Connection, who: sa.ColumnElement[bool], since: datetime, now: datetime) -> int | None:
    failures = conn.execute(
        sa.select(signin_attempts.c.at).where(who, signin_attempts.c.succeeded.is_(False),
                                              signin_attempts.c.at > since)
        .order_by(signin_attempts.c.at.desc()).limit(LIMIT)).scalars().all()
    if len(failures) < LIMIT:
        return None
    # Allowed again once the oldest of the last LIMIT failures leaves the window.
    return max(1, math.ceil((failures[-1] + WINDOW - now).total_seconds()))


def record(conn: Connection, email: str, ip: str, *, succeeded: bool, at: datetime) -> None:
    conn.execute(sa.insert(signin_attempts).values(at=at, email=email, ip=ip, succeeded=succeeded))
    conn.execute(sa.delete(signin_attempts).where(signin_attempts.c.at < at - KEEP))


def in_words(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    return f"{seconds} seconds" if seconds < 60 else f"{minutes} minute{'s' if minutes != 1 else ''}"
