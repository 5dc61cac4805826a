"""Resource indicators (RFC 8707) at the authorization and token endpoints: which registered API a token is for."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import aiohttp
import asyncpg
import jwt
import pytest

from authz.resources.records import Resource
from tests.authz import flows
from tests.authz.conftest import Person
from tests.authz.flows import RegisteredClient, make_client, make_resource
from tests.authz.test_authorization_code import DEFAULT_RESOURCE, verified

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")
ADMIN_API = "http://127.0.0.1:8010"  # AUTHORIUM_ADMIN_URL's default


@pytest.fixture
def authz(module_authz: str) -> str:
    return module_authz


@pytest.fixture
async def inventory(db: asyncpg.Pool, module_environ: dict[str, str], authz: str) -> Resource:
    """A second API beside the notes API, with scopes `<tag>:read` and `<tag>:write`."""
    return await make_resource(db, module_environ, authz, name="Inventory API")


async def token(
    http: aiohttp.ClientSession, authz: str, client: RegisteredClient, form: list[tuple[str, str]]
) -> tuple[int, dict[str, Any]]:
    """POST to the token endpoint with `form` as pairs, so `resource` can be repeated (RFC 8707 section 2)."""
    async with http.post(f"{authz}/token", data=form, headers=client.basic) as resp:
        body = await resp.json()
        if resp.status == 400:
            assert resp.headers["Cache-Control"] == "no-store"
        return resp.status, body


def claims_of(access_token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(access_token, options={"verify_signature": False})
    return claims


def audience(access_token: str) -> list[str]:
    aud = claims_of(access_token)["aud"]
    return [aud] if isinstance(aud, str) else list(aud)


async def test_each_token_is_for_the_resource_asked_for(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, inventory: Resource
) -> None:
    """RFC 8707 section 2: `resource` names the API the token is for; its `aud` is that API alone, and it carries only
    the scopes that API declares (section 2: the server audience-restricts the token)."""
    read = inventory.scopes[0]
    client = await make_client(db, grant_types=("client_credentials",), scope=f"notes:read {read}")
    cc = [("grant_type", "client_credentials")]

    status, body = await token(http, authz, client, [*cc, ("resource", inventory.identifier)])
    assert status == 200, body
    assert body["scope"] == read
    claims = await verified(http, authz, body["access_token"], audience=inventory.identifier, typ="at+jwt")
    assert claims["aud"] == inventory.identifier
    assert claims["scope"] == read

    status, body = await token(http, authz, client, [*cc, ("resource", DEFAULT_RESOURCE)])
    assert status == 200, body
    assert (audience(body["access_token"]), body["scope"]) == ([DEFAULT_RESOURCE], "notes:read")

    # Both, with `resource` repeated: one token for both APIs.
    both = [*cc, ("resource", DEFAULT_RESOURCE), ("resource", inventory.identifier)]
    status, body = await token(http, authz, client, both)
    assert status == 200, body
    assert audience(body["access_token"]) == [DEFAULT_RESOURCE, inventory.identifier]
    assert body["scope"] == f"notes:read {read}"


async def test_without_resource_the_scopes_choose_the_audience(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, inventory: Resource
) -> None:
    """RFC 8707 section 2 leaves the default to the server: without `resource`, the token is for the resources whose
    scopes it carries, and for the default resource (AUTHORIUM_RESOURCE_URL) when it carries none of any."""
    read = inventory.scopes[0]
    client = await make_client(db, grant_types=("client_credentials",), scope=f"notes:read {read}")
    cc = [("grant_type", "client_credentials")]

    status, body = await token(http, authz, client, [*cc, ("scope", read)])
    assert status == 200, body
    assert audience(body["access_token"]) == [inventory.identifier]

    status, body = await token(http, authz, client, [*cc, ("scope", f"notes:read {read}")])
    assert status == 200, body
    assert audience(body["access_token"]) == [DEFAULT_RESOURCE, inventory.identifier]

    # A client that asks for nothing gets what it always got: the notes API, for its notes scopes.
    notes_only = await make_client(db, grant_types=("client_credentials",), scope="notes:read notes:admin")
    status, body = await token(http, authz, notes_only, cc)
    assert status == 200, body
    assert audience(body["access_token"]) == [DEFAULT_RESOURCE]
    assert body["scope"] == "notes:read notes:admin"


async def test_the_admin_scope_alone_is_for_the_admin_api(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 8707 section 2: `authorium:admin` is declared by the built-in admin API resource (AUTHORIUM_ADMIN_URL),
    so a client credentials token asking for it alone is for that API only, never for the notes API."""
    client = await make_client(db, grant_types=("client_credentials",), scope="notes:read authorium:admin")
    status, body = await token(
        http, authz, client, [("grant_type", "client_credentials"), ("scope", "authorium:admin")]
    )
    assert status == 200, body
    claims = await verified(http, authz, body["access_token"], audience=ADMIN_API, typ="at+jwt")
    assert claims["aud"] == ADMIN_API
    assert claims["scope"] == "authorium:admin"


