"""The admin API's resources (DESIGN.md, "Admin API"; RFC 8707): `GET|POST /admin/v1/resources`, `GET|PATCH|DELETE
/admin/v1/resources/{id}`. A registered API is a token audience at once; bad input is an RFC 9457 problem naming the
member and writes nothing; the built-in entries stay as they are."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import asyncpg
import jwt

from tests.admin.conftest import Admin, assert_problem, call
from tests.authz.flows import make_client, token_request


def _new(**fields: Any) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    return {"identifier": f"https://api-{tag}.example/", "scopes": [f"stock:{tag}"], **fields}


async def test_a_registered_api_is_shown_listed_and_a_token_audience_at_once(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str, authz: str, db: asyncpg.Pool
) -> None:
    """POST answers 201 with the resource, its `Location` and ETag; a client may then ask for its scope and gets a
    token whose `aud` is the resource's identifier (RFC 8707 section 2), with no wait for the registry to reload."""
    body = _new(name="Stock API", access_token_ttl=120)
    status, created, resp = await call(http, admin, "POST", admin_url + "/admin/v1/resources", json=body)
    assert status == 201, created
    assert resp.headers["Location"] == f"/admin/v1/resources/{created['id']}" and resp.headers["ETag"]
    assert created["identifier"] == body["identifier"] and created["scopes"] == body["scopes"]
    assert created["built_in"] is False

    status, listed, _ = await call(http, admin, "GET", admin_url + "/admin/v1/resources")
    assert status == 200 and listed["next_cursor"] is None
    ids = [r["id"] for r in listed["items"]]
    assert ids[:2] == ["admin", "notes"] and created["id"] in ids
    assert listed["items"][0]["built_in"] is True

    client = await make_client(db, grant_types=("client_credentials",), scope=body["scopes"][0], redirect_uris=())
    status, token, _ = await token_request(
        http, authz, client, grant_type="client_credentials", resource=body["identifier"]
    )
    assert status == 200, token
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert claims["aud"] == body["identifier"] and token["expires_in"] == 120


async def test_bad_input_is_a_problem_naming_the_member_and_stores_nothing(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str
) -> None:
    """RFC 9457 problem details: a missing or malformed member is 400 naming it; an identifier with a fragment is not
    a resource indicator (RFC 8707 section 2); a scope another resource declares is 409."""
    url = admin_url + "/admin/v1/resources"
    _, before, _ = await call(http, admin, "GET", url)
    cases: list[tuple[object, int, str | None]] = [
        ({"scopes": ["a:b"]}, 400, "identifier"),
        (_new(identifier="https://api.example/#frag"), 400, "identifier"),
        (_new(identifier="not a uri"), 400, "identifier"),
        (_new(scopes="stock:read"), 400, "scopes"),
        (_new(colour="blue"), 400, "colour"),
        (_new(access_token_ttl=5), 400, "access_token_ttl"),
        (_new(scopes=["notes:read"]), 409, None),
        ([1, 2], 400, None),
    ]
    for document, expected, field in cases:
        status, problem, resp = await call(http, admin, "POST", url, json=document)
        assert_problem(status, problem, resp, expected, field)
    _, after, _ = await call(http, admin, "GET", url)
    assert after == before


async def test_updates_honour_if_match_and_deletes_go_once(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str
) -> None:
    """`PATCH` with a stale `If-Match` is 412 and changes nothing (RFC 9110 section 13.1.1); with the current ETag it
    changes what it names; `DELETE` answers 204, then 404; unknown ids are 404."""
    _, created, resp = await call(http, admin, "POST", admin_url + "/admin/v1/resources", json=_new())
    url = f"{admin_url}/admin/v1/resources/{created['id']}"
    etag = resp.headers["ETag"]
    status, problem, resp = await call(http, admin, "PATCH", url, json={"name": "x"}, headers={"If-Match": '"stale"'})
    assert_problem(status, problem, resp, 412, None)
    status, changed, resp = await call(http, admin, "PATCH", url, json={"name": "Renamed"}, headers={"If-Match": etag})
    assert status == 200 and changed["name"] == "Renamed" and resp.headers["ETag"] != etag
    status, problem, resp = await call(http, admin, "DELETE", url, headers={"If-Match": etag})
    assert_problem(status, problem, resp, 412, None)
    status, _, _ = await call(http, admin, "DELETE", url)
    assert status == 204
    for method in ("GET", "PATCH", "DELETE"):
        status, problem, resp = await call(http, admin, method, url, json={"name": "y"} if method == "PATCH" else None)
        assert_problem(status, problem, resp, 404, None)


async def test_the_built_in_entries_stay_as_they_are(http: aiohttp.ClientSession, admin: Admin, admin_url: str) -> None:
    """The admin API's entry cannot be changed or deleted, nor the notes API deleted or moved off
    AUTHORIUM_RESOURCE_URL: 409, and both are as before."""
    base = admin_url + "/admin/v1/resources"
    _, before, _ = await call(http, admin, "GET", base)
    for method, path, body in (
        ("PATCH", "/admin", {"scopes": ["x:y"]}),
        ("DELETE", "/admin", None),
        ("DELETE", "/notes", None),
        ("PATCH", "/notes", {"identifier": "https://elsewhere.example/"}),
    ):
        status, problem, resp = await call(http, admin, method, base + path, json=body)
        assert_problem(status, problem, resp, 409, None)
    _, after, _ = await call(http, admin, "GET", base)
    assert after == before


async def test_every_change_is_an_audit_event_naming_the_admin_client(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str
) -> None:
    """Registering, changing and removing a resource each write an audit event whose actor is the admin client."""
    _, created, _ = await call(http, admin, "POST", admin_url + "/admin/v1/resources", json=_new())
    url = f"{admin_url}/admin/v1/resources/{created['id']}"
    await call(http, admin, "PATCH", url, json={"name": "n"})
    await call(http, admin, "DELETE", url)
    for event in ("resource_created", "resource_updated", "resource_deleted"):
        _, page, _ = await call(http, admin, "GET", admin_url + "/admin/v1/audit-events", params={"type": event})
        mine = [e for e in page["items"] if e["details"].get("resource_id") == created["id"]]
        assert len(mine) == 1, (event, page)
        assert mine[0]["details"]["actor"] == f"client:{admin.client.client_id}"
