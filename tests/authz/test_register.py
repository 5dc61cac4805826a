"""Dynamic client registration (RFC 7591) over HTTP, behind the operator's initial access token."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest

from authorium_shared.settings import ConfigError
from authz.grants import GRANT_TYPES
from authz.settings import REGISTRABLE_GRANT_TYPES, AuthzSettings
from tests.authz.conftest import AuthzFactory
from tests.authz.flows import REDIRECT_URI, RegisteredClient, make_user, sign_in_and_redeem, token_request

TOKEN = secrets.token_urlsafe(30)  # 40 characters
CHALLENGE = 'Bearer realm="authorium-registration"'
# What a client that names no scope is registered for (README, docs/operations.md).
DEFAULT_SCOPE = "openid profile email offline_access"
# The operator's registration policy once it lets services register themselves too.
WITH_CLIENT_CREDENTIALS = "authorization_code refresh_token client_credentials"


@pytest.fixture
async def authz(start_authz: AuthzFactory) -> AsyncIterator[str]:
    """A server with registration switched on, under the default registration policy."""
    async with start_authz(AUTHORIUM_REGISTRATION_TOKEN=TOKEN) as url:
        yield url


@pytest.fixture
async def service_authz(start_authz: AuthzFactory) -> AsyncIterator[str]:
    """A server whose operator lets services (client_credentials) register as well."""
    async with start_authz(
        AUTHORIUM_REGISTRATION_TOKEN=TOKEN, AUTHORIUM_REGISTRATION_GRANT_TYPES=WITH_CLIENT_CREDENTIALS
    ) as url:
        yield url


async def register(
    http: aiohttp.ClientSession, authz: str, body: Any, *, token: str | None = TOKEN, raw: bytes | None = None
) -> tuple[int, dict[str, Any], aiohttp.ClientResponse]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with http.post(
        f"{authz}/register", data=raw if raw is not None else orjson.dumps(body), headers=headers
    ) as resp:
        answer = await resp.json() if resp.content_type == "application/json" else {}
        return resp.status, answer, resp


async def test_a_confidential_client_registers_and_uses_its_secret_at_once(
    service_authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    authz = service_authz
    metadata = {
        "client_name": "Registered service",
        "grant_types": ["client_credentials"],
        "scope": "notes:read",
        "token_endpoint_auth_method": "client_secret_basic",
    }
    status, answer, resp = await register(http, authz, metadata)
    assert status == 201, answer
    assert resp.headers["Cache-Control"] == "no-store"
    assert answer["client_id"]
    assert answer["client_secret"]
    assert answer["client_secret_expires_at"] == 0
    assert isinstance(answer["client_id_issued_at"], int)
    for name, value in metadata.items():
        assert answer[name] == value, name
    assert answer["response_types"] == []
    assert answer["redirect_uris"] == []

    client = RegisteredClient(answer["client_id"], answer["client_secret"])
    status, tokens, _ = await token_request(http, authz, client, grant_type="client_credentials", scope="notes:read")
    assert status == 200, tokens
    assert tokens["token_type"] == "Bearer"
    # The secret is stored hashed, never as given.
    stored = await db.fetchrow("SELECT * FROM clients WHERE client_id = $1", answer["client_id"])
    assert stored is not None
    assert answer["client_secret"] not in repr(dict(stored))


async def test_a_public_client_registers_without_a_secret_and_signs_users_in(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    metadata = {
        "client_name": "Native app",
        "redirect_uris": ["http://127.0.0.1/callback", "com.example.app:/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": "openid profile offline_access",
    }
    status, answer, _ = await register(http, authz, metadata)
    assert status == 201, answer
    assert "client_secret" not in answer
    assert "client_secret_expires_at" not in answer
    for name, value in metadata.items():
        assert answer[name] == value, name
    client = RegisteredClient(answer["client_id"], None, metadata["redirect_uris"][0])
    tokens = await sign_in_and_redeem(http, authz, client, await make_user(db), scope="openid profile")
    assert tokens["id_token"]


async def test_advertised_and_defaults_fill_in_what_was_left_out(authz: str, http: aiohttp.ClientSession) -> None:
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        async with http.get(authz + path) as resp:
            assert (await resp.json())["registration_endpoint"] == authz + "/register"
    status, answer, _ = await register(http, authz, {"redirect_uris": ["https://app.example/cb"]})
    assert status == 201, answer
    assert answer["grant_types"] == ["authorization_code"]
    assert answer["response_types"] == ["code"]
    assert answer["token_endpoint_auth_method"] == "client_secret_basic"
    assert answer["id_token_signed_response_alg"] == "RS256"
    assert answer["client_name"]
    assert answer["client_secret"]


BAD_METADATA: list[tuple[Any, str]] = [
    ({"redirect_uris": ["http://app.example/cb"]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["https://app.example/cb#frag"]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["not a uri"]}, "invalid_redirect_uri"),
    ({"grant_types": ["authorization_code"], "redirect_uris": []}, "invalid_redirect_uri"),
    ({"grant_types": ["password"]}, "invalid_client_metadata"),
    ({"grant_types": ["implicit"], "response_types": ["token"]}, "invalid_client_metadata"),
    ({"grant_types": ["refresh_token"]}, "invalid_client_metadata"),
    ({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}, "invalid_client_metadata"),
    (
        {"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt"},
        "invalid_client_metadata",
    ),
    ({"grant_types": ["client_credentials"], "response_types": ["code"]}, "invalid_client_metadata"),
    ({"redirect_uris": ["https://a.example/cb"], "response_types": ["code", "token"]}, "invalid_client_metadata"),
    ({"grant_types": "client_credentials"}, "invalid_client_metadata"),
    ({"grant_types": [1]}, "invalid_client_metadata"),
    ({"redirect_uris": "https://app.example/cb"}, "invalid_client_metadata"),
    ({"grant_types": ["client_credentials"], "client_name": 5}, "invalid_client_metadata"),
    ({"grant_types": ["client_credentials"], "client_name": "   "}, "invalid_client_metadata"),
    ({"grant_types": ["client_credentials"], "scope": ["notes:read"]}, "invalid_client_metadata"),
    ({"grant_types": ["client_credentials"], "scope": "bad\x01scope"}, "invalid_client_metadata"),
    ({"grant_types": ["client_credentials"], "id_token_signed_response_alg": "none"}, "invalid_client_metadata"),
    ({"grant_types": ["client_credentials"], "id_token_signed_response_alg": "HS256"}, "invalid_client_metadata"),
    (["not", "an", "object"], "invalid_client_metadata"),
    ("a string", "invalid_client_metadata"),
    (None, "invalid_client_metadata"),
]


async def test_bad_metadata_or_initial_access_token_is_refused_and_nothing_is_stored(
    service_authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    # Many of the documents are a service's: on a server that registers services, each is refused for what it names.
    authz = service_authz
    before = await db.fetchval("SELECT count(*) FROM clients")
    for body, error in BAD_METADATA:
        status, answer, resp = await register(http, authz, body)
        assert (status, answer.get("error")) == (400, error), body
        assert resp.headers["Cache-Control"] == "no-store"
    for raw in (b"{not json", b"", b"\xff\xfe", b'{"a": 1}{"b": 2}'):
        status, answer, _ = await register(http, authz, None, raw=raw)
        assert (status, answer.get("error")) == (400, "invalid_client_metadata"), raw
    async with http.post(
        f"{authz}/register",
        data={"grant_types": "client_credentials"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "invalid_client_metadata"
    body = {"grant_types": ["client_credentials"]}
    # Without any token: a bare challenge (RFC 6750 section 3.1, which RFC 7591 section 3 defers to).
    status, _, resp = await register(http, authz, body, token=None)
    assert status == 401
    assert resp.headers["WWW-Authenticate"] == CHALLENGE
    for wrong in (TOKEN[:-1] + ("A" if TOKEN[-1] != "A" else "B"), TOKEN[:-1], TOKEN + "x", "short"):
        status, answer, resp = await register(http, authz, body, token=wrong)
        assert status == 401
        assert answer["error"] == "invalid_token"
        assert resp.headers["WWW-Authenticate"].startswith(CHALLENGE + ', error="invalid_token"')
        assert resp.headers["Cache-Control"] == "no-store"
    async with http.post(
        f"{authz}/register", data=orjson.dumps(body), headers={"Authorization": "Basic " + TOKEN}
    ) as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == CHALLENGE
    assert await db.fetchval("SELECT count(*) FROM clients") == before


async def count_clients(db: asyncpg.Pool) -> int:
    return int(await db.fetchval("SELECT count(*) FROM clients"))


async def test_a_client_that_names_no_scope_gets_the_documented_default_and_can_sign_people_in(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 7591 section 2 (`scope`): "If omitted, an authorization server MAY register a client with a default set of
    scopes". Ours is `openid profile email offline_access`, never an empty list that even `openid` is refused by."""
    for body in ({"redirect_uris": [REDIRECT_URI]}, {"redirect_uris": [REDIRECT_URI], "scope": ""}):
        status, answer, _ = await register(http, authz, body)
        assert status == 201, answer
        assert answer["scope"] == DEFAULT_SCOPE, body
        stored = await db.fetchval("SELECT scopes FROM clients WHERE client_id = $1", answer["client_id"])
        assert " ".join(stored) == DEFAULT_SCOPE
    client = RegisteredClient(answer["client_id"], answer["client_secret"])
    tokens = await sign_in_and_redeem(http, authz, client, await make_user(db), scope="openid email offline_access")
    assert tokens["id_token"]
    assert tokens["scope"] == "openid email offline_access"


