"""Deliveries: e-mail and webhook calls leaving the platform, sent after their cause commits.

An action that mails or calls a webhook queues a delivery row in its own transaction,
keyed by what caused it (a flow step, a rule firing), so the same cause queues one message
however often it is retried. `send_due` claims queued rows (status → sending, committed
before anything is sent), sends them, and records the outcome; a sender that dies after
claiming leaves the row to be claimed again once its claim expires. A message can then go
out twice in that one case, so each carries its key as Message-ID (or X-Tessera-Delivery
for webhooks) for the receiver to recognise the repeat.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.data.engine import dialect_insert, is_sqlite
from tessera.data.tables import deliveries

if TYPE_CHECKING:
    from tessera.runtime.kernel.transactions import Kernel

log = logging.getLogger("tessera.deliveries")
#: A claimed message is left alone this long: three times the longest a send may take.
CLAIM_FOR = timedelta(seconds=30)
MAX_ATTEMPTS = 8
BATCH = 20
TIMEOUT = 10.0


class DeliveryService:
    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def queue(self, conn: Connection, channel: str, key: str, payload: dict[str, Any]) -> bool:
        """Queue a message in the caller's transaction; False if `key` was queued before."""
        now = datetime.now(UTC)
        status = "held" if channel == "email" and not self.kernel.settings.smtp_url else "queued"
        result = conn.execute(dialect_insert(conn, deliveries).values(
            channel=channel, key=key[:200], payload=payload, status=status, available_at=now, created_at=now,
        ).on_conflict_do_nothing(index_elements=["key"]))
        return bool(result.rowcount)

    def send_due(self, limit: int = BATCH) -> int:
        """Send up to `limit` due messages, claiming them one at a time (a claim outlives
        the slowest send, so no other worker takes a message while it is going out)."""
        sent = 0
        while sent < limit:
            row = self._claim()
            if row is None:
                break
            self._send(row)
            sent += 1
        return sent

    def _claim(self) -> Any:
        now = datetime.now(UTC)
        claimable = sa.or_(deliveries.c.status == "queued", deliveries.c.status == "sending")
        query = (sa.select(deliveries.c.id).where(claimable, deliveries.c.available_at <= now)
                 .order_by(deliveries.c.id).limit(1))
        with self.kernel.write() as conn:
            if not is_sqlite(conn):
                query = query.with_for_update(skip_locked=True)
            found = conn.execute(query).scalar()
            if found is None:
                return None
            return conn.execute(sa.update(deliveries).where(deliveries.c.id == found).values(
                status="sending", attempts=deliveries.c.attempts + 1, available_at=now + CLAIM_FOR,
            ).returning(deliveries.c.id, deliveries.c.channel, deliveries.c.key, deliveries.c.payload,
                        deliveries.c.attempts)).mappings().first()

    def _send(self, row: Any) -> None:
        try:
            if row["channel"] == "email":
                self._mail(row["key"], row["payload"])
            elif row["channel"] == "webhook":
                self._call(row["key"], row["payload"])
            else:
                raise RuntimeError(f"unknown delivery channel {row['channel']!r}")
            values: dict[str, Any] = {"status": "sent", "sent_at": datetime.now(UTC), "last_error": None}
        except Exception as error:  # recorded on the row and tried again later
            log.warning("delivery %s failed: %s", row["key"], error)
            retry = row["attempts"] < MAX_ATTEMPTS
            values = {"status": "queued" if retry else "failed",
                      "last_error": f"{type(error).__name__}: {error}"[:2000],
                      "available_at": datetime.now(UTC) + timedelta(seconds=min(3600, 5 * 2 ** row["attempts"]))}
        with self.kernel.write() as conn:
            conn.execute(sa.update(deliveries).where(deliveries.c.id == row["id"]).values(values))

    def _mail(self, key: str, payload: dict[str, Any]) -> None:
        settings = self.kernel.settings
        assert settings.smtp_url
        parts = urlsplit(settings.smtp_url)
        message = EmailMessage()
        message["From"] = payload.get("from") or settings.mail_from
        message["To"] = ", ".join(payload["to"])
        message["Subject"] = payload.get("subject", "")
        message["Message-ID"] = make_msgid(idstring=hashlib.sha256(key.encode()).hexdigest()[:24],
                                           domain="tessera")
        message["X-Tessera-Delivery"] = key
        message.set_content(payload.get("text") or "")
        if payload.get("html"):
            message.add_alternative(payload["html"], subtype="html")
        for attachment in payload.get("attachments", []):
            message.add_attachment(attachment["content"].encode(), maintype="text", subtype="csv",
                                   filename=attachment["filename"])
        smtp_class = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
        with smtp_class(parts.hostname or "127.0.0.1", parts.port or 25, timeout=TIMEOUT) as smtp:
            if parts.username:
                smtp.login(parts.username, parts.password or "")
            smtp.send_message(message)

    def _call(self, key: str, payload: dict[str, Any]) -> None:
        body = json.dumps(payload.get("body"), default=str).encode()
        signature = hmac.new(self.kernel.settings.secret_key.encode(), body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(payload["url"], data=body, method=payload.get("method", "POST"), headers={
            "Content-Type": "application/json", "X-Tessera-Delivery": key,
            "X-Tessera-Signature": f"sha256={signature}", **payload.get("headers", {})})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                response.read(1024)
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"the webhook answered {error.code}") from None

    def pending(self) -> int:
        with self.kernel.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(deliveries).where(
                deliveries.c.status.in_(("queued", "sending")),
                deliveries.c.available_at <= datetime.now(UTC))).scalar_one())

    def list(self, *, channel: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest deliveries (admins' mail and webhook log)."""
        query = sa.select(deliveries).order_by(deliveries.c.id.desc()).limit(limit)
        if channel:
            query = query.where(deliveries.c.channel == channel)
        with self.kernel.read() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]
