"""DPoP at the authorization server (RFC 9449), over HTTP: tokens bound to the key of the proof the token request
carries (sections 5 and 6.1), the proof checks of section 4.3 with their refusals (`invalid_dpop_proof`, 400),
single use (section 11.1), server-provided nonces (section 8), codes bound by `dpop_jkt` (section 10), public
clients' bound refresh tokens (section 5), introspection (section 6.2), discovery (section 5.1)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import aiohttp
import asyncpg
import jwt
import pytest
from jwt.algorithms import ECAlgorithm

from tests.authz import devices, test_token_exchange
from tests.authz.conftest import AuthzFactory, Person
from tests.authz.flows import RegisteredClient, authorize, follow_authorization, make_client, pkce_pair
from tests.authz.test_authorization_code import DEFAULT_RESOURCE, code_for, introspect, verified
from tests.dpop import DPoPKey
from tests.processes import authorium

SCOPE = "notes:read notes:write"


@pytest.fixture
def authz(module_authz: str) -> str:
    return module_authz


async def token(
    http: aiohttp.ClientSession,
    authz: str,
    client: RegisteredClient,
    proof: str | list[str] | None,
    **form: str,
) -> tuple[int, dict[str, Any], aiohttp.ClientResponse]:
    """POST to /token with the DPoP header(s) `proof`, authenticating as `token_request` does."""
    headers: list[tuple[str, str]] = []
    data = dict(form)
    if client.secret is None:
        data["client_id"] = client.client_id
    else:
        headers.extend(client.basic.items())
    for value in [proof] if isinstance(proof, str) else proof or []:
        headers.append(("DPoP", value))
    async with http.post(f"{authz}/token", data=data, headers=headers) as resp:
        return resp.status, await resp.json(), resp


def claims_of(access_token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(access_token, options={"verify_signature": False})
    return claims


async def service(db: asyncpg.Pool) -> RegisteredClient:
    return await make_client(db, grant_types=("client_credentials",), scope=SCOPE, redirect_uris=())


def refused(status: int, body: dict[str, Any], error: str = "invalid_dpop_proof") -> None:
    assert (status, body.get("error")) == (400, error), body
    assert "access_token" not in body


async def test_section_5_a_token_request_with_a_proof_gets_a_dpop_bound_token(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """Section 5: token_type DPoP; section 6.1: the access token's `cnf.jkt` is the key's RFC 7638 thumbprint."""
    client, key = await service(db), DPoPKey()
    status, body, _ = await token(
        http, authz, client, key.proof("POST", authz + "/token"), grant_type="client_credentials"
    )
    assert status == 200, body
    assert body["token_type"] == "DPoP"
    claims = await verified(http, authz, body["access_token"], audience=DEFAULT_RESOURCE, typ="at+jwt")
    assert claims["cnf"] == {"jkt": key.jkt}


@pytest.mark.parametrize(
    "key", [DPoPKey.rsa(), DPoPKey.ed25519(), DPoPKey.rsa(alg="RS256")], ids=["PS256", "EdDSA", "RS256"]
)
async def test_section_4_2_every_advertised_asymmetric_algorithm_is_accepted(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, key: DPoPKey
) -> None:
    client = await service(db)
    status, body, _ = await token(
        http, authz, client, key.proof("POST", authz + "/token"), grant_type="client_credentials"
    )
    assert status == 200, body
    assert claims_of(body["access_token"])["cnf"] == {"jkt": key.jkt}


async def test_section_5_without_a_proof_the_token_stays_a_bearer_token(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    status, body, _ = await token(http, authz, await service(db), None, grant_type="client_credentials")
    assert status == 200, body
    assert body["token_type"] == "Bearer"
    assert "cnf" not in claims_of(body["access_token"])


async def test_section_5_1_discovery_lists_the_proof_algorithms(authz: str, http: aiohttp.ClientSession) -> None:
    async with http.get(authz + "/.well-known/oauth-authorization-server") as resp:
        algs = (await resp.json())["dpop_signing_alg_values_supported"]
    assert "ES256" in algs and "EdDSA" in algs
    assert not {"none", "HS256", "HS384", "HS512"} & set(algs)


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    def segment(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{segment(header)}.{segment(claims)}."


def _bad_proofs(url: str) -> dict[str, str | list[str]]:
    """Section 4.3's checks, each broken once: every one is refused with invalid_dpop_proof."""
    key, other = DPoPKey(), DPoPKey()
    now = int(time.time())
    # The whole private key, valid, as a careless client library might send it.
    private_jwk = ECAlgorithm.to_jwk(key.private_key, as_dict=True)
    fresh = {"jti": "j", "htm": "POST", "htu": url, "iat": now}
    return {
        "1 two DPoP headers": [key.proof("POST", url), key.proof("POST", url)],
        "2 not a JWT": "not-a-jwt",
        "2 empty": "",
        "3 no jti": key.proof("POST", url, drop=("jti",)),
        "3 no htm": key.proof("POST", url, drop=("htm",)),
        "3 no htu": key.proof("POST", url, drop=("htu",)),
        "3 no iat": key.proof("POST", url, drop=("iat",)),
        "4 typ JWT": key.proof("POST", url, header={"typ": "JWT"}),
        "4 no typ": key.proof("POST", url, header={"typ": None}),
        "5 alg none": _unsigned({"typ": "dpop+jwt", "alg": "none", "jwk": key.jwk}, fresh),
        "5 alg HS256": jwt.encode(fresh, b"k" * 32, algorithm="HS256", headers={"typ": "dpop+jwt", "jwk": key.jwk}),
        "5 key of another type": key.proof("POST", url, header={"alg": "EdDSA"}, signer=DPoPKey.ed25519().private_key),
        "5 short RSA key": DPoPKey.rsa(bits=1024).proof("POST", url),
        "5 curve not a string": key.proof("POST", url, header={"jwk": {**key.jwk, "crv": ["P-256"]}}),
        "5 curve of another algorithm": key.proof("POST", url, header={"jwk": {**key.jwk, "crv": "P-384"}}),
        "6 signed by another key": key.proof("POST", url, signer=other.private_key),
        "7 private key in jwk": key.proof("POST", url, header={"jwk": private_jwk}),
        "7 no jwk": key.proof("POST", url, header={"jwk": None}),
        "8 wrong htm": key.proof("GET", url),
        "8 htm in lower case": key.proof("post", url),
        "9 wrong htu": key.proof("POST", url.replace("/token", "/revoke")),
        "9 another host": key.proof("POST", url.replace("127.0.0.1", "localhost")),
        "9 htu not a URL": key.proof("POST", url, htu="token"),
        "9 htu not a string": key.proof("POST", url, htu=["x"]),
        "11 stale iat": key.proof("POST", url, iat=now - 300),
        "11 iat in the future": key.proof("POST", url, iat=now + 300),
        "11 iat a string": key.proof("POST", url, iat=str(now)),
        "jti not a string": key.proof("POST", url, jti=5),
        "jti too long": key.proof("POST", url, jti="j" * 300),
    }


