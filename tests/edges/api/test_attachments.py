"""Attachments: multipart upload, download with type and name, size limit, storage by
content hash, and attachment fields holding the uploaded file's metadata."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

DOCS = {"api_name": "doc", "label": "Doc", "fields": [
    {"api_name": "title", "label": "Title", "type": "text"},
    {"api_name": "files", "label": "Files", "type": "attachment", "max_files": 2}]}


def _upload(api: Any, content: bytes, name: str = "report.pdf", content_type: str = "application/pdf") -> Any:
    return api.request("POST", "/attachments", files={"file": (name, content, content_type)})


def test_upload_then_download_returns_the_same_bytes_type_and_name(api: Any, runtime: Any) -> None:
    content = b"%PDF-1.4 hello" * 100
    meta = api.ok(_upload(api, content), 201)
    assert meta["name"] == "report.pdf" and meta["size"] == len(content)
    assert meta["content_type"] == "application/pdf" and len(meta["id"]) == 32
    response = api.get(f"/attachments/{meta['id']}")
    assert response.status_code == 200 and response.content == content
    assert response.headers["content-type"] == "application/pdf"
    assert 'filename="report.pdf"' in response.headers["content-disposition"]
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.headers["x-content-type-options"] == "nosniff"
    sha = hashlib.sha256(content).hexdigest()
    assert (Path(runtime.settings.attachments_dir) / sha[:2] / sha[2:4] / sha).read_bytes() == content


def test_the_same_content_is_stored_once_under_two_ids(api: Any, runtime: Any) -> None:
    first = api.ok(_upload(api, b"same", "a.txt", "text/plain"), 201)
    second = api.ok(_upload(api, b"same", "b.txt", "text/plain"), 201)
    assert first["id"] != second["id"]
    stored = [p for p in Path(runtime.settings.attachments_dir).rglob("*") if p.is_file()]
    assert len(stored) == 1
    assert 'filename="b.txt"' in api.get(f"/attachments/{second['id']}").headers["content-disposition"]


def test_names_are_cleaned_and_unknown_types_become_octet_stream(api: Any) -> None:
    meta = api.ok(_upload(api, b"x", "../../etc/passwd", "not a type"), 201)
    assert meta["name"] == "passwd" and meta["content_type"] == "application/octet-stream"
    unicode = api.ok(_upload(api, b"x", 'Angebot März.txt', "text/plain; charset=utf-8"), 201)
    assert unicode["name"] == 'Angebot März.txt' and unicode["content_type"] == "text/plain"
    assert "filename*=utf-8''" in api.get(f"/attachments/{unicode['id']}").headers["content-disposition"]


def test_a_file_over_the_size_limit_is_refused_and_not_kept(api: Any, runtime: Any, monkeypatch: Any) -> None:
    import dataclasses

    from tessera.data.files import AttachmentStore

    monkeypatch.setattr(runtime, "settings", dataclasses.replace(runtime.settings, max_upload_bytes=1000))
    # The store is built from the settings, as the platform builds it.
    monkeypatch.setattr(runtime, "attachments", AttachmentStore(runtime.engine, runtime.settings.attachments_dir,
                                                                runtime.settings.max_upload_bytes))
    response = _upload(api, b"x" * 1001)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert api.ok(_upload(api, b"x" * 1000), 201)["size"] == 1000
    kept = [p for p in Path(runtime.settings.attachments_dir).rglob("*") if p.is_file()]
    assert len(kept) == 1


def test_an_upload_needs_a_file_part(api: Any) -> None:
    response = api.request("POST", "/attachments", data={"other": "x"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "file"
    garbled = api.request("POST", "/attachments", content=b"--x\r\nnonsense",
                          headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert 400 <= garbled.status_code < 500


def test_uploads_and_downloads_need_a_signed_in_user(api: Any, client: Any) -> None:
    meta = api.ok(_upload(api, b"secret"), 201)
    assert client.post("/api/v1/attachments", files={"file": ("a", b"x")}).status_code == 401
    assert client.get(f"/api/v1/attachments/{meta['id']}").status_code == 401


def test_clean_name_drops_directories_control_characters_and_dots() -> None:
    from tessera.data.files import clean_name

    assert clean_name("C:\\Users\\x\\pass\x07wd\u202e.txt") == "passwd.txt"
    assert clean_name("..") == "file" and clean_name(None) == "file"
    assert len(clean_name("a" * 1000)) == 255


@pytest.mark.parametrize("file_id", ["0" * 32, "nothex", "../../etc/passwd", "A" * 32])
def test_downloading_an_unknown_id_is_not_found(api: Any, file_id: str) -> None:
    response = api.get(f"/attachments/{file_id}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_an_attachment_field_stores_the_uploaded_files_metadata(api: Any) -> None:
    api.ok(api.post("/meta/objects", DOCS), 201)
    one = api.ok(_upload(api, b"one", "one.txt", "text/plain"), 201)
    two = api.ok(_upload(api, b"two", "two.png", "image/png"), 201)
    record = api.ok(api.post("/records/doc", {"title": "t", "files": [one["id"], {"id": two["id"]}]}), 201)
    assert record["files"] == [one, two]
    assert api.ok(api.get(f"/records/doc/{record['id']}"))["files"] == [one, two]
    # Sending back what was read changes nothing.
    same = api.ok(api.patch(f"/records/doc/{record['id']}", {"files": record["files"]}))
    assert same["version"] == 1
    changed = api.ok(api.patch(f"/records/doc/{record['id']}", {"files": [two["id"]]}))
    assert changed["files"] == [two] and changed["version"] == 2
    history = api.ok(api.get(f"/records/doc/{record['id']}/history"))
    assert history[0]["old"] == [one, two] and history[0]["new"] == [two]


def test_an_attachment_field_refuses_unknown_ids_and_too_many_files(api: Any) -> None:
    api.ok(api.post("/meta/objects", DOCS), 201)
    unknown = api.post("/records/doc", {"files": ["0" * 32]})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "files"
    ids = [api.ok(_upload(api, bytes([i])), 201)["id"] for i in range(3)]
    too_many = api.post("/records/doc", {"files": ids})
    assert too_many.status_code == 422
    assert api.ok(api.get("/records/doc"))["data"] == []


def test_attachment_field_refuses_files_outside_its_accept_list(api: Any) -> None:
    api.ok(api.post("/meta/objects", {"api_name": "doc", "label": "Doc", "fields": [
        {"api_name": "scan", "label": "Scan", "type": "attachment", "accept": ["image/*", ".pdf"]}]}), 201)
    picture = api.ok(_upload(api, b"\x89PNG", "a.png", "image/png"), 201)
    pdf = api.ok(_upload(api, b"%PDF", "b.pdf", "application/octet-stream"), 201)
    sheet = api.ok(_upload(api, b"x", "c.xlsx", "application/vnd.ms-excel"), 201)
    api.ok(api.post("/records/doc", {"scan": [picture["id"], pdf["id"]]}), 201)
    refused = api.post("/records/doc", {"scan": [sheet["id"]]})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "scan"
    assert "c.xlsx" in refused.json()["errors"][0]["message"]
