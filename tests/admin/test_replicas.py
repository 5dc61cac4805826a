"""A client disabled through the admin API has its access tokens refused by every resource-server replica within a
second (its grants and its service grant are revoked, and the revocations announced), and its next client
credentials request refused at once (RFC 6749 section 5.2 `invalid_client`)."""

from __future__ import annotations

import aiohttp
import asyncpg

from tests.admin.conftest import Admin, call
from tests.authz.flows import token_request
from tests.resource.conftest import RESOURCE_URL, Caller, running_resource, service_token, user_token
from tests.waiting import eventually


async def _status(http: aiohttp.ClientSession, api: str, caller: Caller) -> int:
    async with http.get(api + "/api/me", headers=caller.headers) as resp:
        return resp.status


async def test_a_disabled_clients_tokens_are_refused_by_two_replicas_within_a_second(
    http: aiohttp.ClientSession,
    admin: Admin,
    admin_url: str,
    authz: str,
    db: asyncpg.Pool,
    environ: dict[str, str],
) -> None:
    service = await service_token(http, authz, db, scope="notes:read")
    person = await user_token(http, authz, db)
    env = {**environ, "AUTHORIUM_ISSUER": authz, "AUTHORIUM_RESOURCE_URL": RESOURCE_URL}
    async with running_resource(env) as one, running_resource(env) as two:
        callers = (service, person)
        assert [await _status(http, api, c) for api in (one, two) for c in callers] == [200] * 4
        for caller in callers:
            status, body, _ = await call(
                http, admin, "PATCH", f"{admin_url}/admin/v1/clients/{caller.client_id}", json={"disabled": True}
            )
            assert status == 200, body
        status, body, _ = await token_request(http, authz, service.client, grant_type="client_credentials")
        assert (status, body["error"]) == (401, "invalid_client")
        pending = {(api, i) for api in (one, two) for i in range(len(callers))}

        async def refused_everywhere() -> bool:
            for api, i in list(pending):
                if await _status(http, api, callers[i]) == 401:
                    pending.discard((api, i))
            assert not pending, f"still accepted: {sorted(pending)}"
            return True

        await eventually(refused_everywhere, timeout=1.0, interval=0.01, message="every replica to refuse the tokens")
