"""Reading a package: a folder or a zip of `manifest.json`, one folder per document kind,
`extensions/`, `roles/`, `teams/`, `data/` and `demo/people.json` — into a `Package`, with
every problem of its files at once.

What is read here is only the shape of the files (JSON, the manifest's schema, a uid on
every document and element, paths that stay inside the package); whether the documents fit
the metadata they are installed into is the plan's check. Canonical JSON (sorted keys, two
spaces, LF) is how packages are written, so two exports of one state are byte-identical.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from jsonschema import Draft202012Validator

from tessera.errors import FieldProblem, InvalidInput
from tessera.meta.documents import schema_problems

#: Folders that are not document kinds.
EXTENSIONS = "extensions"
DATA = "data"
#: Roles: granted after the metadata (they live with users, not with metadata documents).
ROLES = "roles"
#: Teams: made with the metadata, in its transaction (assignment rules name them).
TEAMS = "teams"
#: The demo's people (`demo/people.json`): made only by `tessera demo`, never by an install.
DEMO = "demo"
DEMO_PEOPLE = "demo/people.json"
#: A sample value relative to the install: `{"days_from_install": N}` (a date or date-time
#: field), and a person by e-mail: `{"email": "ann@example.com"}` (a user field, owner too).
DAYS_FROM_INSTALL = "days_from_install"
PERSON_BY_EMAIL = "email"
#: A zip larger than this, once unpacked, is refused (a package is metadata and samples).
MAX_UNPACKED = 200 * 1024 * 1024
MAX_FILES = 5000
AUTHOR_UID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}$")
#: Lists of elements inside documents that merge by their uid (the rest merge by their own
#: keys: see `merge.key_of`), and so must carry one.
ELEMENT_LISTS = {"objects": ("fields", "validation_rules", "sharing_rules")}


@dataclass(frozen=True)
class PackageFile:
    """One document file: its kind (the folder), path inside the package, and body."""

    kind: str
    path: str
    body: dict[str, Any]

    @property
    def uid(self) -> str:
        return str(self.body.get("uid", ""))


@dataclass
class Package:
    manifest: dict[str, Any]
    documents: list[PackageFile] = field(default_factory=list)
    extensions: list[PackageFile] = field(default_factory=list)
    data: list[PackageFile] = field(default_factory=list)
    roles: list[PackageFile] = field(default_factory=list)
    teams: list[PackageFile] = field(default_factory=list)
    #: `demo/people.json`, read by the demo only.
    demo: PackageFile | None = None
    _digest: str | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def overlay(self) -> str | None:
        """For customizations exported alone: the package they change."""
        found = self.manifest.get("overlay")
        return str(found) if found else None

    @property
    def identity(self) -> str:
        """The name its documents' platform uids derive from (an overlay's: its package's)."""
        return self.overlay or self.name

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def title(self) -> str:
        return str(self.manifest.get("title") or self.name)

    @property
    def namespace(self) -> str:
        return str(self.manifest.get("namespace") or re.sub(r"[^a-z0-9]", "", self.name))

    def digest(self) -> str:
        """What the package holds, as one sha256 (the same files give the same digest);
        worked out once."""
        if self._digest is None:
            h = hashlib.sha256(compact(self.manifest).encode())
            for f in sorted(walk_files(self), key=lambda f: f.path):
                h.update(f.path.encode())
                h.update(compact(f.body).encode())
            self._digest = h.hexdigest()
        return self._digest


