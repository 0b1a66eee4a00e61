"""Who an assignment rule hands a record to, and what the rule builder tells about one.

- `members`: a team's active members, in a stable order (the order they take turns in).
- `by_attribute`: the record's field names a team (a Region of *East* → the team East,
  by its name or label, ignoring case; a select field by its stored value or its label);
  the members of the rule's team who are also in that team take turns.
- `when_to_assign`: whether a save should (re)assign at all. A new record is assigned
  unless whoever created it picked someone; an update reassigns only when it matters —
  the field is blank, the record newly meets the rule's condition, or a field it watches
  changed (the trigger's, or the field a by-attribute rule reads) — so editing a lead's
  phone number never takes it from its owner.
- `problems` (refused when saving the rule) and `notes` (shown beside the inputs): a team
  that does not exist; a team with nobody in it; region options no team is named after.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.data.tables import team_members, teams, users
from tessera.errors import FieldProblem
from tessera.meta.model import ObjectDef


@dataclass(frozen=True)
class Team:
    api_name: str
    label: str
    #: Active members as (user id, name), in the order they take turns.
    members: tuple[tuple[int, str], ...]

    @property
    def ids(self) -> list[int]:
        return [m for m, _ in self.members]


def read_teams(conn: Connection) -> dict[str, Team]:
    """Every team with its active members, by api_name (two queries)."""
    rows = conn.execute(sa.select(teams.c.id, teams.c.api_name, teams.c.label).order_by(teams.c.api_name)).all()
    found: dict[int, list[tuple[int, str]]] = {}
    for team_id, user_id, name in conn.execute(
            sa.select(team_members.c.team_id, users.c.id, users.c.name)
            .join(users, users.c.id == team_members.c.user_id)
            .where(users.c.is_active.is_(True)).order_by(users.c.id)):
        found.setdefault(int(team_id), []).append((int(user_id), str(name)))
    return {r.api_name: Team(r.api_name, r.label, tuple(found.get(int(r.id), []))) for r in rows}


def members(conn: Connection, team: str) -> list[int]:
    """The active members of `team`, in the order they take turns."""
    return list(conn.execute(
        sa.select(users.c.id).join(team_members, team_members.c.user_id == users.c.id)
        .join(teams, teams.c.id == team_members.c.team_id)
        .where(teams.c.api_name == team, users.c.is_active.is_(True)).order_by(users.c.id)).scalars())


def teams_of(conn: Connection, user_ids: list[int]) -> dict[int, list[str]]:
    """Per user: the names and labels of their teams (what a record's field may name)."""
    out: dict[int, list[str]] = {u: [] for u in user_ids}
    if not user_ids:
        return out
    for user_id, api_name, label in conn.execute(
            sa.select(team_members.c.user_id, teams.c.api_name, teams.c.label)
            .join(teams, teams.c.id == team_members.c.team_id).where(team_members.c.user_id.in_(user_ids))):
        out[int(user_id)] += [str(api_name), str(label)]
    return out


def spellings(obj: ObjectDef, field_name: str, value: Any) -> list[Any]:
    """The ways a record's value may name a team: the value itself, and for a select
    field the label of its option too."""
    if value is None:
        return []
    out = [value]
    fdef = obj.field(field_name)
    if fdef is not None:
        for option in fdef.props.get("options", []):
            if isinstance(option, Mapping) and option.get("value") == value and option.get("label"):
                out.append(option["label"])
    return out


def when_to_assign(target: str, *, creating: bool, given: Iterable[str], values: Mapping[str, Any],
                   current: Any, watches_fields: bool, held_before: Callable[[], bool]) -> str | None:
    """Why this save should fill `target`, or None to leave the record as it is.

    `given`: the fields the save's input named; `values`: what it sets; `current`: the
    field's value now; `watches_fields`: the save changed a field the rule watches (one its
    trigger names, or the one a by-attribute rule reads); `held_before`: whether the rule's
    condition held for the record as it was before this save (asked only when it matters)."""
    if creating:
        if target in given and values.get(target) is not None:
            return None  # whoever created it chose
        return "new record"
    if target in values:
        return None  # this very save sets it: a person's choice stands
    if current is None:
        return "blank"
    if watches_fields:
        return "a watched field changed"
    if not held_before():
        return "newly meets the condition"
    return None


def _norm(text: Any) -> str:
    return str(text).strip().casefold()


def _team_named(all_teams: Mapping[str, Team], names: Iterable[Any]) -> Team | None:
    wanted = {_norm(n) for n in names if n is not None and str(n).strip()}
    for team in all_teams.values():
        if _norm(team.api_name) in wanted or _norm(team.label) in wanted:
            return team
    return None


def _who(people: Iterable[tuple[int, str]]) -> str:
    names = [n for _, n in people]
    if not names:
        return "nobody"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def problems(doc: Mapping[str, Any], all_teams: Mapping[str, Team]) -> list[FieldProblem]:
    """What makes an assignment rule unable to work, refused when it is saved."""
    spec = doc.get("assignment")
    if doc.get("kind") != "assignment" or not isinstance(spec, Mapping):
        return []
    out: list[FieldProblem] = []
    team = str(spec.get("team", ""))
    if team not in all_teams:
        known = ", ".join(t.label for t in all_teams.values()) or "none yet: an admin adds them under People"
        out.append(FieldProblem("/assignment/team", f"there is no team named {team!r} (teams: {known})",
                                "unknown_team"))
    if spec.get("strategy") == "by_attribute" and spec.get("member_attribute"):
        out.append(FieldProblem("/assignment/member_attribute", "people have no attributes of their own to match: "
                                "a by-attribute rule sends a record to the members of the team its field names "
                                "(Region East → the team East); leave this out", "unsupported"))
    return out


def notes(doc: Mapping[str, Any], obj: ObjectDef | None, all_teams: Mapping[str, Team]) -> list[dict[str, str]]:
    """What the rule will do, in words, beside the inputs (JSON pointer → message): who
    takes turns, and the configurations that leave records unassigned."""
    spec = doc.get("assignment")
    if doc.get("kind") != "assignment" or not isinstance(spec, Mapping) or obj is None:
        return []
    team = all_teams.get(str(spec.get("team", "")))
    if team is None:
        return []
    out: list[dict[str, str]] = []
    strategy = spec.get("strategy")
    if not team.members:
        out.append({"field": "/assignment/team", "kind": "warning",
                    "message": f"{team.label} has no active members: records stay as they are until someone "
                               "joins it."})
        return out
    if strategy != "by_attribute":
        turns = "take turns" if strategy == "round_robin" else "share them, fewest open records first"
        message = f"{_who(team.members)} {turns}." if len(team.members) > 1 else \
            f"{_who(team.members)} gets every record (the only member)."
        out.append({"field": "/assignment/team", "kind": "info", "message": message})
        return out
    attribute = str(spec.get("attribute") or "")
    fdef = obj.field(attribute)
    if fdef is None:
        return out
    options = [o for o in fdef.props.get("options", []) if isinstance(o, Mapping)]
    if not options:
        out.append({"field": "/assignment/attribute", "kind": "info",
                    "message": f"A record goes to the members of {team.label} who are also in the team its "
                               f"{fdef.label} names (by the team's name or label)."})
        return out
    lines, nobody = [], []
    in_team = dict(team.members)
    for option in options:
        label = str(option.get("label") or option.get("value"))
        named = _team_named(all_teams, [option.get("value"), option.get("label")])
        if named is None:
            nobody.append(f"{label} (no team is named {label})")
            continue
        people = [(m, n) for m, n in named.members if m in in_team]
        if not people:
            nobody.append(f"{label} (nobody in {team.label} is in {named.label})")
        else:
            lines.append(f"{label} → {_who(people)}")
    if lines:
        out.append({"field": "/assignment/attribute", "kind": "info", "message": "; ".join(lines) + "."})
    if nobody:
        out.append({"field": "/assignment/attribute", "kind": "warning",
                    "message": "Left as they are: " + "; ".join(nobody) + "."})
    return out


__all__ = ["Team", "members", "notes", "problems", "read_teams", "spellings", "teams_of", "when_to_assign"]
