"""DPoP at the resource server (RFC 9449 section 7), over HTTP: a DPoP-bound token is accepted with the DPoP scheme
and a proof for the request by its key (sections 4.3 and 7.1), and refused as a bearer token (section 7.2), with
another key's proof, without a proof or with a bad one, replayed (section 11.1), without the server's nonce when
it asks for one (section 9); every refusal is 401 with both challenges, the DPoP one naming `algs`."""

from __future__ import annotations

import re
import time
from typing import Any

import aiohttp
import asyncpg
import pytest

from authorium_shared import dpop
from authorium_shared.settings import ConfigError
from resource_server.access import REALM
from resource_server.settings import ResourceSettings
from tests.authz.flows import make_client
from tests.dpop import DPoPKey
from tests.resource.conftest import RESOURCE_URL, ResourceFactory, bearer, service_token

# The resource server's public URI (AUTHORIUM_RESOURCE_URL), which proofs name: not where the test server listens,
# as behind a reverse proxy.
ME = RESOURCE_URL + "/api/me"
ALGS = " ".join(dpop.ALGORITHMS)


class Bound:
    def __init__(self, token: str, key: DPoPKey) -> None:
        self.token = token
        self.key = key

    def headers(self, method: str = "GET", url: str = ME, **proof: Any) -> dict[str, str]:
        return {
            "Authorization": f"DPoP {self.token}",
            "DPoP": self.key.proof(method, url, access_token=self.token, **proof),
        }


async def bound_token(http: aiohttp.ClientSession, authz: str, db: asyncpg.Pool, key: DPoPKey | None = None) -> Bound:
    key = key or DPoPKey()
    client = await make_client(db, grant_types=("client_credentials",), scope="notes:read", redirect_uris=())
    async with http.post(
        authz + "/token",
        data={"grant_type": "client_credentials"},
        headers={**client.basic, "DPoP": key.proof("POST", authz + "/token")},
    ) as resp:
        body = await resp.json()
        assert (resp.status, body.get("token_type")) == (200, "DPoP"), body
    return Bound(body["access_token"], key)


@pytest.fixture(scope="module")
async def caller(module_http: aiohttp.ClientSession, authz: str, module_db: asyncpg.Pool) -> Bound:
    return await bound_token(module_http, authz, module_db)


_PARAM = re.compile(r'(?:([A-Za-z]+) )?(\w+)="([^"]*)"(?:, |$)')


def challenges(resp: aiohttp.ClientResponse) -> dict[str, dict[str, str]]:
    """The one WWW-Authenticate header's challenges by scheme, in order (RFC 9110 section 11.6.1)."""
    values = resp.headers.getall("WWW-Authenticate", [])
    assert len(values) == 1, values
    found: dict[str, dict[str, str]] = {}
    scheme = ""
    for match in _PARAM.finditer(values[0]):
        if match[1]:
            scheme = match[1]
            found[scheme] = {}
        found[scheme][match[2]] = match[3]
    return found


async def refused(
    http: aiohttp.ClientSession, api: str, headers: dict[str, str], error: str, *, scheme: str = "DPoP"
) -> tuple[dict[str, dict[str, str]], aiohttp.ClientResponse]:
    """401 with `error` in the challenge of `scheme`, which comes first, and the other scheme's challenge after it;
    the DPoP one names the algorithms (section 7.1)."""
    async with http.get(api + "/api/me", headers=headers) as resp:
        body = await resp.json()
        assert resp.status == 401, body
        found = challenges(resp)
    assert next(iter(found)) == scheme, found
    assert set(found) == {"Bearer", "DPoP"}, found
    assert found[scheme]["error"] == error == body["error"], (found, body)
    assert found["DPoP"]["algs"] == ALGS
    assert found["Bearer"]["realm"] == found["DPoP"]["realm"] == REALM
    assert resp.headers["Cache-Control"] == "no-store"
    return found, resp


async def test_section_7_1_a_bound_token_with_its_proof_is_accepted(
    api: str, module_http: aiohttp.ClientSession, caller: Bound
) -> None:
    """/api/me shows the token type and the key it is bound to (section 6.1's `cnf`)."""
    async with module_http.get(api + "/api/me", headers=caller.headers()) as resp:
        body = await resp.json()
        assert resp.status == 200, body
    assert body["token_type"] == "DPoP"
    assert body["cnf"] == {"jkt": caller.key.jkt}


async def test_section_7_1_the_scheme_name_is_case_insensitive(
    api: str, module_http: aiohttp.ClientSession, caller: Bound
) -> None:
    headers = caller.headers()
    headers["Authorization"] = "dpop " + caller.token
    async with module_http.get(api + "/api/me", headers=headers) as resp:
        assert resp.status == 200, await resp.text()


async def test_section_7_2_a_bound_token_presented_as_bearer_is_invalid_token(
    api: str, module_http: aiohttp.ClientSession, caller: Bound
) -> None:
    for headers in (bearer(caller.token), {**bearer(caller.token), "DPoP": caller.headers()["DPoP"]}):
        await refused(module_http, api, headers, "invalid_token", scheme="Bearer")


async def test_section_7_1_a_proof_by_another_key_is_invalid_token(
    api: str, module_http: aiohttp.ClientSession, caller: Bound
) -> None:
    other = Bound(caller.token, DPoPKey())
    found, _ = await refused(module_http, api, other.headers(), "invalid_token")
    assert "another key" in found["DPoP"]["error_description"]


