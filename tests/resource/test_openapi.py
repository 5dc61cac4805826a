"""`/openapi.json`: an OpenAPI 3.1 document describing the notes API as it is served."""

from __future__ import annotations

from typing import Any

import aiohttp

from resource_server.notes import MAX_BODY, MAX_LIMIT, MAX_TITLE
from tests.resource.conftest import RESOURCE_URL

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
OPERATIONS = {
    ("/api/me", "get"),
    ("/api/notes", "get"),
    ("/api/notes", "post"),
    ("/api/notes/{note_id}", "get"),
    ("/api/notes/{note_id}", "patch"),
    ("/api/notes/{note_id}", "delete"),
}


async def _document(http: aiohttp.ClientSession, api: str) -> dict[str, Any]:
    # Public: a client reads the description before it has a token.
    async with http.get(api + "/openapi.json") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        document: dict[str, Any] = await resp.json()
    return document


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return found + [r for v in value.values() for r in _refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    return []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        assert isinstance(node, dict) and part in node, f"dangling $ref {ref}"
        node = node[part]
    return node


async def test_the_document_is_openapi_3_1(api: str, http: aiohttp.ClientSession) -> None:
    doc = await _document(http, api)
    assert doc["openapi"].startswith("3.1.")
    assert isinstance(doc["info"]["title"], str) and isinstance(doc["info"]["version"], str)
    assert doc["servers"] == [{"url": RESOURCE_URL}]
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert doc["security"] == [{"bearer": []}, {"dpop": []}]
    assert doc["components"]["securitySchemes"]["dpop"]["scheme"] == "DPoP"
    for ref in _refs(doc):
        _resolve(doc, ref)


async def test_every_operation_served_is_described(api: str, http: aiohttp.ClientSession) -> None:
    doc = await _document(http, api)
    described = {(path, method) for path, item in doc["paths"].items() for method in item if method in METHODS}
    assert described == OPERATIONS
    for path, method in described:
        operation = doc["paths"][path][method]
        responses = operation["responses"]
        assert any(code.startswith("2") for code in responses), (path, method)
        assert {"401", "403", "503"} <= responses.keys(), (path, method)
        for code, response in responses.items():
            assert code.isdigit() and isinstance(response["description"], str), (path, method, code)
        # Path templates name parameters that are declared, on the path item or the operation.
        declared = {p["name"] for p in doc["paths"][path].get("parameters", []) + operation.get("parameters", [])}
        for name in (part[1:-1] for part in path.split("/") if part.startswith("{")):
            assert name in declared, (path, name)
    schemas = doc["components"]["schemas"]
    for path, method, schema in (("/api/notes", "post", "NewNote"), ("/api/notes/{note_id}", "patch", "NoteInput")):
        body = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
        assert _resolve(doc, body["$ref"]) == schemas[schema], (path, method)
    # Creating needs a title; changing needs title or body.
    assert schemas["NewNote"]["required"] == ["title"]
    assert schemas["NewNote"]["allOf"] == [{"$ref": "#/components/schemas/NoteInput"}]
    assert schemas["NoteInput"]["minProperties"] == 1


async def test_the_document_states_the_limits_the_server_enforces(api: str, http: aiohttp.ClientSession) -> None:
    doc = await _document(http, api)
    note_input = doc["components"]["schemas"]["NoteInput"]
    assert note_input["additionalProperties"] is False
    assert note_input["properties"]["title"]["maxLength"] == MAX_TITLE
    assert note_input["properties"]["body"]["maxLength"] == MAX_BODY
    limit = next(p for p in doc["paths"]["/api/notes"]["get"]["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, MAX_LIMIT)
    assert set(doc["components"]["schemas"]["Note"]["properties"]) == {
        "id",
        "owner",
        "title",
        "body",
        "created_at",
        "updated_at",
    }
