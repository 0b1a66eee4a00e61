"""Who is acting: the user behind a request, a job or a flow step."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    email: str = ""
    is_admin: bool = False

    @classmethod
    def system(cls) -> Actor:
        """The platform itself (migrations, template installs, scheduled work)."""
        return cls(user_id=None, email="system", is_admin=True)
