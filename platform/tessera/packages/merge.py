"""Three-way merge of metadata documents, and the difference between two of them — pure.

An upgrade meets three versions of a document: the package's old base (O), its new base
(N) and what runs at the customer's (C). Property by property: a side that did not change
gives way to the side that did; equal changes agree; different changes are a `Clash` — the
customer's value is kept and the clash goes on the review list with all three values.
Lists of elements (fields, options, rules, steps, widgets, an app's objects) merge by each
element's identity, not by position: adds from both sides are kept, the customer's order
wins, and an element new in N lands after the element it follows in N. Expressions
(formulas, conditions, filters) are atomic: two edits of one formula are a clash, never a
text merge.

Paths name elements by identity (`["fields", {"uid": "fld_…"}, "label"]`), never by index,
so a path stays right however either side reorders a list.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


class _Absent:
    """A property or element that one version does not have."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()
#: Values under these keys are expressions or selections, merged whole.
ATOMIC = frozenset({
    "formula", "default_formula", "condition", "conditions", "filter", "filters", "where", "when",
    "expression", "criteria", "measures", "sort", "assign", "schedule",
})
#: What identifies an element of a list, tried in this order.
IDENTITY = ("uid", "id", "key", "value", "api_name", "name", "field")

Segment = str | dict[str, Any]
Path = tuple[Segment, ...]


@dataclass(frozen=True)
class Clash:
    """Both the package and the customer changed one property, differently."""

    path: Path
    base: Any
    package: Any
    yours: Any
    reason: str = "both_changed"


@dataclass
class Merged:
    value: Any
    clashes: list[Clash] = field(default_factory=list)
    #: Elements the new version dropped and the customer had not touched: (path, element).
    dropped: list[tuple[Path, Any]] = field(default_factory=list)


def _scalar(item: Any) -> bool:
    return isinstance(item, str | int | float | bool)


def _list_key(*lists: Any) -> str | None:
    """The identity the elements of these versions of one list share, unique within each:
    an element key, "" for lists of distinct plain values (each is its own identity), or
    None when the list can only be merged whole."""
    if not all(isinstance(v, list) for v in lists):
        return None
    items = [i for v in lists for i in v]
    if not items:
        return ""
    if all(_scalar(i) for i in items):
        return "" if all(len(set(v)) == len(v) for v in lists) else None
    if not all(isinstance(i, dict) for i in items):
        return None
    for key in IDENTITY:
        if all(isinstance(i.get(key), str | int) and not isinstance(i.get(key), bool) for i in items) \
                and all(len({i[key] for i in v}) == len(v) for v in lists):
            return key
    return None


def _ident(item: Any, key: str) -> Any:
    return item if key == "" else item.get(key)


def _segment(key: str, ident: Any) -> Segment:
    return {key or "=": ident}


def merge(base: Any, package: Any, yours: Any, path: Path = (), atomic: bool = False) -> Merged:
    """Merge the package's change (base → package) into the customer's version (yours).
    Containers are merged element by element even when one side did not change, so an
    element the package drops is always reported in `dropped` (the caller decides whether
    dropping it may lose data)."""
    if not atomic and isinstance(package, dict) and isinstance(yours, dict) and isinstance(base, dict | _Absent):
        return _merge_dicts(base if isinstance(base, dict) else {}, package, yours, path)
    if not atomic and isinstance(package, list) and isinstance(yours, list):
        key = _list_key(base if isinstance(base, list) else [], package, yours)
        if key is not None:
            return _merge_lists(base if isinstance(base, list) else [], package, yours, path, key)
    if _same(package, base):
        return Merged(copy.deepcopy(yours))
    if _same(yours, base) or _same(yours, package):
        return Merged(copy.deepcopy(package))
    return Merged(copy.deepcopy(yours), [Clash(path, base, package, yours)])