@pytest.mark.parametrize("case", list(_bad_proofs("http://x/token")))
async def test_section_4_3_a_proof_failing_a_check_is_invalid_dpop_proof(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, case: str
) -> None:
    """Section 4.3's checks, each broken once (named by the check's number); section 5: the token endpoint answers
    400 invalid_dpop_proof and issues nothing."""
    proof = _bad_proofs(authz + "/token")[case]
    status, body, resp = await token(http, authz, await service(db), proof, grant_type="client_credentials")
    refused(status, body)
    assert resp.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "variant",
    ["{base}/token?x=1", "{base}/token#f", "{upper}/token", "{base}/./token", "{base}/a/../token", "{base}/%74oken"],
)
async def test_section_4_3_htu_is_compared_without_query_and_fragment_after_normalisation(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, variant: str
) -> None:
    """Section 4.3 check 9 ignores the query and fragment; RFC 3986 sections 6.2.2 and 6.2.3 normalisation (case of
    scheme and host, default port, dot segments, percent-encoded unreserved characters) makes the same URI match."""
    url = variant.format(base=authz, upper=authz.replace("http://", "HTTP://"))
    status, body, _ = await token(
        http, authz, await service(db), DPoPKey().proof("POST", url), grant_type="client_credentials"
    )
    assert status == 200, (url, body)


async def test_section_11_1_a_proof_is_accepted_once(authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool) -> None:
    client, key = await service(db), DPoPKey()
    proof = key.proof("POST", authz + "/token")
    status, body, _ = await token(http, authz, client, proof, grant_type="client_credentials")
    assert status == 200, body
    status, body, _ = await token(http, authz, client, proof, grant_type="client_credentials")
    refused(status, body)
    assert "used before" in body["error_description"]


