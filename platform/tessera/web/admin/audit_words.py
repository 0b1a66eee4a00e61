"""The audit log's entries as an admin reads them: who by name, what in a sentence (a
registry of one function per action), and the details in words — a role's permissions before
and after, a record's field from and to — never as JSON, e-mails standing in for names or
api_names standing in for labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tessera.auth.actor import Actor
from tessera.meta.model import ObjectDef
from tessera.runtime.platform import Platform
from tessera.runtime.records.views import cell_text

#: The kinds of entry an admin filters by: the action groups of tessera.auth.audit.
KINDS = {"sign_in": "Sign-ins", "session": "Sessions", "token": "API tokens", "user": "People", "team": "Teams",
         "role": "Roles", "meta": "Objects, fields and other metadata", "record": "Changes to records"}
SCOPE_WORDS = {"none": "no records", "own": "their own", "team": "their team's", "all": "all"}
LEVEL_WORDS = {"edit": "editable", "read": "read-only", "hidden": "hidden"}
REASONS = {"wrong_password": "wrong password", "unknown_user": "nobody has this e-mail",
           "disabled": "the person is disabled"}
USER_FIELDS = {"name": "name", "email": "e-mail", "roles": "roles", "teams": "teams", "manager": "manager",
               "active": "status", "password": "password", "time_zone": "time zone"}
META_VERBS = {"create": "created", "update": "changed", "delete": "moved to the trash", "restore": "restored",
              "purge": "deleted for good"}
META_KINDS = {"objects": "object", "forms": "form", "flows": "flow", "rules": "rule", "reports": "report",
              "dashboards": "dashboard"}


@dataclass
class Reading:
    """What entries are read with: names and labels, looked up once per page."""

    names: dict[str, str]
    roles: dict[str, str]
    teams: dict[str, str]
    objects: dict[str, ObjectDef]
    by_uid: dict[str, ObjectDef]
    records: dict[tuple[str, int], str] = field(default_factory=dict)

    def person(self, email: str | None) -> str:
        return self.names.get(email or "", email or "someone")

    def target_person(self, entry: dict[str, Any]) -> str:
        return self.person(entry["target"].partition(":")[2])

    def list_of(self, kind: str, names: list[str] | None) -> str:
        labels = self.roles if kind == "roles" else self.teams if kind == "teams" else self.names
        return ", ".join(labels.get(n, n) for n in names or []) or "none"


Sentence = Callable[[dict[str, Any], Reading], str]


def _label(entry: dict[str, Any], reading: Reading, labels: dict[str, str]) -> str:
    name = entry["target"].partition(":")[2]
    return labels.get(name) or (entry.get("detail") or {}).get("label") or name


def _record(entry: dict[str, Any], reading: Reading) -> tuple[str, str]:
    """The object's label and the record's name of a record entry."""
    detail = entry["detail"]
    obj = reading.by_uid.get(detail["object_uid"])
    name = reading.records.get((obj.api_name, detail["record_id"])) if obj else None
    return (obj.label if obj else "a record"), (f"“{name}”" if name else f"#{detail['record_id']}")


def _field_label(entry: dict[str, Any], reading: Reading) -> str:
    detail = entry["detail"]
    obj = reading.by_uid.get(detail["object_uid"])
    fdef = obj.field_by_uid(detail["field_uid"]) if obj and detail.get("field_uid") else None
    return fdef.label if fdef else "a field"


def _team_changed(entry: dict[str, Any], reading: Reading) -> str:
    detail, team = entry.get("detail") or {}, _label(entry, reading, reading.teams)
    parts = [f"added {reading.list_of('people', detail['added'])}" if detail.get("added") else "",
             f"took {reading.list_of('people', detail['removed'])} out" if detail.get("removed") else "",
             "renamed it" if "label" in (detail.get("changed") or []) else ""]
    return f"changed the team {team}: " + "; ".join(p for p in parts if p) if any(parts) else f"changed the team {team}"


def _meta(entry: dict[str, Any], reading: Reading) -> str:
    kind, _, name = entry["target"].partition(":")
    verb = META_VERBS.get(entry["action"].partition(".")[2], "changed")
    obj = reading.objects.get(name) if kind == "object" else None
    return f"{verb} the {kind} {obj.label if obj else name}"


SENTENCES: dict[str, Sentence] = {
    "sign_in.succeeded": lambda e, r: "signed in" + (" for an API token" if (e["detail"] or {}).get("via") == "token"
                                                     else ""),
    "sign_in.failed": lambda e, r: f"failed to sign in as {e['target'].partition(':')[2]} "
                                   f"({REASONS.get((e['detail'] or {}).get('reason'), 'refused')})",
    "sign_in.throttled": lambda e, r: f"was stopped signing in as {e['target'].partition(':')[2]}: too many "
                                      "failed attempts",
    "session.ended": lambda e, r: f"signed {r.target_person(e)} out" if (e["detail"] or {}).get("by") == "admin"
    else "signed out",
    "token.created": lambda e, r: f"made the API token “{(e['detail'] or {}).get('name', '')}”",
    "token.revoked": lambda e, r: f"revoked the API token “{(e['detail'] or {}).get('name', '')}”"
    + (f" of {r.person((e['detail'] or {}).get('user'))}" if (e["detail"] or {}).get("by") == "admin" else ""),
    "token.first_use": lambda e, r: "used an API token for the first time",
    "user.created": lambda e, r: f"added {r.target_person(e)}",
    "user.changed": lambda e, r: f"changed {r.target_person(e)}: "
    + ", ".join(USER_FIELDS.get(k, k) for k in (e["detail"] or {}).get("changed", [])),
    "user.disabled": lambda e, r: f"disabled {r.target_person(e)}",
    "user.enabled": lambda e, r: f"enabled {r.target_person(e)}",
    "role.created": lambda e, r: f"created the role {_label(e, r, r.roles)}",
    "role.changed": lambda e, r: f"changed the role {_label(e, r, r.roles)}: "
    + ", ".join("permissions" if k == "permissions" else "its name" if k == "label" else k
                for k in (e["detail"] or {}).get("changed", [])),
    "role.deleted": lambda e, r: f"deleted the role {_label(e, r, r.roles)}",
    "team.created": lambda e, r: f"created the team {_label(e, r, r.teams)}",
    "team.changed": _team_changed,
    "team.deleted": lambda e, r: f"deleted the team {_label(e, r, r.teams)}",
    "record.update": lambda e, r: "changed {} of {} {}".format(_field_label(e, r), *_record(e, r)),
    "record.delete": lambda e, r: "moved {} {} to the trash".format(*_record(e, r)),
    "record.restore": lambda e, r: "restored {} {}".format(*_record(e, r)),
}


def _permission_changes(before: dict[str, Any], after: dict[str, Any], reading: Reading) -> list[tuple[str, str]]:
    """A role's permissions before and after, as one line per object that changed."""
    out = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name) or {}, after.get(name) or {}
        obj = reading.objects.get(name)
        parts = []
        if bool(old.get("create")) != bool(new.get("create")):
            parts.append("may create" if new.get("create") else "may not create")
        for op in ("read", "edit", "delete"):
            if old.get(op, "none") != new.get(op, "none"):
                parts.append(f"{op} {SCOPE_WORDS.get(old.get(op, 'none'))} → {SCOPE_WORDS.get(new.get(op, 'none'))}")
        old_fields, new_fields = old.get("fields") or {}, new.get("fields") or {}
        for field_name in sorted(set(old_fields) | set(new_fields)):
            was, now = old_fields.get(field_name, "edit"), new_fields.get(field_name, "edit")
            if was != now:
                fdef = obj.field(field_name) if obj else None
                parts.append(f"{fdef.label if fdef else field_name} {LEVEL_WORDS.get(was)} → {LEVEL_WORDS.get(now)}")
        if parts:
            out.append((obj.plural_label if obj else name, "; ".join(parts)))
    return out


