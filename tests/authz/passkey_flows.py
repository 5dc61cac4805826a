"""Driving the passkey pages over HTTP for the tests: an authorization server whose issuer is
http://localhost:PORT (an IP address cannot be a WebAuthn RP ID), enrolling a software authenticator from the
account pages, and signing in with it as a second factor or alone."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import jwt
import orjson
from aiohttp import web

from authz.app import create_app
from authz.settings import AuthzSettings
from tests.authz import flows
from tests.authz.authenticator import SoftAuthenticator, page_options
from tests.authz.conftest import server_errors
from tests.servers import bound_socket, serve, url_of


@dataclass(frozen=True)
class PasskeyServer:
    """`url` is where the tests connect (127.0.0.1); `issuer` is http://localhost on the same port: the RP ID
    (localhost) and the origin WebAuthn answers must name."""

    url: str
    issuer: str
    app: web.Application

    @property
    def rp_id(self) -> str:
        return "localhost"

    def authenticator(self, **kwargs: Any) -> SoftAuthenticator:
        return SoftAuthenticator(origin=self.issuer, rp_id=self.rp_id, **kwargs)


@asynccontextmanager
async def passkey_authz(environ: Mapping[str, str], **extra: str) -> AsyncIterator[PasskeyServer]:
    """An authorization server on loopback with AUTHORIUM_ISSUER=http://localhost:PORT; asserts no 5xx at the end."""
    sock, private = bound_socket(), bound_socket()
    issuer = f"http://localhost:{sock.getsockname()[1]}"
    try:
        app = create_app(AuthzSettings.from_env({**environ, "AUTHORIUM_ISSUER": issuer, **extra}))
        async with serve(app, sock, private):
            yield PasskeyServer(url_of(sock), issuer, app)
        assert server_errors(app) == 0, "the authorization server answered a request with a 5xx"
    finally:
        sock.close()
        private.close()


@dataclass
class Page:
    status: int
    body: str
    url: str
    headers: Mapping[str, str]

    @property
    def fields(self) -> dict[str, str]:
        return flows.hidden_fields(self.body)


async def fetch(browser: aiohttp.ClientSession, server: PasskeyServer, method: str, path: str, **kw: Any) -> Page:
    """One request, then its redirects within the server, to the first page (or the redirect that leaves)."""
    target = path if path.startswith("http") else server.url + path
    for _ in range(6):
        async with browser.request(method, target, allow_redirects=False, **kw) as resp:
            body = await resp.text()
            if resp.status in (302, 303):
                location = resp.headers["Location"]
                if not location.startswith("/") and not location.startswith(server.url):
                    return Page(resp.status, body, location, resp.headers)
                target = location if location.startswith("http") else server.url + location
                method, kw = "GET", {}
                continue
            return Page(resp.status, body, str(resp.url), resp.headers)
    raise AssertionError("too many redirects")


def authorize_path(client: flows.RegisteredClient, **extra: str) -> str:
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri,
        "scope": "openid",
        **extra,
    }
    return "/authorize?" + urlencode(params)


async def password_step(
    browser: aiohttp.ClientSession, server: PasskeyServer, client: flows.RegisteredClient, username: str
) -> Page:
    """Open the login page and sign in with the password; returns the page that follows."""
    login = await fetch(browser, server, "GET", authorize_path(client))
    assert 'action="/authorize/login"' in login.body, login.body[:300]
    form = {**login.fields, "username": username, "password": flows.PASSWORD}
    return await fetch(browser, server, "POST", "/authorize/login", data=form)


async def consent_and_code(browser: aiohttp.ClientSession, server: PasskeyServer, page: Page) -> str:
    """From the consent page (or the redirect after it), the code the client gets."""
    if 'action="/authorize/consent"' in page.body:
        page = await fetch(browser, server, "POST", "/authorize/consent", data={**page.fields, "decision": "allow"})
    assert page.status in (302, 303), f"stuck at {page.status}: {page.body[:500]}"
    params = flows.query_of(page.url)
    assert "code" in params, page.url
    return params["code"]


async def id_token_claims(
    http: aiohttp.ClientSession, server: PasskeyServer, client: flows.RegisteredClient, code: str
) -> dict[str, Any]:
    status, body, _ = await flows.token_request(
        http, server.url, client, grant_type="authorization_code", code=code, redirect_uri=client.redirect_uri
    )
    assert status == 200, body
    claims: dict[str, Any] = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert claims["iss"] == server.issuer
    return claims


async def sign_in_with_password(
    browser: aiohttp.ClientSession, server: PasskeyServer, client: flows.RegisteredClient, username: str
) -> None:
    """A user without second factors signs in (the browser's session is then theirs)."""
    await consent_and_code(browser, server, await password_step(browser, server, client, username))


async def enrol(
    browser: aiohttp.ClientSession, server: PasskeyServer, authenticator: SoftAuthenticator, name: str = "My key"
) -> Page:
    """From a signed-in browser: the add page, the authenticator's answer, the form posted."""
    page = await fetch(browser, server, "GET", "/account/security-keys/new")
    assert page.status == 200, page.body[:300]
    credential = authenticator.create(page_options(page.body))
    form = {**page.fields, "name": name, "credential": orjson.dumps(credential).decode()}
    return await fetch(browser, server, "POST", "/account/security-keys", data=form)


def post_credential(page: Page, credential: dict[str, Any]) -> dict[str, str]:
    """The ceremony page's form, with the authenticator's answer in it."""
    return {**page.fields, "credential": orjson.dumps(credential).decode()}