@pytest.mark.parametrize(
    "resource",
    [
        "https://unregistered.example/api",  # absolute, but no registered resource has it
        "/api/notes",  # relative
        "notes",  # no scheme
        "https://api.example/#section",  # a fragment (section 2: MUST NOT include one)
        "http://127.0.0.1:8001#",
    ],
)
async def test_an_unknown_or_malformed_resource_is_invalid_target_at_the_token_endpoint(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, resource: str
) -> None:
    """RFC 8707 section 2: a resource that is not an absolute URI, has a fragment, or is unknown is invalid_target
    (400, RFC 6749 section 5.2's JSON)."""
    client = await make_client(db, grant_types=("client_credentials",), scope="notes:read")
    status, body = await token(http, authz, client, [("grant_type", "client_credentials"), ("resource", resource)])
    assert (status, body["error"]) == (400, "invalid_target"), body
    assert "access_token" not in body


async def test_a_scope_of_another_resource_is_invalid_scope(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, inventory: Resource
) -> None:
    """RFC 8707 section 2 with RFC 6749 section 5.2: a scope belongs to the one resource that declares it; asking for
    it with `resource` naming another is invalid_scope, and no token is issued."""
    read = inventory.scopes[0]
    client = await make_client(db, grant_types=("client_credentials",), scope=f"notes:read {read}")
    form = [("grant_type", "client_credentials"), ("resource", inventory.identifier), ("scope", f"notes:read {read}")]
    status, body = await token(http, authz, client, form)
    assert (status, body["error"]) == (400, "invalid_scope"), body


async def test_authorize_sends_invalid_target_back_to_the_client(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, inventory: Resource
) -> None:
    """RFC 8707 section 2 with RFC 6749 section 4.1.2.1: at the authorization endpoint an unknown or malformed
    resource is invalid_target, and a scope of a resource not asked for invalid_scope, sent to the verified redirect
    URI with `state` and `iss` before anyone signs in."""
    client = await make_client(db, scope=f"notes:read {inventory.scopes[0]}")
    base = [("response_type", "code"), ("client_id", client.client_id), ("redirect_uri", client.redirect_uri)]
    cases = [
        ([("resource", "https://unregistered.example/")], "invalid_target"),
        ([("resource", "https://api.example/#frag")], "invalid_target"),
        ([("resource", "relative/path")], "invalid_target"),
        ([("resource", inventory.identifier)], "invalid_scope"),  # notes:read is the notes API's
    ]
    for extra, error in cases:
        query = urlencode([*base, *extra, ("scope", "notes:read"), ("state", "st")])
        async with http.get(f"{authz}/authorize?{query}", allow_redirects=False) as resp:
            assert resp.status == 302, (extra, await resp.text())
            location = resp.headers["Location"]
        assert location.startswith(client.redirect_uri + "?"), location
        got = flows.query_of(location)
        assert (got["error"], got["state"], got["iss"]) == (error, "st", authz), extra
        assert "code" not in got