async def test_scopes_beyond_the_registration_policy_are_invalid_client_metadata(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 7591 section 3.2.2: metadata the server will not register is `invalid_client_metadata`, 400. By default a
    registered client may ask for the default scopes and the notes API's `notes:read notes:write`; never
    `notes:admin` (every user's notes), nor any scope the operator did not list."""
    before = await count_clients(db)
    for scope in ("notes:admin", "openid notes:admin", "notes:delete", f"{DEFAULT_SCOPE} notes:read notes:admin"):
        status, answer, resp = await register(http, authz, {"redirect_uris": [REDIRECT_URI], "scope": scope})
        assert (status, answer.get("error")) == (400, "invalid_client_metadata"), scope
        refused = [s for s in scope.split() if s in ("notes:admin", "notes:delete")]
        assert all(s in answer["error_description"] for s in refused), answer
        assert resp.headers["Cache-Control"] == "no-store"
    assert await count_clients(db) == before
    everything = f"{DEFAULT_SCOPE} notes:read notes:write"
    status, answer, _ = await register(http, authz, {"redirect_uris": [REDIRECT_URI], "scope": everything})
    assert (status, answer["scope"]) == (201, everything), answer


async def test_client_credentials_is_registered_only_where_the_operator_allows_it(
    start_authz: AuthzFactory, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 7591 sections 2 (`grant_types`) and 3.2.2: a grant type the policy does not allow is
    `invalid_client_metadata`. A service registering itself is the operator's choice
    (AUTHORIUM_REGISTRATION_GRANT_TYPES), not the default."""
    service = {"grant_types": ["client_credentials"], "scope": "notes:read"}
    both = {"grant_types": ["authorization_code", "client_credentials"], "redirect_uris": [REDIRECT_URI]}
    before = await count_clients(db)
    async with start_authz(AUTHORIUM_REGISTRATION_TOKEN=TOKEN) as authz:
        for body in (service, both):
            status, answer, _ = await register(http, authz, body)
            assert (status, answer.get("error")) == (400, "invalid_client_metadata"), body
            assert "client_credentials" in answer["error_description"]
    assert await count_clients(db) == before
    async with start_authz(
        AUTHORIUM_REGISTRATION_TOKEN=TOKEN, AUTHORIUM_REGISTRATION_GRANT_TYPES=WITH_CLIENT_CREDENTIALS
    ) as authz:
        for body in (service, both):
            status, answer, _ = await register(http, authz, body)
            assert status == 201, answer
        status, tokens, _ = await token_request(
            http, authz, RegisteredClient(answer["client_id"], answer["client_secret"]), grant_type="client_credentials"
        )
        assert status == 200, tokens


async def test_the_default_scope_is_what_the_policy_allows_of_it(
    start_authz: AuthzFactory, http: aiohttp.ClientSession
) -> None:
    """RFC 7591 section 2 (`scope` default) within section 3.2.2's policy: a narrower policy narrows the default; a
    policy that leaves nothing of it makes `scope` required, and says so."""
    async with start_authz(
        AUTHORIUM_REGISTRATION_TOKEN=TOKEN, AUTHORIUM_REGISTRATION_SCOPES="notes:read openid"
    ) as authz:
        status, answer, _ = await register(http, authz, {"redirect_uris": [REDIRECT_URI]})
        assert (status, answer.get("scope")) == (201, "openid"), answer
    async with start_authz(AUTHORIUM_REGISTRATION_TOKEN=TOKEN, AUTHORIUM_REGISTRATION_SCOPES="notes:read") as authz:
        status, answer, _ = await register(http, authz, {"redirect_uris": [REDIRECT_URI]})
        assert (status, answer.get("error")) == (400, "invalid_client_metadata"), answer
        assert "scope" in answer["error_description"] and "notes:read" in answer["error_description"]
        status, answer, _ = await register(http, authz, {"redirect_uris": [REDIRECT_URI], "scope": "notes:read"})
        assert (status, answer.get("scope")) == (201, "notes:read"), answer


async def test_a_native_app_registers_a_loopback_ip_address_not_localhost(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 8252 section 8.3 (and 7.3): loopback redirect URIs use the IP literal, "NOT RECOMMENDED" with `localhost`,
    which may resolve elsewhere or be firewalled. A public (native) client naming localhost is
    `invalid_redirect_uri` (RFC 7591 section 3.2.2) saying what to use; a confidential web client on
    http://localhost (the docker-compose demo) is still registered."""
    native = {"token_endpoint_auth_method": "none", "grant_types": ["authorization_code"]}
    before = await count_clients(db)
    for uri in ("http://localhost:8080/callback", "http://localhost/callback", "http://LOCALHOST:9/cb"):
        status, answer, _ = await register(http, authz, {**native, "redirect_uris": [uri]})
        assert (status, answer.get("error")) == (400, "invalid_redirect_uri"), uri
        assert "127.0.0.1" in answer["error_description"] and "[::1]" in answer["error_description"], answer
    assert await count_clients(db) == before
    for uri in ("http://127.0.0.1:8080/callback", "http://[::1]/callback"):
        status, answer, _ = await register(http, authz, {**native, "redirect_uris": [uri]})
        assert status == 201, answer
    status, answer, _ = await register(http, authz, {"redirect_uris": ["http://localhost:8002/callback"]})
    assert (status, answer.get("token_endpoint_auth_method")) == (201, "client_secret_basic"), answer


async def test_without_the_setting_registration_is_off(start_authz: AuthzFactory, http: aiohttp.ClientSession) -> None:
    async with start_authz() as authz:
        for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
            async with http.get(authz + path) as resp:
                assert "registration_endpoint" not in await resp.json()
        async with http.post(
            f"{authz}/register",
            data=b"{}",
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 404


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTHORIUM_REGISTRATION_SCOPES", 'notes:read bad"scope'),
        ("AUTHORIUM_REGISTRATION_SCOPES", "caf\u00e9"),
        ("AUTHORIUM_REGISTRATION_GRANT_TYPES", "password"),
        ("AUTHORIUM_REGISTRATION_GRANT_TYPES", "authorization_code implicit"),
        ("AUTHORIUM_REGISTRATION_GRANT_TYPES", "authorization_code client_credential"),
    ],
)
def test_a_registration_policy_that_cannot_be_applied_stops_start_up(
    environ: dict[str, str], name: str, value: str
) -> None:
    """RFC 7591 section 3.2.2's policy is the operator's; a value that names nothing this server has is a mistake
    found at boot, in one line naming the variable, not a policy that silently allows or refuses everything."""
    with pytest.raises(ConfigError, match=name):
        AuthzSettings.from_env({**environ, "AUTHORIUM_REGISTRATION_TOKEN": TOKEN, name: value})


def test_the_grant_types_a_policy_may_name_are_the_ones_the_token_endpoint_serves(environ: dict[str, str]) -> None:
    """RFC 7591 section 2 (`grant_types`): every grant the token endpoint serves can be allowed, and nothing else."""
    assert set(REGISTRABLE_GRANT_TYPES) == set(GRANT_TYPES)  # two lists only because of an import cycle
    allowed = AuthzSettings.from_env({**environ, "AUTHORIUM_REGISTRATION_GRANT_TYPES": " ".join(GRANT_TYPES)})
    assert set(allowed.registration_grant_types) == set(GRANT_TYPES)
    default = AuthzSettings.from_env(environ)
    assert default.registration_grant_types == ("authorization_code", "refresh_token")
    assert default.registration_scopes == (*DEFAULT_SCOPE.split(), "notes:read", "notes:write")


@pytest.mark.parametrize("value", ["x" * 31, "caf\u00e9" * 10, "tab\t" * 10])
def test_a_short_or_unprintable_registration_token_stops_start_up(environ: dict[str, str], value: str) -> None:
    with pytest.raises(ConfigError, match="AUTHORIUM_REGISTRATION_TOKEN"):
        AuthzSettings.from_env({**environ, "AUTHORIUM_REGISTRATION_TOKEN": value})


def test_a_registration_token_that_cannot_be_sent_as_a_bearer_token_stops_start_up(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="AUTHORIUM_REGISTRATION_TOKEN"):
        AuthzSettings.from_env({**environ, "AUTHORIUM_REGISTRATION_TOKEN": "a secret phrase with spaces in it!!"})
