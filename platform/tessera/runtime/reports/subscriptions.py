"""Scheduled delivery of reports and dashboards: e-mailed on a schedule to the people a
report or dashboard's `subscriptions` name, each run as its recipient so they see only what
they may, as an HTML summary with the data attached as CSV.

    "subscriptions": [{"cron": "0 8 * * 1", "timezone": "Europe/Paris",
                       "to": [{"role": "sales_manager"}, {"user": "ceo@example.com"}],
                       "subject": "Pipeline this week"}]

Each subscription is a timer at its next cron time (set when the document is saved); when
it fires, one e-mail per recipient is queued as a delivery keyed by the subscription, the
moment and the recipient, so a retried run sends nothing twice, and the timer is set again.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from croniter import croniter
from sqlalchemy.engine import Connection

from tessera.actions import people as people_specs
from tessera.auth.actor import Actor
from tessera.data.metastore import StoredDocument
from tessera.data.tables import users
from tessera.errors import FieldProblem, TesseraError
from tessera.runtime.reports.service import export_result

if TYPE_CHECKING:
    from tessera.auth.users import UserService
    from tessera.runtime.background.deliveries import DeliveryService
    from tessera.runtime.background.timers import TimerService
    from tessera.runtime.kernel.transactions import Kernel
    from tessera.runtime.metadata.documents import DocumentService
    from tessera.runtime.reports.service import ReportService

log = logging.getLogger("tessera.subscriptions")
KINDS = ("reports", "dashboards")
#: Rows of each table shown in the e-mail itself; the attachment has them all.
SHOWN_ROWS = 25

SUBSCRIPTIONS_SCHEMA: dict[str, Any] = {
    "type": "array", "maxItems": 20,
    "description": "e-mail this on a schedule to these people, each seeing only what they may",
    "items": {"type": "object", "required": ["cron", "to"], "additionalProperties": False, "properties": {
        "cron": {"type": "string", "minLength": 9, "maxLength": 120,
                 "description": "five cron fields: minute hour day month weekday, like \"0 8 * * 1\""},
        "timezone": {"type": "string", "minLength": 1, "maxLength": 64},
        "subject": {"type": "string", "maxLength": 300},
        "to": {"type": "array", "minItems": 1, "maxItems": 50, "items": {
            "type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
            "properties": {"user": {"type": "string"}, "role": {"type": "string"}, "team": {"type": "string"}}}},
    }},
}


def subscription_problems(doc: Mapping[str, Any]) -> list[FieldProblem]:
    """Cron expressions and time zones that cannot be used (people are checked at run time:
    a recipient who left is skipped, not an error of the report)."""
    problems: list[FieldProblem] = []
    for index, item in enumerate(doc.get("subscriptions") or []):
        if not croniter.is_valid(str(item.get("cron", ""))) or len(str(item.get("cron", "")).split()) != 5:
            problems.append(FieldProblem(f"/subscriptions/{index}/cron",
                                         "is not a schedule of five cron fields, like \"0 8 * * 1\"", "invalid"))
        if item.get("timezone"):
            try:
                ZoneInfo(str(item["timezone"]))
            except (KeyError, ValueError):
                problems.append(FieldProblem(f"/subscriptions/{index}/timezone",
                                             f"{item['timezone']!r} is not a time zone", "invalid"))
    return problems


def next_run(item: Mapping[str, Any], after: datetime) -> datetime:
    zone = ZoneInfo(str(item.get("timezone") or "UTC"))
    return croniter(str(item["cron"]), after.astimezone(zone)).get_next(datetime).astimezone(UTC)


class SubscriptionService:
    def __init__(self, kernel: Kernel, timers: TimerService, deliveries: DeliveryService, documents: DocumentService,
                 reports: ReportService, users: UserService) -> None:
        self.kernel = kernel
        self.timers = timers
        self.deliveries = deliveries
        self.documents = documents
        self.reports = reports
        self.users = users

    def schedule_changed(self, conn: Connection, stored: StoredDocument) -> None:
        """A report or dashboard saved, trashed or restored: set its schedules anew."""
        timers = self.timers
        timers.cancel(conn, f"subscription:{stored.uid}:", prefix=True)
        if stored.state != "active":
            return
        now = datetime.now(UTC)
        for index, item in enumerate(stored.body.get("subscriptions") or []):
            timers.schedule(conn, "subscription.send", f"subscription:{stored.uid}:{index}", next_run(item, now),
                            {"kind": stored.kind, "uid": stored.uid, "index": index})

    def fire_schedule(self, conn: Connection, params: dict[str, Any], due: datetime) -> None:
        snap = self.kernel.snapshot(conn)
        stored = next((d for d in self.documents.active(conn, snap, params["kind"])
                       if d.uid == params["uid"]), None)
        items = (stored.body.get("subscriptions") or []) if stored else []
        if stored is None or params["index"] >= len(items):
            return
        item = items[params["index"]]
        self.send(conn, stored, item, due)
        self.timers.schedule(conn, "subscription.send", f"subscription:{stored.uid}:{params['index']}",
                             next_run(item, max(due, datetime.now(UTC))), params)

    def send(self, conn: Connection, stored: StoredDocument, item: Mapping[str, Any], at: datetime) -> int:
        """Queue one e-mail per recipient, made as that recipient; returns how many."""
        recipients = people_specs.resolve(conn, item["to"], None, None, lambda formula: None)
        addresses = dict(conn.execute(sa.select(users.c.id, users.c.email).where(users.c.id.in_(recipients)))
                         .all()) if recipients else {}
        queued = 0
        for user_id in recipients:
            try:
                actor = self.users.actor_for_user(user_id)
                sections = self._sections(actor, stored)
            except TesseraError as error:  # one recipient's refusal must not stop the others
                log.warning("subscription to %s %s for user %s: %s", stored.kind, stored.api_name, user_id, error)
                continue
            email = addresses.get(user_id)
            if not email:
                continue
            label = stored.body.get("label", stored.api_name)
            page = "dashboards" if stored.kind == "dashboards" else "builder/reports"
            link = f"{self.kernel.settings.public_url}/{page}/{stored.api_name}"
            self.deliveries.queue(conn, "email", f"subscription:{stored.uid}:{at.isoformat()}:{user_id}", {
                "to": [email], "subject": item.get("subject") or f"{label} — {at.date().isoformat()}",
                "text": _text(label, sections, link), "html": _html(label, sections, link), "link": link,
                "attachments": [{"filename": f"{name}.csv", "content": data} for name, _title, _result, data
                                in sections]})
            queued += 1
        return queued

    def _sections(self, actor: Actor, stored: StoredDocument) -> list[tuple[str, str, dict[str, Any], str]]:
        """(file name, title, result, CSV) per report in the document, run as `actor`."""
        reports = self.reports
        if stored.kind == "reports":
            result = reports.readable(actor, stored.api_name, reports.run(actor, stored.api_name, use_cache=False))
            return [(stored.api_name, stored.body.get("label", stored.api_name), result,
                     export_result(result, "csv").decode())]
        out = []
        for widget in stored.body.get("widgets") or []:
            source = widget.get("source") or widget.get("report")
            if source is None:
                continue
            title = widget.get("title") or (source if isinstance(source, str) else widget["id"])
            if isinstance(source, Mapping):
                source = {"api_name": widget["id"], "label": title, **source}
            result = reports.readable(actor, source, reports.run(actor, source, use_cache=False))
            out.append((f"{stored.api_name}-{widget['id']}", title, result, export_result(result, "csv").decode()))
        return out


def _text(label: str, sections: list[tuple[str, str, dict[str, Any], str]], link: str) -> str:
    lines = [label, "", f"Open it: {link}", ""]
    for _name, title, result, _data in sections:
        names = [c["name"] for c in result["columns"]]
        lines += [title, " | ".join(c["label"] for c in result["columns"])]
        lines += [" | ".join("" if row.get(n) is None else str(row.get(n)) for n in names)
                  for row in result["rows"][:SHOWN_ROWS]]
        lines.append("")
    return "\n".join(lines)


def _html(label: str, sections: list[tuple[str, str, dict[str, Any], str]], link: str) -> str:
    parts = [f"<h1>{html.escape(label)}</h1>", f'<p><a href="{html.escape(link)}">Open it in Tessera</a></p>']
    for _name, title, result, _data in sections:
        names = [c["name"] for c in result["columns"]]
        head = "".join(f"<th>{html.escape(c['label'])}</th>" for c in result["columns"])
        rows = "".join("<tr>" + "".join(f"<td>{html.escape('' if row.get(n) is None else str(row.get(n)))}</td>"
                                        for n in names) + "</tr>" for row in result["rows"][:SHOWN_ROWS])
        more = len(result["rows"]) - SHOWN_ROWS
        parts.append(f"<h2>{html.escape(title)}</h2><table border=\"1\" cellpadding=\"4\"><tr>{head}</tr>{rows}"
                     "</table>" + (f"<p>{more} more rows in the attachment.</p>" if more > 0 else ""))
    return "".join(parts)