async def test_code_flow_with_two_resources_and_narrowing(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, inventory: Resource, person: Person
) -> None:
    """RFC 8707 sections 2.1 and 2.2: resources named at /authorize go with the code; the consent page names them;
    the code redeems for a token for all of them, or, with `resource` at the token endpoint, for some; a refresh
    may narrow to a subset of the grant's resources (the refresh token keeps them all), and asking for one outside
    the grant is invalid_target."""
    read = inventory.scopes[0]
    client = await make_client(db, scope=f"notes:read {read}")
    verifier, challenge = flows.pkce_pair()
    query = urlencode(
        [
            ("response_type", "code"),
            ("client_id", client.client_id),
            ("redirect_uri", client.redirect_uri),
            ("scope", f"notes:read {read}"),
            ("resource", DEFAULT_RESOURCE),
            ("resource", inventory.identifier),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ]
    )
    result = await flows.follow_authorization(
        person.browser, authz, f"{authz}/authorize?{query}", person.username, consent="allow"
    )
    consent_page = result.pages[-1]
    assert "Inventory API" in consent_page and inventory.identifier in consent_page
    assert DEFAULT_RESOURCE in consent_page
    redeem = [
        ("grant_type", "authorization_code"),
        ("code", result.code),
        ("redirect_uri", client.redirect_uri),
        ("code_verifier", verifier),
        ("resource", inventory.identifier),  # only the inventory API for this access token
    ]
    status, body = await token(http, authz, client, redeem)
    assert status == 200, body
    assert (audience(body["access_token"]), body["scope"]) == ([inventory.identifier], read)
    refresh = body["refresh_token"]

    # The refresh token still covers both APIs.
    status, body = await token(http, authz, client, [("grant_type", "refresh_token"), ("refresh_token", refresh)])
    assert status == 200, body
    assert audience(body["access_token"]) == [DEFAULT_RESOURCE, inventory.identifier]
    assert body["scope"] == f"notes:read {read}"
    refresh = body["refresh_token"]

    # Narrowed to the notes API.
    narrow = [("grant_type", "refresh_token"), ("refresh_token", refresh), ("resource", DEFAULT_RESOURCE)]
    status, body = await token(http, authz, client, narrow)
    assert status == 200, body
    assert (audience(body["access_token"]), body["scope"]) == ([DEFAULT_RESOURCE], "notes:read")
    refresh = body["refresh_token"]

    # A registered resource this grant does not cover, and an unknown one: invalid_target, and the refresh token
    # stays good.
    for outside in (ADMIN_API, "https://unregistered.example/"):
        form = [("grant_type", "refresh_token"), ("refresh_token", refresh), ("resource", outside)]
        status, body = await token(http, authz, client, form)
        assert (status, body["error"]) == (400, "invalid_target"), body
    status, body = await token(http, authz, client, [("grant_type", "refresh_token"), ("refresh_token", refresh)])
    assert status == 200, body


async def test_a_code_redeemed_for_a_resource_the_request_did_not_name_is_invalid_target(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, inventory: Resource, person: Person
) -> None:
    """RFC 8707 section 2.2: at the token endpoint `resource` may only narrow what the authorization request
    covered."""
    client = await make_client(db, scope=f"notes:read {inventory.scopes[0]}")
    verifier, challenge = flows.pkce_pair()
    result = await flows.authorize(
        person.browser,
        authz,
        client,
        person.username,
        scope="notes:read",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    redeem = [
        ("grant_type", "authorization_code"),
        ("code", result.code),
        ("redirect_uri", client.redirect_uri),
        ("code_verifier", verifier),
        ("resource", inventory.identifier),
    ]
    status, body = await token(http, authz, client, redeem)
    assert (status, body["error"]) == (400, "invalid_target"), body


async def test_openid_keeps_the_issuer_in_the_audience(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, inventory: Resource, person: Person
) -> None:
    """RFC 8707 section 2 with OIDC Core 5.3: with `openid` granted the issuer stays in `aud` beside the resource
    asked for, so the token can call userinfo; and without `resource` the audience is what it always was."""
    client = await make_client(db, scope=f"openid notes:read {inventory.scopes[0]}")
    body = await flows.sign_in_and_redeem(http, authz, client, person.username, scope="openid notes:read")
    assert audience(body["access_token"]) == [DEFAULT_RESOURCE, authz]
    async with http.get(authz + "/userinfo", headers={"Authorization": "Bearer " + body["access_token"]}) as resp:
        assert resp.status == 200


async def test_the_access_token_lives_as_long_as_its_resource_says(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, module_environ: dict[str, str]
) -> None:
    """RFC 8707 section 2 (the server may tailor the token to the resource): a resource's `access_token_ttl` sets
    its tokens' lifetime; a token for several lives as long as the shortest allows; none exceeds the server's
    AUTHORIUM_ACCESS_TOKEN_TTL (600 s here), which bounds how long revocations are kept."""
    short = await make_resource(db, module_environ, authz, access_token_ttl=120)
    longer = await make_resource(db, module_environ, authz, access_token_ttl=300)
    beyond = await make_resource(db, module_environ, authz, access_token_ttl=3600)
    client = await make_client(
        db,
        grant_types=("client_credentials",),
        scope=" ".join([short.scopes[0], longer.scopes[0], beyond.scopes[0], "notes:read"]),
    )

    async def lifetime(*resources: Resource) -> int:
        form = [("grant_type", "client_credentials"), *(("resource", r.identifier) for r in resources)]
        status, body = await token(http, authz, client, form)
        assert status == 200, body
        claims = claims_of(body["access_token"])
        assert claims["exp"] - claims["iat"] == body["expires_in"]
        return int(body["expires_in"])

    assert await lifetime(short) == 120
    assert await lifetime(longer) == 300
    assert await lifetime(short, longer) == 120
    assert await lifetime(beyond) == 600
    status, body = await token(http, authz, client, [("grant_type", "client_credentials"), ("scope", "notes:read")])
    assert (status, body["expires_in"]) == (200, 600)