def canonical(value: Any) -> str:
    """The one way a package's JSON is written: sorted keys, two spaces, LF at the end."""
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def compact(value: Any) -> str:
    """JSON for machines: one form per value (for hashing), and fast (no indentation)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256(value: Any) -> str:
    return hashlib.sha256(compact(value).encode()).hexdigest()


@cache
def manifest_validator() -> Draft202012Validator:
    text = resources.files("tessera.meta").joinpath("schemas/package.schema.json").read_text()
    return Draft202012Validator(json.loads(text), format_checker=Draft202012Validator.FORMAT_CHECKER)


def problem(file: str, path: str, message: str, code: str = "invalid") -> FieldProblem:
    return FieldProblem(path or "/", message, code, detail={"file": file})


# -- sources ------------------------------------------------------------------------------

def read_folder(root: Path, kinds: frozenset[str]) -> Package:
    if not (root / "manifest.json").is_file():
        raise InvalidInput(f"{root} is not a package: it has no manifest.json.",
                           [problem("manifest.json", "/", "is missing", "missing")])
    texts: dict[str, bytes] = {}
    for path in sorted(root.rglob("*.json")):
        if path.is_file():
            texts[path.relative_to(root).as_posix()] = path.read_bytes()
    return parse(texts, kinds)


def read_zip(content: bytes, kinds: frozenset[str]) -> Package:
    """A zipped package; its files may sit at the root or in one top folder. Paths that
    leave the package, links and oversized contents are refused before anything is read."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        infos = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        raise InvalidInput("The file is not a zip archive of a package.",
                           [problem("", "/", f"cannot be read as a zip: {error}", "not_a_zip")]) from None
    problems: list[FieldProblem] = []
    if len(infos) > MAX_FILES:
        problems.append(problem("", "/", f"has {len(infos)} files; a package has at most {MAX_FILES}"))
    if sum(i.file_size for i in infos) > MAX_UNPACKED:
        problems.append(problem("", "/", f"unpacks to more than {MAX_UNPACKED // (1024 * 1024)} MB"))
    for info in infos:
        name = info.filename.replace("\\", "/")
        pure = PurePosixPath(name)
        if name.startswith("/") or ".." in pure.parts or re.match(r"^[A-Za-z]:", name):
            problems.append(problem(name, "/", "points outside the package", "unsafe_path"))
        elif (info.external_attr >> 16) & 0o170000 == 0o120000:
            problems.append(problem(name, "/", "is a link; a package holds only files", "unsafe_path"))
    if problems:
        raise InvalidInput("The zip is not a package that can be installed safely; nothing was written.",
                           problems)
    names = [i.filename for i in infos if i.filename.endswith(".json")]
    prefix = ""
    if "manifest.json" not in names:
        tops = {n.split("/", 1)[0] for n in names}
        if len(tops) == 1 and f"{next(iter(tops))}/manifest.json" in names:
            prefix = next(iter(tops)) + "/"
    texts = {n[len(prefix):]: archive.read(n) for n in names if n.startswith(prefix)}
    if "manifest.json" not in texts:
        raise InvalidInput("The zip is not a package: it has no manifest.json.",
                           [problem("manifest.json", "/", "is missing", "missing")])
    return parse(texts, kinds)


