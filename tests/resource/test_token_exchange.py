"""Exchanged tokens (RFC 8693) at the APIs: the notes API's /api/me and the inventory example show who acts for the
user (`act`, section 4.1), the notes are still the user's, and revoking the user's grant stops the exchanged tokens
at the resource server as it stops the user's own."""

from __future__ import annotations

from typing import Any

import aiohttp
import asyncpg

from authz.resources.records import Resource
from tests.admin.conftest import call, make_admin
from tests.authz.flows import RegisteredClient, make_client
from tests.resource.conftest import (
    RESOURCE_URL,
    Caller,
    bearer,
    expect_refusal,
    revoke,
    unverified_claims,
    user_token,
)
from tests.resource.test_second_api import inventory, inventory_api  # noqa: F401 - the example API, as a fixture
from tests.servers import private_url
from tests.waiting import eventually

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"


async def service(db: asyncpg.Pool, *may_exchange_for: str) -> RegisteredClient:
    return await make_client(db, grant_types=(GRANT,), redirect_uris=(), may_exchange_for=may_exchange_for)


async def exchanged(
    http: aiohttp.ClientSession, authz: str, caller: RegisteredClient, subject_token: str, *extra: tuple[str, str]
) -> str:
    form = [("grant_type", GRANT), ("subject_token", subject_token), ("subject_token_type", ACCESS_TOKEN), *extra]
    async with http.post(f"{authz}/token", data=form, headers=caller.basic) as resp:
        body: dict[str, Any] = await resp.json()
        assert resp.status == 200, body
    return str(body["access_token"])


async def me(http: aiohttp.ClientSession, api: str, token: str) -> dict[str, Any]:
    async with http.get(api + "/api/me", headers=bearer(token)) as resp:
        body: dict[str, Any] = await resp.json()
        assert resp.status == 200, body
        return body


async def test_section_4_1_api_me_shows_who_acts_along_a_chain(
    authz: str, api: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 8693 section 4.1 at the notes API: service A exchanges the user's token, service B exchanges A's; B's
    token is the user's (their notes, `kind` user) and /api/me names B as the actor with A nested. The user's own
    token shows no `act`."""
    user = await user_token(http, authz, db)
    a = await service(db, RESOURCE_URL)
    b = await service(db, RESOURCE_URL)
    async with http.post(api + "/api/notes", json={"title": "mine", "body": "x"}, headers=user.headers) as resp:
        assert resp.status == 201, await resp.text()
    assert "act" not in await me(http, api, user.token)

    first = await exchanged(http, authz, a, user.token, ("resource", RESOURCE_URL))
    second = await exchanged(http, authz, b, first, ("resource", RESOURCE_URL), ("scope", "notes:read"))
    shown = await me(http, api, second)
    assert shown == {
        "sub": user.sub,
        "client_id": b.client_id,
        "scope": "notes:read",
        "kind": "user",
        "token_type": "Bearer",
        "act": {"sub": b.client_id, "act": {"sub": a.client_id}},
    }
    assert (await me(http, api, first))["act"] == {"sub": a.client_id}
    async with http.get(api + "/api/notes", headers=bearer(second)) as resp:
        notes = (await resp.json())["notes"]
        assert resp.status == 200
    assert [n["title"] for n in notes] == ["mine"]
    # notes:write was left behind at the second exchange.
    async with http.post(api + "/api/notes", json={"title": "t", "body": "b"}, headers=bearer(second)) as resp:
        assert resp.status == 403


async def _refused_eventually(http: aiohttp.ClientSession, api: str, token: str) -> None:
    async def refused() -> bool:
        async with http.get(api + "/api/me", headers=bearer(token)) as resp:
            return resp.status == 401

    await eventually(refused, timeout=5, message="the exchanged token to be refused")
    await expect_refusal(http, "GET", api + "/api/me", status=401, error="invalid_token", headers=bearer(token))


async def _exchanged_pair(
    http: aiohttp.ClientSession, authz: str, db: asyncpg.Pool
) -> tuple[Caller, str, RegisteredClient]:
    user = await user_token(http, authz, db)
    caller = await service(db, RESOURCE_URL)
    return user, await exchanged(http, authz, caller, user.token, ("resource", RESOURCE_URL)), caller


async def test_revoking_the_users_grant_through_the_admin_api_stops_the_exchanged_token(
    authz: str, api: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 8693 section 2.2.1 leaves the issued token's life to the server: an exchanged token carries the user's
    grant id, so DELETE /admin/v1/grants/{id} (DESIGN.md, "Admin API") stops it at the resource server too."""
    user, token, _ = await _exchanged_pair(http, authz, db)
    await me(http, api, token)
    admin = await make_admin(http, authz, db)
    grant_id = unverified_claims(user.token)["grant_id"]
    status, body, _ = await call(http, admin, "DELETE", f"{private_url(authz)}/admin/v1/grants/{grant_id}")
    assert status == 204, body
    await _refused_eventually(http, api, token)
    await _refused_eventually(http, api, user.token)


async def test_rfc7009_revoking_the_users_refresh_token_stops_the_exchanged_token(
    authz: str, api: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 7009 section 2.1: revoking a refresh token revokes the grant's access tokens too, and the exchanged
    one is among them (same grant id)."""
    user, token, caller = await _exchanged_pair(http, authz, db)
    await me(http, api, token)
    await revoke(http, authz, user, user.refresh_token)
    await _refused_eventually(http, api, token)
    # The exchange, too, is over for that grant.
    form = [("grant_type", GRANT), ("subject_token", user.token), ("subject_token_type", ACCESS_TOKEN)]
    async with http.post(f"{authz}/token", data=form, headers=caller.basic) as resp:
        assert resp.status == 400


async def test_section_4_1_the_inventory_example_shows_who_acts(
    authz: str,
    inventory: tuple[str, Resource],  # noqa: F811 - the imported fixture
    http: aiohttp.ClientSession,
    db: asyncpg.Pool,
) -> None:
    """RFC 8693 section 4.1 at the README's second API: the notes service exchanges the user's token for one the
    inventory API accepts (its `aud`), and the inventory API shows the user and who acts for them."""
    inventory_url, resource = inventory
    user = await user_token(http, authz, db, scope=f"notes:read {inventory_api.READ}")
    notes_service = await service(db, resource.identifier)
    token = await exchanged(http, authz, notes_service, user.token, ("audience", resource.identifier))
    async with http.get(inventory_url + "/api/items", headers=bearer(token)) as resp:
        body = await resp.json()
        assert resp.status == 200, body
    assert (body["sub"], body["client_id"]) == (user.sub, notes_service.client_id)
    assert body["act"] == {"sub": notes_service.client_id}


async def test_disabling_the_calling_service_stops_the_tokens_it_exchanged(
    authz: str, api: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """DESIGN.md, "Admin API": a disabled client's tokens stop working everywhere; an exchanged token is its
    client's (the service that exchanged it, RFC 8693 section 4.1), though its grant is the user's. The user's own
    token is not the service's, and keeps working."""
    user, token, caller = await _exchanged_pair(http, authz, db)
    await me(http, api, token)
    admin = await make_admin(http, authz, db)
    url = f"{private_url(authz)}/admin/v1/clients/{caller.client_id}"
    status, body, _ = await call(http, admin, "PATCH", url, json={"disabled": True})
    assert status == 200, body
    await _refused_eventually(http, api, token)
    assert (await me(http, api, user.token))["sub"] == user.sub
