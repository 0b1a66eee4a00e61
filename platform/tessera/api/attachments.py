"""Attachment endpoints: upload one file (multipart), download it by id.

An upload returns the file's metadata; putting its `id` into an attachment field of a
record links it there. Downloads are always sent as attachments with `nosniff`, so an
uploaded HTML file cannot run as a page of this site.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from tessera.auth.actor import Actor
from tessera.data.files import AttachmentStore, FileTooLarge
from tessera.errors import FieldProblem, InvalidInput
from tessera.requests import deps

router = APIRouter(prefix="/attachments", tags=["attachments"])
#: Room for the multipart framing around the file itself.
_FRAMING = 64 * 1024

_UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary"}}}}}}}


@router.post("", status_code=201, openapi_extra=_UPLOAD_BODY)
async def upload(request: Request, who: Actor = Depends(deps.actor),
                 store: AttachmentStore = Depends(deps.attachments)) -> dict[str, Any]:
    await run_in_threadpool(request.app.state.runtime.confirm_access)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > store.max_bytes + _FRAMING:
        raise FileTooLarge(f"The file is larger than the limit of {store.max_bytes} bytes.")
    async with request.form(max_files=1, max_fields=10) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("Send one file as multipart/form-data in a part named 'file'.",
                               [FieldProblem("file", "is required", "required")])
        stored = await run_in_threadpool(store.save, upload.file, upload.filename,
                                         upload.content_type, who.user_id)
    return stored.as_json()


@router.get("/{file_id}", response_class=FileResponse,
            responses={200: {"content": {"application/octet-stream": {}}, "description": "The file"}})
def download(file_id: str, request: Request, _: Actor = Depends(deps.actor),
             store: AttachmentStore = Depends(deps.attachments)) -> FileResponse:
    request.app.state.runtime.confirm_access()
    found = store.get(file_id)
    return FileResponse(found.path, media_type=found.content_type, filename=found.name,
                        content_disposition_type="attachment",
                        headers={"X-Content-Type-Options": "nosniff",
                                 "Cache-Control": "private, max-age=31536000, immutable"})