def _user_changes(detail: dict[str, Any], reading: Reading) -> list[tuple[str, str]]:
    out = []
    for key in detail.get("changed") or []:
        if key == "password":
            out.append(("Password", "set anew"))
            continue
        old, new = (detail.get("before") or {}).get(key), (detail.get("after") or {}).get(key)
        shown = {"roles": lambda v: reading.list_of("roles", v), "teams": lambda v: reading.list_of("teams", v),
                 "manager": lambda v: reading.person(v) if v else "nobody",
                 "active": lambda v: "active" if v else "disabled"}.get(key, lambda v: str(v or "—"))
        out.append((USER_FIELDS.get(key, key).capitalize(), f"{shown(old)} → {shown(new)}"))
    return out


def details(entry: dict[str, Any], reading: Reading, me: Actor) -> list[tuple[str, str]]:
    """The entry's details, one (label, text) per line."""
    detail, action = entry.get("detail") or {}, entry["action"]
    out: list[tuple[str, str]] = []
    if action == "role.changed" and "before" in detail:
        out += _permission_changes(detail["before"], detail.get("after") or {}, reading)
    elif action in ("role.created", "role.deleted"):
        out += _permission_changes({}, detail.get("after") or {}, reading) if action == "role.created" \
            else _permission_changes(detail.get("before") or {}, {}, reading)
    elif action.startswith("user.") and "changed" in detail:
        out += _user_changes(detail, reading)
    elif action == "user.created":
        out += [("Roles", reading.list_of("roles", detail.get("roles"))),
                ("Teams", reading.list_of("teams", detail.get("teams"))),
                ("Manager", reading.person(detail["manager"]) if detail.get("manager") else "nobody")]
    elif action == "record.update":
        obj = reading.by_uid.get(detail.get("object_uid", ""))
        fdef = obj.field_by_uid(detail["field_uid"]) if obj and detail.get("field_uid") else None
        for side, label in (("old", "From"), ("new", "To")):
            value = detail.get(side)
            text = cell_text(reading.objects, fdef, {fdef.api_name: value}) if fdef and value is not None else value
            out.append((label, "blank" if text in (None, "") else str(text)))
    elif action.startswith("meta.") and detail.get("summary"):
        out.append(("What changed", str(detail["summary"])))
    if detail.get("signed_out"):
        out.append(("Signed out", f"{detail['signed_out']} sign-in(s) ended"))
    if detail.get("via", "").startswith("team:"):
        out.append(("Through the team", reading.teams.get(detail["via"][5:], detail["via"][5:])))
    if entry.get("ip"):
        out.append(("From address", str(entry["ip"])))
    return out


