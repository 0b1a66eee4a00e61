"""Who is who across versions: the platform uid of everything a package ships.

An author names each document and element with a uid of their own ("account",
"account.region"); the platform gives it a uid of its own form (`obj_…`, `fld_…`) derived
from the package's name and the author's uid, so every version of the package, every
database it is installed in, and every export of it names the same thing the same way —
without a table to look it up, and without two packages' "account" ever meeting.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping
from typing import Any

from tessera.packages.files import ELEMENT_LISTS

_PLATFORM_FORM = re.compile(r"[a-z]{3}_[0-9a-f]{16,40}")
#: The prefix of each kind's platform uids (documents take their kind's own prefix).
ELEMENT_PREFIX = {"fields": "fld", "validation_rules": "vrl", "sharing_rules": "shr"}


def platform_uid(package: str, prefix: str, author_uid: str) -> str:
    """The platform's uid for an author's. One that is a platform uid already (an element the
    customer made, carried by an export) stays itself, so an export installs as the same."""
    if _PLATFORM_FORM.fullmatch(author_uid) and author_uid.startswith(f"{prefix}_"):
        return author_uid
    digest = hashlib.sha256(f"{package}/{author_uid}".encode()).hexdigest()[:24]
    return f"{prefix}_{digest}"


def to_platform(package: str, kind: str, prefix: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """A package's document in the platform's form: its uid and its elements' uids derived."""
    out = copy.deepcopy(dict(body))
    out["uid"] = platform_uid(package, prefix, str(body["uid"]))
    for key in ELEMENT_LISTS.get(kind, ()):
        for element in out.get(key) or []:
            if isinstance(element, dict) and "uid" in element:
                element["uid"] = platform_uid(package, ELEMENT_PREFIX[key], str(element["uid"]))
    return out


def element_names(package: str, kind: str, body: Mapping[str, Any]) -> dict[str, str]:
    """Platform uid → author's uid of the elements of a package document (fields, rules)."""
    lists = ELEMENT_LISTS.get(kind, ()) if kind != "extensions" else ("fields", "validation_rules")
    return {platform_uid(package, ELEMENT_PREFIX[key], str(e["uid"])): str(e["uid"])
            for key in lists for e in body.get(key) or [] if isinstance(e, dict) and "uid" in e}
