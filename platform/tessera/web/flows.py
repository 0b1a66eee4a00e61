"""The workflow engine in the browser: the approvals inbox, the notification bell, the
"Approvals and automation" panel of a record page, the page a signed e-mail link opens,
and the flow designer (a vertical block editor that saves the same `flows` document the
API writes).

Routes parse, authorize, call the flow service and render. A refused action comes back
in the fragment it was asked from, with the reason beside the control, never as a page
swapped into the middle of another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from tessera.actions import action_types
from tessera.auth.actor import Actor
from tessera.errors import NotFound, TesseraError
from tessera.requests import deps
from tessera.runtime.platform import Platform
from tessera.web.pages import render
from tessera.web.templates import templates

router = APIRouter(include_in_schema=False)

DONE = {"approve": "Approved", "reject": "Rejected", "complete": "Completed", "send_back": "Sent back",
        "delegate": "Delegated", "resubmit": "Resubmitted"}
STEP_TYPES = ("approval", "task", "action", "branch", "parallel", "wait", "goto", "end")


@dataclass(frozen=True)
class Outcome:
    """What became of an action asked from a fragment: a message, or the refusal and the
    control it belongs beside."""

    text: str
    error: bool = False
    control: str = ""


def _refusal(error: TesseraError, control: str) -> Outcome:
    reasons = "; ".join(p.message for p in error.errors) if error.errors else ""
    return Outcome(f"{error.detail} {reasons}".strip(), error=True, control=control)


def _decision(form: Any) -> dict[str, Any]:
    """A task form as the service's act body."""
    action = str(form.get("action") or "")
    body: dict[str, Any] = {"action": action, "comment": str(form.get("comment") or "")}
    target = str(form.get("target") or "")
    if action == "send_back" and target:
        body["target"] = target
    user = str(form.get("user") or "").strip()
    if action == "delegate":
        # The inbox's people picker sends the person's id; an e-mail address is still read.
        body["users"] = [int(user) if user.isdigit() else user] if user else []
    return body


def overdue(due_at: str | None, now: datetime | None = None) -> bool:
    """Whether a task's due time (ISO 8601, as the service gives it) has passed."""
    if not due_at:
        return False
    return datetime.fromisoformat(due_at.replace("Z", "+00:00")) < (now or datetime.now(UTC))


# -- the inbox ----------------------------------------------------------------------------

