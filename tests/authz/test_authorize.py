"""The authorization endpoint (RFC 6749 section 4.1, RFC 7636, RFC 9207, OIDC Core 3.1.2) as a browser and a
client see it: which requests get an error page and which a redirect, the code flow through the login and
consent pages, remembered consent, and the prompt and max_age parameters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import asyncpg
import jwt
import pytest
from aiohttp import web
from multidict import CIMultiDictProxy

from authorium_shared.jwt import encode
from authorium_shared.keys import SigningKey
from authz.appkeys import KEY_RING
from tests.authz import flows

SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
PageParams = Mapping[str, str] | Sequence[tuple[str, str]]


pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.fixture
def authz(module_authz: str) -> str:
    """One server for the module (starting one costs more than most tests here); tests share nothing else,
    each making its own client, user and browser."""
    return module_authz


async def get_authorize(
    session: aiohttp.ClientSession, authz: str, params: PageParams
) -> tuple[int, CIMultiDictProxy[str], str]:
    async with session.get(f"{authz}/authorize", params=params, allow_redirects=False) as resp:
        return resp.status, resp.headers, await resp.text()


def assert_secure_page(headers: Mapping[str, str]) -> None:
    assert headers["Content-Type"].startswith("text/html")
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    for name, value in SECURITY_HEADERS.items():
        assert headers[name] == value, name


def assert_error_page(status: int, headers: Mapping[str, str], body: str) -> None:
    """An error shown to the user, never a redirect (RFC 6749 section 4.1.2.1, RFC 9700 section 4.11)."""
    assert status == 400, body[:300]
    assert "Location" not in headers
    assert_secure_page(headers)
    assert "have not been sent back" in body


def redirect_params(headers: Mapping[str, str], redirect_uri: str) -> dict[str, str]:
    location = headers["Location"]
    assert location.startswith(redirect_uri + "?"), location
    return flows.query_of(location)


# Before the redirect URI is verified: an error page, never a redirect.


async def test_unknown_client_gets_an_error_page(authz: str, http: aiohttp.ClientSession) -> None:
    base = {"response_type": "code", "redirect_uri": flows.REDIRECT_URI, "state": "s", "prompt": "none"}
    for client_id in ("no-such-client", "x\x00y", "'; DROP TABLE clients; --", "é" * 300):
        assert_error_page(*await get_authorize(http, authz, {**base, "client_id": client_id}))
    assert_error_page(*await get_authorize(http, authz, base))


async def test_unregistered_redirect_uris_get_an_error_page(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    client = await flows.make_client(db)
    near_misses = [
        flows.REDIRECT_URI + "/",
        "https://client.example/Callback",
        "https://CLIENT.example/callback",
        flows.REDIRECT_URI + "?next=https://evil.example/",
        flows.REDIRECT_URI + "#x",
        "http://client.example/callback",
        "https://client.example:443/callback",
        "https://client.example.evil.example/callback",
        "https://evil.example/callback",
        "//evil.example/callback",
    ]
    for uri in near_misses:
        params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": uri, "state": "s"}
        status, headers, body = await get_authorize(http, authz, params)
        assert_error_page(status, headers, body)
        # Even a request that is wrong in other ways too is not sent to the unverified address.
        params.update(response_type="token", scope="nope")
        assert_error_page(*await get_authorize(http, authz, params))


async def test_a_native_app_may_use_any_loopback_port_and_the_code_is_bound_to_it(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 8252 section 7.3: a request for a registered loopback IP redirect URI may name any port (or none);
    the answer goes to the URI the request named, and the code is bound to that URI: the token request must
    present the very same one (RFC 6749 section 4.1.3), not the registered one nor another port."""
    registered = ("http://127.0.0.1/callback", "http://[::1]:8080/cb")
    client = await flows.make_client(db, public=True, scope="openid notes:read", redirect_uris=registered)
    username = await flows.make_user(db)
    async with flows.browser() as browser:
        for used in ("http://127.0.0.1:51234/callback", "http://[::1]/cb", "http://[::1]:49152/cb"):
            verifier, challenge = flows.pkce_pair()
            pkce = {"code_challenge": challenge, "code_challenge_method": "S256"}
            result = await flows.authorize(
                browser, authz, client, username, redirect_uri=used, scope="openid", state="n", **pkce
            )
            assert result.location.startswith(used + "?"), result.location
            assert result.params["state"] == "n"
            wrong = "http://127.0.0.1:51235/callback" if "127.0.0.1" in used else "http://[::1]:8080/cb"
            status, body, _ = await flows.token_request(
                http,
                authz,
                client,
                grant_type="authorization_code",
                code=result.code,
                redirect_uri=wrong,
                code_verifier=verifier,
            )
            assert (status, body["error"]) == (400, "invalid_grant"), (used, body)

            result = await flows.authorize(browser, authz, client, None, redirect_uri=used, scope="openid", **pkce)
            redeem = {"grant_type": "authorization_code", "code": result.code, "code_verifier": verifier}
            status, body, _ = await flows.token_request(http, authz, client, **redeem, redirect_uri=used)
            assert status == 200, (used, body)
            assert body["scope"] == "openid"

        # Only the port is free: anything else about the address is still matched exactly (RFC 9700 4.1.3).
        for near_miss in (
            "http://127.0.0.1:51234/callback/",
            "http://127.0.0.1:51234/callback?x=1",
            "https://127.0.0.1:51234/callback",
            "http://localhost:51234/callback",
            "http://127.0.0.2:51234/callback",
            "http://127.0.0.1:5000@evil.example/callback",
            "http://127.0.0.1:0/callback",
        ):
            params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": near_miss, "state": "s"}
            assert_error_page(*await get_authorize(http, authz, params))


