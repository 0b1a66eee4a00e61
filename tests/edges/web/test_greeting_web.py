"""People are greeted and shown by their name, not their e-mail address."""

from __future__ import annotations

from fastapi.testclient import TestClient

from signed_in import SignedIn
from tessera.app import create_app
from tessera.auth.actor import Actor
from tessera.runtime.platform import Platform


def test_the_home_page_greets_a_person_by_first_name_and_the_top_bar_shows_their_name(
        runtime: Platform) -> None:
    runtime.users.accounts.add(Actor.system(), {"email": "grace@example.com", "name": "Grace Lin",
                                                "password": "a-long-password-1"})
    with TestClient(create_app(runtime), base_url="http://127.0.0.1") as client:
        page = SignedIn(client, "grace@example.com", "a-long-password-1").get("/app").text
    assert "Hello, Grace</h1>" in page
    assert '<span class="who">Grace Lin</span>' in page

