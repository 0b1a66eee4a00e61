"""The installed plugins: `GET /api/v1/plugins` (admins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from tessera.auth.actor import Actor
from tessera.requests import deps
from tessera.runtime.platform import Platform

router = APIRouter(tags=["plugins"])

_PLUGIN = {"type": "object", "required": ["name", "distribution", "version", "status", "error", "provides"],
           "properties": {
               "name": {"type": "string", "description": "the entry point's name"},
               "distribution": {"type": ["string", "null"]}, "version": {"type": ["string", "null"]},
               "status": {"enum": ["loaded", "failed", "refused"]},
               "error": {"type": ["string", "null"], "description": "why it failed or was refused"},
               "provides": {"type": "array", "items": {"type": "string"}},
               "plugin_api": {"description": "the plugin API it declares"}}}
_ANSWER = {"description": "The plugins and what metadata needs that is not installed", "content": {
    "application/json": {"schema": {"type": "object", "required": ["plugin_api", "plugins", "problems"], "properties": {
        "plugin_api": {"type": "integer", "description": "the plugin API this Tessera offers"},
        "plugins": {"type": "array", "items": _PLUGIN},
        "problems": {"type": "array", "items": {"type": "object", "properties": {
            "where": {"type": "string"}, "message": {"type": "string"}}}}}}}}}


@router.get("/plugins", response_model=None, responses={200: _ANSWER})
def list_plugins(who: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    """Each installed plugin with its version, status and error (in the order they were
    installed), and metadata that needs a field type, function or action no installed
    code provides."""
    return rt.plugins.list(who)
