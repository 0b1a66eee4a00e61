"""Flow endpoints: publish and check a flow, start one on a record, follow instances, and
act on tasks (the approvals inbox). Every route authorizes and calls one service method."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from tessera.auth.actor import Actor
from tessera.errors import FieldProblem, InvalidInput
from tessera.requests import deps
from tessera.runtime.platform import Platform

router = APIRouter(prefix="/flows", tags=["flows"])
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _comment(body: Any) -> str:
    if body is None:
        return ""
    if not isinstance(body, dict) or not isinstance(body.get("comment", ""), str):
        raise InvalidInput("Send a JSON object with an optional comment.", [FieldProblem("comment", "must be text")])
    return str(body.get("comment", ""))


@router.get("/tasks")
def my_tasks(status: str = "open", limit: int = 100, who: Actor = Depends(deps.actor),
             rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """My tasks: approvals to decide and to-dos, oldest due first."""
    return {"data": rt.flows.tasks(who, status=status, limit=limit)}


@router.post("/tasks/{task_id}/act")
def act(task_id: Id, body: Any = Depends(deps.json_body), who: Actor = Depends(deps.actor),
        rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """Decide a task: {"action": "approve" | "reject" | "complete" | "send_back" | "delegate" |
    "add_before" | "add_after", "comment", "target" (send_back's step), "users" (e-mails)}."""
    return rt.flows.act(who, task_id, body)


@router.get("/instances")
def instances(flow: str | None = None, status: str | None = None, object: str | None = None,
              record_id: int | None = None, limit: int = 50, who: Actor = Depends(deps.actor),
              rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return {"data": rt.flows.instances(who, flow=flow, status=status, object_name=object, record_id=record_id,
                                       limit=limit)}


@router.get("/instances/{instance_id}")
def instance(instance_id: Id, who: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.flows.instance(who, instance_id)


@router.post("/instances/{instance_id}/resubmit")
def resubmit(instance_id: Id, body: Any = Depends(deps.optional_json_body), who: Actor = Depends(deps.actor),
             rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """The submitter sends back the reworked record; the flow continues where it was sent back."""
    return rt.flows.resubmit(who, instance_id, _comment(body))


@router.post("/instances/{instance_id}/recall")
def recall(instance_id: Id, body: Any = Depends(deps.optional_json_body), who: Actor = Depends(deps.actor),
           rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.flows.recall(who, instance_id, _comment(body))


@router.post("/instances/{instance_id}/cancel")
def cancel(instance_id: Id, body: Any = Depends(deps.optional_json_body), who: Actor = Depends(deps.actor),
           rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.flows.cancel(who, instance_id, _comment(body))


@router.post("/check")
def check(body: Any = Depends(deps.json_body), who: Actor = Depends(deps.actor),
          rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """What publishing this flow document would be refused for (the designer's Validate)."""
    return {"problems": rt.flows.check(who, body)}


@router.post("/{name}/publish")
def publish(name: str, who: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.flows.publish(who, name)


@router.get("/{name}/versions")
def versions(name: str, who: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return {"data": rt.flows.versions(who, name)}


@router.post("/{name}/start", status_code=201)
def start(name: str, body: Any = Depends(deps.json_body), who: Actor = Depends(deps.actor),
          rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """Start a flow whose trigger is a button or the API: {"record_id", "comment"}."""
    if not isinstance(body, dict) or not isinstance(body.get("record_id"), int) or isinstance(body["record_id"], bool):
        raise InvalidInput("Say which record to start the flow on.", [FieldProblem("record_id", "must be a record id")])
    return rt.flows.start(who, name, body["record_id"], _comment(body))
