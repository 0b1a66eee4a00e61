"""A request PostgreSQL rolled back for crossing another one is run again.

Two transactions that lock the same rows in opposite orders — a user saving a lead while a
rule updates its account — deadlock; PostgreSQL undoes one of them (deadlock_detected), as
it undoes a transaction it cannot serialize (serialization_failure). Nothing of it stayed,
and running it again from the start most likely goes through: so the user never sees it,
the request is run again here, a few times with a short, growing, random pause.

Only a request that can be run again whole is: nothing it did has committed yet (a
request that committed one transaction and conflicted in a second one would do the first
twice), and its body, kept to be given again, is not larger than `KEPT_BODY`. Otherwise,
or once the tries are spent, the user gets the problem the API's handler answers (503, "try
again", with Retry-After): still nothing half-written.

The handler of database errors (`tessera.api.problems`) marks the request's state with
`CONFLICTED` when it answers for a conflict; this middleware, outside it, then throws the
answer away unsent and runs the request again.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from tessera.data.engine import counting_commits
from tessera.requests.middleware import HttpMiddleware

#: The key of the request state's flag: "answered for a conflict; may be run again".
CONFLICTED = "tessera_conflicted"
#: How many times a request is run in all, at most.
TRIES = 4
#: Bytes of a request's body kept to run it again (a form or a record's JSON; not a file).
KEPT_BODY = 1 << 20
#: Seconds of the first pause; each next one doubles, each with up to as much again at random
#: (two requests that met should not meet again at the same moment).
FIRST_PAUSE = 0.02


class RetryConflicts(HttpMiddleware):
    """ASGI middleware: an HTTP request that conflicted and can be run again is."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = _KeptBody(receive)
        for attempt in range(1, TRIES + 1):
            last = attempt == TRIES
            state = scope.setdefault("state", {})
            state.pop(CONFLICTED, None)
            answer = _Answer(send, state, hold=not last)
            with counting_commits() as commits:
                await self.app(scope, body.again() if attempt > 1 else body.receive, answer.send)
            if not answer.held:
                return
            if commits[0] or not body.whole:
                await answer.release()  # cannot be run again: the conflict's answer stands
                return
            pause = FIRST_PAUSE * 2 ** (attempt - 1)
            await asyncio.sleep(pause + random.uniform(0, pause))


class _KeptBody:
    """The request's body as it comes, kept (up to `KEPT_BODY` bytes) to be given again."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._kept: list[Message] = []
        self._size = 0
        #: Whether every message read so far is kept.
        self.whole = True

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request" and self.whole:
            self._size += len(message.get("body", b""))
            if self._size > KEPT_BODY:
                self.whole, self._kept = False, []
            else:
                self._kept.append(message)
        return message

    def again(self) -> Receive:
        """A receive giving the kept messages, then what has not been read yet."""
        replay = list(self._kept)

        async def receive() -> Message:
            if replay:
                return replay.pop(0)
            return await self.receive()

        return receive


class _Answer:
    """The app's answer, passed on — unless it is a conflict's (the state is marked when it
    starts) and `hold`: then it is held back, to be dropped or released."""

    def __init__(self, send: Send, state: dict[str, Any], *, hold: bool) -> None:
        self._send = send
        self._state = state
        self._hold = hold
        self._messages: list[Message] = []
        self.held = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start" and self._hold and self._state.get(CONFLICTED):
            self.held = True
        if self.held:
            self._messages.append(message)
        else:
            await self._send(message)

    async def release(self) -> None:
        for message in self._messages:
            await self._send(message)