def reading_for(rt: Platform, me: Actor, entries: list[dict[str, Any]]) -> Reading:
    """Names and labels for a page of entries: people, roles, teams, objects, records."""
    emails = {(e.get("actor") or {}).get("email") for e in entries}
    for e in entries:
        detail = e.get("detail") or {}
        if e["target"].startswith("user:"):
            emails.add(e["target"][5:])
        emails |= {detail.get("user"), *(detail.get("added") or []), *(detail.get("removed") or [])}
        for side in ("before", "after"):
            emails.add((detail.get(side) or {}).get("manager") if isinstance(detail.get(side), dict) else None)
        emails.add(detail.get("manager"))
    with rt.read() as conn:
        snap = rt.snapshot(conn)
    objects = {**snap.trashed, **snap.objects}
    reading = Reading(names=rt.users.audit.names(e for e in emails if e),
                      roles={r["api_name"]: r["label"] for r in rt.users.roles.list(rt.snapshot)},
                      teams={t["api_name"]: t["label"] for t in rt.users.teams.list()},
                      objects=dict(snap.objects), by_uid={o.uid: o for o in objects.values()})
    wanted: dict[str, set[int]] = {}
    for e in entries:
        if e["action"].startswith("record.") and (obj := reading.by_uid.get(e["detail"]["object_uid"])):
            wanted.setdefault(obj.api_name, set()).add(int(e["detail"]["record_id"]))
    for name, ids in wanted.items():
        obj = snap.objects.get(name)
        if obj is None or obj.name_field is None:
            continue
        found = " OR ".join(f"id = {i}" for i in sorted(ids))
        for trash in (False, True):
            listed = rt.records.list(me, name, fields=[obj.name_field.api_name], filter=found, limit=len(ids),
                                     trash=trash)
            reading.records |= {(name, r["id"]): str(r.get(obj.name_field.api_name) or "") for r in listed["data"]}
    return reading


def shown(entry: dict[str, Any], reading: Reading, me: Actor) -> dict[str, Any]:
    """One entry as the page shows it."""
    actor = entry.get("actor") or {}
    sentence = SENTENCES.get(entry["action"])
    if sentence is None and entry["action"].startswith("meta."):
        sentence = _meta
    what = sentence(entry, reading) if sentence else entry["action"].replace(".", " ").replace("_", " ")
    who = reading.person(actor.get("email")) if actor.get("email") else "Tessera" \
        if actor.get("id") is None and entry["action"] not in ("sign_in.failed", "sign_in.throttled") else "Someone"
    return {"at": entry["at"], "who": who, "what": what, "details": details(entry, reading, me),
            "kind": KINDS.get(entry["action"].partition(".")[0], "")}