def write_zip(files: Mapping[str, str]) -> bytes:
    """A zip of `files` (path → text), in path order with fixed times, so the same files
    always give the same bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[path].encode())
    return out.getvalue()


# -- parsing --------------------------------------------------------------------------------

def parse(texts: Mapping[str, bytes], kinds: frozenset[str]) -> Package:
    """The package in `texts` (path → bytes), or InvalidInput with every problem found."""
    problems: list[FieldProblem] = []
    bodies: dict[str, Any] = {}
    for path, raw in texts.items():
        try:
            bodies[path] = json.loads(raw.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            problems.append(problem(path, "/", f"is not valid JSON: {error}", "invalid_json"))
    manifest = bodies.pop("manifest.json", None)
    if manifest is None and "manifest.json" not in texts:
        problems.append(problem("manifest.json", "/", "is missing", "missing"))
    elif manifest is not None:
        problems += [problem("manifest.json", p.field, p.message, p.code)
                     for p in schema_problems(manifest_validator(), manifest, "")]
    package = Package(manifest if isinstance(manifest, dict) else {})
    seen: dict[str, str] = {}
    for path in sorted(bodies):
        body = bodies[path]
        folder, _, rest = path.partition("/")
        if not rest or "/" in rest:
            problems.append(problem(path, "/", "is not in a folder of the package's layout "
                                    "(objects/, forms/, …, extensions/, data/)", "unknown_file"))
            continue
        if folder == DEMO:
            if path != DEMO_PEOPLE:
                problems.append(problem(path, "/", f"is in demo/, which holds only {DEMO_PEOPLE}", "unknown_file"))
            elif not isinstance(body, dict):
                problems.append(problem(path, "/", "must be a JSON object"))
            else:
                package.demo = PackageFile(DEMO, path, body)
                problems += _demo_problems(package.demo)
            continue
        if folder not in kinds and folder not in (EXTENSIONS, DATA, ROLES, TEAMS):
            known = ", ".join(sorted([*kinds, EXTENSIONS, DATA, ROLES, TEAMS, DEMO]))
            problems.append(problem(path, "/", f"is in {folder}/, which is no kind of document; "
                                    f"the folders are {known}", "unknown_kind"))
            continue
        if not isinstance(body, dict):
            problems.append(problem(path, "/", "must be a JSON object"))
            continue
        item = PackageFile(folder, path, body)
        if folder == DATA:
            problems += _data_problems(item)
            package.data.append(item)
            continue
        problems += _uid_problems(item, seen)
        if folder == EXTENSIONS:
            problems += _extension_problems(item)
            package.extensions.append(item)
        elif folder == ROLES:
            package.roles.append(item)
        elif folder == TEAMS:
            package.teams.append(item)
        else:
            package.documents.append(item)
    if problems:
        raise InvalidInput("The package has problems; nothing was written.", problems)
    return package


def _uid_problems(item: PackageFile, seen: dict[str, str]) -> list[FieldProblem]:
    """Every document and every element of the lists that merge by uid carries the author's
    uid, unique within the package."""
    problems: list[FieldProblem] = []

    def claim(uid: Any, path: str) -> None:
        if not isinstance(uid, str) or not AUTHOR_UID.match(uid):
            problems.append(problem(item.path, f"{path}/uid", "needs the author's uid: letters, digits and "
                                    "_ . : -, at most 80 characters, never changed between versions",
                                    "missing_uid"))
        elif uid in seen:
            problems.append(problem(item.path, f"{path}/uid", f"{uid!r} is used already, in {seen[uid]}",
                                    "duplicate_uid"))
        else:
            seen[uid] = item.path

    claim(item.body.get("uid"), "")
    lists = ELEMENT_LISTS.get(item.kind, ()) if item.kind != EXTENSIONS else ("fields", "validation_rules")
    for key in lists:
        for index, element in enumerate(item.body.get(key) or []):
            if isinstance(element, dict):
                claim(element.get("uid"), f"/{key}/{index}")
    return problems


def _extension_problems(item: PackageFile) -> list[FieldProblem]:
    extends = item.body.get("extends")
    if not (isinstance(extends, dict) and isinstance(extends.get("package"), str)
            and isinstance(extends.get("uid"), str)):
        return [problem(item.path, "/extends", 'must say what it extends: {"package": …, "uid": …}')]
    fields = item.body.get("fields", [])
    if not isinstance(fields, list) or not all(isinstance(f, dict) for f in fields):
        return [problem(item.path, "/fields", "must be a list of field documents")]
    return []


def _data_problems(item: PackageFile) -> list[FieldProblem]:
    body = item.body
    problems: list[FieldProblem] = []
    if not isinstance(body.get("object"), str):
        problems.append(problem(item.path, "/object", "must name the object the records are of"))
    records = body.get("records")
    if not isinstance(records, list):
        return [*problems, problem(item.path, "/records", "must be a list of records")]
    keys: set[str] = set()
    for index, record in enumerate(records):
        key = record.get("key") if isinstance(record, dict) else None
        if not isinstance(key, str) or not key:
            problems.append(problem(item.path, f"/records/{index}/key",
                                    "every sample record needs a key (lookups name it; a resumed install "
                                    "skips it)", "missing_key"))
        elif key in keys:
            problems.append(problem(item.path, f"/records/{index}/key", f"{key!r} is used twice", "duplicate_key"))
        else:
            keys.add(key)
    return problems


def _demo_problems(item: PackageFile) -> list[FieldProblem]:
    """`demo/people.json`'s shape: `{"people": [{"email", "name", "roles", "teams",
    "manager", "title"}]}`; whether its roles, teams and managers exist is the plan's check."""
    people = item.body.get("people")
    if set(item.body) - {"people"}:
        return [problem(item.path, f"/{k}", "is not a property of the demo's people (only people)")
                for k in sorted(set(item.body) - {"people"})]
    if not isinstance(people, list):
        return [problem(item.path, "/people", "must be a list of people")]
    problems: list[FieldProblem] = []
    emails: set[str] = set()
    for index, person in enumerate(people):
        at = f"/people/{index}"
        if not isinstance(person, dict):
            problems.append(problem(item.path, at, "must be a JSON object"))
            continue
        for key in sorted(set(person) - {"email", "name", "roles", "teams", "manager", "title"}):
            problems.append(problem(item.path, f"{at}/{key}", "is not a property of a demo person (email, name, "
                                    "roles, teams, manager, title)"))
        email = person.get("email")
        if not isinstance(email, str) or not re.fullmatch(r"[^@\s]+@[^@\s]+", email.strip()):
            problems.append(problem(item.path, f"{at}/email", "must be an e-mail address"))
        elif email.strip().lower() in emails:
            problems.append(problem(item.path, f"{at}/email", f"{email!r} is used twice", "duplicate_email"))
        else:
            emails.add(email.strip().lower())
        for key in ("name", "title", "manager"):
            if key in person and (not isinstance(person[key], str) or not person[key].strip()):
                problems.append(problem(item.path, f"{at}/{key}", "must be text"))
        if "name" not in person:
            problems.append(problem(item.path, f"{at}/name", "is required: the person's full name"))
        for key in ("roles", "teams"):
            names = person.get(key, [])
            if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
                problems.append(problem(item.path, f"{at}/{key}", f"must be a list of {key[:-1]} api_names"))
    return problems


def walk_files(package: Package) -> Iterator[PackageFile]:
    """Every file of the package but its manifest."""
    yield from package.documents
    yield from package.extensions
    yield from package.data
    yield from package.roles
    yield from package.teams
    if package.demo is not None:
        yield package.demo