async def test_section_8_a_required_nonce_is_handed_out_then_accepted(
    start_authz: AuthzFactory, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """Section 8: without the server's nonce the answer is 400 use_dpop_nonce with a DPoP-Nonce header; the same
    request with that nonce succeeds, and the answer carries a nonce for next time (section 8.2)."""
    client, key = await service(db), DPoPKey()
    async with start_authz(AUTHORIUM_DPOP_NONCE_REQUIRED="true") as authz:
        url = authz + "/token"
        status, body, resp = await token(http, authz, client, key.proof("POST", url), grant_type="client_credentials")
        refused(status, body, "use_dpop_nonce")
        nonce = resp.headers["DPoP-Nonce"]
        status, body, _ = await token(
            http, authz, client, key.proof("POST", url, nonce="made-up"), grant_type="client_credentials"
        )
        refused(status, body, "use_dpop_nonce")
        status, body, resp = await token(
            http, authz, client, key.proof("POST", url, nonce=nonce), grant_type="client_credentials"
        )
        assert status == 200, body
        assert body["token_type"] == "DPoP"
        assert resp.headers["DPoP-Nonce"]
        # Without a proof, a nonce is nobody's business: a bearer token as before.
        status, body, _ = await token(http, authz, client, None, grant_type="client_credentials")
        assert (status, body["token_type"]) == (200, "Bearer")
    # Another replica (a server started anew with the same configuration) accepts the nonce: nothing is stored.
    async with start_authz(AUTHORIUM_DPOP_NONCE_REQUIRED="true") as other:
        status, body, _ = await token(
            http, other, client, key.proof("POST", other + "/token", nonce=nonce), grant_type="client_credentials"
        )
        assert status == 200, body


async def _bound_code(
    authz: str, client: RegisteredClient, person: Person, key: DPoPKey | None = None
) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    params = {"dpop_jkt": key.jkt} if key is not None else {}
    return await code_for(authz, client, person, scope=SCOPE, challenge=challenge, **params), verifier


async def _redeem(
    http: aiohttp.ClientSession, authz: str, client: RegisteredClient, code: str, verifier: str, proof: str | None
) -> tuple[int, dict[str, Any]]:
    status, body, _ = await token(
        http,
        authz,
        client,
        proof,
        grant_type="authorization_code",
        code=code,
        redirect_uri=client.redirect_uri,
        code_verifier=verifier,
    )
    return status, body


async def test_section_10_a_code_bound_by_dpop_jkt_needs_a_proof_by_that_key(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    client, key = await make_client(db, scope=SCOPE), DPoPKey()
    code, verifier = await _bound_code(authz, client, person, key)
    status, body = await _redeem(http, authz, client, code, verifier, None)
    refused(status, body, "invalid_grant")
    code, verifier = await _bound_code(authz, client, person, key)
    status, body = await _redeem(http, authz, client, code, verifier, DPoPKey().proof("POST", authz + "/token"))
    refused(status, body, "invalid_grant")
    code, verifier = await _bound_code(authz, client, person, key)
    status, body = await _redeem(http, authz, client, code, verifier, key.proof("POST", authz + "/token"))
    assert status == 200, body
    assert body["token_type"] == "DPoP"
    assert claims_of(body["access_token"])["cnf"] == {"jkt": key.jkt}


async def test_section_10_a_malformed_dpop_jkt_is_refused_at_the_authorization_endpoint(
    authz: str, db: asyncpg.Pool, person: Person
) -> None:
    client = await make_client(db, scope=SCOPE)
    _, challenge = pkce_pair()
    result = await authorize(
        person.browser,
        authz,
        client,
        person.username,
        scope=SCOPE,
        code_challenge=challenge,
        code_challenge_method="S256",
        dpop_jkt="not a thumbprint",
    )
    assert result.params["error"] == "invalid_request", result.location
    assert "code" not in result.params


async def test_section_5_a_public_clients_refresh_token_is_bound_to_its_key(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    """Section 5: a refresh token issued to a public client with a proof is bound to that key; a refresh without a
    proof, or with another key's, is refused and spends nothing; with the key it succeeds, and stays bound."""
    client, key = await make_client(db, public=True, scope=SCOPE), DPoPKey()
    code, verifier = await _bound_code(authz, client, person)
    status, body = await _redeem(http, authz, client, code, verifier, key.proof("POST", authz + "/token"))
    assert (status, body.get("token_type")) == (200, "DPoP"), body
    refresh = body["refresh_token"]
    for proof in (None, DPoPKey().proof("POST", authz + "/token")):
        status, answer, _ = await token(http, authz, client, proof, grant_type="refresh_token", refresh_token=refresh)
        refused(status, answer, "invalid_grant")
    status, body, _ = await token(
        http, authz, client, key.proof("POST", authz + "/token"), grant_type="refresh_token", refresh_token=refresh
    )
    assert (status, body.get("token_type")) == (200, "DPoP"), body
    assert claims_of(body["access_token"])["cnf"] == {"jkt": key.jkt}
    status, answer, _ = await token(
        http, authz, client, None, grant_type="refresh_token", refresh_token=body["refresh_token"]
    )
    refused(status, answer, "invalid_grant")


async def test_section_5_a_confidential_clients_refresh_token_is_not_bound(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    """Section 5: a confidential client's refresh token is bound by its authentication; each refresh's access token
    is bound to the key of that refresh's proof, if any."""
    client, key, other = await make_client(db, scope=SCOPE), DPoPKey(), DPoPKey()
    code, verifier = await _bound_code(authz, client, person)
    status, body = await _redeem(http, authz, client, code, verifier, key.proof("POST", authz + "/token"))
    assert status == 200, body
    status, body, _ = await token(
        http,
        authz,
        client,
        other.proof("POST", authz + "/token"),
        grant_type="refresh_token",
        refresh_token=body["refresh_token"],
    )
    assert status == 200, body
    assert claims_of(body["access_token"])["cnf"] == {"jkt": other.jkt}
    status, body, _ = await token(
        http, authz, client, None, grant_type="refresh_token", refresh_token=body["refresh_token"]
    )
    assert (status, body.get("token_type")) == (200, "Bearer"), body


async def test_section_6_2_introspection_answers_with_cnf(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    client, key = await make_client(db, public=True, scope=SCOPE), DPoPKey()
    code, verifier = await _bound_code(authz, client, person)
    status, body = await _redeem(http, authz, client, code, verifier, key.proof("POST", authz + "/token"))
    assert status == 200, body
    introspector = await make_client(db, introspect=True, scope=SCOPE)
    access = await introspect(http, authz, introspector, body["access_token"])
    assert access["active"] is True
    assert (access["token_type"], access["cnf"]) == ("DPoP", {"jkt": key.jkt})
    refresh = await introspect(http, authz, introspector, body["refresh_token"], "refresh_token")
    assert refresh["cnf"] == {"jkt": key.jkt}


async def test_section_7_userinfo_takes_a_bound_token_only_with_its_proof(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    """Userinfo is a protected resource too: the DPoP scheme with a proof by the token's key (section 7.1), never
    the token as a bearer token (section 7.2)."""
    client, key = await make_client(db), DPoPKey()
    verifier, challenge = pkce_pair()
    code = await code_for(authz, client, person, scope="openid profile", challenge=challenge)
    status, body = await _redeem(http, authz, client, code, verifier, key.proof("POST", authz + "/token"))
    assert (status, body.get("token_type")) == (200, "DPoP"), body
    access = body["access_token"]
    url = authz + "/userinfo"
    async with http.get(url, headers={"Authorization": f"Bearer {access}"}) as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith('Bearer realm="authorium", error="invalid_token"')
    other = DPoPKey().proof("GET", url, access_token=access)
    async with http.get(url, headers={"Authorization": f"DPoP {access}", "DPoP": other}) as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith('DPoP realm="authorium", error="invalid_token"')
    proof = key.proof("GET", url, access_token=access)
    async with http.get(url, headers={"Authorization": f"DPoP {access}", "DPoP": proof}) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["preferred_username"] == person.username


async def test_section_5_2_a_client_created_dpop_bound_is_refused_without_a_proof(
    authz: str, http: aiohttp.ClientSession, environ: dict[str, str]
) -> None:
    """Section 5.2 (`dpop_bound_access_tokens`), provisioned as an operator does: `authorium client create
    --dpop-bound`. Its token requests without a DPoP proof are refused; with one they get a bound token."""
    created = await asyncio.to_thread(
        authorium,
        *("client", "create", "--name", "bound", "--grant-type", "client_credentials", "--scope", SCOPE),
        *("--dpop-bound", "--json"),
        env=environ,
    )
    assert created.returncode == 0, created.stderr
    printed = json.loads(created.stdout)
    client = RegisteredClient(printed["client_id"], printed["client_secret"])
    status, body, _ = await token(http, authz, client, None, grant_type="client_credentials")
    refused(status, body)
    status, body, _ = await token(
        http, authz, client, DPoPKey().proof("POST", authz + "/token"), grant_type="client_credentials"
    )
    assert (status, body.get("token_type")) == (200, "DPoP"), body


async def test_section_5_the_device_grant_binds_its_tokens_and_a_public_devices_refresh_token(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    """RFC 8628's token request with a proof: bound as the code grant's are, the refresh token too (public device)."""
    client, key = await devices.make_device_client(db), DPoPKey()
    issued = await devices.codes(http, authz, client, scope="notes:read offline_access")
    await devices.visit(person.browser, authz, issued["user_code"], person.username)
    status, body, _ = await token(
        http,
        authz,
        client,
        key.proof("POST", authz + "/token"),
        grant_type=devices.DEVICE_GRANT,
        device_code=issued["device_code"],
    )
    assert (status, body.get("token_type")) == (200, "DPoP"), body
    assert claims_of(body["access_token"])["cnf"] == {"jkt": key.jkt}
    status, answer, _ = await token(
        http, authz, client, None, grant_type="refresh_token", refresh_token=body["refresh_token"]
    )
    refused(status, answer, "invalid_grant")


async def test_section_5_a_token_exchange_is_bound_to_the_callers_key(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 8693's token request with a proof: the token issued to the calling service is bound to its key."""
    subject = await test_token_exchange.signed_in(http, authz, db, "notes:read")
    caller, key = await test_token_exchange.service(db, DEFAULT_RESOURCE), DPoPKey()
    status, body, _ = await token(
        http,
        authz,
        caller,
        key.proof("POST", authz + "/token"),
        grant_type=test_token_exchange.GRANT,
        subject_token=subject.access_token,
        subject_token_type=test_token_exchange.ACCESS_TOKEN,
        resource=DEFAULT_RESOURCE,
    )
    assert (status, body.get("token_type")) == (200, "DPoP"), body
    assert claims_of(body["access_token"])["cnf"] == {"jkt": key.jkt}


async def _pushed(
    http: aiohttp.ClientSession, authz: str, client: RegisteredClient, proof: str | None, **params: str
) -> tuple[int, dict[str, Any]]:
    """A pushed authorization request (RFC 9126) with PKCE, and the DPoP header `proof`."""
    form = {"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri, **params}
    headers = {**client.basic, **({"DPoP": proof} if proof else {})}
    async with http.post(authz + "/par", data=form, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_section_10_1_a_proof_at_the_par_endpoint_binds_the_code(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    """Section 10.1: a DPoP proof with a pushed authorization request binds the code to its key, as dpop_jkt does; a
    dpop_jkt naming another key than the proof's is refused."""
    client, key = await make_client(db, scope=SCOPE), DPoPKey()
    par = authz + "/par"
    verifier, challenge = pkce_pair()
    pkce = {"scope": SCOPE, "code_challenge": challenge, "code_challenge_method": "S256"}
    status, body = await _pushed(http, authz, client, key.proof("POST", par), dpop_jkt=DPoPKey().jkt, **pkce)
    refused(status, body)
    codes = []
    for _ in range(2):
        status, body = await _pushed(http, authz, client, key.proof("POST", par), state="s", **pkce)
        assert status == 201, body
        url = f"{authz}/authorize?client_id={client.client_id}&request_uri={body['request_uri']}"
        outcome = await follow_authorization(person.browser, authz, url, person.username)
        codes.append(outcome.params["code"])
    status, body = await _redeem(http, authz, client, codes[0], verifier, None)
    refused(status, body, "invalid_grant")
    status, body = await _redeem(http, authz, client, codes[1], verifier, key.proof("POST", authz + "/token"))
    assert (status, body.get("token_type")) == (200, "DPoP"), body
