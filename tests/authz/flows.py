"""Driving the authorization server the way a browser and a client do, for the tests: register a client,
create a user, walk the authorization endpoint's login and consent pages, redeem codes."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlencode, urlsplit

import aiohttp
import asyncpg

from authorium_shared.redis_keys import RedisKeys
from authorium_shared.resources import create_redis
from authz.clients.registration import build_spec, register_client
from authz.resources.records import Resource
from authz.resources.registry import announce_change
from authz.resources.repository import ResourceRepository
from authz.settings import AuthzSettings
from authz.users.accounts import create_user
from authz.users.passwords import Passwords
from authz.users.repository import UserRepository
from tests.waiting import eventually

REDIRECT_URI = "https://client.example/callback"
PASSWORD = "correct horse battery staple"
_HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


@dataclass(frozen=True)
class RegisteredClient:
    client_id: str
    secret: str | None
    redirect_uri: str = REDIRECT_URI

    @property
    def basic(self) -> dict[str, str]:
        """The Authorization header for client_secret_basic (RFC 6749 section 2.3.1)."""
        assert self.secret is not None
        return {"Authorization": basic_header(self.client_id, self.secret)}


def basic_header(client_id: str, secret: str) -> str:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


async def make_client(
    db: asyncpg.Pool,
    *,
    public: bool = False,
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token", "client_credentials"),
    scope: str = "openid profile email offline_access notes:read notes:write",
    redirect_uris: tuple[str, ...] = (REDIRECT_URI,),
    id_token_alg: str = "RS256",
    introspect: bool = False,
    post_logout_redirect_uris: tuple[str, ...] = (),
    backchannel_logout_uri: str | None = None,
    backchannel_logout_session_required: bool = False,
    may_exchange_for: tuple[str, ...] = (),
) -> RegisteredClient:
    if public:
        grant_types = tuple(g for g in grant_types if g != "client_credentials")
    spec = build_spec(
        name=f"test client {uuid.uuid4().hex[:8]}",
        grant_types=grant_types,
        redirect_uris=redirect_uris,
        scope=scope,
        public=public,
        id_token_signed_response_alg=id_token_alg,
        may_introspect=introspect,
        post_logout_redirect_uris=post_logout_redirect_uris,
        backchannel_logout_uri=backchannel_logout_uri,
        backchannel_logout_session_required=backchannel_logout_session_required,
        may_exchange_for=may_exchange_for,
    )
    client, secret = await register_client(db, spec)
    return RegisteredClient(client.client_id, secret, redirect_uris[0] if redirect_uris else REDIRECT_URI)


async def make_resource(
    db: asyncpg.Pool,
    environ: Mapping[str, str],
    authz: str,
    *,
    scopes: Sequence[str] = ("read", "write"),
    access_token_ttl: int | None = None,
    name: str | None = None,
) -> Resource:
    """Register an API (RFC 8707) as `authorium resource create` does, with an identifier and scopes of its own (each
    of `scopes` prefixed with a fresh tag), announce it, and wait until the server at `authz` knows it (its
    discovery lists the scopes)."""
    tag = uuid.uuid4().hex[:8]
    settings = AuthzSettings.from_env(environ)
    resource = await ResourceRepository(db, settings).create(
        identifier=f"https://api-{tag}.example/",
        scopes=[f"{tag}:{scope}" for scope in scopes],
        access_token_ttl=access_token_ttl,
        name=name,
    )
    redis = create_redis(settings.common.redis_url)
    try:
        await announce_change(redis, RedisKeys(settings.common.redis_prefix))
    finally:
        await redis.aclose()

    async def known() -> bool:
        async with aiohttp.ClientSession() as http, http.get(authz + "/.well-known/openid-configuration") as resp:
            return set(resource.scopes) <= set((await resp.json())["scopes_supported"])

    await eventually(known, timeout=5, message="the server to reload the resource registry")
    return resource


async def make_user(db: asyncpg.Pool) -> str:
    username = f"user-{uuid.uuid4().hex[:12]}"
    with Passwords(workers=1) as passwords:
        await create_user(UserRepository(db), passwords, username, PASSWORD)
    return username


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def browser() -> aiohttp.ClientSession:
    """A cookie-keeping session that does not follow redirects on its own; cookies on IP hosts allowed."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


def hidden_fields(html: str) -> dict[str, str]:
    return dict(_HIDDEN.findall(html))


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class Authorization:
    """The outcome of walking the authorization endpoint: where it sent the browser, and the pages on the way."""

    location: str
    pages: list[str] = field(default_factory=list)

    @property
    def params(self) -> dict[str, str]:
        return query_of(self.location)

    @property
    def code(self) -> str:
        return self.params["code"]


