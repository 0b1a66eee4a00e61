"""Who is acting: the user behind a request, a job or a flow step."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    email: str = ""
    is_admin: bool = False
    #: For a signed-in request: the digest of its token and the auth revision at which that
    #: token was last found valid (see Runtime.snapshot).
    token_digest: str | None = None
    verified_at: int | None = None

    @classmethod
    def system(cls) -> Actor:
        """The platform itself (migrations, template installs, scheduled work)."""
        return cls(user_id=None, email="system", is_admin=True)


#: The actor of the request or job being served, so that every transaction it opens can
#: confirm the sign-in is still valid without another round trip (see Runtime.snapshot).
acting: ContextVar[Actor | None] = ContextVar("tessera_acting", default=None)
