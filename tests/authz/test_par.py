"""Pushed authorization requests (RFC 9126) over HTTP: a client pushes its request to the endpoint discovery names,
then sends the browser to the authorization endpoint with `client_id` and `request_uri` alone."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import urlencode

import aiohttp
import asyncpg
import jwt
import pytest

from authz.clients.registration import build_spec, register_client
from tests.authz import flows
from tests.authz.conftest import AuthzFactory, Person
from tests.authz.test_authorize import assert_error_page, get_authorize, redirect_params
from tests.resource.conftest import RESOURCE_URL

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")

PREFIX = "urn:ietf:params:oauth:request_uri:"


@pytest.fixture
def authz(module_authz: str) -> str:
    return module_authz


async def par_endpoint(http: aiohttp.ClientSession, authz: str) -> str:
    async with http.get(authz + "/.well-known/oauth-authorization-server") as resp:
        return str((await resp.json())["pushed_authorization_request_endpoint"])


async def push(
    http: aiohttp.ClientSession, authz: str, client: flows.RegisteredClient, **params: str
) -> tuple[int, dict[str, Any], aiohttp.ClientResponse]:
    """POST the authorization request to the PAR endpoint, authenticated with Basic (confidential) or naming its
    client_id (public)."""
    form = {"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri, **params}
    headers = client.basic if client.secret is not None else {}
    async with http.post(await par_endpoint(http, authz), data=form, headers=headers) as resp:
        return resp.status, await resp.json(), resp


async def pushed_uri(http: aiohttp.ClientSession, authz: str, client: flows.RegisteredClient, **params: str) -> str:
    status, body, _ = await push(http, authz, client, **params)
    assert status == 201, body
    return str(body["request_uri"])


def authorize_url(authz: str, client_id: str, request_uri: str, **extra: str) -> str:
    return f"{authz}/authorize?" + urlencode({"client_id": client_id, "request_uri": request_uri, **extra})


async def test_rfc9126_section_5_discovery_names_the_endpoint(authz: str, http: aiohttp.ClientSession) -> None:
    """RFC 9126 section 5: the metadata names pushed_authorization_request_endpoint, and says whether every request
    must be pushed (require_pushed_authorization_requests, false by default)."""
    async with http.get(authz + "/.well-known/openid-configuration") as resp:
        meta = await resp.json()
    assert meta["pushed_authorization_request_endpoint"] == authz + "/par"
    assert meta["require_pushed_authorization_requests"] is False


async def test_rfc9126_section_2_2_and_4_a_pushed_request_signs_the_person_in_with_pkce(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    """RFC 9126 section 2.2: 201 with a request_uri (the URN prefix and a random reference) and a short expires_in,
    not cached. Section 4: the authorization endpoint takes client_id and request_uri, uses the pushed parameters and
    ignores any other in the query (a different redirect_uri or state changes nothing); PKCE's challenge came with
    the push, so the code is redeemed with the verifier."""
    client = await flows.make_client(db)
    verifier, challenge = flows.pkce_pair()
    status, body, resp = await push(
        http,
        authz,
        client,
        scope="openid notes:read",
        state="pushed-state",
        nonce="n-1",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    assert status == 201, body
    assert resp.headers["Cache-Control"] == "no-store"
    assert set(body) == {"request_uri", "expires_in"}
    assert body["request_uri"].startswith(PREFIX) and len(body["request_uri"]) >= len(PREFIX) + 43
    assert body["expires_in"] == 60

    url = authorize_url(authz, client.client_id, body["request_uri"], state="query-state", redirect_uri="https://x.y/")
    outcome = await flows.follow_authorization(person.browser, authz, url, person.username)
    params = redirect_params({"Location": outcome.location}, client.redirect_uri)
    assert params["state"] == "pushed-state"
    status, tokens, _ = await flows.token_request(
        http,
        authz,
        client,
        grant_type="authorization_code",
        code=params["code"],
        redirect_uri=client.redirect_uri,
        code_verifier=verifier,
    )
    assert status == 200, tokens
    assert tokens["scope"].split() == ["openid", "notes:read"]


async def test_rfc9126_section_4_a_request_uri_is_used_once(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    """RFC 9126 section 4: the request_uri is one-time use; used again, it gets an error page (its redirect URI was
    in the request that is gone, so nothing can be redirected)."""
    client = await flows.make_client(db)
    request_uri = await pushed_uri(http, authz, client, scope="notes:read", state="s")
    outcome = await flows.follow_authorization(
        person.browser, authz, authorize_url(authz, client.client_id, request_uri), person.username
    )
    assert "code" in redirect_params({"Location": outcome.location}, client.redirect_uri)
    assert_error_page(
        *await get_authorize(person.browser, authz, {"client_id": client.client_id, "request_uri": request_uri})
    )


async def test_rfc9126_section_4_a_request_uri_is_bound_to_the_client_that_pushed_it(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 9126 section 4: the server MUST check that the request_uri was pushed by the client named by client_id;
    another client's request_uri is refused (and spent: whoever holds a leaked one cannot keep trying), and so is a
    request_uri without a client_id or one the server never issued."""
    owner, other = await flows.make_client(db), await flows.make_client(db)
    request_uri = await pushed_uri(http, authz, owner, scope="notes:read")
    async with flows.browser() as browser:
        assert_error_page(
            *await get_authorize(browser, authz, {"client_id": other.client_id, "request_uri": request_uri})
        )
        assert_error_page(
            *await get_authorize(browser, authz, {"client_id": owner.client_id, "request_uri": request_uri})
        )
        fresh = await pushed_uri(http, authz, owner, scope="notes:read")
        assert_error_page(*await get_authorize(browser, authz, {"request_uri": fresh}))
        for forged in (PREFIX + "x" * 43, PREFIX, PREFIX + "\x00", fresh + "x", PREFIX + "x" * 5000):
            query = {"client_id": owner.client_id, "request_uri": forged}
            assert_error_page(*await get_authorize(browser, authz, query))
        # Not a pushed request's: a request object's request_uri (RFC 9101), which is not supported (as before PAR).
        query = {"response_type": "code", "client_id": owner.client_id, "request_uri": "https://evil.example/request"}
        status, headers, _ = await get_authorize(browser, authz, query)
        assert status == 302
        assert redirect_params(headers, owner.redirect_uri)["error"] == "request_uri_not_supported"


