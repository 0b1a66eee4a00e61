"""Sessions and API tokens (/admin/signins): who is signed in, since when, from which
address and browser, with "Sign out" for each session; everyone's API tokens with "Revoke";
and a new token for the admin themselves, shown once. Through the session and token
services (`tessera.auth.sessions`, `tessera.auth.tokens`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from tessera.auth.actor import Actor
from tessera.auth.sessions import REF_LENGTH
from tessera.errors import NotFound, TesseraError
from tessera.requests import deps
from tessera.runtime.platform import Platform
from tessera.web.admin.page import number, page, problems

router = APIRouter()

#: What a browser's User-Agent says, in a few words: the first name found wins.
BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
            ("Safari/", "Safari"), ("curl/", "curl"), ("python", "a Python script"))
SYSTEMS = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"),
           ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))
#: How long a token made here works, in days, as the form offers it.
LIFETIMES = {30: "30 days", 90: "90 days", 365: "a year"}


def browser(agent: str | None) -> str:
    """`Chrome on Linux` for a Chrome User-Agent on Linux; blank when there is none."""
    if not agent:
        return ""
    name = next((words for mark, words in BROWSERS if mark in agent), "a browser")
    system = next((words for mark, words in SYSTEMS if mark in agent), "")
    return f"{name} on {system}" if system else name


def _page(request: Request, me: Actor, rt: Platform, *, status: int = 200, flash: dict[str, str] | None = None,
          made: dict[str, Any] | None = None, values: dict[str, Any] | None = None,
          errors: dict[str, list[str]] | None = None) -> HTMLResponse:
    sessions = rt.users.sessions.active()
    mine = (me.token_digest or "")[:REF_LENGTH] if me.credential == "session" else None
    for session in sessions:
        session["browser"], session["yours"] = browser(session["user_agent"]), session["ref"] == mine
    return page(request, "admin/signins.html", "signins", status=status, me=me, flash=flash, sessions=sessions,
                tokens=rt.users.tokens.everyone(), made=made, values=values or {"expires_in_days": 90},
                errors=errors or {}, lifetimes=LIFETIMES)


@router.get("/signins", response_class=HTMLResponse)
def signins_page(request: Request, me: Actor = Depends(deps.admin),
                 rt: Platform = Depends(deps.runtime)) -> Response:
    return _page(request, me, rt)


@router.post("/signins", response_class=HTMLResponse)
async def change(request: Request, me: Actor = Depends(deps.admin), rt: Platform = Depends(deps.runtime)) -> Response:
    """Sign a session out, revoke a token, or make a token for the admin (`action`)."""
    form = await request.form()
    action = str(form.get("action") or "")
    if action == "token":
        return _make_token(request, me, rt, form)
    try:
        if action == "sign_out":
            ref = str(form.get("session") or "")
            ended = rt.users.sessions.end_for(me, ref)
            if me.credential == "session" and (me.token_digest or "").startswith(ref):
                return RedirectResponse("/login", status_code=303)  # the admin signed themselves out
            text = f"{ended['name']} is signed out of that session; their next click asks them to sign in."
        elif action == "revoke":
            gone = rt.users.tokens.revoke_any(me, number(str(form.get("token") or ""), "There is no such token."))
            text = f"The token “{gone['name']}” of {gone['user']['name']} is revoked: it no longer signs anyone in."
        else:
            raise NotFound("There is no such change to make here.")
    except TesseraError as error:
        return _page(request, me, rt, status=error.status, flash={"kind": "error", "text": error.detail})
    return _page(request, me, rt, flash={"kind": "ok", "text": text})


def _make_token(request: Request, me: Actor, rt: Platform, form: FormData) -> HTMLResponse:
    days = str(form.get("expires_in_days") or "")
    doc: dict[str, Any] = {"name": str(form.get("name") or "").strip()}
    if days:  # left out: the service's default
        doc["expires_in_days"] = int(days) if days.isdigit() and len(days) < 6 else days
    try:
        made = rt.users.tokens.create(me, doc)
    except TesseraError as error:
        return _page(request, me, rt, status=error.status, values=doc, errors=problems(error),
                     flash={"kind": "error", "text": error.detail})
    return _page(request, me, rt, made=made)
