"""Schemathesis hooks (loaded by `st run` through SCHEMATHESIS_HOOKS): sign every generated
request in as the admin with a token minted straight into the database under test.

A fuzzer running as an admin revokes tokens, changes the admin's password and signs out
(each ends the admin's tokens), and it trips the sign-in limit of its own address; a
fresh token per second of run keeps it signed in through all of that.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

from tessera.auth.tokens import insert_token
from tessera.data.engine import make_engine

_ENGINE = make_engine(os.environ["TESSERA_DATABASE_URL"])


@schemathesis.auth(refresh_interval=1)
class AdminToken:
    def get(self, case: Any, context: Any) -> str:
        with _ENGINE.begin() as conn:
            return insert_token(conn, 1, "fuzzer")

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