@router.get("/inbox", response_class=HTMLResponse)
def inbox(request: Request, me: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> Any:
    """My open approvals and to-dos, the ones due first on top."""
    return render(request, "flows/inbox.html", me=me, tasks=rt.flows.tasks(me), overdue=overdue)


@router.get("/inbox/badge", response_class=HTMLResponse)
def inbox_badge(request: Request, me: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> Any:
    return _fragment(request, "flows/_badge.html", count=len(rt.flows.tasks(me, limit=100)))


@router.get("/inbox/tasks/{task_id}/send-back", response_class=HTMLResponse)
def send_back_form(task_id: int, request: Request, me: Actor = Depends(deps.actor),
                   rt: Platform = Depends(deps.runtime)) -> Any:
    """Where a task may be sent back to: the submitter, or an earlier step that ran."""
    task = _my_task(rt, me, task_id)
    instance = rt.flows.instance(me, int(task["instance"]))
    return _fragment(request, "flows/_send_back.html", task=task, targets=earlier_steps(instance, task["step"]))


@router.post("/inbox/tasks/{task_id}", response_class=HTMLResponse)
async def act_in_inbox(task_id: int, request: Request, me: Actor = Depends(deps.actor),
                       rt: Platform = Depends(deps.runtime)) -> Any:
    """Decide a task from its inbox row; the row comes back with what happened."""
    body = _decision(await request.form())
    task = _my_task(rt, me, task_id)
    try:
        if body["action"] == "resubmit":  # a record sent back to its submitter: their task is to resubmit
            rt.flows.resubmit(me, int(task["instance"]), body["comment"])
        else:
            rt.flows.act(me, task_id, body)
    except TesseraError as error:
        return _fragment(request, "flows/_task_row.html", task=task, overdue=overdue,
                         outcome=_refusal(error, body["action"]))
    done = DONE.get(body["action"], "Done")
    if body["action"] == "delegate":
        chosen = body["users"][0]  # by name, whether picked (an id) or typed (an e-mail address)
        who = chosen if isinstance(chosen, int) else rt.users.id_for_email(chosen)
        done = f"Delegated to {rt.users.accounts.get(who)['name'] if who else chosen}"
    return _fragment(request, "flows/_task_row.html", task=task, overdue=overdue, closed=True,
                     outcome=Outcome(f"{done}."))


def _my_task(rt: Platform, me: Actor, task_id: int) -> dict[str, Any]:
    for task in rt.flows.tasks(me, limit=500):
        if task["id"] == task_id:
            return task
    raise NotFound(f"There is no open task {task_id} for you.")


def earlier_steps(instance: dict[str, Any], step: str) -> list[str]:
    """The approval and task steps this instance has been through, other than `step`."""
    entered = {h["step"] for h in instance["history"] if h["event"] == "entered" and h["step"]}
    return [s for s in instance["send_back_targets"] if s != step and s in entered]


# -- the bell -----------------------------------------------------------------------------

@router.get("/notifications/bell", response_class=HTMLResponse)
def bell(request: Request, me: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> Any:
    """The bell: the unread count and the newest notifications in its menu."""
    return _fragment(request, "flows/_bell.html", box=rt.notifications.list(me, limit=15))


@router.post("/notifications/read", response_class=HTMLResponse)
def read_all(request: Request, me: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> Any:
    rt.notifications.mark_read(me)
    return _fragment(request, "flows/_bell.html", box=rt.notifications.list(me, limit=15), open=True)


@router.get("/notifications/{notification_id}/open")
def open_notification(notification_id: int, me: Actor = Depends(deps.actor),
                      rt: Platform = Depends(deps.runtime)) -> RedirectResponse:
    """Mark a notification read and go where it points (only ever a path on this site)."""
    box = rt.notifications.list(me, limit=200)
    found = next((n for n in box["items"] if n["id"] == notification_id), None)
    if found is None:
        raise NotFound(f"There is no notification {notification_id}.")
    rt.notifications.mark_read(me, notification_id)
    link = str(found["link"] or "")
    target = link if link.startswith("/") and not link.startswith("//") else "/inbox"
    return RedirectResponse(target, status_code=303)


# -- the record page's panel --------------------------------------------------------------

@router.get("/app/{object}/{record_id}/automation", response_class=HTMLResponse)
def automation(object: str, record_id: int, request: Request, me: Actor = Depends(deps.actor),
               rt: Platform = Depends(deps.runtime)) -> Any:
    """The record's flows (running and past, with tasks and history), the flows a button
    starts, and the rule execution log."""
    return _panel(request, rt, me, object, record_id)


@router.post("/app/{object}/{record_id}/automation/start/{flow}", response_class=HTMLResponse)
async def start_flow(object: str, record_id: int, flow: str, request: Request, me: Actor = Depends(deps.actor),
                     rt: Platform = Depends(deps.runtime)) -> Any:
    form = await request.form()
    try:
        rt.flows.start(me, flow, record_id, str(form.get("comment") or ""))
    except TesseraError as error:
        return _panel(request, rt, me, object, record_id, _refusal(error, f"start:{flow}"))
    return _panel(request, rt, me, object, record_id, Outcome("The flow has started."))


@router.post("/app/{object}/{record_id}/automation/instances/{instance_id}/{what}", response_class=HTMLResponse)
async def submitter_action(object: str, record_id: int, instance_id: int, what: str, request: Request,
                           me: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> Any:
    """The submitter's Resubmit (after rework) and Recall (while it runs)."""
    form = await request.form()
    comment = str(form.get("comment") or "")
    calls = {"resubmit": rt.flows.resubmit, "recall": rt.flows.recall}
    if what not in calls:
        raise NotFound(f"There is no {what!r} for a flow.")
    try:
        calls[what](me, instance_id, comment)
    except TesseraError as error:
        return _panel(request, rt, me, object, record_id, _refusal(error, f"{what}:{instance_id}"))
    return _panel(request, rt, me, object, record_id,
                  Outcome("Resubmitted." if what == "resubmit" else "Recalled: the flow is cancelled."))


@router.post("/app/{object}/{record_id}/automation/tasks/{task_id}", response_class=HTMLResponse)
async def act_on_record(object: str, record_id: int, task_id: int, request: Request,
                        me: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> Any:
    body = _decision(await request.form())
    try:
        rt.flows.act(me, task_id, body)
    except TesseraError as error:
        return _panel(request, rt, me, object, record_id, _refusal(error, f"task:{task_id}"))
    return _panel(request, rt, me, object, record_id, Outcome(f"{DONE.get(body['action'], 'Done')}."))


#: What started a rule's run, by the start of its trigger key, in words.
RUN_TRIGGERS = {"before_save": "before the save", "after_save": "after a save", "event": "on a change",
                "segment": "on a segment check", "cron": "on its schedule", "date": "on a date"}
RUN_OUTCOMES = {"fired": "ran", "refused": "refused the save", "skipped": "did nothing", "limited": "was stopped",
                "failed": "failed"}


def _readable_runs(rt: Platform, me: Actor, object: str, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The record's rule runs as a person reads them: the rule's label, what started it and
    what it did in words, the values it set by field label."""
    labels = {d["api_name"]: d.get("label") or d["api_name"] for d in rt.documents.list("rules")}
    sets = rt.views.values_text(me, object, [dict((r.get("changes") or {}).get("set") or {}) for r in runs])
    out = []
    for run, set_text in zip(runs, sets, strict=True):
        changes = run.get("changes") or {}
        did = [f"{label}: {text}" for label, text in set_text]
        if changes.get("entered"):
            did.insert(0, "entered the segment")
        if changes.get("left"):
            did.insert(0, "left the segment")
        if isinstance(changes.get("skipped"), str):
            did.append(changes["skipped"])
        if isinstance(changes.get("refused"), str):
            did.append(changes["refused"])
        out.append({**run, "rule_label": labels.get(run["rule"], run["rule"]),
                    "trigger_text": RUN_TRIGGERS.get(str(run["trigger"]).split(":")[0], str(run["trigger"])),
                    "outcome_text": RUN_OUTCOMES.get(run["outcome"], run["outcome"]), "did": did,
                    "why": changes.get("why") if isinstance(changes.get("why"), str) else None})
    return out


def _panel(request: Request, rt: Platform, me: Actor, object: str, record_id: int,
           outcome: Outcome | None = None) -> HTMLResponse:
    instances = rt.flows.instances(me, object_name=object, record_id=record_id)
    startable = set(rt.flows.startable(me, object, record_id))
    buttons = [f for f in _published(rt, me, object) if f["api_name"] in startable]
    runs = _readable_runs(rt, me, object, rt.rules.runs(me, object, record_id, limit=50))
    locks = [i for i in instances if i["locked"] and i["status"] == "running"]
    return _fragment(request, "flows/_panel.html", me=me, object=object, record_id=record_id,
                     instances=instances, buttons=buttons, runs=runs, locks=locks, outcome=outcome,
                     overdue=overdue)


def _published(rt: Platform, me: Actor, object: str | None = None) -> list[dict[str, Any]]:
    """The flows (of an object) with their latest published version (only published ones
    for an object's record page)."""
    return [d for d in rt.flows.published(me, object) if object is None or d["published"] is not None]


# -- signed e-mail links ------------------------------------------------------------------

@router.get("/flows/act/{token}", response_class=HTMLResponse)
def link_page(token: str, request: Request, rt: Platform = Depends(deps.runtime)) -> Any:
    """What a signed link in an e-mail opens: the task and its record, a comment box and a
    button to confirm. No session is needed: the signed token is the authority."""
    return _link(request, rt, token)


@router.post("/flows/act/{token}", response_class=HTMLResponse)
async def act_by_link(token: str, request: Request, rt: Platform = Depends(deps.runtime)) -> Any:
    form = await request.form()
    try:
        action = rt.flows.link(token)["action"]
        instance = rt.flows.act_by_link(token, str(form.get("comment") or ""))
    except TesseraError as error:
        return _link(request, rt, token, refused=error)
    return _page(request, "flows/link.html", status=200, done=instance, action=action)


def _link(request: Request, rt: Platform, token: str, refused: TesseraError | None = None) -> HTMLResponse:
    try:
        asked = rt.flows.link(token)
        actor, task = asked["actor"], asked["task"]
        record = rt.records.get(actor, str(task["object"]), int(task["record_id"]))
        fields = _shown_fields(rt, str(task["object"]), record)
    except TesseraError as error:
        return _page(request, "flows/link.html", status=error.status, invalid=error)
    return _page(request, "flows/link.html", status=refused.status if refused else 200, task=task,
                 fields=fields, action=asked["action"], email=actor.email, refused=refused)


def _shown_fields(rt: Platform, object: str, record: dict[str, Any]) -> list[tuple[str, Any]]:
    doc = rt.metadata.get_object(object)
    return [(f["label"], record[f["api_name"]]) for f in doc["fields"]
            if f["api_name"] in record and record[f["api_name"]] not in (None, "")][:12]


def _page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page for a visitor who need not be signed in."""
    return templates().TemplateResponse(request, name, {"me": None, "nav_objects": [], "csrf": None, **context},
                                        status_code=status)


# -- the designer -------------------------------------------------------------------------

@router.get("/builder/flows", response_class=HTMLResponse)
def flow_list(request: Request, me: Actor = Depends(deps.builder), rt: Platform = Depends(deps.runtime)) -> Any:
    """Every flow with its object, trigger and the version published, and "New flow"."""
    return render(request, "flows/list.html", me=me, flows=_published(rt, me),
                  objects=rt.metadata.list_objects())


@router.get("/builder/flows/new", response_class=HTMLResponse)
def new_flow(request: Request, me: Actor = Depends(deps.builder), rt: Platform = Depends(deps.runtime)) -> Any:
    object = request.query_params.get("object") or ""
    rt.metadata.get_object(object)
    doc = {"api_name": "", "label": "", "object": object, "trigger": {"on": "button"}, "steps": []}
    return _designer(request, rt, me, doc, new=True, published=None)


@router.get("/builder/flows/{name}", response_class=HTMLResponse)
def flow_designer(name: str, request: Request, me: Actor = Depends(deps.builder),
                  rt: Platform = Depends(deps.runtime)) -> Any:
    """The block designer: the trigger on top, the steps below it, a side panel to set up
    the block selected; Save, Validate and Publish call the API."""
    doc = rt.documents.get("flows", name)
    versions = rt.flows.versions(me, name)
    return _designer(request, rt, me, doc, new=False, published=versions[0]["version"] if versions else None)


def _designer(request: Request, rt: Platform, me: Actor, doc: dict[str, Any], *, new: bool,
              published: int | None) -> HTMLResponse:
    obj = rt.metadata.get_object(str(doc["object"]))
    setup = {
        "doc": doc, "new": new, "published": published,
        "fields": [{"api_name": f["api_name"], "label": f["label"], "type": f["type"]} for f in obj["fields"]],
        "roles": [[r["api_name"], r["label"]] for r in rt.users.roles.list(rt.snapshot)],
        "teams": [[t["api_name"], t["label"]] for t in rt.users.teams.list()],
        "actions": {name: {"label": kind.label, "params": list(kind.params), "required": list(kind.required)}
                    for name, kind in sorted(action_types().items())},
        "step_types": list(STEP_TYPES),
    }
    return render(request, "flows/designer.html", me=me, doc=doc, obj=obj, setup=setup, new=new,
                  published=published)


def _fragment(request: Request, name: str, **context: Any) -> HTMLResponse:
    return templates().TemplateResponse(request, name, context)


__all__ = ["earlier_steps", "overdue", "router"]