async def test_rfc9126_section_2_2_an_expired_request_uri_is_refused(
    start_authz: AuthzFactory, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 9126 section 2.2: expires_in is the request_uri's lifetime; after it, the authorization endpoint refuses
    it (here with AUTHORIUM_PAR_TTL at its minimum of 5 seconds)."""
    client = await flows.make_client(db)
    async with start_authz(AUTHORIUM_PAR_TTL="5") as authz:
        status, body, _ = await push(http, authz, client, scope="notes:read")
        assert status == 201 and body["expires_in"] == 5
        await asyncio.sleep(5.5)
        async with flows.browser() as browser:
            query = {"client_id": client.client_id, "request_uri": body["request_uri"]}
            assert_error_page(*await get_authorize(browser, authz, query))


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "notes:admin"}, "invalid_scope"),
        ({"code_challenge": "x" * 43, "code_challenge_method": "plain"}, "invalid_request"),
        ({"redirect_uri": "https://evil.example/callback"}, "invalid_request"),
        ({"prompt": "sometimes"}, "invalid_request"),
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
        ({"request_uri": PREFIX + "abc"}, "invalid_request"),
    ],
    ids=["response_type", "scope", "pkce", "redirect_uri", "prompt", "request", "request_uri"],
)
async def test_rfc9126_section_2_3_a_bad_request_is_a_json_error_not_a_redirect(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, params: dict[str, str], error: str
) -> None:
    """RFC 9126 section 2.1: the pushed request is validated as an authorization request would be; section 2.3:
    errors are answered in the PAR response as JSON (RFC 6749 section 5.2's format), never by redirect. Section 2.1:
    request_uri cannot itself be pushed."""
    client = await flows.make_client(db, scope="openid notes:read")
    status, body, resp = await push(http, authz, client, scope=params.pop("scope", "notes:read"), **params)
    assert status == 400, body
    assert body["error"] == error
    assert "Location" not in resp.headers
    assert resp.headers["Cache-Control"] == "no-store"


async def test_rfc9126_section_2_the_client_authenticates_as_at_the_token_endpoint(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    """RFC 9126 section 2: the client authenticates as at the token endpoint: a wrong secret is invalid_client; a
    public client names its client_id (and must use PKCE, as at the authorization endpoint); client_id in the body
    must be the authenticated client's."""
    confidential = await flows.make_client(db)
    wrong = flows.RegisteredClient(confidential.client_id, "wrong secret")
    status, body, resp = await push(http, authz, wrong, scope="notes:read")
    assert (status, body["error"]) == (401, "invalid_client")
    assert resp.headers["WWW-Authenticate"].startswith("Basic ")
    other = await flows.make_client(db)
    status, body, _ = await push(http, authz, confidential, scope="notes:read", client_id=other.client_id)
    assert (status, body["error"]) == (400, "invalid_request")

    public = await flows.make_client(db, public=True)
    status, body, _ = await push(http, authz, public, scope="notes:read")
    assert (status, body["error"]) == (400, "invalid_request")  # no PKCE
    verifier, challenge = flows.pkce_pair()
    request_uri = await pushed_uri(
        http, authz, public, scope="notes:read", code_challenge=challenge, code_challenge_method="S256"
    )
    outcome = await flows.follow_authorization(
        person.browser, authz, authorize_url(authz, public.client_id, request_uri), person.username
    )
    code = redirect_params({"Location": outcome.location}, public.redirect_uri)["code"]
    status, tokens, _ = await flows.token_request(
        http,
        authz,
        public,
        grant_type="authorization_code",
        code=code,
        redirect_uri=public.redirect_uri,
        code_verifier=verifier,
    )
    assert status == 200, tokens


async def test_rfc9126_section_5_the_server_may_require_every_request_pushed(
    start_authz: AuthzFactory, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    """RFC 9126 section 5: with require_pushed_authorization_requests (AUTHORIUM_REQUIRE_PAR), the authorization
    endpoint refuses a request that was not pushed (invalid_request, sent back to the verified redirect URI), and
    discovery says so; a pushed one still works."""
    client = await flows.make_client(db)
    async with start_authz(AUTHORIUM_REQUIRE_PAR="true") as authz:
        async with http.get(authz + "/.well-known/oauth-authorization-server") as resp:
            assert (await resp.json())["require_pushed_authorization_requests"] is True
        query = {"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri}
        status, headers, body = await get_authorize(person.browser, authz, {**query, "state": "s9"})
        assert status == 302, body
        params = redirect_params(headers, client.redirect_uri)
        assert (params["error"], params["state"]) == ("invalid_request", "s9")
        request_uri = await pushed_uri(http, authz, client, scope="notes:read")
        outcome = await flows.follow_authorization(
            person.browser, authz, authorize_url(authz, client.client_id, request_uri), person.username
        )
        assert "code" in redirect_params({"Location": outcome.location}, client.redirect_uri)


async def test_rfc9126_section_6_a_client_registered_to_require_par_must_push(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    """RFC 9126 section 6 (client metadata require_pushed_authorization_requests): the authorization endpoint refuses
    that client's requests unless pushed (invalid_request, to its verified redirect URI), while other clients are
    unaffected; its pushed requests work."""
    spec = build_spec(
        name=f"par only {uuid.uuid4().hex[:8]}",
        grant_types=("authorization_code",),
        redirect_uris=(flows.REDIRECT_URI,),
        scope="notes:read",
        public=False,
        require_pushed_authorization_requests=True,
    )
    registered, secret = await register_client(db, spec)
    client = flows.RegisteredClient(registered.client_id, secret)
    query = {"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri, "state": "q"}
    status, headers, body = await get_authorize(person.browser, authz, query)
    assert status == 302, body
    params = redirect_params(headers, client.redirect_uri)
    assert (params["error"], params["state"]) == ("invalid_request", "q")
    assert "code" not in params
    request_uri = await pushed_uri(http, authz, client, scope="notes:read")
    outcome = await flows.follow_authorization(
        person.browser, authz, authorize_url(authz, client.client_id, request_uri), person.username
    )
    assert "code" in redirect_params({"Location": outcome.location}, client.redirect_uri)
    other = await flows.make_client(db)
    outcome = await flows.authorize(person.browser, authz, other, person.username, scope="notes:read")
    assert "code" in outcome.params


async def test_rfc9126_section_2_1_every_pushed_parameter_comes_through_repeated_resources_too(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person, module_environ: dict[str, str]
) -> None:
    """RFC 9126 section 2.1: the pushed request holds every authorization request parameter, RFC 8707's repeated
    `resource` among them: the code redeems for a token for both resources pushed, and a `resource` in the query
    at /authorize is ignored (section 4); an unknown pushed resource is invalid_target at the push."""
    inventory = await flows.make_resource(db, module_environ, authz, name="Inventory API")
    client = await flows.make_client(db, scope=f"notes:read {inventory.scopes[0]}")
    verifier, challenge = flows.pkce_pair()
    form = [
        ("response_type", "code"),
        ("client_id", client.client_id),
        ("redirect_uri", client.redirect_uri),
        ("scope", f"notes:read {inventory.scopes[0]}"),
        ("resource", RESOURCE_URL),
        ("resource", inventory.identifier),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
    assert client.secret is not None
    async with http.post(authz + "/par", data=form, headers=client.basic) as resp:
        assert resp.status == 201, await resp.text()
        request_uri = (await resp.json())["request_uri"]
    url = authorize_url(authz, client.client_id, request_uri, resource="https://ignored.example/")
    outcome = await flows.follow_authorization(person.browser, authz, url, person.username)
    code = redirect_params({"Location": outcome.location}, client.redirect_uri)["code"]
    status, tokens, _ = await flows.token_request(
        http,
        authz,
        client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=client.redirect_uri,
        code_verifier=verifier,
    )
    assert status == 200, tokens
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["aud"] == [RESOURCE_URL, inventory.identifier]
    async with http.post(
        authz + "/par", data=[*form[:4], ("resource", "https://unknown.example/")], headers=client.basic
    ) as resp:
        assert (resp.status, (await resp.json())["error"]) == (400, "invalid_target")