async def test_section_7_1_an_unbound_token_with_the_dpop_scheme_is_invalid_token(
    api: str, module_http: aiohttp.ClientSession, authz: str, module_db: asyncpg.Pool
) -> None:
    plain = await service_token(module_http, authz, module_db, scope="notes:read")
    await refused(module_http, api, Bound(plain.token, DPoPKey()).headers(), "invalid_token")
    # As a bearer token it works as before.
    async with module_http.get(api + "/api/me", headers=plain.headers) as resp:
        assert (resp.status, (await resp.json())["token_type"]) == (200, "Bearer")


def _bad(caller: Bound, api: str) -> dict[str, dict[str, str]]:
    now = int(time.time())
    good = caller.headers()
    return {
        "missing proof": {"Authorization": good["Authorization"]},
        "not a JWT": {**good, "DPoP": "x.y.z"},
        "wrong htm": caller.headers("POST"),
        "wrong htu": caller.headers(url=RESOURCE_URL + "/api/notes"),
        "htu of the listening address": caller.headers(url=api + "/api/me"),
        "stale iat": caller.headers(iat=now - 600),
        "missing ath": caller.headers(drop=("ath",)),
        "wrong ath": caller.headers(ath="A" * 43),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing proof",
        "not a JWT",
        "wrong htm",
        "wrong htu",
        "htu of the listening address",
        "stale iat",
        "missing ath",
        "wrong ath",
    ],
)
async def test_section_4_3_a_missing_or_invalid_proof_is_invalid_dpop_proof(
    api: str, module_http: aiohttp.ClientSession, caller: Bound, case: str
) -> None:
    """Section 4.3's checks at a protected resource, `ath` (check 12) among them; section 7.1's 401."""
    await refused(module_http, api, _bad(caller, api)[case], "invalid_dpop_proof")


async def test_section_4_3_two_dpop_headers_are_refused(
    api: str, module_http: aiohttp.ClientSession, caller: Bound
) -> None:
    headers = [
        ("Authorization", f"DPoP {caller.token}"),
        ("DPoP", caller.headers()["DPoP"]),
        ("DPoP", caller.headers()["DPoP"]),
    ]
    async with module_http.get(api + "/api/me", headers=headers) as resp:
        assert resp.status == 401
        assert (await resp.json())["error"] == "invalid_dpop_proof"


async def test_section_11_1_a_replayed_proof_is_refused(
    api: str, module_http: aiohttp.ClientSession, caller: Bound
) -> None:
    headers = caller.headers()
    async with module_http.get(api + "/api/me", headers=headers) as resp:
        assert resp.status == 200, await resp.text()
    found, _ = await refused(module_http, api, headers, "invalid_dpop_proof")
    assert "used before" in found["DPoP"]["error_description"]


async def test_section_7_1_no_credentials_get_both_bare_challenges(
    api: str, module_http: aiohttp.ClientSession
) -> None:
    async with module_http.get(api + "/api/me") as resp:
        assert resp.status == 401
        found = challenges(resp)
    assert found == {"Bearer": {"realm": REALM}, "DPoP": {"realm": REALM, "algs": ALGS}}


async def test_section_9_a_required_nonce_is_handed_out_then_accepted(
    start_resource: ResourceFactory, http: aiohttp.ClientSession, authz: str, db: asyncpg.Pool
) -> None:
    """Section 9: 401 use_dpop_nonce with a DPoP-Nonce header; the request again with that nonce succeeds. A
    replica with the same secret accepts it too; the authorization server's nonces are not the resource's."""
    caller = await bound_token(http, authz, db)
    env = {
        "AUTHORIUM_RESOURCE_URL": RESOURCE_URL,
        "AUTHORIUM_DPOP_NONCE_REQUIRED": "true",
        "AUTHORIUM_DPOP_NONCE_SECRET": "s" * 32,
    }
    async with start_resource(**env) as api, start_resource(**env) as replica:
        _, resp = await refused(http, api, caller.headers(), "use_dpop_nonce")
        nonce = resp.headers["DPoP-Nonce"]
        await refused(http, api, caller.headers(nonce="made-up"), "use_dpop_nonce")
        for server in (api, replica):
            async with http.get(server + "/api/me", headers=caller.headers(nonce=nonce)) as answer:
                assert answer.status == 200, await answer.text()
    async with start_resource(**{**env, "AUTHORIUM_DPOP_NONCE_SECRET": "t" * 32}) as elsewhere:
        await refused(http, elsewhere, caller.headers(nonce=nonce), "use_dpop_nonce")


async def test_section_9_requiring_nonces_without_a_secret_stops_start_up(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="AUTHORIUM_DPOP_NONCE_SECRET"):
        ResourceSettings.from_env({**environ, "AUTHORIUM_DPOP_NONCE_REQUIRED": "true"})
    with pytest.raises(ConfigError, match="AUTHORIUM_DPOP_NONCE_SECRET"):
        ResourceSettings.from_env(
            {**environ, "AUTHORIUM_DPOP_NONCE_REQUIRED": "true", "AUTHORIUM_DPOP_NONCE_SECRET": "short"}
        )


async def test_section_7_1_insufficient_scope_is_told_in_the_dpop_challenge(
    api: str, module_http: aiohttp.ClientSession, caller: Bound
) -> None:
    """RFC 6750 section 3.1's insufficient_scope, for a DPoP-bound token: 403, in the DPoP challenge (the scheme the
    request used), with the scope needed."""
    headers = {**caller.headers("POST", RESOURCE_URL + "/api/notes"), "Content-Type": "application/json"}
    async with module_http.post(api + "/api/notes", data=b'{"title": "t"}', headers=headers) as resp:
        assert resp.status == 403
        found = challenges(resp)
    assert next(iter(found)) == "DPoP", found
    assert found["DPoP"]["error"] == "insufficient_scope"
    assert found["DPoP"]["scope"] == "notes:write"
