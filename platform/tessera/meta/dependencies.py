"""What metadata documents refer to, and how to rewrite those references on a rename.

Each kind of reference (a lookup's target, a formula naming a field, a report grouping by
one) registers an extractor that finds its references in a document and a rewriter that
updates the document when the thing referred to is renamed. The data layer stores what the
extractors find, keyed by stable uids, as the dependency graph.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tessera.registry import Registry


@dataclass(frozen=True)
class Reference:
    """A place in a document (`path`) naming an object, or one field of it."""

    via: str
    path: str
    object: str
    field: str | None = None


@dataclass(frozen=True)
class Rename:
    """`object` (and `field`, when a field is renamed) changes its api_name from old to new."""

    object: str
    old: str
    new: str
    field_renamed: bool


Extractor = Callable[[Mapping[str, Any]], Iterable[Reference]]
Rewriter = Callable[[dict[str, Any], Reference, Rename], None]

_EXTRACTORS: dict[str, list[Extractor]] = {}
#: One rewriter per `via`; several document kinds may share a `via` and its rewriter.
_REWRITERS: Registry[Rewriter] = Registry("reference")
_LOCK = threading.Lock()


def register(kind: str, via: str, extract: Extractor, rewrite: Rewriter, *, replace: bool = False) -> None:
    """Teach the graph one kind of reference found in documents of `kind`.

    `via` names the kind of reference across Tessera: registering it again with the same
    `rewrite` (for another document kind) is fine, with a different one it raises
    `DuplicateName` unless `replace`.
    """
    with _LOCK:
        if _REWRITERS.get(via) != rewrite:  # equal, not identical: bound methods are made anew
            _REWRITERS.register(via, rewrite, replace=replace)
        _EXTRACTORS.setdefault(kind, []).append(extract)



def references(kind: str, doc: Mapping[str, Any]) -> list[Reference]:
    found: list[Reference] = []
    for extract in _EXTRACTORS.get(kind, []):
        found.extend(extract(doc))
    return found


def rewrite(doc: dict[str, Any], ref: Reference, rename: Rename) -> None:
    """Rewrite `ref` in `doc` for `rename`; KeyError("unknown reference 'via'") for an unknown via."""
    _REWRITERS[ref.via](doc, ref, rename)


def _field_at(doc: Mapping[str, Any], path: str) -> dict[str, Any]:
    uid = path.split("/")[1]
    return next(f for f in doc["fields"] if f["uid"] == uid)


def _lookup_targets(doc: Mapping[str, Any]) -> Iterable[Reference]:
    for fdoc in doc.get("fields", []):
        # Fields not yet given a uid (a document being validated) have no stable path yet.
        if isinstance(fdoc, dict) and fdoc.get("type") == "lookup" and fdoc.get("target") and fdoc.get("uid"):
            yield Reference("lookup_target", f"fields/{fdoc['uid']}/target", fdoc["target"])


def _rewrite_lookup_target(doc: dict[str, Any], ref: Reference, rename: Rename) -> None:
    if not rename.field_renamed:
        _field_at(doc, ref.path)["target"] = rename.new


def _name_field(doc: Mapping[str, Any]) -> Iterable[Reference]:
    if doc.get("name_field"):
        yield Reference("name_field", "name_field", doc["api_name"], doc["name_field"])


def _rewrite_name_field(doc: dict[str, Any], ref: Reference, rename: Rename) -> None:
    if rename.field_renamed and doc.get("name_field") == rename.old:
        doc["name_field"] = rename.new


def _order_field(doc: Mapping[str, Any]) -> Iterable[Reference]:
    if doc.get("order_field"):
        yield Reference("order_field", "order_field", doc["api_name"], doc["order_field"])


def _rewrite_order_field(doc: dict[str, Any], ref: Reference, rename: Rename) -> None:
    if rename.field_renamed and doc.get("order_field") == rename.old:
        doc["order_field"] = rename.new


def _rule_fields(doc: Mapping[str, Any]) -> Iterable[Reference]:
    for rule in doc.get("validation_rules", []):
        if isinstance(rule, dict) and rule.get("field") and rule.get("name"):
            yield Reference(
                "validation_rule_field", f"validation_rules/{rule['name']}/field",
                doc["api_name"], rule["field"],
            )


def _rewrite_rule_field(doc: dict[str, Any], ref: Reference, rename: Rename) -> None:
    name = ref.path.split("/")[1]
    for rule in doc.get("validation_rules", []):
        if rule["name"] == name and rule.get("field") == rename.old:
            rule["field"] = rename.new


register("objects", "lookup_target", _lookup_targets, _rewrite_lookup_target)
register("objects", "name_field", _name_field, _rewrite_name_field)
register("objects", "order_field", _order_field, _rewrite_order_field)
register("objects", "validation_rule_field", _rule_fields, _rewrite_rule_field)
