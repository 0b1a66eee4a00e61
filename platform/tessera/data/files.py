"""Attachment storage: uploaded files on disk named by their SHA-256, their metadata in
`tessera_attachments`.

Files are content-addressed (`ab/cd/abcd…`), so the same file uploaded twice is stored
once while each upload keeps its own id, name and content type. An attachment field of a
record holds upload ids; the save pipeline replaces them with the metadata kept here.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tessera.data.engine import read_transaction, write_transaction
from tessera.data.metastore import now
from tessera.data.tables import attachments
from tessera.errors import NotFound, TesseraError

#: Largest accepted upload unless settings say otherwise (`max_upload_bytes`).
MAX_UPLOAD_BYTES = 25 * 1024 * 1024
_CHUNK = 1024 * 1024
_ID = re.compile(r"^[0-9a-f]{32}$")
_MEDIA_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$")


class FileTooLarge(TesseraError):
    status = 413
    title = "File too large"
    type_slug = "file-too-large"


@dataclass(frozen=True)
class StoredFile:
    id: str
    name: str
    size: int
    content_type: str
    sha256: str
    path: Path

    def as_json(self) -> dict[str, Any]:
        """What an attachment field holds for this file."""
        return {"id": self.id, "name": self.name, "size": self.size, "content_type": self.content_type}


class AttachmentStore:
    def __init__(self, engine: Engine, directory: Path, max_bytes: int = MAX_UPLOAD_BYTES) -> None:
        self.engine = engine
        self.directory = Path(directory)
        self.max_bytes = max_bytes

    def save(self, stream: BinaryIO, name: str | None, content_type: str | None,
             actor_id: int | None) -> StoredFile:
        """Store one uploaded file; refuses it (nothing kept) when it exceeds the limit."""
        incoming = self.directory / "incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        handle, temp_name = tempfile.mkstemp(dir=incoming)
        temp = Path(temp_name)
        try:
            with os.fdopen(handle, "wb") as out:
                while chunk := stream.read(_CHUNK):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise FileTooLarge(f"The file is larger than the limit of {_human(self.max_bytes)}.")
                    digest.update(chunk)
                    out.write(chunk)
            sha = digest.hexdigest()
            target = self._path(sha)
            target.parent.mkdir(parents=True, exist_ok=True)
            # Same content, same file: a second upload only adds a row.
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        stored = StoredFile(secrets.token_hex(16), clean_name(name), size, clean_media_type(content_type),
                            sha, target)
        with write_transaction(self.engine) as conn:
            conn.execute(sa.insert(attachments).values(
                id=stored.id, name=stored.name, size=stored.size, content_type=stored.content_type,
                sha256=sha, created_by=actor_id, created_at=now()))
        return stored

    def get(self, file_id: str) -> StoredFile:
        if not _ID.match(file_id):
            raise NotFound(f"There is no uploaded file with id {file_id!r}.")
        with read_transaction(self.engine) as conn:
            row = conn.execute(sa.select(attachments).where(attachments.c.id == file_id)).first()
        if row is None or not self._path(row.sha256).is_file():
            raise NotFound(f"There is no uploaded file with id {file_id!r}.")
        return StoredFile(row.id, row.name, row.size, row.content_type, row.sha256, self._path(row.sha256))

    def _path(self, sha: str) -> Path:
        return self.directory / sha[:2] / sha[2:4] / sha


def clean_name(name: str | None) -> str:
    """A file name safe to store and to send back: no directories or control characters."""
    text = unicodedata.normalize("NFC", name or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(c for c in text if unicodedata.category(c)[0] != "C").strip().strip(".")
    text = text.encode("utf-8", "ignore").decode("utf-8")
    return text[:255] or "file"


def clean_media_type(content_type: str | None) -> str:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media if _MEDIA_TYPE.match(media) else "application/octet-stream"


def _human(size: int) -> str:
    return f"{size // (1024 * 1024)} MB" if size >= 1024 * 1024 else f"{size} bytes"
