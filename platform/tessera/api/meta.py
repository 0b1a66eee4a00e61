"""Metadata endpoints: objects and their fields, history, trash and "where is this used";
then documents of every other kind (forms, flows, rules, reports, dashboards, …) at
`/meta/{kind}`, registered last so the object routes match first."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Response

from tessera.auth.actor import Actor
from tessera.meta.documents import base_schema, field_schema
from tessera.meta.fieldtypes import field_types
from tessera.requests import deps
from tessera.runtime.platform import Platform

router = APIRouter(prefix="/meta", tags=["metadata"])
Name = str


@router.get("/field-types")
def list_field_types(_: Actor = Depends(deps.actor)) -> list[dict[str, Any]]:
    return [
        {"name": name, "label": t.label, "formula_type": t.formula_type, "stored": t.stored,
         "schema": field_schema(name)}
        for name, t in sorted(field_types().items())
    ]


@router.get("/schemas/{kind}")
def kind_schema(kind: str, _: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    try:
        return base_schema(kind)
    except FileNotFoundError:
        return rt.documents.schema(kind)  # a kind whose schema its registration gives


@router.get("/kinds")
def list_kinds(_: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> list[dict[str, Any]]:
    return rt.documents.kinds()


@router.get("/trash")
def trash(_: Actor = Depends(deps.builder), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.metadata.trash()


@router.get("/objects")
def list_objects(_: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> list[dict[str, Any]]:
    return rt.packages.mark(rt.metadata.list_objects())


@router.post("/objects", status_code=201)
def create_object(response: Response, body: Any = Depends(deps.json_body),
                  who: Actor = Depends(deps.builder), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    created = rt.metadata.create_object(who, body)
    response.headers["Location"] = f"/api/v1/meta/objects/{created['api_name']}"
    return created


@router.get("/objects/{object}")
def get_object(object: Name, _: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.packages.mark([rt.metadata.get_object(object)])[0]


@router.patch("/objects/{object}")
def update_object(object: Name, force: bool = Query(False), body: Any = Depends(deps.json_body),
                  version: int | None = Depends(deps.if_match),
                  who: Actor = Depends(deps.builder), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.metadata.update_object(who, object, body, force=force, expected_version=version)


@router.delete("/objects/{object}", status_code=204)
def delete_object(object: Name, force: bool = Query(False), who: Actor = Depends(deps.builder),
                  rt: Platform = Depends(deps.runtime)) -> Response:
    rt.metadata.delete_object(who, object, force=force)
    return Response(status_code=204)


@router.post("/objects/{object}/restore")
def restore_object(object: Name, who: Actor = Depends(deps.builder),
                   rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.metadata.restore_object(who, object)


@router.post("/objects/{object}/purge", status_code=204)
def purge_object(object: Name, who: Actor = Depends(deps.builder),
                 rt: Platform = Depends(deps.runtime)) -> Response:
    rt.metadata.purge_object(who, object)
    return Response(status_code=204)


@router.get("/objects/{object}/history")
def object_history(object: Name, _: Actor = Depends(deps.builder),
                   rt: Platform = Depends(deps.runtime)) -> list[dict[str, Any]]:
    return rt.metadata.history(object)


@router.get("/objects/{object}/where-used")
def object_where_used(object: Name, _: Actor = Depends(deps.builder),
                      rt: Platform = Depends(deps.runtime)) -> list[dict[str, Any]]:
    return rt.metadata.where_used(object)


@router.get("/objects/{object}/fields")
def list_fields(object: Name, _: Actor = Depends(deps.actor),
                rt: Platform = Depends(deps.runtime)) -> list[dict[str, Any]]:
    return rt.metadata.get_object(object)["fields"]


@router.post("/objects/{object}/fields", status_code=201)
def add_field(object: Name, response: Response, body: Any = Depends(deps.json_body),
              who: Actor = Depends(deps.builder), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    created = rt.metadata.add_field(who, object, body)
    response.headers["Location"] = f"/api/v1/meta/objects/{object}/fields/{created['api_name']}"
    return created


@router.get("/objects/{object}/fields/{field}")
def get_field(object: Name, field: Name, _: Actor = Depends(deps.actor),
              rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.metadata.get_field(object, field)


@router.patch("/objects/{object}/fields/{field}")
def update_field(object: Name, field: Name, force: bool = Query(False),
                 body: Any = Depends(deps.json_body), who: Actor = Depends(deps.builder),
                 rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.metadata.update_field(who, object, field, body, force=force)


@router.delete("/objects/{object}/fields/{field}", status_code=204)
def delete_field(object: Name, field: Name, force: bool = Query(False),
                 who: Actor = Depends(deps.builder), rt: Platform = Depends(deps.runtime)) -> Response:
    rt.metadata.delete_field(who, object, field, force=force)
    return Response(status_code=204)


@router.post("/objects/{object}/fields/{field}/restore")
def restore_field(object: Name, field: Name, who: Actor = Depends(deps.builder),
                  rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.metadata.restore_field(who, object, field)


@router.post("/objects/{object}/fields/{field}/purge", status_code=204)
def purge_field(object: Name, field: Name, who: Actor = Depends(deps.builder),
                rt: Platform = Depends(deps.runtime)) -> Response:
    rt.metadata.purge_field(who, object, field)
    return Response(status_code=204)


@router.get("/objects/{object}/fields/{field}/history")
def field_history(object: Name, field: Name, _: Actor = Depends(deps.builder),
                  rt: Platform = Depends(deps.runtime)) -> list[dict[str, Any]]:
    return rt.metadata.history(object, field)


@router.get("/objects/{object}/fields/{field}/where-used")
def field_where_used(object: Name, field: Name, _: Actor = Depends(deps.builder),
                     rt: Platform = Depends(deps.runtime)) -> list[dict[str, Any]]:
    return rt.metadata.where_used(object, field)


# -- documents of the other kinds -------------------------------------------------------

@router.get("/{kind}")
def list_documents(kind: Name, object: Name | None = None, trash: bool = False, _: Actor = Depends(deps.builder),
                   rt: Platform = Depends(deps.runtime)) -> list[dict[str, Any]]:
    return rt.packages.mark(rt.documents.list(kind, object_name=object, trash=trash))


@router.post("/{kind}", status_code=201)
def create_document(kind: Name, response: Response, body: Any = Depends(deps.json_body),
                    who: Actor = Depends(deps.builder), rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    created = rt.documents.create(who, kind, body)
    response.headers["Location"] = f"/api/v1/meta/{kind}/{created['api_name']}"
    response.headers["ETag"] = f'"{created["version"]}"'
    return created


@router.post("/{kind}/check")
def check_document(kind: Name, body: Any = Depends(deps.json_body), _: Actor = Depends(deps.builder),
                   rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    problems = rt.documents.check(kind, body)
    return {"valid": not problems, "errors": problems}


@router.get("/{kind}/{api_name}")
def get_document(kind: Name, api_name: Name, response: Response, _: Actor = Depends(deps.builder),
                 rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    found = rt.packages.mark([rt.documents.get(kind, api_name)])[0]
    response.headers["ETag"] = f'"{found["version"]}"'
    return found


@router.patch("/{kind}/{api_name}")
def update_document(kind: Name, api_name: Name, response: Response, body: Any = Depends(deps.json_body),
                    version: int | None = Depends(deps.if_match), who: Actor = Depends(deps.builder),
                    rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    updated = rt.documents.update(who, kind, api_name, body, expected_version=version)
    response.headers["ETag"] = f'"{updated["version"]}"'
    return updated


@router.delete("/{kind}/{api_name}", status_code=204)
def delete_document(kind: Name, api_name: Name, who: Actor = Depends(deps.builder),
                    rt: Platform = Depends(deps.runtime)) -> Response:
    rt.documents.delete(who, kind, api_name)
    return Response(status_code=204)


@router.post("/{kind}/{api_name}/restore")
def restore_document(kind: Name, api_name: Name, who: Actor = Depends(deps.builder),
                     rt: Platform = Depends(deps.runtime)) -> dict[str, Any]:
    return rt.documents.restore(who, kind, api_name)


@router.post("/{kind}/{api_name}/purge", status_code=204)
def purge_document(kind: Name, api_name: Name, who: Actor = Depends(deps.builder),
                   rt: Platform = Depends(deps.runtime)) -> Response:
    rt.documents.purge(who, kind, api_name)
    return Response(status_code=204)


@router.get("/{kind}/{api_name}/history")
def document_history(kind: Name, api_name: Name, _: Actor = Depends(deps.builder),
                     rt: Platform = Depends(deps.runtime)) -> list[dict[str, Any]]:
    return rt.documents.history(kind, api_name)


@router.get("/{kind}/{api_name}/problems")
def document_problems(kind: Name, api_name: Name, _: Actor = Depends(deps.builder),
                      rt: Platform = Depends(deps.runtime)) -> list[dict[str, Any]]:
    return rt.documents.stored_problems(kind, api_name)