def _merge_dicts(base: dict[str, Any], package: dict[str, Any], yours: dict[str, Any], path: Path) -> Merged:
    out = Merged({})
    for key in [*yours, *(k for k in package if k not in yours)]:
        part = merge(base.get(key, ABSENT), package.get(key, ABSENT), yours.get(key, ABSENT),
                     (*path, key), atomic=key in ATOMIC)
        out.clashes += part.clashes
        out.dropped += part.dropped
        if part.value is not ABSENT:
            out.value[key] = part.value
    return out


def _merge_lists(base: list[Any], package: list[Any], yours: list[Any], path: Path, key: str) -> Merged:
    b = {_ident(i, key): i for i in base}
    p = {_ident(i, key): i for i in package}
    y = {_ident(i, key): i for i in yours}
    out = Merged([])
    merged: dict[Any, Any] = {}
    for ident in [*y, *(k for k in p if k not in y), *(k for k in b if k not in y and k not in p)]:
        bi, pi, yi = b.get(ident, ABSENT), p.get(ident, ABSENT), y.get(ident, ABSENT)
        where = (*path, _segment(key, ident))
        if bi is not ABSENT and pi is ABSENT and yi is ABSENT:
            continue  # both removed it
        if bi is not ABSENT and pi is ABSENT:
            if _same(yi, bi):
                out.dropped.append((where, copy.deepcopy(yi)))
            else:  # the package removed what the customer changed: keep theirs, ask
                merged[ident] = copy.deepcopy(yi)
                out.clashes.append(Clash(where, bi, ABSENT, yi, "package_removed_yours_changed"))
            continue
        if bi is not ABSENT and yi is ABSENT:
            if not _same(pi, bi):  # the customer removed what the package changed: stays removed, ask
                out.clashes.append(Clash(where, bi, pi, ABSENT, "you_removed_package_changed"))
            continue
        if key == "":
            merged[ident] = ident
            continue
        part = merge(bi, pi, yi, where)
        out.clashes += part.clashes
        out.dropped += part.dropped
        merged[ident] = part.value
    out.value = [merged[i] for i in _order(list(b), list(p), list(y), set(merged))]
    return out


def _order(base: list[Any], package: list[Any], yours: list[Any], keep: set[Any]) -> list[Any]:
    """The customer's order if they reordered, else the package's; elements new in the
    package land after the element they follow there."""
    common = [i for i in yours if i in set(base)]
    reordered = common != [i for i in base if i in set(yours)]
    if reordered or _same(package, base):
        order = [i for i in yours if i in keep]
    else:
        order = [i for i in package if i in keep]
        for ident in yours:  # the customer's own additions, after what they follow
            if ident in keep and ident not in order:
                before = yours[:yours.index(ident)]
                anchor = next((a for a in reversed(before) if a in order), None)
                order.insert(order.index(anchor) + 1 if anchor is not None else 0, ident)
        return order
    for ident in package:
        if ident in keep and ident not in order:
            before = package[:package.index(ident)]
            anchor = next((a for a in reversed(before) if a in order), None)
            order.insert(order.index(anchor) + 1 if anchor is not None else len(order), ident)
    return order


def _same(a: Any, b: Any) -> bool:
    if a is ABSENT or b is ABSENT:
        return a is b
    return bool(a == b and type(a) is type(b)) or (isinstance(a, int | float) and isinstance(b, int | float)
                                                   and not isinstance(a, bool) and a == b)


