"""The resource server finds the issuer's keys through its metadata (RFC 8414 section 3) unless AUTHORIUM_JWKS_URL
names them: the metadata must be the issuer's own (section 3.3), and an authorization server that starts after
the resource server is found once it is up. Real HTTP on loopback throughout."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from authorium_shared.jwt import encode
from authorium_shared.keys import SigningKey
from authz.app import create_app as create_authz
from authz.settings import AuthzSettings
from resource_server.discovery import DiscoveryError, check_metadata
from tests.authz.conftest import server_errors
from tests.resource.conftest import RESOURCE_URL, bearer, claims_for, expect_refusal, running_resource, service_token
from tests.servers import bound_socket, serve, url_of

ISSUER = "https://auth.example.com"
JWKS_URI = ISSUER + "/oauth/keys"


# --- the metadata check, without HTTP --------------------------------------------------------


def test_the_jwks_uri_of_the_issuers_own_metadata_is_used() -> None:
    assert check_metadata({"issuer": ISSUER, "jwks_uri": JWKS_URI, "other": 1}, ISSUER) == JWKS_URI


@pytest.mark.parametrize(
    "document",
    [
        [],
        "metadata",
        {"jwks_uri": JWKS_URI},
        {"issuer": None, "jwks_uri": JWKS_URI},
        {"issuer": "https://evil.example", "jwks_uri": JWKS_URI},
        # RFC 8414 section 3.3 asks for identical values: no normalising of a trailing slash, case or port.
        {"issuer": ISSUER + "/", "jwks_uri": JWKS_URI},
        {"issuer": ISSUER.upper(), "jwks_uri": JWKS_URI},
        {"issuer": "https://auth.example.com:443", "jwks_uri": JWKS_URI},
        {"issuer": ISSUER},
        {"issuer": ISSUER, "jwks_uri": ["https://auth.example.com/keys"]},
        {"issuer": ISSUER, "jwks_uri": "/oauth/keys"},
        {"issuer": ISSUER, "jwks_uri": "file:///etc/keys.json"},
        {"issuer": ISSUER, "jwks_uri": "http://[::1"},
    ],
)
def test_metadata_that_is_not_the_issuers_or_names_no_usable_jwks_uri_is_refused(document: Any) -> None:
    with pytest.raises(DiscoveryError):
        check_metadata(document, ISSUER)


# --- a resource server against a tiny authorization server -------------------------------------


@dataclass
class FakeIssuer:
    """An issuer that publishes metadata and, at paths of its own choosing, key sets; counts every request."""

    key: SigningKey
    url: str = ""
    # None: the issuer publishes no metadata (404).
    metadata: dict[str, Any] | None = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests[request.path] += 1
        if request.path == "/.well-known/openid-configuration" and self.metadata is not None:
            return web.json_response(self.metadata)
        if request.path in ("/oauth/keys", "/override/keys"):
            return web.json_response({"keys": [self.key.public_jwk()]})
        raise web.HTTPNotFound()

    def token(self) -> str:
        return encode(claims_for(self.url), self.key, typ="at+jwt")


@pytest.fixture
async def issuer(signing_key: SigningKey) -> AsyncIterator[FakeIssuer]:
    fake = FakeIssuer(signing_key)
    app = web.Application()
    app.router.add_get("/{path:.*}", fake.handle)
    sock = bound_socket()
    fake.url = url_of(sock)
    # Keys at a path of the issuer's choosing: a server that built issuer + "/jwks.json" itself would find none.
    fake.metadata = {"issuer": fake.url, "jwks_uri": fake.url + "/oauth/keys"}
    try:
        async with serve(app, sock):
            yield fake
    finally:
        sock.close()


@pytest.fixture(scope="module")
def signing_key() -> SigningKey:
    return SigningKey.generate("ES256")


def resource_env(environ: dict[str, str], issuer: str, **extra: str) -> dict[str, str]:
    return {**environ, "AUTHORIUM_ISSUER": issuer, "AUTHORIUM_RESOURCE_URL": RESOURCE_URL, **extra}


async def test_without_an_override_the_keys_come_from_the_discovered_jwks_uri(
    issuer: FakeIssuer, environ: dict[str, str], http: aiohttp.ClientSession
) -> None:
    async with running_resource(resource_env(environ, issuer.url)) as api:
        for _ in range(3):
            async with http.get(api + "/api/me", headers=bearer(issuer.token())) as resp:
                assert resp.status == 200, await resp.text()
    assert issuer.requests["/.well-known/openid-configuration"] == 1, "discovered once, then kept"
    assert issuer.requests["/oauth/keys"] == 1
    assert set(issuer.requests) == {"/.well-known/openid-configuration", "/oauth/keys"}


async def test_the_override_wins_and_no_metadata_is_fetched(
    issuer: FakeIssuer, environ: dict[str, str], http: aiohttp.ClientSession
) -> None:
    env = resource_env(environ, issuer.url, AUTHORIUM_JWKS_URL=issuer.url + "/override/keys")
    async with running_resource(env) as api, http.get(api + "/api/me", headers=bearer(issuer.token())) as resp:
        assert resp.status == 200, await resp.text()
    assert set(issuer.requests) == {"/override/keys"}


@pytest.mark.parametrize("named", ["https://evil.example", "{url}/", None])
async def test_metadata_naming_another_issuer_is_not_used_and_tokens_are_refused(
    named: str | None, issuer: FakeIssuer, environ: dict[str, str], http: aiohttp.ClientSession
) -> None:
    assert issuer.metadata is not None
    issuer.metadata["issuer"] = named.format(url=issuer.url) if named else None
    async with running_resource(resource_env(environ, issuer.url)) as api:
        params = await expect_refusal(
            http, "GET", api + "/api/me", status=401, error="invalid_token", headers=bearer(issuer.token())
        )
    assert "unknown kid" in params["error_description"]
    assert issuer.requests["/.well-known/openid-configuration"] >= 1
    assert issuer.requests["/oauth/keys"] == 0, "the keys of metadata that is not the issuer's must not be fetched"


async def test_an_issuer_without_metadata_gets_its_tokens_refused(
    issuer: FakeIssuer, environ: dict[str, str], http: aiohttp.ClientSession
) -> None:
    """No metadata (404), so no keys: fail closed rather than guess where the key set is."""
    issuer.metadata = None
    async with running_resource(resource_env(environ, issuer.url)) as api:
        await expect_refusal(
            http, "GET", api + "/api/me", status=401, error="invalid_token", headers=bearer(issuer.token())
        )
    assert issuer.requests["/.well-known/openid-configuration"] >= 1
    assert set(issuer.requests) == {"/.well-known/openid-configuration"}


# --- a resource server started before the real authorization server ----------------------------


@pytest.mark.slow
async def test_an_authorization_server_that_starts_later_is_discovered_once_it_is_up(
    environ: dict[str, str], http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    sock = bound_socket()  # bound but not listening: connections to the issuer are refused until authz serves
    issuer = url_of(sock)
    try:
        async with running_resource(resource_env(environ, issuer)) as api:
            authz = create_authz(AuthzSettings.from_env({**environ, "AUTHORIUM_ISSUER": issuer}))
            async with serve(authz, sock):
                caller = await service_token(http, issuer, db, scope="notes:read")
                # The failed attempt at start-up holds the next one back for the JWKS cache's refetch interval
                # (5 s); until then the token is refused, never accepted unchecked.
                deadline = time.monotonic() + 15
                while True:
                    async with http.get(api + "/api/me", headers=caller.headers) as resp:
                        body = await resp.json()
                        if resp.status == 200:
                            break
                        assert resp.status == 401 and body["error"] == "invalid_token", body
                    assert time.monotonic() < deadline, f"the resource server still refuses the token: {body}"
                    await asyncio.sleep(0.2)
                assert body["client_id"] == caller.client_id and body["kind"] == "service"
            assert server_errors(authz) == 0
    finally:
        sock.close()
