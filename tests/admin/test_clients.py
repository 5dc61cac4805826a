"""The admin API's clients (DESIGN.md, "Admin API"): list with keyset pagination, show with an ETag, create, update
with `If-Match` (RFC 9110 section 13.1.1), disable and enable, delete, rotate the secret with an overlap; bad input as
RFC 9457 problem details naming the member, and nothing written."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import asyncpg

from tests.admin.conftest import Admin, assert_problem, call
from tests.authz.flows import RegisteredClient, token_request

SERVICE = {"grant_types": ["client_credentials"], "scopes": ["notes:read"]}


async def create(http: aiohttp.ClientSession, admin: Admin, admin_url: str, **fields: Any) -> dict[str, Any]:
    body = {"name": f"svc {uuid.uuid4().hex[:8]}", **SERVICE, **fields}
    status, created, resp = await call(http, admin, "POST", admin_url + "/admin/v1/clients", json=body)
    assert status == 201, created
    assert resp.headers["Location"] == f"/admin/v1/clients/{created['client_id']}"
    return dict(created)


async def client_credentials(http: aiohttp.ClientSession, authz: str, client_id: str, secret: str) -> int:
    status, _, _ = await token_request(
        http, authz, RegisteredClient(client_id, secret), grant_type="client_credentials"
    )
    return status


async def test_a_client_is_created_shown_and_listed(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str, authz: str
) -> None:
    """POST answers 201 with `client_id` and `client_secret` (shown only then); GET shows it without the secret and
    with a strong ETag; the listing is `{"items", "next_cursor"}` and filters by name."""
    created = await create(http, admin, admin_url, redirect_uris=["https://app.example/cb"])
    client_id, secret = created["client_id"], created["client_secret"]
    assert await client_credentials(http, authz, client_id, secret) == 200

    status, shown, resp = await call(http, admin, "GET", f"{admin_url}/admin/v1/clients/{client_id}")
    assert status == 200
    assert resp.headers["ETag"].startswith('"') and resp.headers["Cache-Control"] == "no-store"
    assert "client_secret" not in shown and secret not in await resp.text()
    assert shown["name"] == created["name"]
    assert shown["grant_types"] == ["client_credentials"] and shown["scopes"] == ["notes:read"]
    assert shown["disabled"] is False and shown["public"] is False

    status, listed, _ = await call(
        http, admin, "GET", f"{admin_url}/admin/v1/clients", params={"name": created["name"].upper()}
    )
    assert status == 200
    assert [c["client_id"] for c in listed["items"]] == [client_id]
    assert listed["next_cursor"] is None


async def test_listings_page_with_a_cursor(http: aiohttp.ClientSession, admin: Admin, admin_url: str) -> None:
    """Keyset pagination: `limit` items and a `next_cursor` that continues where the page ended, to the end."""
    marker = uuid.uuid4().hex[:8]
    made = sorted([(await create(http, admin, admin_url, name=f"paged {marker} {i}"))["client_id"] for i in range(3)])
    seen: list[str] = []
    params: dict[str, str] = {"name": marker, "limit": "2"}
    while True:
        status, page, _ = await call(http, admin, "GET", f"{admin_url}/admin/v1/clients", params=params)
        assert status == 200, page
        assert len(page["items"]) <= 2
        seen += [c["client_id"] for c in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == made
    for bad in ({"limit": "0"}, {"limit": "x"}, {"cursor": "not-a-cursor"}, {"disabled": "maybe"}):
        status, body, resp = await call(http, admin, "GET", f"{admin_url}/admin/v1/clients", params=bad)
        assert_problem(status, body, resp, 400, next(iter(bad)))


async def test_an_update_changes_what_it_names_and_honours_if_match(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str, authz: str
) -> None:
    """PATCH changes the members it names; an `If-Match` that is not the current ETag is 412 and changes nothing
    (RFC 9110 section 13.1.1); the token lifetime set is the one tokens get."""
    created = await create(http, admin, admin_url)
    url = f"{admin_url}/admin/v1/clients/{created['client_id']}"
    _, _, first = await call(http, admin, "GET", url)
    etag = first.headers["ETag"]
    change = {"name": "renamed", "access_token_ttl": 120, "scopes": ["notes:read", "notes:write"]}
    status, updated, resp = await call(http, admin, "PATCH", url, json=change, headers={"If-Match": etag})
    assert status == 200, updated
    assert (updated["name"], updated["access_token_ttl"], updated["scopes"]) == (
        "renamed",
        120,
        ["notes:read", "notes:write"],
    )
    assert resp.headers["ETag"] != etag
    status, body, resp = await call(http, admin, "PATCH", url, json={"name": "lost"}, headers={"If-Match": etag})
    assert_problem(status, body, resp, 412, None)
    status, body, resp = await call(http, admin, "DELETE", url, headers={"If-Match": etag})
    assert_problem(status, body, resp, 412, None)
    _, shown, _ = await call(http, admin, "GET", url)
    assert shown["name"] == "renamed"
    status, token, _ = await token_request(
        http, authz, RegisteredClient(created["client_id"], created["client_secret"]), grant_type="client_credentials"
    )
    assert status == 200 and token["expires_in"] == 120


async def test_bad_input_is_a_problem_naming_the_member_and_writes_nothing(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str, db: asyncpg.Pool
) -> None:
    """RFC 9457: `application/problem+json` with `invalid_params` naming the member; no client is stored, and an
    update refused leaves the client as it was."""
    name = f"bad {uuid.uuid4().hex[:8]}"
    cases: list[tuple[Any, str | None]] = [
        ({"name": name, "colour": "red"}, "colour"),
        ({"name": 42}, "name"),
        ({"grant_types": ["client_credentials"]}, "name"),
        ({"name": name, "grant_types": ["password"]}, "grant_types"),
        (
            {"name": name, "grant_types": ["authorization_code"], "redirect_uris": ["http://evil.example/cb"]},
            "redirect_uris",
        ),
        ({"name": name, **SERVICE, "scopes": ["bad\\scope"]}, "scopes"),
        ({"name": name, **SERVICE, "access_token_ttl": 10**6}, "access_token_ttl"),
        ({"name": name, **SERVICE, "id_token_signed_response_alg": "none"}, "id_token_signed_response_alg"),
        ({"name": name, **SERVICE, "disabled": True}, "disabled"),
        (["not", "an", "object"], None),
    ]
    for body, field in cases:
        status, answer, resp = await call(http, admin, "POST", f"{admin_url}/admin/v1/clients", json=body)
        assert_problem(status, answer, resp, 400, field)
    async with http.post(
        f"{admin_url}/admin/v1/clients",
        data=b"{not json",
        headers={**admin.headers, "Content-Type": "application/json"},
    ) as resp:
        assert resp.status == 400 and resp.content_type == "application/problem+json"
    assert await db.fetchval("SELECT count(*) FROM clients WHERE name = $1", name) == 0

    created = await create(http, admin, admin_url)
    url = f"{admin_url}/admin/v1/clients/{created['client_id']}"
    _, before, _ = await call(http, admin, "GET", url)
    for body, field in [({"name": "x", "grant_types": []}, "grant_types"), ({"public": True}, "public")]:
        status, answer, resp = await call(http, admin, "PATCH", url, json=body)
        assert_problem(status, answer, resp, 400, field)
    _, after, _ = await call(http, admin, "GET", url)
    assert after == before


async def test_unknown_clients_are_404_and_deleting_twice_is_404(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str, authz: str
) -> None:
    created = await create(http, admin, admin_url)
    url = f"{admin_url}/admin/v1/clients/{created['client_id']}"
    for method, path, body in [
        ("GET", "/admin/v1/clients/nope", None),
        ("PATCH", "/admin/v1/clients/nope", {"name": "x"}),
        ("DELETE", "/admin/v1/clients/nope", None),
        ("POST", "/admin/v1/clients/nope/secret", {}),
    ]:
        status, answer, resp = await call(http, admin, method, admin_url + path, json=body)
        assert_problem(status, answer, resp, 404, None)
    status, _, _ = await call(http, admin, "DELETE", url)
    assert status == 204
    assert await client_credentials(http, authz, created["client_id"], created["client_secret"]) == 401
    status, answer, resp = await call(http, admin, "DELETE", url)
    assert_problem(status, answer, resp, 404, None)


async def test_a_disabled_client_cannot_authenticate_until_enabled(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str, authz: str
) -> None:
    """`PATCH {"disabled": true}`: the client's next token request is `invalid_client` at once (RFC 6749 section
    5.2), and its access tokens are inactive at introspection (RFC 7662 section 2.2); enabling it lets it in again,
    while tokens from before stay revoked."""
    created = await create(http, admin, admin_url)
    client_id, secret = created["client_id"], created["client_secret"]
    client = RegisteredClient(client_id, secret)
    _, before, _ = await token_request(http, authz, client, grant_type="client_credentials")
    url = f"{admin_url}/admin/v1/clients/{client_id}"
    status, shown, _ = await call(http, admin, "PATCH", url, json={"disabled": True})
    assert status == 200 and shown["disabled"] is True
    assert await client_credentials(http, authz, client_id, secret) == 401

    status, _, _ = await call(http, admin, "PATCH", url, json={"disabled": False})
    assert status == 200
    _, after, _ = await token_request(http, authz, client, grant_type="client_credentials")
    for token, active in ((before["access_token"], False), (after["access_token"], True)):
        async with http.post(authz + "/introspect", data={"token": token}, headers=client.basic) as resp:
            assert (await resp.json())["active"] is active


async def test_the_old_secret_works_during_the_overlap_and_not_after(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str, authz: str
) -> None:
    """`POST .../secret` answers `{"client_secret": ...}`; with `overlap` the old secret keeps working that many
    seconds, then is refused; without, the old one is refused at once."""
    created = await create(http, admin, admin_url)
    client_id, old = created["client_id"], created["client_secret"]
    url = f"{admin_url}/admin/v1/clients/{client_id}/secret"
    status, rotated, _ = await call(http, admin, "POST", url, json={"overlap": 2})
    assert status == 200 and set(rotated) == {"client_secret"}
    new = rotated["client_secret"]
    assert [await client_credentials(http, authz, client_id, s) for s in (old, new)] == [200, 200]
    await asyncio.sleep(2.2)  # the window itself is what is under test
    assert [await client_credentials(http, authz, client_id, s) for s in (old, new)] == [401, 200]

    status, rotated, _ = await call(http, admin, "POST", url)
    assert status == 200
    assert [await client_credentials(http, authz, client_id, s) for s in (new, rotated["client_secret"])] == [401, 200]
    for body, field in [({"overlap": 86401}, "overlap"), ({"overlap": "60"}, "overlap"), ({"more": 1}, "more")]:
        status, answer, resp = await call(http, admin, "POST", url, json=body)
        assert_problem(status, answer, resp, 400, field)


async def test_every_change_is_an_audit_event_naming_the_admin_client(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str, db: asyncpg.Pool
) -> None:
    created = await create(http, admin, admin_url)
    url = f"{admin_url}/admin/v1/clients/{created['client_id']}"
    await call(http, admin, "PATCH", url, json={"name": "audited", "disabled": True})
    await call(http, admin, "POST", url + "/secret")
    await call(http, admin, "DELETE", url)
    rows = await db.fetch(
        "SELECT event, details->>'actor' AS actor FROM audit_events WHERE client_id = $1 ORDER BY id",
        created["client_id"],
    )
    assert [(r["event"], r["actor"]) for r in rows] == [
        (event, f"client:{admin.client.client_id}")
        for event in (
            "client_registered",
            "client_updated",
            "client_disabled",
            "client_secret_rotated",
            "client_deleted",
        )
    ]


async def test_a_client_registered_under_older_rules_can_still_be_disabled(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str, db: asyncpg.Pool
) -> None:
    """Disabling checks nothing but the client's existence: a registration today's rules would refuse (here a plain
    http redirect URI off loopback, RFC 9700 section 2.1) must not keep it enabled."""
    created = await create(
        http, admin, admin_url, grant_types=["authorization_code"], redirect_uris=["https://a.example/cb"]
    )
    await db.execute(
        "UPDATE clients SET redirect_uris = '{http://legacy.example/cb}' WHERE client_id = $1", created["client_id"]
    )
    url = f"{admin_url}/admin/v1/clients/{created['client_id']}"
    status, shown, _ = await call(http, admin, "PATCH", url, json={"disabled": True})
    assert status == 200, shown
    assert shown["disabled"] is True and shown["redirect_uris"] == ["http://legacy.example/cb"]
    status, answer, resp = await call(http, admin, "PATCH", url, json={"name": "renamed"})
    assert_problem(status, answer, resp, 400, "redirect_uris")


async def test_the_introspect_permission_is_granted_and_withdrawn_through_the_api(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str, authz: str
) -> None:
    """`introspect` (RFC 7662 section 2.1): a client created with it sees another client's token as active; after
    `PATCH {"introspect": false}` only its own tokens; a public client cannot be given it (400 naming the member)."""
    issuer = await create(http, admin, admin_url)
    _, issued, _ = await token_request(
        http, authz, RegisteredClient(issuer["client_id"], issuer["client_secret"]), grant_type="client_credentials"
    )
    server = await create(http, admin, admin_url, introspect=True)
    assert server["introspect"] is True
    basic = RegisteredClient(server["client_id"], server["client_secret"]).basic

    async def active() -> bool:
        async with http.post(authz + "/introspect", data={"token": issued["access_token"]}, headers=basic) as resp:
            assert resp.status == 200
            return bool((await resp.json())["active"])

    assert await active() is True
    url = f"{admin_url}/admin/v1/clients/{server['client_id']}"
    status, shown, _ = await call(http, admin, "PATCH", url, json={"introspect": False})
    assert status == 200 and shown["introspect"] is False
    assert await active() is False

    body = {"name": "spa", "public": True, "grant_types": ["authorization_code"]}
    body["redirect_uris"] = ["https://spa.example/cb"]
    status, problem, _ = await call(
        http, admin, "POST", admin_url + "/admin/v1/clients", json={**body, "introspect": True}
    )
    assert status == 400, problem
    assert problem["invalid_params"][0]["name"] == "introspect"


# A registered resource (the notes API, AUTHORIUM_RESOURCE_URL's default): what `may_exchange_for` may name.
NOTES_API = "http://127.0.0.1:8001"


async def test_the_admin_api_creates_and_changes_the_members(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str
) -> None:
    """The admin API takes the same members as registration, plus the operator's `may_exchange_for`; a client that
    signs its assertions with its key is given no secret, and has none to rotate."""
    body = {
        "name": "key client",
        "grant_types": ["client_credentials"],
        "scopes": ["notes:read"],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks_uri": "https://svc.example/jwks",
        "may_exchange_for": [NOTES_API],
    }
    status, created, _ = await call(http, admin, "POST", admin_url + "/admin/v1/clients", json=body)
    assert status == 201, created
    assert "client_secret" not in created
    assert created["jwks_uri"] == "https://svc.example/jwks" and created["may_exchange_for"] == body["may_exchange_for"]
    url = f"{admin_url}/admin/v1/clients/{created['client_id']}"
    status, changed, _ = await call(
        http, admin, "PATCH", url, json={"dpop_bound_access_tokens": True, "may_exchange_for": []}
    )
    assert status == 200, changed
    assert changed["dpop_bound_access_tokens"] is True and changed["may_exchange_for"] == []
    assert changed["jwks_uri"] == "https://svc.example/jwks"  # what was not named stays
    status, problem, resp = await call(http, admin, "POST", url + "/secret", json={})
    assert_problem(status, problem, resp, 400, None)
    status, problem, resp = await call(http, admin, "PATCH", url, json={"jwks": "nope"})
    assert_problem(status, problem, resp, 400, "jwks")