async def test_client_without_the_code_grant_gets_an_error_page(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    client = await flows.make_client(db, grant_types=("client_credentials",))
    params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": flows.REDIRECT_URI}
    assert_error_page(*await get_authorize(http, authz, params))


async def test_missing_redirect_uri_needs_exactly_one_registered(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    several = await flows.make_client(db, redirect_uris=(flows.REDIRECT_URI, "https://client.example/other"))
    assert_error_page(*await get_authorize(http, authz, {"response_type": "code", "client_id": several.client_id}))

    one = await flows.make_client(db)
    username = await flows.make_user(db)
    async with flows.browser() as browser:
        # An empty parameter counts as absent (RFC 6749 section 3.1), so this omits redirect_uri.
        result = await flows.authorize(browser, authz, one, username, redirect_uri="", state="st")
    assert result.location.startswith(flows.REDIRECT_URI + "?")
    assert result.params["state"] == "st"
    assert result.code


async def test_an_openid_request_must_name_its_redirect_uri(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """OIDC Core 3.1.2.1: redirect_uri is REQUIRED in an OpenID Connect request, even when the client has one
    registered URI. A request failing for a missing redirection URI is shown to the person, not redirected
    (RFC 6749 section 4.1.2.1). A plain OAuth request may still omit it (RFC 6749 section 3.1.2.3)."""
    client = await flows.make_client(db)
    base = {"response_type": "code", "client_id": client.client_id, "state": "s"}
    for scope in ("openid", "notes:read openid profile", "openid nope:unknown"):
        for prompt in ({}, {"prompt": "none"}):
            assert_error_page(*await get_authorize(http, authz, {**base, "scope": scope, **prompt}))
    # Without openid the sole registered URI still serves: the answer is a redirect there.
    status, headers, _ = await get_authorize(http, authz, {**base, "scope": "notes:read", "prompt": "none"})
    assert status == 302
    assert redirect_params(headers, client.redirect_uri)["error"] == "login_required"


async def test_an_openid_request_ignores_scopes_the_client_may_not_have(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """OIDC Core 3.1.2.1: scope values not understood SHOULD be ignored, so in an OpenID Connect request scopes
    the client is not registered for are dropped, not answered with invalid_scope; the consent page asks for
    what is granted, and the token response's `scope` says what was granted (RFC 6749 section 5.1)."""
    client = await flows.make_client(db, scope="openid profile notes:read")
    username = await flows.make_user(db)
    verifier, challenge = flows.pkce_pair()
    async with flows.browser() as browser:
        result = await flows.authorize(
            browser,
            authz,
            client,
            username,
            scope="openid notes:admin profile x:unknown notes:read offline_access",
            state="o",
            code_challenge=challenge,
            code_challenge_method="S256",
        )
    consent_page = result.pages[-1]
    assert "<code>notes:read</code>" in consent_page
    for dropped in ("notes:admin", "x:unknown", "offline_access"):
        assert dropped not in consent_page
    assert result.params["state"] == "o"
    redeem = {"grant_type": "authorization_code", "code": result.code, "code_verifier": verifier}
    status, body, _ = await flows.token_request(http, authz, client, **redeem, redirect_uri=client.redirect_uri)
    assert status == 200, body
    assert body["scope"] == "openid profile notes:read"
    assert "id_token" in body
    assert "refresh_token" not in body  # offline_access was dropped, not granted (OIDC Core section 11)
    # A client that may not have `openid` itself makes no OpenID Connect request of it: invalid_scope.
    plain = await flows.make_client(db, scope="notes:read")
    params = {"response_type": "code", "client_id": plain.client_id, "redirect_uri": plain.redirect_uri}
    status, headers, _ = await get_authorize(http, authz, {**params, "scope": "openid notes:read", "state": "p"})
    assert status == 302
    got = redirect_params(headers, plain.redirect_uri)
    assert (got["error"], got["state"]) == ("invalid_scope", "p")


async def test_a_request_without_scope_gets_the_default_scopes_without_openid(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 6749 section 3.3: without `scope` the server uses a pre-defined default, here the client's registered
    scopes minus OpenID Connect's (`openid`, `offline_access`, `profile`, `email`): nobody asked for a sign-in
    (OIDC Core 3.1.2.1 makes `openid` what asks for one), so no ID token; and a client registered for nothing
    but OpenID Connect scopes must name them (invalid_scope)."""
    client = await flows.make_client(db, scope="openid profile email offline_access notes:read notes:write")
    username = await flows.make_user(db)
    verifier, challenge = flows.pkce_pair()
    async with flows.browser() as browser:
        result = await flows.authorize(
            browser, authz, client, username, code_challenge=challenge, code_challenge_method="S256"
        )
        consent_page = result.pages[-1]
        assert "<code>notes:write</code>" in consent_page
        assert "<code>openid</code>" not in consent_page
        redeem = {"grant_type": "authorization_code", "code": result.code, "code_verifier": verifier}
        status, body, _ = await flows.token_request(http, authz, client, **redeem, redirect_uri=client.redirect_uri)
        assert status == 200, body
        assert body["scope"] == "notes:read notes:write"
        assert "id_token" not in body

        only_openid = await flows.make_client(db, scope="openid profile")
        params = {"response_type": "code", "client_id": only_openid.client_id, "redirect_uri": only_openid.redirect_uri}
        status, headers, _ = await get_authorize(browser, authz, {**params, "state": "d"})
    assert status == 302
    got = redirect_params(headers, only_openid.redirect_uri)
    assert (got["error"], got["state"]) == ("invalid_scope", "d")
    assert "code" not in got


async def test_a_repeated_parameter_gets_an_error_page(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    client = await flows.make_client(db)
    base = [("response_type", "code"), ("client_id", client.client_id), ("redirect_uri", client.redirect_uri)]
    base.append(("scope", "openid"))
    for repeated in (
        ("client_id", client.client_id),
        ("redirect_uri", "https://evil.example/"),
        ("redirect_uri", client.redirect_uri),
        ("state", "other"),
        ("scope", "openid"),
    ):
        status, headers, body = await get_authorize(http, authz, [*base, ("state", "s"), repeated])
        assert_error_page(status, headers, body)
        assert "more than once" in body


# After the redirect URI is verified: a redirect to it with error, state and iss.


async def test_request_errors_are_redirected_with_state_and_iss(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    confidential = await flows.make_client(db, scope="openid notes:read")
    public = await flows.make_client(db, public=True, scope="openid notes:read")
    _, challenge = flows.pkce_pair()
    pkce = {"code_challenge": challenge, "code_challenge_method": "S256"}
    cases: list[tuple[flows.RegisteredClient, dict[str, str], str]] = [
        (confidential, {"response_type": ""}, "invalid_request"),
        (confidential, {"response_type": "token"}, "unsupported_response_type"),
        (confidential, {"response_type": "code id_token"}, "unsupported_response_type"),
        # A plain OAuth request: a scope the client may not have is refused (RFC 6749 section 3.3); in an
        # OpenID Connect request it would be dropped instead (OIDC Core 3.1.2.1, tested below).
        (confidential, {"scope": "notes:read notes:admin"}, "invalid_scope"),
        (confidential, {"scope": "openid  notes:read"}, "invalid_scope"),
        (public, {}, "invalid_request"),
        (public, {**pkce, "code_challenge_method": "plain"}, "invalid_request"),
        (confidential, {**pkce, "code_challenge_method": "plain"}, "invalid_request"),
        (public, {"code_challenge": challenge}, "invalid_request"),
        (public, {**pkce, "code_challenge": "short"}, "invalid_request"),
        (confidential, {"prompt": "none"}, "login_required"),
        (public, {**pkce, "prompt": "none"}, "login_required"),
        (confidential, {"prompt": "none select_account"}, "invalid_request"),
        (confidential, {"max_age": "-1"}, "invalid_request"),
        (confidential, {"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
        (confidential, {"request_uri": "urn:example:x"}, "request_uri_not_supported"),
        (confidential, {"response_mode": "fragment"}, "invalid_request"),
    ]
    for client, extra, error in cases:
        params = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": client.redirect_uri,
            "state": "xyz 1/2",
            **extra,
        }
        async with http.get(f"{authz}/authorize", params=params, allow_redirects=False) as resp:
            assert resp.status == 302, (extra, await resp.text())
            got = redirect_params(resp.headers, client.redirect_uri)
        assert got["error"] == error, (extra, got)
        assert got["state"] == "xyz 1/2", extra
        assert got["iss"] == authz, extra
        assert "code" not in got


async def test_errors_on_a_posted_request_redirect_with_303(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    client = await flows.make_client(db)
    form = {"response_type": "token", "client_id": client.client_id, "redirect_uri": client.redirect_uri}
    async with http.post(f"{authz}/authorize", data={**form, "state": "p"}, allow_redirects=False) as resp:
        assert resp.status == 303
        got = redirect_params(resp.headers, client.redirect_uri)
    assert got == {"error": "unsupported_response_type", "error_description": got["error_description"]} | {
        "state": "p",
        "iss": authz,
    }


async def test_an_overlong_state_is_an_error_and_is_not_echoed(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    client = await flows.make_client(db)
    params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri}
    status, headers, _ = await get_authorize(http, authz, {**params, "state": "s" * 2000})
    assert status == 302
    got = redirect_params(headers, client.redirect_uri)
    assert got["error"] == "invalid_request"
    assert "state" not in got


async def test_the_issuer_in_redirects_is_the_configured_one(start_authz: Any, db: asyncpg.Pool) -> None:
    client = await flows.make_client(db)
    issuer = "https://auth.example.test"
    async with start_authz(AUTHORIUM_ISSUER=issuer) as url, aiohttp.ClientSession() as http:
        params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri}
        status, headers, _ = await get_authorize(http, url, {**params, "prompt": "none", "state": "s"})
    assert status == 302
    assert redirect_params(headers, client.redirect_uri)["iss"] == issuer


# The code flow.


async def test_code_flow_through_login_and_consent(authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool) -> None:
    client = await flows.make_client(db, public=True, scope="openid notes:read")
    username = await flows.make_user(db)
    verifier, challenge = flows.pkce_pair()
    async with flows.browser() as browser:
        result = await flows.authorize(
            browser,
            authz,
            client,
            username,
            scope="openid notes:read",
            state="af0ifjsldkj",
            code_challenge=challenge,
            code_challenge_method="S256",
        )
    login_page, consent_page = result.pages
    assert 'action="/authorize/login"' in login_page
    assert 'action="/authorize/consent"' in consent_page
    assert username in consent_page
    assert set(result.params) == {"code", "state", "iss"}
    assert result.params["state"] == "af0ifjsldkj"
    assert result.params["iss"] == authz
    # The code is real: it redeems once, with the verifier.
    status, body, _ = await flows.token_request(
        http,
        authz,
        client,
        grant_type="authorization_code",
        code=result.code,
        redirect_uri=client.redirect_uri,
        code_verifier=verifier,
    )
    assert status == 200, body
    assert body["scope"].split() == ["openid", "notes:read"]


async def test_state_comes_back_exactly_and_safely_encoded(authz: str, db: asyncpg.Pool) -> None:
    client = await flows.make_client(db)
    username = await flows.make_user(db)
    state = "a b+c&d=e%20 ü 🙂 \r\nSet-Cookie: x=1\r\n\r\n<script>\t#frag"
    async with flows.browser() as browser:
        result = await flows.authorize(browser, authz, client, username, state=state)
        assert result.params["state"] == state
        # And on an error redirect, from the same signed-in browser.
        async with browser.get(
            f"{authz}/authorize",
            params={"client_id": client.client_id, "redirect_uri": client.redirect_uri, "state": state},
            allow_redirects=False,
        ) as resp:
            error_location = resp.headers["Location"]
    for location in (result.location, error_location):
        query = location.split("?", 1)[1]
        assert not set(query) & set(" \r\n\t#<>\"'"), query
        assert flows.query_of(location)["state"] == state
    assert flows.query_of(error_location)["error"] == "invalid_request"


async def test_consent_is_remembered_for_the_same_or_fewer_scopes(authz: str, db: asyncpg.Pool) -> None:
    client = await flows.make_client(db, scope="openid profile notes:read notes:write")
    username = await flows.make_user(db)
    async with flows.browser() as browser:
        first = await flows.authorize(browser, authz, client, username, scope="openid notes:read", state="1")
        assert len(first.pages) == 2

        for scope in ("openid notes:read", "notes:read", "notes:read openid"):
            again = await flows.authorize(browser, authz, client, None, consent=None, scope=scope, state="2")
            assert again.pages == [], scope
            assert again.params["state"] == "2"
            assert again.code

        # A new scope asks again, listing what is asked for, without asking to sign in again.
        more = await flows.authorize(browser, authz, client, None, scope="openid notes:write", state="3")
        (page,) = more.pages
        assert 'action="/authorize/consent"' in page
        assert "<code>notes:write</code>" in page
        assert "Create, change and delete your notes" in page
        assert more.code

        # What was granted since is remembered too.
        both = await flows.authorize(browser, authz, client, None, consent=None, scope="notes:read notes:write")
        assert both.pages == []

        # Another client is another matter: consent is per client.
        other = await flows.make_client(db, scope="openid")
        elsewhere = await flows.authorize(browser, authz, other, None, scope="openid")
        assert len(elsewhere.pages) == 1
        assert 'action="/authorize/consent"' in elsewhere.pages[0]


async def test_consent_is_not_shared_with_another_browser_session(authz: str, db: asyncpg.Pool) -> None:
    client = await flows.make_client(db)
    username = await flows.make_user(db)
    async with flows.browser() as browser:
        await flows.authorize(browser, authz, client, username, scope="openid")
    async with flows.browser() as other:
        # A new browser signs in again; consent is remembered for the user, so no consent page.
        result = await flows.authorize(other, authz, client, username, consent=None, scope="openid")
    (page,) = result.pages
    assert 'action="/authorize/login"' in page


async def test_prompt_none_answers_without_pages(authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool) -> None:
    client = await flows.make_client(db, scope="openid notes:read notes:write")
    username = await flows.make_user(db)
    async with flows.browser() as browser:
        await flows.authorize(browser, authz, client, username, scope="openid notes:read")
        silent = await flows.authorize(
            browser, authz, client, None, consent=None, scope="openid", prompt="none", state="q"
        )
        assert silent.pages == []
        assert silent.code
        assert silent.params["state"] == "q"

        needs_consent = await flows.authorize(
            browser, authz, client, None, consent=None, scope="notes:write", prompt="none", state="q"
        )
        assert needs_consent.params["error"] == "consent_required"
        assert needs_consent.params["state"] == "q"
        assert needs_consent.params["iss"] == authz
        assert "code" not in needs_consent.params


async def test_prompt_consent_forces_the_consent_page(authz: str, db: asyncpg.Pool) -> None:
    client = await flows.make_client(db)
    username = await flows.make_user(db)
    async with flows.browser() as browser:
        await flows.authorize(browser, authz, client, username, scope="openid")
        result = await flows.authorize(browser, authz, client, None, scope="openid", prompt="consent", state="c")
    (page,) = result.pages
    assert 'action="/authorize/consent"' in page
    assert result.params["state"] == "c"
    assert result.code


async def test_prompt_login_and_max_age_zero_force_the_login_page(authz: str, db: asyncpg.Pool) -> None:
    client = await flows.make_client(db)
    username = await flows.make_user(db)
    async with flows.browser() as browser:
        await flows.authorize(browser, authz, client, username, scope="openid")
        for forcing in ({"prompt": "login"}, {"max_age": "0"}, {"prompt": "login consent"}):
            # Signed in, but the login page comes anyway; once signed in again the flow completes.
            result = await flows.authorize(browser, authz, client, username, scope="openid", state="m", **forcing)
            assert 'action="/authorize/login"' in result.pages[0], forcing
            assert result.params["state"] == "m"
            assert result.code
        consent_forced = result.pages
        assert len(consent_forced) == 2
        assert 'action="/authorize/consent"' in consent_forced[1]

        # A generous max_age is satisfied by the current sign-in.
        recent = await flows.authorize(browser, authz, client, None, consent=None, scope="openid", max_age="3600")
        assert recent.pages == []
        assert recent.code

        # Re-authentication cannot be asked for silently.
        silent = await flows.authorize(browser, authz, client, None, scope="openid", prompt="none", max_age="0")
        assert silent.params["error"] == "login_required"


async def test_a_wrong_password_at_prompt_login_does_not_complete(authz: str, db: asyncpg.Pool) -> None:
    client = await flows.make_client(db)
    username = await flows.make_user(db)
    async with flows.browser() as browser:
        await flows.authorize(browser, authz, client, username, scope="openid")
        status, _, body = await get_authorize(
            browser,
            authz,
            {
                "response_type": "code",
                "client_id": client.client_id,
                "redirect_uri": client.redirect_uri,
                "prompt": "login",
            },
        )
        assert status == 200
        form = {**flows.hidden_fields(body), "username": username, "password": "not the password"}
        async with browser.post(f"{authz}/authorize/login", data=form, allow_redirects=False) as resp:
            assert resp.status == 200
            assert "Location" not in resp.headers
            assert 'action="/authorize/login"' in await resp.text()


# OpenID Connect hints (OIDC Core 3.1.2.1-3.1.2.2) and prompt=select_account.


async def id_token_for(http: aiohttp.ClientSession, authz: str, client: flows.RegisteredClient, username: str) -> str:
    """An ID token the server issued to `client` for `username`, through the whole code flow."""
    return str((await flows.sign_in_and_redeem(http, authz, client, username, scope="openid"))["id_token"])


def signed_by_the_server(app: web.Application, claims: dict[str, Any]) -> str:
    """A JWT signed with the running server's own current RS256 key: what an ID token of any age looks like."""
    return encode(claims, app[KEY_RING].keyset.signing_key("RS256"), typ="JWT")


def hinted(client: flows.RegisteredClient, **params: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri,
        "scope": "openid",
        "state": "h",
        **params,
    }


async def test_prompt_none_with_an_id_token_hint_for_another_user_is_login_required(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """OIDC Core 3.1.2.1: when the End-User the id_token_hint names is not the one signed in, the server SHOULD
    return an error such as login_required, and under prompt=none it cannot ask anyone to sign in; a hint for
    the signed-in user lets the silent request through."""
    client = await flows.make_client(db, scope="openid notes:read")
    alice, bob = await flows.make_user(db), await flows.make_user(db)
    bobs_hint = await id_token_for(http, authz, client, bob)
    async with flows.browser() as browser:
        alices_hint = await id_token_for(http, authz, client, alice)
        await flows.authorize(browser, authz, client, alice, scope="openid")
        status, headers, _ = await get_authorize(browser, authz, hinted(client, prompt="none", id_token_hint=bobs_hint))
        assert status == 302
        got = redirect_params(headers, client.redirect_uri)
        assert (got["error"], got["state"], got["iss"]) == ("login_required", "h", authz)
        assert "code" not in got

        silent = await flows.authorize(
            browser, authz, client, None, consent=None, prompt="none", **hinted(client, id_token_hint=alices_hint)
        )
        assert silent.pages == []
        assert silent.code


async def test_an_expired_id_token_hint_is_still_a_hint(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, module_server: tuple[str, web.Application]
) -> None:
    """OIDC Core 3.1.2.1: the hint is about the End-User's current *or past* session, so an ID token past its
    `exp` (which an RP's last one usually is) is still honoured: it still tells the signed-in user from another."""
    client = await flows.make_client(db, scope="openid")
    alice, bob = await flows.make_user(db), await flows.make_user(db)
    app = module_server[1]
    async with flows.browser() as browser:
        alices = jwt.decode(await id_token_for(http, authz, client, alice), options={"verify_signature": False})
        bobs = jwt.decode(await id_token_for(http, authz, client, bob), options={"verify_signature": False})
        await flows.authorize(browser, authz, client, alice, scope="openid")
        long_ago = {"iat": 1_600_000_000, "exp": 1_600_000_600, "auth_time": 1_600_000_000}
        expired_alice = signed_by_the_server(app, {**alices, **long_ago})
        expired_bob = signed_by_the_server(app, {**bobs, **long_ago})

        silent = await flows.authorize(
            browser, authz, client, None, consent=None, prompt="none", **hinted(client, id_token_hint=expired_alice)
        )
        assert silent.code
        refused = await flows.authorize(
            browser, authz, client, None, consent=None, prompt="none", **hinted(client, id_token_hint=expired_bob)
        )
        assert refused.params["error"] == "login_required"


async def test_an_invalid_id_token_hint_is_invalid_request(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, module_server: tuple[str, web.Application]
) -> None:
    """OIDC Core 3.1.2.2: the server MUST validate the request; an id_token_hint that is not an ID token this
    server issued to this client (forged, tampered, signed by another key, another issuer, another audience, an
    access token, no subject) is answered invalid_request (RFC 6749 section 4.1.2.1), with `state` and `iss`,
    whether or not anyone is signed in; the signed-in session is left as it was."""
    client = await flows.make_client(db, scope="openid notes:read")
    other_client = await flows.make_client(db, scope="openid")
    username = await flows.make_user(db)
    app = module_server[1]
    genuine = await id_token_for(http, authz, client, username)
    claims = jwt.decode(genuine, options={"verify_signature": False})
    for_other_client = await id_token_for(http, authz, other_client, username)
    access_token = (await flows.sign_in_and_redeem(http, authz, client, username, scope="openid"))["access_token"]
    ours = app[KEY_RING].keyset.signing_key("RS256")
    impostor = SigningKey(kid=ours.kid, alg="RS256", private_key=SigningKey.generate("RS256").private_key)
    header, payload, signature = genuine.split(".")
    tampered_payload = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(claims["sub"].encode(), b"0" * len(claims["sub"]))
    ).decode()
    no_sub = {k: v for k, v in claims.items() if k != "sub"}
    bad_hints = {
        "garbage": "not-a-jwt",
        "alg none": jwt.encode(claims, None, algorithm="none"),
        "HS256": jwt.encode(claims, "x" * 32, algorithm="HS256", headers={"kid": ours.kid}),
        "tampered": f"{header}.{tampered_payload}.{signature}",
        "another key, our kid": encode(claims, impostor, typ="JWT"),
        "another issuer": signed_by_the_server(app, {**claims, "iss": "https://evil.example"}),
        "another client": for_other_client,
        "an access token": access_token,
        "no subject": signed_by_the_server(app, no_sub),
        "empty subject": signed_by_the_server(app, {**claims, "sub": ""}),
    }
    async with flows.browser() as browser:
        await flows.authorize(browser, authz, client, username, scope="openid")
        for name, hint in bad_hints.items():
            for prompt in ({"prompt": "none"}, {}):
                for session in (browser, http):
                    status, headers, _ = await get_authorize(
                        session, authz, hinted(client, id_token_hint=hint, **prompt)
                    )
                    assert status == 302, name
                    got = redirect_params(headers, client.redirect_uri)
                    assert (got["error"], got["state"], got["iss"]) == ("invalid_request", "h", authz), name
                    assert "code" not in got
        # Still signed in, still consented: the genuine hint goes through silently.
        silent = await flows.authorize(
            browser, authz, client, None, consent=None, prompt="none", **hinted(client, id_token_hint=genuine)
        )
        assert silent.code


async def test_an_id_token_hint_for_another_user_asks_to_sign_in_as_them(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """OIDC Core 3.1.2.1: with a hint naming someone other than the signed-in user, the request gives a positive
    answer only if that End-User "is logged in by the request": the login page comes, and signing in as the
    hinted user completes it (the code is theirs); signing in as anyone else ends in login_required."""
    client = await flows.make_client(db, scope="openid")
    alice, bob = await flows.make_user(db), await flows.make_user(db)
    bobs_hint = await id_token_for(http, authz, client, bob)
    async with flows.browser() as browser:
        await flows.authorize(browser, authz, client, alice, scope="openid")
        as_alice = await flows.authorize(browser, authz, client, alice, **hinted(client, id_token_hint=bobs_hint))
        assert 'action="/authorize/login"' in as_alice.pages[0]
        assert as_alice.params["error"] == "login_required"
        assert as_alice.params["state"] == "h"
        assert "code" not in as_alice.params

        verifier, challenge = flows.pkce_pair()
        pkce = {"code_challenge": challenge, "code_challenge_method": "S256"}
        as_bob = await flows.authorize(browser, authz, client, bob, **hinted(client, id_token_hint=bobs_hint, **pkce))
        assert 'action="/authorize/login"' in as_bob.pages[0]
    redeem = {"grant_type": "authorization_code", "code": as_bob.code, "code_verifier": verifier}
    status, body, _ = await flows.token_request(http, authz, client, **redeem, redirect_uri=client.redirect_uri)
    assert status == 200, body
    bobs_sub = jwt.decode(bobs_hint, options={"verify_signature": False})["sub"]
    assert jwt.decode(body["id_token"], options={"verify_signature": False})["sub"] == bobs_sub


async def test_login_hint_prefills_the_username(authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool) -> None:
    """OIDC Core 3.1.2.1: login_hint is a hint to the login page about the identifier the End-User might use;
    it prefills the username field (escaped by the template), and a hint that no username could be (too long,
    other characters) is left unused rather than refused (it is advice, which the server MAY use)."""
    client = await flows.make_client(db, scope="openid")
    username = await flows.make_user(db)
    for hint in (username, "alice@example.com", "a" * 100):
        status, _, page = await get_authorize(http, authz, hinted(client, login_hint=hint))
        assert status == 200
        assert 'action="/authorize/login"' in page
        assert f'name="username" autocomplete="username" required maxlength="100" value="{hint}"' in page
    for unusable in ('x" autofocus onfocus="alert(1)', "<script>alert(1)</script>", "a" * 101, "bad name"):
        status, _, page = await get_authorize(http, authz, hinted(client, login_hint=unusable))
        assert status == 200
        assert 'value=""' in page, unusable
        assert "onfocus" not in page and "<script>" not in page and "a" * 101 not in page
    # The hint never signs anyone in: the password is still needed, and the code is for who signed in.
    async with flows.browser() as browser:
        result = await flows.authorize(browser, authz, client, username, **hinted(client, login_hint=username))
    assert f'value="{username}"' in result.pages[0]
    assert result.code


async def test_prompt_select_account_shows_the_login_page(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """OIDC Core 3.1.2.1: prompt=select_account asks the End-User to pick an account; a browser holds one
    session here, so the pick is the login page, where the person may sign in as someone else. Discovery
    lists it (OpenID Connect Discovery 1.0 section 3, `prompt_values_supported`). prompt=none cannot be combined
    with it (invalid_request), so account_selection_required (OIDC Core 3.1.2.6) never arises."""
    client = await flows.make_client(db, scope="openid")
    alice, bob = await flows.make_user(db), await flows.make_user(db)
    verifier, challenge = flows.pkce_pair()
    pkce = {"code_challenge": challenge, "code_challenge_method": "S256"}
    async with flows.browser() as browser:
        await flows.authorize(browser, authz, client, alice, scope="openid")
        switched = await flows.authorize(browser, authz, client, bob, **hinted(client, prompt="select_account", **pkce))
        assert 'action="/authorize/login"' in switched.pages[0]
        assert switched.params["state"] == "h"
        status, headers, _ = await get_authorize(browser, authz, hinted(client, prompt="none select_account"))
        assert redirect_params(headers, client.redirect_uri)["error"] == "invalid_request"
    redeem = {"grant_type": "authorization_code", "code": switched.code, "code_verifier": verifier}
    status, body, _ = await flows.token_request(http, authz, client, **redeem, redirect_uri=client.redirect_uri)
    assert status == 200, body
    bobs_sub = jwt.decode(await id_token_for(http, authz, client, bob), options={"verify_signature": False})["sub"]
    assert jwt.decode(body["id_token"], options={"verify_signature": False})["sub"] == bobs_sub
    async with http.get(f"{authz}/.well-known/openid-configuration") as resp:
        assert "select_account" in (await resp.json())["prompt_values_supported"]
