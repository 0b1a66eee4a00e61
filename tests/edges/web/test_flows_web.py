"""The workflow engine's pages over HTTP (no browser), on SQLite and PostgreSQL: the inbox
and its decisions, the record page's approvals panel, the bell, signed e-mail links and
who may open the flow designer. Each page goes through the flow service, so what it
refuses is what the API refuses."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from signed_in import SignedIn
from tessera.app import create_app
from tessera.auth.actor import Actor
from tessera.runtime.platform import Platform

DEAL = {"api_name": "deal", "label": "Deal", "fields": [
    {"api_name": "name", "label": "Name", "type": "text", "required": True},
    {"api_name": "amount", "label": "Amount", "type": "integer"},
    {"api_name": "status", "label": "Status", "type": "text"},
]}
FLOW = {"api_name": "deal_approval", "label": "Deal approval", "object": "deal", "trigger": {"on": "button"},
        "steps": [{"id": "boss", "type": "approval", "label": "Boss signs off", "approvers": [{"role": "manager"}],
                   "lock_record": True, "due": "P1D"},
                  {"id": "mark", "type": "action", "action": "update_record", "set": {"status": '"approved"'}}]}
PASSWORDS = {"rep@example.com": "rep-password", "boss@example.com": "boss-password",
             "clerk@example.com": "clerk-password", "admin@example.com": "admin-password"}


def visitor(app: Any, email: str) -> SignedIn:
    return SignedIn(TestClient(app, base_url="http://127.0.0.1"), email, PASSWORDS[email])


@pytest.fixture
def site(runtime: Platform) -> Any:
    system = Actor.system()
    runtime.metadata.create_object(system, DEAL)
    for role, edit in (("sales", "own"), ("manager", "all")):
        runtime.users.roles.create(system, {"api_name": role, "label": role.title(), "permissions": {
            "deal": {"create": True, "read": "all", "edit": edit, "delete": "none"}}}, runtime.snapshot)
    for email, role in (("rep@example.com", "sales"), ("boss@example.com", "manager"),
                        ("clerk@example.com", "sales")):
        runtime.users.accounts.add(system, {"email": email, "name": email.split("@")[0].title(),
                                            "password": PASSWORDS[email], "roles": [role]})
    runtime.documents.create(system, "flows", FLOW)
    runtime.flows.publish(system, "deal_approval")
    with TestClient(create_app(runtime), base_url="http://127.0.0.1") as client:
        yield client.app


def _user(runtime: Platform, email: str) -> Actor:
    found = next(u for u in runtime.users.accounts.list(q=email)["data"] if u["email"] == email)
    actor = runtime.users.actor_for_user(int(found["id"]))
    assert actor is not None
    return actor


def _started(runtime: Platform, title: str = "Big deal") -> tuple[dict[str, Any], dict[str, Any]]:
    """A deal the rep made and sent for approval: (record, the boss's task)."""
    rep = _user(runtime, "rep@example.com")
    record = runtime.records.create(rep, "deal", {"name": title, "amount": 5000})
    runtime.flows.start(rep, "deal_approval", record["id"], "please")
    task = next(t for t in runtime.flows.tasks(_user(runtime, "boss@example.com")) if t["record_id"] == record["id"])
    return record, task


def test_only_builders_open_the_flow_designer(site: Any, runtime: Platform) -> None:
    rep = visitor(site, "rep@example.com")
    for path in ("/builder/flows", "/builder/flows/deal_approval", "/builder/flows/new?object=deal"):
        assert rep.get(path).status_code == 403, path
    admin = visitor(site, "admin@example.com")
    listing = admin.get("/builder/flows")
    assert listing.status_code == 200 and "Deal approval" in listing.text and "version 1" in listing.text
    designer = admin.get("/builder/flows/deal_approval")
    assert designer.status_code == 200 and 'id="flow-setup"' in designer.text and "Boss signs off" in designer.text
    new = admin.get("/builder/flows/new", params={"object": "deal"})
    assert new.status_code == 200 and "New flow on Deal" in new.text
    assert admin.get("/builder/flows/new", params={"object": "nothing"}).status_code == 404


def test_the_inbox_shows_only_my_tasks(site: Any, runtime: Platform) -> None:
    record, task = _started(runtime)
    boss = visitor(site, "boss@example.com").get("/inbox").text
    assert f'id="task-{task["id"]}"' in boss and "Big deal" in boss and "Boss signs off" in boss
    assert f'href="/app/deal/{record["id"]}"' in boss
    clerk = visitor(site, "clerk@example.com").get("/inbox").text
    assert "Big deal" not in clerk and "Nothing waits for you" in clerk
    badge = visitor(site, "boss@example.com").get("/inbox/badge").text
    assert 'data-count="1"' in badge


def test_approving_from_the_inbox_records_the_decision_and_comment(site: Any, runtime: Platform) -> None:
    record, task = _started(runtime)
    boss = visitor(site, "boss@example.com")
    row = boss.post(f"/inbox/tasks/{task['id']}", data={"action": "approve", "comment": "Looks right"})
    assert row.status_code == 200 and "Approved." in row.text and "task-form" not in row.text
    instance = runtime.flows.instances(_user(runtime, "rep@example.com"), object_name="deal",
                                       record_id=record["id"])[0]
    assert instance["status"] == "approved"
    assert any(h["event"] == "approved" and h["comment"] == "Looks right" for h in instance["history"])
    assert runtime.records.get(Actor.system(), "deal", record["id"])["status"] == "approved"
    again = boss.post(f"/inbox/tasks/{task['id']}", data={"action": "approve"})
    assert again.status_code == 404  # no longer an open task of theirs


def test_someone_else_cannot_decide_my_task_from_the_inbox(site: Any, runtime: Platform) -> None:
    _record, task = _started(runtime)
    clerk = visitor(site, "clerk@example.com")
    assert clerk.post(f"/inbox/tasks/{task['id']}", data={"action": "approve"}).status_code == 404
    assert runtime.flows.tasks(_user(runtime, "boss@example.com"))[0]["status"] == "open"


def test_a_refused_delegation_is_explained_beside_its_control(site: Any, runtime: Platform) -> None:
    _record, task = _started(runtime)
    boss = visitor(site, "boss@example.com")
    row = boss.post(f"/inbox/tasks/{task['id']}", data={"action": "delegate", "user": "nobody@example.com"})
    assert row.status_code == 200
    delegate = row.text.split('class="delegate"', 1)[1]
    assert "field-error" in delegate and "nobody@example.com" in delegate
    moved = boss.post(f"/inbox/tasks/{task['id']}", data={"action": "delegate", "user": "clerk@example.com"})
    assert "Delegated to Clerk." in moved.text  # by name, however the person was given
    assert runtime.flows.tasks(_user(runtime, "clerk@example.com"))[0]["record_title"] == "Big deal"


def test_a_task_is_delegated_to_a_person_picked_by_name(site: Any, runtime: Platform) -> None:
    """#17: the inbox's Delegate picks a person by name (the people picker), not an e-mail."""
    _record, task = _started(runtime)
    boss = visitor(site, "boss@example.com")
    row = boss.get("/inbox").text.split(f'id="task-{task["id"]}"', 1)[1].split("</article>", 1)[0]
    delegate = row.split('class="delegate"', 1)[1]
    assert 'type="email"' not in delegate and 'hx-get="/app/user/lookup/options"' in delegate
    assert f'<select name="user" id="delegate-{task["id"]}"' in delegate
    clerk = _user(runtime, "clerk@example.com").user_id
    assert f'<option value="{clerk}">Clerk &lt;clerk@example.com&gt;</option>' in \
        boss.get("/app/user/lookup/options", params={"q": "cle"}).text
    nobody = boss.post(f"/inbox/tasks/{task['id']}", data={"action": "delegate", "user": "99999"})
    assert "field-error" in nobody.text.split('class="delegate"', 1)[1] and "99999" in nobody.text
    blank = boss.post(f"/inbox/tasks/{task['id']}", data={"action": "delegate", "user": ""})
    assert "field-error" in blank.text.split('class="delegate"', 1)[1]
    moved = boss.post(f"/inbox/tasks/{task['id']}", data={"action": "delegate", "user": str(clerk)})
    assert "Delegated to Clerk." in moved.text
    assert runtime.flows.tasks(_user(runtime, "clerk@example.com"))[0]["record_title"] == "Big deal"


def test_sending_back_to_the_submitter_lets_them_resubmit_from_the_inbox(site: Any, runtime: Platform) -> None:
    record, task = _started(runtime)
    boss = visitor(site, "boss@example.com")
    choices = boss.get(f"/inbox/tasks/{task['id']}/send-back").text
    assert "to the submitter" in choices
    assert "Sent back." in boss.post(f"/inbox/tasks/{task['id']}",
                                     data={"action": "send_back", "target": "", "comment": "add the margin"}).text
    rep = visitor(site, "rep@example.com")
    inbox = rep.get("/inbox").text
    assert "Resubmit" in inbox
    rework = runtime.flows.tasks(_user(runtime, "rep@example.com"))[0]
    assert "Resubmitted." in rep.post(f"/inbox/tasks/{rework['id']}", data={"action": "resubmit"}).text
    panel = rep.get(f"/app/deal/{record['id']}/automation").text
    assert "Sent back" in panel and "add the margin" in panel and "Resubmitted" in panel
    assert "Sent back for rework" not in panel and "In progress" in panel  # the instance's status in words


def test_the_record_panel_starts_a_flow_shows_the_lock_and_takes_decisions(site: Any, runtime: Platform) -> None:
    rep_actor = _user(runtime, "rep@example.com")
    record = runtime.records.create(rep_actor, "deal", {"name": "Panel deal", "amount": 10})
    rep = visitor(site, "rep@example.com")
    base = f"/app/deal/{record['id']}/automation"
    before = rep.get(base).text
    assert "Start Deal approval" in before and "No flow has run on this record" in before
    started = rep.post(f"{base}/start/deal_approval", data={"comment": "please"}).text
    assert "The flow has started." in started and "locked" in started and "Recall" in started
    assert "Start Deal approval" not in started  # already running here
    assert "Approve" not in started  # not the rep's task
    boss = visitor(site, "boss@example.com")
    theirs = boss.get(base).text
    task_id = runtime.flows.tasks(_user(runtime, "boss@example.com"))[0]["id"]
    assert f"{base}/tasks/{task_id}" in theirs and "Recall" not in theirs
    decided = boss.post(f"{base}/tasks/{task_id}", data={"action": "approve", "comment": "Fine by me"}).text
    assert "Approved." in decided and "Fine by me" in decided and "locked" not in decided
    page = rep.get(f"/app/deal/{record['id']}").text
    assert f'hx-get="{base}"' in page


def test_the_submitter_recalls_a_running_request_from_the_record_page(site: Any, runtime: Platform) -> None:
    record, _task = _started(runtime)
    clerk = visitor(site, "clerk@example.com")
    base = f"/app/deal/{record['id']}/automation"
    refused = clerk.post(f"{base}/instances/1/recall").text
    assert "flash error" in refused and "Recalled" not in refused
    rep = visitor(site, "rep@example.com")
    recalled = rep.post(f"{base}/instances/1/recall", data={"comment": "wrong amount"}).text
    assert "Recalled" in recalled and "cancelled" in recalled and "wrong amount" in recalled
    assert runtime.flows.tasks(_user(runtime, "boss@example.com")) == []


def test_the_bell_counts_unread_notifications_and_marks_them_read(site: Any, runtime: Platform) -> None:
    record, _task = _started(runtime)
    boss = visitor(site, "boss@example.com")
    bell = boss.get("/notifications/bell").text
    assert 'id="bell-count" data-count="1"' in bell and "Deal approval: Boss signs off" in bell
    # The bell and the inbox count replace themselves with fresh ones every 30 seconds.
    assert 'hx-get="/notifications/bell"' in bell and 'hx-trigger="every 30s' in bell
    badge = boss.get("/inbox/badge").text
    assert 'data-count="1"' in badge and 'hx-get="/inbox/badge"' in badge and 'hx-trigger="every 30s' in badge
    item = re.search(r'href="/notifications/(\d+)/open"', bell)
    assert item
    opened = boss.get(f"/notifications/{item.group(1)}/open", follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == f"/app/deal/{record['id']}"
    assert 'data-count="0"' in boss.get("/notifications/bell").text
    assert visitor(site, "clerk@example.com").get(f"/notifications/{item.group(1)}/open").status_code == 404


def test_a_signed_link_works_once_without_a_session_and_refuses_a_forged_one(site: Any, runtime: Platform) -> None:
    record, task = _started(runtime)
    boss_id = _user(runtime, "boss@example.com").user_id
    assert boss_id is not None
    path = runtime.flows.signed_link(task["instance"], task["key"], boss_id, "approve").split("127.0.0.1:8000", 1)[-1]
    anonymous = TestClient(site, base_url="http://127.0.0.1")
    page = anonymous.get(path)
    assert page.status_code == 200 and "Boss signs off" in page.text and "Big deal" in page.text
    assert "Confirm: approve" in page.text and "5000" in page.text
    done = anonymous.post(path, data={"comment": "From my phone"})
    assert done.status_code == 200 and "Your decision (approve) is recorded" in done.text and "approved" in done.text
    history = runtime.flows.instances(Actor.system(), object_name="deal", record_id=record["id"])[0]["history"]
    assert any(h["comment"] == "From my phone" for h in history)
    used = anonymous.post(path, data={"comment": "again"})
    assert used.status_code in (403, 404, 409) and "Done" not in used.text
    assert "no longer waiting" in anonymous.get(path).text
    token = path.rsplit("/", 1)[1]
    forged = anonymous.get(f"/flows/act/{token[:-4]}abcd")
    assert forged.status_code == 403 and "not valid" in forged.text
    assert anonymous.post(f"/flows/act/{token[:-4]}abcd", data={}).status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in_from_the_inbox(site: Any) -> None:
    anonymous = TestClient(site, base_url="http://127.0.0.1")
    answer = anonymous.get("/inbox", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/inbox"
