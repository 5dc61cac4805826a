"""The README's second API (examples/inventory_api.py) beside the notes API: a token is good only at the API it was
issued for (RFC 8707)."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import aiohttp
import asyncpg
import pytest

from authorium_shared.redis_keys import RedisKeys
from authorium_shared.resources import create_redis
from authz.resources.records import Resource
from authz.resources.registry import announce_change
from authz.resources.repository import ResourceRepository
from authz.settings import AuthzSettings
from tests.authz.flows import RegisteredClient, make_client, token_request
from tests.resource.conftest import RESOURCE_URL, bearer, challenge
from tests.servers import bound_socket, serve, url_of
from tests.waiting import eventually

EXAMPLE = Path(__file__).parents[2] / "examples" / "inventory_api.py"


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("inventory_api", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


inventory_api = _load_example()


async def _announce(settings: AuthzSettings) -> None:
    redis = create_redis(settings.common.redis_url)
    try:
        await announce_change(redis, RedisKeys(settings.common.redis_prefix))
    finally:
        await redis.aclose()


@pytest.fixture(scope="module")
async def inventory(
    module_environ: dict[str, str], authz: str, module_db: asyncpg.Pool
) -> AsyncIterator[tuple[str, Resource]]:
    """The example API, registered as a resource (as the README's `authorium resource create` does) and serving on a
    loopback port; the registration is removed afterwards (its scopes are fixed names)."""
    settings = AuthzSettings.from_env(module_environ)
    repository = ResourceRepository(module_db, settings)
    identifier = f"https://inventory-{uuid.uuid4().hex[:8]}.example"
    resource = await repository.create(
        identifier=identifier, scopes=[inventory_api.READ, inventory_api.WRITE], name="Inventory API"
    )
    await _announce(settings)
    sock = bound_socket()
    try:
        app = inventory_api.create_app(inventory_api.Settings(issuer=authz, identifier=identifier))
        async with serve(app, sock), aiohttp.ClientSession() as http:

            async def known() -> bool:
                async with http.get(authz + "/.well-known/openid-configuration") as resp:
                    return inventory_api.READ in (await resp.json())["scopes_supported"]

            await eventually(known, timeout=5, message="the authorization server to reload the registry")
            yield url_of(sock), resource
    finally:
        sock.close()
        await repository.delete(resource.resource_id)
        await _announce(settings)


async def _service_token(http: aiohttp.ClientSession, authz: str, client: RegisteredClient, **form: str) -> str:
    status, body, _ = await token_request(http, authz, client, grant_type="client_credentials", **form)
    assert status == 200, body
    return str(body["access_token"])


async def _refused(http: aiohttp.ClientSession, url: str, token: str) -> None:
    async with http.get(url, headers=bearer(token)) as resp:
        body = await resp.json()
        assert resp.status == 401, body
        scheme, params = challenge(resp)
    assert (scheme, params["error"], body["error"]) == ("Bearer", "invalid_token", "invalid_token")
    assert "aud" in body["error_description"] or "audience" in body["error_description"]


async def test_a_token_is_refused_by_the_api_it_was_not_issued_for(
    authz: str, api: str, inventory: tuple[str, Resource], http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 8707 section 2 with RFC 9068 section 4 and RFC 6750 section 3.1: a token is audience-restricted to the
    resource it was issued for; the other API answers 401 `invalid_token`, each way round. A token asked for both
    (`resource` twice) is good at both."""
    inventory_url, resource = inventory
    client = await make_client(
        db, grant_types=("client_credentials",), scope="notes:read notes:admin inventory:read", redirect_uris=()
    )
    for_inventory = await _service_token(http, authz, client, scope="inventory:read")
    for_notes = await _service_token(http, authz, client, scope="notes:read")

    async with http.get(inventory_url + "/api/items", headers=bearer(for_inventory)) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["client_id"] == client.client_id
    async with http.get(api + "/api/me", headers=bearer(for_notes)) as resp:
        assert resp.status == 200, await resp.text()

    await _refused(http, api + "/api/me", for_inventory)
    await _refused(http, inventory_url + "/api/items", for_notes)

    async with http.post(
        authz + "/token",
        data=[
            ("grant_type", "client_credentials"),
            ("resource", RESOURCE_URL),
            ("resource", resource.identifier),
            ("scope", "notes:read inventory:read"),
        ],
        headers=client.basic,
    ) as resp:
        assert resp.status == 200, await resp.text()
        for_both = (await resp.json())["access_token"]
    async with http.get(inventory_url + "/api/items", headers=bearer(for_both)) as resp:
        assert resp.status == 200
    async with http.get(api + "/api/me", headers=bearer(for_both)) as resp:
        assert resp.status == 200


async def test_the_example_wants_its_read_scope(
    authz: str, inventory: tuple[str, Resource], http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 6750 section 3.1: a token for the API without `inventory:read` is 403 `insufficient_scope`."""
    inventory_url, _ = inventory
    client = await make_client(db, grant_types=("client_credentials",), scope="inventory:write", redirect_uris=())
    token = await _service_token(http, authz, client)
    async with http.get(inventory_url + "/api/items", headers=bearer(token)) as resp:
        assert resp.status == 403
        _, params = challenge(resp)
    assert (params["error"], params["scope"]) == ("insufficient_scope", "inventory:read")
