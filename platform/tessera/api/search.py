"""Full-text search over every object the caller may read: `GET /api/v1/search`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from tessera.auth.actor import Actor
from tessera.requests import deps
from tessera.runtime.platform import Platform
from tessera.runtime.search.service import MAX_LIMIT
from tessera.search.query import MAX_TEXT

router = APIRouter(tags=["search"])

_RESULT = {
    "type": "object", "required": ["object", "object_label", "id", "title", "snippet", "score"],
    "properties": {
        "object": {"type": "string", "description": "the object's name"},
        "object_label": {"type": "string", "description": "the object's label"},
        "id": {"type": "integer", "description": "the record's id"},
        "title": {"type": "string", "description": "the record's name, or the object's label and id"},
        "snippet": {"type": "string", "description": "a passage of the fields the caller may see, as HTML: "
                                                     "text escaped, the words found in <mark>…</mark>"},
        "score": {"type": "number", "description": "relevance, higher is better (comparable within one answer)"},
    },
}
_ANSWER = {"description": "Best first, only records the caller may read", "content": {"application/json": {
    "schema": {"type": "object", "required": ["results", "corrected", "incomplete"], "properties": {
        "results": {"type": "array", "items": _RESULT},
        "corrected": {"type": ["string", "null"], "description": "the query as searched when nothing matched "
                                                                 "it and a misspelt word was replaced"},
        "incomplete": {"type": "array", "items": {"type": "string"},
                       "description": "objects whose index is still being built (their results may be missing)"},
    }}}}}


@router.get("/search", response_model=None, responses={200: _ANSWER})
def search(q: str = Query("", max_length=MAX_TEXT * 4, description=(
               'words, "a phrase", -excluded, prefix*; Chinese words anywhere in the text')),
           objects: str | None = Query(None, max_length=2000, description="object names, comma-separated"),
           limit: int = Query(20, ge=1, le=MAX_LIMIT),
           who: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """Records whose searchable fields match `q`, ranked by field weight, with a snippet."""
    names = [n.strip() for n in objects.split(",") if n.strip()] if objects else None
    return rt.search.search(who, q, objects=names, limit=limit)
