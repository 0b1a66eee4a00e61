"""Message actions: send an e-mail, notify in the app, call a webhook.

Texts are Jinja templates over the record's fields (`Deal {{ name }} needs you`), rendered
in a sandbox. Nothing leaves during the step: e-mail and webhook calls are queued as
deliveries keyed by the step's run, sent after commit, at most once per key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from tessera.actions.context import ActionContext, ActionError
from tessera.actions.people import PEOPLE_SCHEMA, people_problems
from tessera.actions.registry import ActionType, register
from tessera.errors import FieldProblem
from tessera.formula import Schema
from tessera.meta.model import ObjectDef

_TEXT = {"type": "string", "maxLength": 20_000}


def _people_check(step: Mapping[str, Any], obj: ObjectDef, schema: Schema, path: str) -> list[FieldProblem]:
    return people_problems(step["to"], obj, schema, f"{path}/to")


def _recipients(step: Mapping[str, Any], ctx: ActionContext) -> tuple[list[int], list[str]]:
    specs = [s for s in step["to"] if "email" not in s]
    ids = ctx.people(specs, ctx.object, ctx.record) if specs else []
    return ids, [str(s["email"]) for s in step["to"] if "email" in s]


def _addresses(step: Mapping[str, Any], ctx: ActionContext) -> list[str]:
    """The e-mail addresses `{"formula": …}` recipients give (a lead's or a contact's
    `email`): an e-mail goes to them even when they are nobody's sign-in."""
    out: list[str] = []
    for spec in step["to"]:
        if "formula" in spec:
            value = ctx.evaluate(str(spec["formula"]), ctx.object, ctx.record)
            for item in value if isinstance(value, list | tuple) else [value]:
                if isinstance(item, str) and "@" in item:
                    out.append(item.strip())
    return out


class SendEmail(ActionType):
    name = "send_email"
    label = "Send an e-mail"
    params = {"to": PEOPLE_SCHEMA, "subject": _TEXT, "body": _TEXT, "html": {"type": "boolean"}}
    required = ("to", "subject", "body")
    check = staticmethod(_people_check)  # type: ignore[assignment]

    def run(self, step: Mapping[str, Any], ctx: ActionContext) -> dict[str, Any]:
        ids, addresses = _recipients(step, ctx)
        to: list[str] = []
        for address in [*ctx.emails(ids), *addresses, *_addresses(step, ctx)]:
            if address.lower() not in {t.lower() for t in to}:
                to.append(address)
        if not to:
            raise ActionError("the e-mail has no recipient (nobody matched its 'to')")
        body = ctx.render(step["body"], ctx.object, ctx.record)
        link = ctx.record_link(ctx.object, ctx.record_id) if ctx.record_id is not None else None
        payload: dict[str, Any] = {"to": to, "subject": ctx.render(step["subject"], ctx.object, ctx.record),
                                   "text": body if not step.get("html") else "", "link": link}
        if step.get("html"):
            payload["html"] = body
        ctx.queue("email", ctx.key, payload)
        return {"emailed": to}


class Notify(ActionType):
    name = "notify"
    label = "Notify in the app"
    params = {"to": PEOPLE_SCHEMA, "title": _TEXT, "body": _TEXT, "link": {"type": "string"}}
    required = ("to", "title")
    check = staticmethod(_people_check)  # type: ignore[assignment]

    def run(self, step: Mapping[str, Any], ctx: ActionContext) -> dict[str, Any]:
        ids, _ = _recipients(step, ctx)
        title = ctx.render(step["title"], ctx.object, ctx.record)
        body = ctx.render(step.get("body", ""), ctx.object, ctx.record)
        link = step.get("link") or (ctx.record_link(ctx.object, ctx.record_id) if ctx.record_id is not None else None)
        for user_id in ids:
            ctx.notify(user_id, f"{ctx.key}:{user_id}", title, body, link)
        return {"notified": ids}


class Webhook(ActionType):
    name = "webhook"
    label = "Call a webhook"
    params = {"url": {"type": "string", "pattern": "^https?://"}, "method": {"enum": ["POST", "PUT", "PATCH"]},
              "headers": {"type": "object", "additionalProperties": {"type": "string"}}}
    required = ("url",)

    def check(self, step: Mapping[str, Any], obj: ObjectDef, schema: Schema, path: str) -> list[FieldProblem]:
        if not urlsplit(step["url"]).hostname:
            return [FieldProblem(f"{path}/url", "is not a web address", "invalid")]
        return []

    def run(self, step: Mapping[str, Any], ctx: ActionContext) -> dict[str, Any]:
        record = {k: (v.isoformat() if hasattr(v, "isoformat") else v if isinstance(v, int | float | str | bool | None)
                      else str(v)) for k, v in (ctx.record or {}).items()}
        ctx.queue("webhook", ctx.key, {"url": step["url"], "method": step.get("method", "POST"),
                                       "headers": step.get("headers", {}),
                                       "body": {"key": ctx.key, "object": ctx.object, "record": record}})
        return {"called": step["url"]}


for _action in (SendEmail(), Notify(), Webhook()):
    register(_action)
