"""A web client signed in through the login form, holding the CSRF token the pages carry:
for the tests of the server-rendered pages (htmx posts, and JSON sent by the builders)."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient


class SignedIn:
    def __init__(self, client: TestClient, email: str, password: str) -> None:
        self.client = client
        answer = client.post("/login", data={"email": email, "password": password, "next": "/app"},
                             follow_redirects=False)
        assert answer.status_code == 303, answer.text
        found = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/app").text)
        assert found
        self.csrf = {"X-CSRF-Token": found.group(1)}
        #: What htmx sends with a form: the token, and that the request is its own.
        self.headers = {**self.csrf, "HX-Request": "true"}

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.client.post(path, headers=self.headers, **kwargs)

    def send(self, method: str, path: str, body: Any) -> Any:
        """JSON, as the builders' scripts send it."""
        return self.client.request(method, path, json=body, headers=self.csrf)
