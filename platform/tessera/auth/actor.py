"""Who is acting: the user behind a request, a job or a flow step."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, eq=False)
class Grants:
    """What an actor's roles grant, as the roles store it: one permissions document per role,
    keyed by object uid and field uid (see tessera.auth.roles). `tessera.auth.permissions`
    turns them into answers per object against the metadata of the moment."""

    documents: tuple[Mapping[str, Any], ...] = ()


NO_GRANTS = Grants()


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    email: str = ""
    #: The person's name as they gave it (pages greet and show them by it); blank: the e-mail.
    name: str = ""
    is_admin: bool = False
    #: For a signed-in request: the digest of its token (or session) and the auth revision at
    #: which that sign-in was last found valid (see Platform.snapshot).
    token_digest: str | None = None
    verified_at: int | None = None
    #: May change metadata (the builder role; admins may too).
    is_builder: bool = False
    #: api_names of the user's roles, sorted; admins have "admin".
    roles: tuple[str, ...] = ()
    #: The teams the user is a member of, as ids (for SQL) and api_names (for sharing rules).
    team_ids: tuple[int, ...] = ()
    team_names: tuple[str, ...] = ()
    #: The IANA time zone times are shown to the user in: theirs, else the platform's.
    time_zone: str | None = None
    #: How the request signed in: "token" (Authorization: Bearer) or "session" (the cookie).
    credential: str = "token"
    #: The roles' permissions, loaded with the sign-in; read them through permissions_for().
    grants: Grants = field(default=NO_GRANTS, compare=False, repr=False)

    @classmethod
    def system(cls) -> Actor:
        """The platform itself (migrations, template installs, scheduled work)."""
        return cls(user_id=None, email="system", is_admin=True, is_builder=True, roles=("admin",))


#: The actor of the request or job being served, so that every transaction it opens can
#: confirm the sign-in is still valid without another round trip (see Platform.snapshot).
acting: ContextVar[Actor | None] = ContextVar("tessera_acting", default=None)