async def authorize(
    session: aiohttp.ClientSession,
    authz: str,
    client: RegisteredClient,
    username: str | None,
    *,
    password: str = PASSWORD,
    consent: str | None = "allow",
    second_factor: Callable[[], str] | None = None,
    **params: str,
) -> Authorization:
    """Start at /authorize; sign in as `username` if asked; give `second_factor()` as the code if the second-factor
    page is shown; answer the consent page with `consent` if shown. Returns the redirect to the client (or raises
    AssertionError with the page it got stuck on)."""
    query = {"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri}
    query.update(params)
    return await follow_authorization(
        session,
        authz,
        f"{authz}/authorize?{urlencode(query)}",
        username,
        password=password,
        consent=consent,
        second_factor=second_factor,
    )


async def follow_authorization(
    session: aiohttp.ClientSession,
    authz: str,
    url: str,
    username: str | None,
    *,
    password: str = PASSWORD,
    consent: str | None = "allow",
    second_factor: Callable[[], str] | None = None,
) -> Authorization:
    """`authorize` from an authorization request URL that a client made."""
    outcome = Authorization(location="")
    async with session.get(url, allow_redirects=False) as resp:
        response = resp
        body = await resp.text()
    # Login, consent and the redirects after each; and the second-factor step with its redirect when expected (a
    # login page that keeps coming back, a wrong password, is posted no more often than before).
    for _ in range(6 if second_factor is not None else 4):
        if response.status in (302, 303):
            location = response.headers["Location"]
            if not location.startswith(authz) and not location.startswith("/"):
                outcome.location = location
                return outcome
            target = location if location.startswith("http") else authz + location
            async with session.get(target, allow_redirects=False) as resp:
                response = resp
                body = await resp.text()
            continue
        assert response.status == 200, f"stuck at {response.status}: {body[:500]}"
        outcome.pages.append(body)
        fields = hidden_fields(body)
        if 'action="/authorize/login"' in body:
            assert username is not None, "the login page was shown"
            form = {**fields, "username": username, "password": password}
            action = "/authorize/login"
        elif 'action="/authorize/second-factor"' in body:
            assert second_factor is not None, "the second-factor page was shown"
            form = {**fields, "code": second_factor()}
            action = "/authorize/second-factor"
        elif 'action="/authorize/consent"' in body:
            assert consent is not None, "the consent page was shown"
            form = {**fields, "decision": consent}
            action = "/authorize/consent"
        else:
            raise AssertionError(f"unexpected page: {body[:500]}")
        async with session.post(authz + action, data=form, allow_redirects=False) as resp:
            response = resp
            body = await resp.text()
    raise AssertionError("too many steps")


async def token_request(
    http: aiohttp.ClientSession, authz: str, client: RegisteredClient, **form: str
) -> tuple[int, dict[str, Any], aiohttp.ClientResponse]:
    """POST to /token, authenticating with Basic (confidential) or client_id in the body (public)."""
    headers = {}
    data = dict(form)
    if client.secret is None:
        data["client_id"] = client.client_id
    else:
        headers = client.basic
    async with http.post(f"{authz}/token", data=data, headers=headers) as resp:
        return resp.status, await resp.json(), resp


async def sign_in_and_redeem(
    http: aiohttp.ClientSession, authz: str, client: RegisteredClient, username: str, *, scope: str
) -> dict[str, Any]:
    """The whole code flow with PKCE: returns the token response."""
    verifier, challenge = pkce_pair()
    async with browser() as session:
        result = await authorize(
            session,
            authz,
            client,
            username,
            scope=scope,
            code_challenge=challenge,
            code_challenge_method="S256",
            state="s1",
        )
    status, body, _ = await token_request(
        http,
        authz,
        client,
        grant_type="authorization_code",
        code=result.code,
        redirect_uri=client.redirect_uri,
        code_verifier=verifier,
    )
    assert status == 200, body
    return body


async def code_flow(
    http: aiohttp.ClientSession,
    browser: aiohttp.ClientSession,
    authz: str,
    client: RegisteredClient,
    username: str | None,
    *,
    scope: str = "openid offline_access",
) -> dict[str, Any]:
    """The code flow with PKCE in `browser` (signing in as `username` if it is not yet): the token response."""
    verifier, challenge = pkce_pair()
    result = await authorize(
        browser,
        authz,
        client,
        username,
        scope=scope,
        code_challenge=challenge,
        code_challenge_method="S256",
        nonce=secrets.token_urlsafe(8),
    )
    status, body, _ = await token_request(
        http,
        authz,
        client,
        grant_type="authorization_code",
        code=result.code,
        redirect_uri=client.redirect_uri,
        code_verifier=verifier,
    )
    assert status == 200, body
    return body
