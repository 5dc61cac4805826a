"""`/admin/openapi.json`: an OpenAPI 3.1 document (validated by openapi-spec-validator against the 3.1 schema) that
describes every admin route served, with the method it is served for, and whose schemas fit what the API answers."""

from __future__ import annotations

from typing import Any

import aiohttp
import jsonschema
from aiohttp import web
from openapi_spec_validator import validate
from openapi_spec_validator.versions import OPENAPIV31
from openapi_spec_validator.versions.shortcuts import get_spec_version

from tests.admin.conftest import Admin, call

METHODS = {"get", "put", "post", "delete", "patch"}


async def document(http: aiohttp.ClientSession, admin_url: str) -> dict[str, Any]:
    # Public: it holds nothing secret, and a client reads it before it has a token.
    async with http.get(admin_url + "/admin/openapi.json") as resp:
        assert resp.status == 200 and resp.content_type == "application/json"
        doc: dict[str, Any] = await resp.json()
    return doc


async def test_the_document_is_valid_openapi_3_1(http: aiohttp.ClientSession, admin_url: str) -> None:
    doc = await document(http, admin_url)
    assert get_spec_version(doc) == OPENAPIV31
    validate(doc)  # raises OpenAPIValidationError for anything the 3.1 schema refuses, dangling $refs included
    assert doc["servers"] == [{"url": "http://127.0.0.1:8010"}]
    assert doc["security"] == [{"bearer": ["authorium:admin"]}]


async def test_every_admin_route_is_described(
    http: aiohttp.ClientSession, admin_url: str, authz_app: web.Application
) -> None:
    doc = await document(http, admin_url)
    served = {
        (route.resource.canonical, route.method.lower())
        for route in authz_app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/admin/v1")
        and route.method.lower() in METHODS
    }
    described = {(path, method) for path, item in doc["paths"].items() for method in item if method in METHODS}
    assert served == described
    for path, method in described:
        responses = doc["paths"][path][method]["responses"]
        assert {"401", "403"} <= set(responses), (path, method)


async def test_answers_fit_their_schemas(http: aiohttp.ClientSession, admin: Admin, admin_url: str) -> None:
    """What the client and key listings and a problem answer hold matches the document's schemas."""
    doc = await document(http, admin_url)
    resolver_doc = {"components": doc["components"]}

    def check(instance: Any, name: str) -> None:
        schema = {**resolver_doc, "$ref": f"#/components/schemas/{name}"}
        jsonschema.validate(instance, schema, cls=jsonschema.Draft202012Validator)

    body = {"name": "described", "grant_types": ["client_credentials"], "scopes": ["notes:read"]}
    _, created, _ = await call(http, admin, "POST", admin_url + "/admin/v1/clients", json=body)
    check(created, "CreatedClient")
    _, clients, _ = await call(http, admin, "GET", admin_url + "/admin/v1/clients", params={"limit": "2"})
    check(clients, "ClientList")
    _, keys, _ = await call(http, admin, "GET", admin_url + "/admin/v1/keys")
    check(keys, "KeyList")
    _, events, _ = await call(http, admin, "GET", admin_url + "/admin/v1/audit-events", params={"limit": "5"})
    check(events, "AuditEventList")
    _, problem, _ = await call(http, admin, "POST", admin_url + "/admin/v1/clients", json={"name": 1})
    check(problem, "Problem")
