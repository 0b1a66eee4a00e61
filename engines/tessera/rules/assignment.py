"""Who gets the record: the pure choices behind assignment rules.

The runtime reads the team's members (in a stable order, e.g. by join date then id), the
last member assigned or each member's count of open records, and calls one of these under
a lock on the team's assignment state, so two saves at once never pick the same turn.
Member ids are opaque here (user ids).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

Member = TypeVar("Member", bound=Hashable)


class NoMembers(ValueError):
    """The team has nobody to assign to."""


def round_robin(members: Sequence[Member], last_assigned: Member | None) -> Member:
    """The member after `last_assigned`, wrapping around; the first member when nobody was
    assigned yet or the last one has left the team."""
    if not members:
        raise NoMembers("the team has no members to assign to")
    try:
        return members[(members.index(last_assigned) + 1) % len(members)]  # type: ignore[arg-type]
    except ValueError:
        return members[0]


def least_open(counts: Mapping[Member, int], members: Sequence[Member]) -> Member:
    """The member with the fewest open records (a member missing from `counts` has none);
    ties go to the member earlier in `members`."""
    if not members:
        raise NoMembers("the team has no members to assign to")
    # min() keeps the first of equal keys, which is the member order.
    return min(members, key=lambda m: counts.get(m, 0))


def by_attribute(members_with_attrs: Mapping[Member, Any] | Iterable[tuple[Member, Any]], value: Any, *,
                 last_assigned: Member | None = None, counts: Mapping[Member, int] | None = None) -> Member | None:
    """A member whose attribute matches the record's `value` (a region, a language…), or
    None when nobody matches (or the value is empty).

    An attribute may be one value or a list of values (a member covering two regions), and
    so may `value` (ways of writing the same thing: a select's stored value and its label);
    texts match ignoring case and surrounding spaces. Among several matches the choice is
    least_open when `counts` is given, else round_robin after `last_assigned`.
    """
    pairs = members_with_attrs.items() if isinstance(members_with_attrs, Mapping) else members_with_attrs
    wanted = set(_values(value))
    if not wanted:
        return None
    matching = [member for member, attr in pairs if wanted.intersection(_values(attr))]
    if not matching:
        return None
    if counts is not None:
        return least_open(counts, matching)
    return round_robin(matching, last_assigned)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _norm(value: Any) -> Any:
    return value.strip().casefold() if isinstance(value, str) else value


def _values(attr: Any) -> list[Any]:
    if isinstance(attr, list | tuple | set | frozenset):
        return [_norm(a) for a in attr if not _blank(a)]
    return [] if _blank(attr) else [_norm(attr)]


__all__ = ["NoMembers", "by_attribute", "least_open", "round_robin"]
