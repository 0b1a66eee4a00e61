"""What an action runs with: the transaction, the record it is about, and the services it
may use, handed in by the runtime (a lower layer never imports a higher one)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection


class ActionError(Exception):
    """An action could not do its work (a record it would save is invalid, a recipient is
    missing): the flow or rule that ran it records the message."""


@dataclass
class ActionContext:
    conn: Connection
    #: The object's api_name and the record as stored (column values), or None.
    object: str
    record: Mapping[str, Any] | None
    #: What this run of the action is for ("flow:12:step:ship"): retries reuse it, so a
    #: message is queued once, however often the step runs.
    key: str
    #: evaluate(formula, object, record) → value, with lookups and aggregates.
    evaluate: Callable[[str, str, Mapping[str, Any] | None], Any]
    #: render(jinja_template, object, record) → text (sandboxed, record fields by name).
    render: Callable[[str, str, Mapping[str, Any] | None], str]
    #: create(object, values) → new record; update(object, id, values) → record;
    #: children(object, relation, record_id) → [(child object, child record)].
    create: Callable[[str, dict[str, Any]], dict[str, Any]]
    update: Callable[[str, int, dict[str, Any]], dict[str, Any]]
    related: Callable[[str, str, int], tuple[str, list[Mapping[str, Any]]]]
    #: people(specs, object, record) → user ids; emails(user ids) → addresses.
    people: Callable[[Sequence[Mapping[str, Any]], str, Mapping[str, Any] | None], list[int]]
    emails: Callable[[Sequence[int]], list[str]]
    #: queue(channel, key, payload): e-mail or webhook sent after commit.
    queue: Callable[[str, str, dict[str, Any]], bool]
    #: notify(user_id, key, title, body, link) in the app.
    notify: Callable[[int, str, str, str, str | None], None]
    record_link: Callable[[str, int], str]
    #: Anything else the engine offers its actions (a rule's "start a flow").
    extras: dict[str, Callable[..., Any]] = field(default_factory=dict)

    @property
    def record_id(self) -> int | None:
        return None if self.record is None else int(self.record["id"])
