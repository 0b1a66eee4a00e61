"""Reading a package: every problem of its files at once, with file and path; zips that
could write outside the package are refused before anything is read."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from tessera.errors import InvalidInput
from tessera.packages.files import canonical, parse, read_folder, read_zip, write_zip

KINDS = frozenset({"objects", "forms", "apps", "reports"})
FIXTURES = Path(__file__).parent / "fixtures"
MANIFEST = {"name": "acme", "version": "1.0.0", "title": "Acme"}


def files(**extra: object) -> dict[str, bytes]:
    out = {"manifest.json": json.dumps(MANIFEST).encode()}
    out.update({k.replace("__", "/").replace("_json", ".json"): json.dumps(v).encode() for k, v in extra.items()})
    return out


def problems_of(texts: dict[str, bytes]) -> list[dict[str, object]]:
    with pytest.raises(InvalidInput) as raised:
        parse(texts, KINDS)
    return [p.as_json() for p in raised.value.errors]


def test_a_fixture_package_reads_with_its_documents_extensions_and_data() -> None:
    package = read_folder(FIXTURES / "acme-1.0.0", KINDS)
    assert (package.name, package.version, package.title) == ("acme", "1.0.0", "Acme sales")
    assert sorted(d.path for d in package.documents) == [
        "apps/acme.json", "forms/account_main.json", "objects/account.json", "objects/contact.json"]
    assert [len(d.body["records"]) for d in package.data] == [2, 2]


def test_a_malformed_manifest_is_refused_with_every_problem_named_by_file_and_path() -> None:
    found = problems_of({"manifest.json": json.dumps({"name": "Acme!", "version": "one"}).encode()})
    assert {(p["file"], p["field"]) for p in found} >= {("manifest.json", "/"), ("manifest.json", "/name"),
                                                        ("manifest.json", "/version")}


def test_a_file_that_is_not_json_and_a_document_without_uid_are_reported_together() -> None:
    texts = files(objects__account_json={"api_name": "account", "label": "Account", "fields": [
        {"api_name": "name", "label": "Name", "type": "text"}]})
    texts["forms/broken.json"] = b"{ not json"
    found = problems_of(texts)
    assert {(p["file"], p["field"], p["code"]) for p in found} == {
        ("forms/broken.json", "/", "invalid_json"),
        ("objects/account.json", "/uid", "missing_uid"),
        ("objects/account.json", "/fields/0/uid", "missing_uid")}


def test_a_uid_used_twice_in_one_package_is_refused() -> None:
    texts = files(objects__a_json={"uid": "same", "api_name": "a", "label": "A"},
                  forms__b_json={"uid": "same", "api_name": "b", "label": "B", "object": "a"})
    (found,) = problems_of(texts)
    assert found["code"] == "duplicate_uid"


def test_files_outside_the_layout_and_sample_records_without_keys_are_refused() -> None:
    texts = files(widgets__w_json={"uid": "w"}, data__a_json={"object": "a", "records": [{"name": "x"}]})
    texts["loose.json"] = b"{}"
    codes = {(p["file"], p["code"]) for p in problems_of(texts)}
    assert codes == {("widgets/w.json", "unknown_kind"), ("data/a.json", "missing_key"), ("loose.json", "unknown_file")}


def zipped(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return out.getvalue()


@pytest.mark.parametrize("name", ["../evil.json", "/etc/evil.json", "objects/../../evil.json", "C:/evil.json"])
def test_a_zip_with_a_path_outside_the_package_is_refused_before_anything_is_read(name: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        read_zip(zipped({"manifest.json": json.dumps(MANIFEST).encode(), name: b"{}"}), KINDS)
    assert [p.as_json()["code"] for p in raised.value.errors] == ["unsafe_path"]


def test_a_file_that_is_not_a_zip_is_refused_with_a_problem() -> None:
    with pytest.raises(InvalidInput) as raised:
        read_zip(b"PK not really", KINDS)
    assert raised.value.errors[0].code == "not_a_zip"


def test_a_zip_of_a_package_folder_reads_like_the_folder_and_writing_it_twice_gives_the_same_bytes() -> None:
    folder = FIXTURES / "acme-1.1.0"
    texts = {p.relative_to(folder).as_posix(): p.read_text() for p in folder.rglob("*.json")}
    first = write_zip({f"acme/{k}": v for k, v in texts.items()})
    assert first == write_zip({f"acme/{k}": v for k, v in texts.items()})
    from_zip, from_folder = read_zip(first, KINDS), read_folder(folder, KINDS)
    assert from_zip.digest() == from_folder.digest()


def test_canonical_json_sorts_keys_and_ends_with_a_newline() -> None:
    assert canonical({"b": 1, "a": "é"}) == '{\n  "a": "é",\n  "b": 1\n}\n'
