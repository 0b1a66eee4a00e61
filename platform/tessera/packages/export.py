"""Writing a package out: what runs now in the author's terms, or the customer's layer alone.

A full export is every document the package owns as it runs now (its base with the
customer's changes), with the author's uids again (the customer's own elements keep the
platform's), in canonical JSON: two exports of one state are byte-identical, and installing
one on a fresh database gives the same metadata. A layer export is an overlay package that
`enhances` the base package and holds only the documents the customer changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tessera.data.metastore import StoredDocument
from tessera.packages.files import EXTENSIONS, ROLES, TEAMS, canonical, write_zip
from tessera.packages.plan import comparable


def package_files(manifest: dict[str, Any], bases: Sequence[Any], current: Mapping[str, StoredDocument], *,
                  layer_only: bool = False, roles: Mapping[str, dict[str, Any]] | None = None) -> dict[str, str]:
    """`roles`: the package's roles and teams as they are now, by their platform uid."""
    names: dict[str, str] = {}
    for b in bases:
        names[b.uid] = b.author_uid
        names.update(b.elements or {})
    files: dict[str, str] = {}
    for b in bases:
        if b.kind == EXTENSIONS:
            if not layer_only:
                files[b.path] = canonical(b.base)
            continue
        if b.kind in (ROLES, TEAMS):
            role = (roles or {}).get(b.uid)
            if role is not None:  # (left out by the caller when only changes are wanted and it has none)
                files[b.path] = canonical({**role, "uid": b.author_uid})
            continue
        stored = current.get(b.uid)
        if stored is None or stored.state != "active":
            continue
        body = comparable(b.kind, stored.body)
        if layer_only and body == b.base:
            continue
        files[b.path] = canonical(_authored(body, names))
    out_manifest = dict(manifest)
    if layer_only:
        out_manifest = {"name": f"{manifest['name']}-custom", "version": manifest["version"],
                        "title": f"{manifest.get('title', manifest['name'])} — customizations",
                        "description": f"The changes made to {manifest['name']} {manifest['version']} here.",
                        "overlay": manifest["name"],
                        "enhances": [{"name": manifest["name"], "version": manifest["version"]}]}
    files["manifest.json"] = canonical(out_manifest)
    return files


def _authored(body: dict[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """A document with the author's uids again (the customer's own elements keep theirs)."""
    out = dict(body)
    out["uid"] = names.get(str(body["uid"]), str(body["uid"]))
    for key in ("fields", "validation_rules", "sharing_rules"):
        if isinstance(out.get(key), list):
            out[key] = [{**e, "uid": names.get(str(e["uid"]), str(e["uid"]))}
                        if isinstance(e, dict) and "uid" in e else e for e in out[key]]
    return out


def zip_of(files: Mapping[str, str]) -> bytes:
    return write_zip(files)