# -- differences ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    """One property that differs between a base and what runs: `before` is the base's value
    (ABSENT: the customer added it), `after` what runs (ABSENT: the customer removed it)."""

    path: Path
    before: Any
    after: Any


def diff(base: Any, current: Any, path: Path = (), atomic: bool = False) -> Iterator[Change]:
    """The changes that turn `base` into `current`, by identity paths."""
    if _same(base, current):
        return
    if not atomic and isinstance(base, dict) and isinstance(current, dict):
        for key in [*base, *(k for k in current if k not in base)]:
            yield from diff(base.get(key, ABSENT), current.get(key, ABSENT), (*path, key), key in ATOMIC)
        return
    if not atomic and isinstance(base, list) and isinstance(current, list):
        key = _list_key(base, current)
        if key is not None:
            b = {_ident(i, key): i for i in base}
            c = {_ident(i, key): i for i in current}
            for ident in [*b, *(k for k in c if k not in b)]:
                where = (*path, _segment(key, ident))
                if key == "":
                    if (ident in b) != (ident in c):
                        yield Change(where, ident if ident in b else ABSENT, ident if ident in c else ABSENT)
                    continue
                yield from diff(b.get(ident, ABSENT), c.get(ident, ABSENT), where)
            common = [i for i in c if i in b]
            if common != [i for i in b if i in c]:
                yield Change((*path, "order"), [i for i in b if i in c], common)
            return
    yield Change(path, base, current)


# -- paths ---------------------------------------------------------------------------------

def path_text(path: Path) -> str:
    """A path as stored: JSON, so element identities with any characters survive."""
    return json.dumps(list(path), ensure_ascii=False, separators=(",", ":"))


def path_of(text: str) -> Path:
    value = json.loads(text)
    if not isinstance(value, list) or not all(isinstance(s, str | dict) for s in value):
        raise ValueError("not a path")
    return tuple(value)


def get_at(doc: Any, path: Path) -> Any:
    """The value at `path`, or ABSENT."""
    holder = doc
    for segment in path:
        if isinstance(segment, dict):
            (key, ident), = segment.items()
            if not isinstance(holder, list):
                return ABSENT
            holder = next((i for i in holder if (i if key == "=" else (i.get(key) if isinstance(i, dict) else None))
                           == ident), ABSENT)
        elif segment == "order" and isinstance(holder, list):
            return holder
        else:
            if not isinstance(holder, dict) or segment not in holder:
                return ABSENT
            holder = holder[segment]
        if holder is ABSENT:
            return ABSENT
    return holder


def set_at(doc: Any, path: Path, value: Any, *, anchor_in: Any = None) -> bool:
    """Put `value` at `path` in `doc` (ABSENT removes it); False when the place is gone
    (the element it is in no longer exists). A missing element is added at the end, or
    after the element it follows in `anchor_in` (the document the value comes from)."""
    if not path:
        return False
    *parents, last = path
    holder = doc
    for segment in parents:
        if isinstance(segment, dict):
            (key, ident), = segment.items()
            found = next((i for i in holder if isinstance(i, dict) and i.get(key) == ident), None) \
                if isinstance(holder, list) else None
            if found is None:
                return False
            holder = found
        else:
            if not isinstance(holder, dict):
                return False
            holder = holder.setdefault(segment, {})
    if isinstance(last, dict):
        (key, ident), = last.items()
        if not isinstance(holder, list):
            return False
        index = next((n for n, i in enumerate(holder)
                      if (i if key == "=" else (i.get(key) if isinstance(i, dict) else None)) == ident), None)
        if value is ABSENT:
            if index is not None:
                holder.pop(index)
            return True
        if index is not None:
            holder[index] = copy.deepcopy(value)
        else:
            holder.insert(_anchor(holder, path, key, ident, anchor_in), copy.deepcopy(value))
        return True
    if last == "order" and isinstance(holder, list):
        return False  # order is restored by resetting the list it belongs to
    if not isinstance(holder, dict):
        return False
    if value is ABSENT:
        holder.pop(last, None)
    else:
        holder[last] = copy.deepcopy(value)
    return True


def _anchor(holder: list[Any], path: Path, key: str, ident: Any, source: Any) -> int:
    siblings = get_at(source, path[:-1]) if source is not None else ABSENT
    if not isinstance(siblings, list):
        return len(holder)
    idents = [s if key == "=" else s.get(key) for s in siblings if key == "=" or isinstance(s, dict)]
    if ident not in idents:
        return len(holder)
    mine = [h if key == "=" else (h.get(key) if isinstance(h, dict) else None) for h in holder]
    for before in reversed(idents[:idents.index(ident)]):
        if before in mine:
            return mine.index(before) + 1
    return 0
