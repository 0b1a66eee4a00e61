"""The web UI's session cookie: set by a sign-in (`POST /api/v1/auth/session` and the
sign-in page alike), cleared by a sign-out. One definition, so both edges send the same
flags."""

from __future__ import annotations

from fastapi import Request, Response

from tessera.auth import sessions

_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")


def set_session_cookie(response: Response, request: Request, secret_key: str, session_secret: str) -> None:
    """The signed session cookie of a sign-in: HttpOnly, SameSite=Lax, Secure unless the
    site is plain http on this machine."""
    response.set_cookie(
        sessions.COOKIE, sessions.sign_cookie(secret_key, session_secret),
        max_age=int(sessions.LIFETIME.total_seconds()), httponly=True, samesite="lax", path="/",
        secure=not (request.url.scheme == "http" and request.url.hostname in _LOCAL_HOSTS))


def clear_session_cookie(response: Response) -> None:
    """A sign-out: the browser drops the cookie (the session itself is ended server-side)."""
    response.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="lax")
