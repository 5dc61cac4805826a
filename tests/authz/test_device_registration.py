"""Registering a device client (RFC 8628 section 4 names the grant type for RFC 7591's `grant_types`): the rules every
registration follows, and dynamic registration under the operator's policy."""

from __future__ import annotations

import aiohttp
import asyncpg
import pytest

from authorium_shared.errors import InvalidClientMetadata
from authz.clients.registration import build_spec
from tests.authz.conftest import AuthzFactory
from tests.authz.devices import DEVICE_GRANT, codes
from tests.authz.flows import RegisteredClient
from tests.authz.test_register import TOKEN, count_clients, register


def test_a_public_device_client_needs_no_redirect_uri_and_may_have_refresh_tokens() -> None:
    spec = build_spec(
        name="tv", grant_types=[DEVICE_GRANT, "refresh_token"], redirect_uris=[], scope="notes:read", public=True
    )
    assert spec.grant_types == (DEVICE_GRANT, "refresh_token") and spec.redirect_uris == ()
    assert spec.token_endpoint_auth_method == "none"


@pytest.mark.parametrize("grants", [["refresh_token"], ["client_credentials", "refresh_token"]])
def test_refresh_tokens_still_need_a_grant_a_person_authorizes(grants: list[str]) -> None:
    with pytest.raises(InvalidClientMetadata) as refused:
        build_spec(name="svc", grant_types=grants, redirect_uris=[], scope="notes:read", public=False)
    assert DEVICE_GRANT in (refused.value.description or "")


async def test_dynamic_registration_allows_the_device_grant_where_the_operator_does(
    start_authz: AuthzFactory, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    document = {
        "grant_types": [DEVICE_GRANT, "refresh_token"],
        "token_endpoint_auth_method": "none",
        "scope": "notes:read",
        "client_name": "living-room tv",
    }
    before = await count_clients(db)
    async with start_authz(AUTHORIUM_REGISTRATION_TOKEN=TOKEN) as authz:
        status, answer, _ = await register(http, authz, document)
        assert (status, answer.get("error")) == (400, "invalid_client_metadata"), answer
        assert DEVICE_GRANT in answer["error_description"]
    assert await count_clients(db) == before
    policy = f"authorization_code refresh_token {DEVICE_GRANT}"
    async with start_authz(AUTHORIUM_REGISTRATION_TOKEN=TOKEN, AUTHORIUM_REGISTRATION_GRANT_TYPES=policy) as authz:
        status, answer, _ = await register(http, authz, document)
        assert status == 201, answer
        assert answer["grant_types"] == [DEVICE_GRANT, "refresh_token"] and answer["response_types"] == []
        assert "client_secret" not in answer
        body = await codes(http, authz, RegisteredClient(answer["client_id"], None), scope="notes:read")
        assert body["user_code"]
