"""SQL injection (and NUL, Unicode and undecodable input) through every parameter of every service, over HTTP
against the whole stack: each answer is the error the RFC names for that parameter (or an ordinary result that
treats the payload as plain data), never a 500, nothing is issued, and every table is still there afterwards.

Already covered and not repeated: a few of these payloads in client_id at the authorization endpoint and in the
username (tests/authz/test_authorize.py, test_login.py), garbage tokens at revocation (test_revoke.py), malformed
registration JSON (test_register.py) and crafted cursors and limits (tests/resource/test_notes.py)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import asyncpg
import pytest
from markupsafe import escape

from authz.endpoints.device import WRONG_CODE
from authz.endpoints.login import WRONG_CREDENTIALS
from authz.interaction import EXPIRED
from tests.authz import flows
from tests.authz.conftest import AuthzFactory
from tests.authz.devices import DEVICE_GRANT, device_authorization, make_device_client
from tests.authz.test_authorize import assert_error_page, get_authorize
from tests.authz.test_login import open_login_page, post_login, signed_in
from tests.authz.test_register import TOKEN, WITH_CLIENT_CREDENTIALS, register
from tests.client_demo.conftest import HTML, Visitor
from tests.dpop import DPoPKey
from tests.resource.conftest import Caller, bearer, service_token, user_token
from tests.security.answers import assert_oauth_error
from tests.stack import Stack, running_stack

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")

PAYLOADS = {
    "or-true": "' OR '1'='1",
    "drop-table": "'; DROP TABLE clients; --",
    "union": "x' UNION SELECT username, password_hash FROM users --",
    "stacked-sleep": "1); SELECT pg_sleep(5); --",
    "backslash-quotes": "\\'\"; DELETE FROM grants; --",
    "unicode": "\u02bc OR \u02bc1\u02bc=\u02bc1 \u540d\u524d \u202e\ufeff \U0001f642",
    "nul": "\x00",
    "nul-inside": "abc\x00' OR 1=1 --",
}
payloads = pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())


def has_nul(payload: str) -> bool:
    """OAuth parameters never hold a NUL, so one is a malformed request (invalid_request) wherever it appears."""
    return "\x00" in payload


@pytest.fixture(scope="module")
async def stack(module_environ: dict[str, str], module_db: asyncpg.Pool) -> AsyncIterator[Stack]:
    """The three services, with registration on and a Redis prefix of their own, so that the failed sign-ins here
    (all from 127.0.0.1) count against no other module's throttle."""
    env = {
        **module_environ,
        "AUTHORIUM_REGISTRATION_TOKEN": TOKEN,
        # The registrations below are a service's, which the operator must allow.
        "AUTHORIUM_REGISTRATION_GRANT_TYPES": WITH_CLIENT_CREDENTIALS,
        "AUTHORIUM_REDIS_PREFIX": f"{module_environ['AUTHORIUM_REDIS_PREFIX']}injection-{uuid.uuid4().hex[:8]}:",
    }
    async with running_stack(env, module_db) as running:
        yield running


@pytest.fixture(scope="module", autouse=True)
async def tables(module_db: asyncpg.Pool) -> set[str]:
    """The tables before any payload was sent (taken first: autouse)."""
    return {
        row["tablename"] for row in await module_db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    }


@pytest.fixture(scope="module")
async def writer(stack: Stack, module_http: aiohttp.ClientSession, module_db: asyncpg.Pool) -> Caller:
    return await user_token(module_http, stack.authz, module_db)


@pytest.fixture(scope="module")
async def admin(stack: Stack, module_http: aiohttp.ClientSession, module_db: asyncpg.Pool) -> Caller:
    return await service_token(module_http, stack.authz, module_db, scope="notes:read notes:admin")


# The authorization server.

AUTHORIZATION_PARAMETERS = (
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "response_mode",
)


@payloads
async def test_authorization_endpoint(
    stack: Stack, module_http: aiohttp.ClientSession, module_db: asyncpg.Pool, payload: str
) -> None:
    client = await flows.make_client(module_db)
    base = {"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri}
    # Who the client is and where it is sent back decide everything: a payload there is an error page.
    for name in ("client_id", "redirect_uri"):
        assert_error_page(*await get_authorize(module_http, stack.authz, {**base, "state": "s", name: payload}))
    for name in AUTHORIZATION_PARAMETERS:
        params = {**base, name: payload}
        async with module_http.post(f"{stack.authz}/authorize", data=params, allow_redirects=False) as resp:
            posted = resp.status, resp.headers, await resp.text()
        for status, headers, body in (await get_authorize(module_http, stack.authz, params), posted):
            if has_nul(payload):
                assert_error_page(status, headers, body)
            elif status == 200:  # an opaque value (state, nonce) that is simply carried: the login page
                assert name in ("state", "nonce"), name
                assert 'action="/authorize/login"' in body
            else:
                assert status in (302, 303), (name, status, body[:300])
                location = headers["Location"]
                assert location.startswith(client.redirect_uri + "?"), location
                answer = flows.query_of(location)
                assert answer["error"] in ("invalid_request", "invalid_scope", "unsupported_response_type"), answer
                assert answer["iss"] == stack.authz
                assert "code" not in answer
    async with module_http.get(f"{stack.authz}/authorize/continue", params={"rid": payload}) as resp:
        assert resp.status == 403
        assert EXPIRED in await resp.text()


@payloads
async def test_pushed_authorization_request_endpoint(
    stack: Stack, module_http: aiohttp.ClientSession, module_db: asyncpg.Pool, payload: str
) -> None:
    """RFC 9126 section 2.3: a payload in any pushed parameter is a JSON error (never a redirect), or, in an opaque
    value that is simply carried (state, nonce), a request_uri; in the client's credentials, invalid_client."""
    client = await flows.make_client(module_db)
    base = {"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri}
    for name in ("redirect_uri", "client_id", "request_uri", *AUTHORIZATION_PARAMETERS):
        async with module_http.post(f"{stack.authz}/par", data={**base, name: payload}, headers=client.basic) as resp:
            body = await resp.json()
            if resp.status == 201:
                assert name in ("state", "nonce") and not has_nul(payload), name
                assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
            else:
                errors = ("invalid_request", "invalid_scope", "unsupported_response_type")
                assert_oauth_error(resp.status, body, resp, errors)
                assert "Location" not in resp.headers
    for credentials in (
        {"client_id": payload, "client_secret": "x"},
        {"client_id": client.client_id, "client_secret": payload},
        {
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": payload,
        },
        {"client_assertion_type": payload, "client_assertion": payload},
    ):
        form = {**base, **credentials}
        async with module_http.post(f"{stack.authz}/par", data=form) as resp:
            assert_oauth_error(resp.status, await resp.json(), resp, ("invalid_client", "invalid_request"))


@payloads
async def test_login_and_consent_forms(stack: Stack, module_db: asyncpg.Pool, payload: str) -> None:
    authz = stack.authz
    client = await flows.make_client(module_db)
    username = await flows.make_user(module_db)
    async with flows.browser() as browser:
        _, page = await open_login_page(browser, authz, client)
        fields = flows.hidden_fields(page)
        for credentials in (
            {"username": payload, "password": flows.PASSWORD},
            {"username": username, "password": payload},
            {"username": username + payload, "password": flows.PASSWORD},
        ):
            resp, body = await post_login(browser, authz, {**fields, **credentials})
            assert "Location" not in resp.headers
            if has_nul(payload):
                assert (resp.status, "Invalid request" in body) == (400, True), body[:300]
            else:
                assert (resp.status, WRONG_CREDENTIALS in body) == (200, True), body[:300]
        for name in ("rid", "csrf"):
            form = {**fields, name: payload, "username": username, "password": flows.PASSWORD}
            resp, body = await post_login(browser, authz, form)
            assert resp.status == (400 if has_nul(payload) else 403), body[:300]
            assert "Location" not in resp.headers
        assert not await signed_in(browser, authz, client)

        # Signed in for real, a payload as the consent decision is a refusal, not a grant.
        resp, _ = await post_login(browser, authz, {**fields, "username": username, "password": flows.PASSWORD})
        assert resp.status == 303
        async with browser.get(authz + resp.headers["Location"], allow_redirects=False) as resp:
            consent_page = await resp.text()
        assert 'action="/authorize/consent"' in consent_page
        form = {**flows.hidden_fields(consent_page), "decision": payload}
        async with browser.post(f"{authz}/authorize/consent", data=form, allow_redirects=False) as resp:
            if has_nul(payload):
                assert resp.status == 400
                assert "Location" not in resp.headers
            else:
                assert resp.status == 303
                answer = flows.query_of(resp.headers["Location"])
                assert answer["error"] == "access_denied"
                assert "code" not in answer


@payloads
async def test_token_endpoint(
    stack: Stack, module_http: aiohttp.ClientSession, module_db: asyncpg.Pool, payload: str
) -> None:
    authz = stack.authz
    client = await flows.make_client(module_db)
    malformed = "invalid_request" if has_nul(payload) else None

    async def expect(
        answer: tuple[int, dict[str, Any], aiohttp.ClientResponse], error: str | tuple[str, ...], status: int = 400
    ) -> None:
        assert_oauth_error(*answer, malformed or error, http_status=400 if malformed else status)

    stranger = flows.RegisteredClient(payload, None)  # client_id in the body, as a public client sends it
    await expect(
        await flows.token_request(module_http, authz, stranger, grant_type="client_credentials"), "invalid_client"
    )
    if not has_nul(payload):  # a NUL in Basic credentials: see test_a_nul_in_basic_credentials_is_invalid_client
        impostor = flows.RegisteredClient(payload, "secret")
        answer = await flows.token_request(module_http, authz, impostor, grant_type="client_credentials")
        await expect(answer, "invalid_client", 401)
        assert answer[2].headers["WWW-Authenticate"].startswith("Basic ")
    wrong_secret = flows.RegisteredClient(client.client_id, payload)
    answer = await flows.token_request(module_http, authz, wrong_secret, grant_type="client_credentials")
    assert_oauth_error(*answer, "invalid_client", http_status=401)
    form = {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": payload}
    async with module_http.post(f"{authz}/token", data=form) as resp:
        await expect((resp.status, await resp.json(), resp), "invalid_client")

    grants: list[tuple[dict[str, str], str | tuple[str, ...]]] = [
        ({"grant_type": payload}, "unsupported_grant_type"),
        ({"grant_type": "authorization_code", "code": payload, "redirect_uri": client.redirect_uri}, "invalid_grant"),
        (
            {
                "grant_type": "authorization_code",
                "code": uuid.uuid4().hex,
                "redirect_uri": payload,
                "code_verifier": payload,
            },
            "invalid_grant",
        ),
        ({"grant_type": "refresh_token", "refresh_token": payload}, "invalid_grant"),
        (
            {"grant_type": "refresh_token", "refresh_token": payload, "scope": payload},
            ("invalid_grant", "invalid_scope"),
        ),
        ({"grant_type": "client_credentials", "scope": payload}, "invalid_scope"),
    ]
    for form, error in grants:
        await expect(await flows.token_request(module_http, authz, client, **form), error)


@payloads
async def test_device_flow(
    stack: Stack, module_http: aiohttp.ClientSession, module_db: asyncpg.Pool, payload: str
) -> None:
    """RFC 8628: the device authorization endpoint's client and scope, the polled device code, and the user code typed
    at the verification page (one per payload: wrong codes are throttled per address, section 5.1)."""
    authz = stack.authz
    device = await make_device_client(module_db, public=False)
    malformed = "invalid_request" if has_nul(payload) else None
    answer = await device_authorization(module_http, authz, device, scope=payload)
    assert_oauth_error(*answer, malformed or "invalid_scope", http_status=400)
    answer = await device_authorization(module_http, authz, flows.RegisteredClient(payload, None), scope="notes:read")
    assert_oauth_error(*answer, malformed or "invalid_client", http_status=400)
    answer = await flows.token_request(module_http, authz, device, grant_type=DEVICE_GRANT, device_code=payload)
    assert_oauth_error(*answer, malformed or "invalid_grant", http_status=400)
    async with (
        flows.browser() as browser,
        browser.post(authz + "/device", data={"user_code": payload}, allow_redirects=False) as resp,
    ):
        page = await resp.text()
    assert resp.status == 400 and "Location" not in resp.headers, page
    if malformed:
        assert "Invalid request" in page and "NUL" in page
    else:
        # Shown back to be corrected, as text.
        assert WRONG_CODE in page and f'value="{escape(payload)}"' in page


@payloads
async def test_revocation_and_introspection(
    stack: Stack, module_http: aiohttp.ClientSession, module_db: asyncpg.Pool, payload: str
) -> None:
    authz = stack.authz
    client = await flows.make_client(module_db)
    status, issued, _ = await flows.token_request(module_http, authz, client, grant_type="client_credentials")
    assert status == 200, issued
    for hint in (None, "access_token", "refresh_token", payload):
        form = {"token": payload} if hint is None else {"token": payload, "token_type_hint": hint}
        # A NUL may be refused as a malformed request, or taken for what it is: no token this server issued.
        async with module_http.post(f"{authz}/revoke", data=form, headers=client.basic) as resp:
            if has_nul(payload) and resp.status == 400:
                assert_oauth_error(resp.status, await resp.json(), resp, "invalid_request")
            else:
                assert (resp.status, await resp.text()) == (200, ""), hint  # RFC 7009 section 2.2
        async with module_http.post(f"{authz}/introspect", data=form, headers=client.basic) as resp:
            body = await resp.json()
            if has_nul(payload) and resp.status == 400:
                assert_oauth_error(resp.status, body, resp, "invalid_request")
            else:
                assert (resp.status, body) == (200, {"active": False}), hint  # RFC 7662 section 2.2
    # No payload revoked anything it did not name.
    async with module_http.post(
        f"{authz}/introspect", data={"token": issued["access_token"]}, headers=client.basic
    ) as r:
        assert (await r.json())["active"] is True


# What an HTTP client can put in a header at all: printable ASCII.
HEADER_PAYLOADS = {name: payload for name, payload in PAYLOADS.items() if payload.isprintable() and payload.isascii()}


@pytest.mark.parametrize("payload", HEADER_PAYLOADS.values(), ids=HEADER_PAYLOADS.keys())
async def test_bearer_tokens(stack: Stack, module_http: aiohttp.ClientSession, payload: str) -> None:
    for url in (f"{stack.resource}/api/me", f"{stack.authz}/userinfo"):
        async with module_http.get(url, headers=bearer(payload)) as resp:
            assert resp.status == 401, url
            assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
            assert (await resp.json())["error"] == "invalid_token"
    async with module_http.post(f"{stack.authz}/register", json={}, headers=bearer(payload)) as resp:
        assert resp.status == 401
        assert (await resp.json())["error"] == "invalid_token"


@pytest.fixture(scope="module")
async def dpop_service(stack: Stack, module_db: asyncpg.Pool) -> flows.RegisteredClient:
    return await flows.make_client(module_db, grant_types=("client_credentials",), scope="notes:read", redirect_uris=())


@payloads
async def test_dpop_proofs(
    stack: Stack, module_http: aiohttp.ClientSession, dpop_service: flows.RegisteredClient, payload: str
) -> None:
    """RFC 9449: a payload as the DPoP header itself (where a header can carry it), or as a signed proof's htu, is
    refused as invalid_dpop_proof (400 at the token endpoint, 401 at the resource server); as its jti or nonce (no
    nonce is required here) it is taken for the plain data it is. Never a 500, never a token for a proof that does
    not hold."""
    key, token_url = DPoPKey(), f"{stack.authz}/token"
    form = {"grant_type": "client_credentials"}
    proofs = [key.proof("POST", token_url, htu=payload)]
    if payload.isprintable() and payload.isascii():
        proofs.append(payload)
    for proof in proofs:
        async with module_http.post(token_url, data=form, headers={**dpop_service.basic, "DPoP": proof}) as resp:
            assert_oauth_error(resp.status, await resp.json(), resp, "invalid_dpop_proof")
    for claim in ("jti", "nonce"):
        proof = key.proof("POST", token_url, **{claim: payload})
        async with module_http.post(token_url, data=form, headers={**dpop_service.basic, "DPoP": proof}) as resp:
            body = await resp.json()
            if claim == "nonce" or 0 < len(payload) <= 256:
                assert (resp.status, body["token_type"]) == (200, "DPoP"), body
            else:
                assert_oauth_error(resp.status, body, resp, "invalid_dpop_proof")
    async with module_http.post(
        token_url, data=form, headers={**dpop_service.basic, "DPoP": key.proof("POST", token_url)}
    ) as resp:
        bound = (await resp.json())["access_token"]
    me = f"{stack.resource}/api/me"
    for proof in [key.proof("GET", me, access_token=bound, htu=payload), *proofs[1:]]:
        async with module_http.get(me, headers={"Authorization": f"DPoP {bound}", "DPoP": proof}) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"] == "invalid_dpop_proof"
            assert resp.headers["WWW-Authenticate"].startswith(
                'DPoP realm="authorium-notes", error="invalid_dpop_proof"'
            )


@payloads
async def test_registration_metadata(
    stack: Stack, module_http: aiohttp.ClientSession, module_db: asyncpg.Pool, payload: str
) -> None:
    service = {"grant_types": ["client_credentials"]}
    # Free text: stored exactly as given, or refused (control characters; a scope beyond the registration policy).
    for member in ("client_name", "scope"):
        status, answer, resp = await register(module_http, stack.authz, {**service, member: payload})
        if status == 400:
            assert answer["error"] == "invalid_client_metadata", answer
            assert resp.headers["Cache-Control"] == "no-store"
            continue
        assert status == 201, answer
        stored = await module_db.fetchrow("SELECT name, scopes FROM clients WHERE client_id = $1", answer["client_id"])
        assert stored is not None
        if member == "client_name":
            assert answer["client_name"] == stored["name"] == payload.strip()
        else:
            assert answer["scope"] == " ".join(stored["scopes"]) == payload
    # Enumerated or structured: refused.
    for body, error in (
        ({"redirect_uris": [payload]}, "invalid_redirect_uri"),
        ({"grant_types": [payload]}, "invalid_client_metadata"),
        ({"response_types": [payload]}, "invalid_client_metadata"),
        ({**service, "token_endpoint_auth_method": payload}, "invalid_client_metadata"),
        ({**service, "id_token_signed_response_alg": payload}, "invalid_client_metadata"),
    ):
        status, answer, resp = await register(module_http, stack.authz, body)
        assert (status, answer.get("error")) == (400, error), (body, answer)
        assert resp.headers["Cache-Control"] == "no-store"
        assert "client_id" not in answer


# The resource server.


@payloads
async def test_notes_api(
    stack: Stack, module_http: aiohttp.ClientSession, writer: Caller, admin: Caller, payload: str
) -> None:
    api = stack.resource

    async def call(method: str, path: str, caller: Caller, **kwargs: Any) -> tuple[int, Any]:
        async with module_http.request(method, api + path, headers=caller.headers, **kwargs) as resp:
            assert resp.content_type == "application/json", (resp.status, await resp.text())
            return resp.status, await resp.json()

    async def refused(method: str, path: str, caller: Caller, **kwargs: Any) -> None:
        status, body = await call(method, path, caller, **kwargs)
        assert (status, body["error"]) == (400, "invalid_request"), body

    # Note fields are data: stored and returned exactly, unless they hold a NUL (refused).
    if has_nul(payload):
        await refused("POST", "/api/notes", writer, json={"title": payload, "body": payload})
        await refused("POST", "/api/notes", writer, json={"title": "t", "body": payload})
    else:
        status, note = await call("POST", "/api/notes", writer, json={"title": payload, "body": payload})
        assert status == 201, note
        assert (note["title"], note["body"], note["owner"]) == (payload, payload, writer.sub)
        status, note = await call("PATCH", f"/api/notes/{note['id']}", writer, json={"title": payload + "!"})
        assert (status, note["title"], note["body"]) == (200, payload + "!", payload)
        status, read = await call("GET", f"/api/notes/{note['id']}", writer)
        assert (status, read) == (200, note)
    # Paging parameters and the note id in the path.
    for query in ({"cursor": payload}, {"limit": payload}, {"owner": payload}):
        await refused("GET", "/api/notes", writer, params=query)
    for method in ("GET", "PATCH", "DELETE"):
        status, body = await call(method, f"/api/notes/{quote(payload, safe='')}", writer, json={"title": "t"})
        assert (status, body) == (404, {"error": "not_found"}), (method, body)
    # A service with notes:admin reading the notes of "owner" gets that owner's notes: none, not everyone's.
    if has_nul(payload):
        await refused("GET", "/api/notes", admin, params={"owner": payload})
    else:
        status, body = await call("GET", "/api/notes", admin, params={"owner": payload})
        assert (status, body) == (200, {"notes": [], "next_cursor": None})
        status, body = await call("GET", "/api/notes", admin, params={"owner": writer.sub})
        assert status == 200 and body["notes"], "the writer's notes are all still there"


# The demo client.


@payloads
async def test_demo_client(stack: Stack, module_db: asyncpg.Pool, payload: str) -> None:
    async with flows.browser() as http:
        visitor = Visitor(stack, http)
        await visitor.sign_in(await flows.make_user(module_db))
        csrf = await visitor.csrf()
        status, _, resp = await visitor.post("/notes", {"csrf": csrf, "title": payload, "body": payload})
        notice = "note-rejected" if has_nul(payload) else "note-added"
        assert (status, resp.headers["Location"]) == (303, f"/?notice={notice}")
        _, page, _ = await visitor.get("/")
        if not has_nul(payload):
            assert str(escape(payload.strip())) in page
        status, page, _ = await visitor.post(f"/notes/{quote(payload, safe='')}/delete", {"csrf": csrf})
        assert status == 404, page[:300]
        status, _, _ = await visitor.post("/notes", {"csrf": payload, "title": "forged"})
        assert status == 403
        assert "Sign out" in (await visitor.get("/"))[1], "still signed in"
    async with flows.browser() as http:
        stranger = Visitor(stack, http)
        status, page, _ = await stranger.get("/callback?" + f"state={quote(payload)}&code={quote(payload)}")
        assert status == 400
        assert "This sign-in link is not valid" in page
        assert stranger.sid is None


# Signing out and the account page (OpenID Connect RP-Initiated Logout 1.0, Back-Channel Logout 1.0).

LOGOUT_PARAMETERS = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state", "logout_hint", "ui_locales")
AFTER_LOGOUT = "https://client.example/signed-out"


@payloads
async def test_end_session_account_and_back_channel_logout(stack: Stack, module_db: asyncpg.Pool, payload: str) -> None:
    authz = stack.authz
    client = await flows.make_client(module_db, post_logout_redirect_uris=(AFTER_LOGOUT,))
    async with flows.browser() as browser:
        tokens = await flows.code_flow(browser, browser, authz, client, await flows.make_user(module_db))

        async def still_signed_in() -> str:
            async with browser.get(f"{authz}/account", allow_redirects=False) as resp:
                page = await resp.text()
            assert "<h1>Your account</h1>" in page, "a payload signed the person out"
            return page

        for name in LOGOUT_PARAMETERS:
            params = {"client_id": client.client_id, name: payload}
            async with browser.get(f"{authz}/logout", params=params, allow_redirects=False) as resp:
                body = await resp.text()
                assert resp.status in (200, 400), (name, resp.status, body[:300])
                assert "Location" not in resp.headers, name
                if has_nul(payload):
                    assert resp.status == 400, name
            await still_signed_in()
        csrf = flows.hidden_fields(await still_signed_in())["csrf"]
        async with browser.post(
            f"{authz}/logout/confirm", data={"csrf": payload, "decision": "sign-out"}, allow_redirects=False
        ) as resp:
            assert resp.status == (400 if has_nul(payload) else 403)
        for path, form in (
            ("/account/apps/remove", {"csrf": csrf, "client_id": payload}),
            ("/account/sessions/end", {"csrf": csrf, "session": payload}),
            ("/account/password", {"csrf": csrf, "current_password": payload, "new_password": "x" * 20}),
            ("/account/apps/remove", {"csrf": payload, "client_id": client.client_id}),
        ):
            async with browser.post(authz + path, data=form, allow_redirects=False) as resp:
                body = await resp.text()
                assert resp.status in (303, 400, 403), (path, resp.status, body[:300])
                if resp.status == 303:
                    assert resp.headers["Location"] == "/account?notice=nothing-removed", path
        await still_signed_in()
        status, refreshed, _ = await flows.token_request(
            browser, authz, client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
        )
        assert status == 200, refreshed
    async with (
        flows.browser() as http,
        http.post(stack.demo + "/backchannel-logout", data={"logout_token": payload}) as resp,
    ):
        assert resp.status == 400
        assert (await resp.json())["error"] == "invalid_request"


# Bodies that are not what they claim to be.

UNDECODABLE = {
    "invalid-utf8": (b"state=%FF&x=\xff\xfe\x80", "application/x-www-form-urlencoded"),
    "unknown-charset": (b"state=x", "application/x-www-form-urlencoded; charset=no-such-codec"),
    "utf16": ("state=x".encode("utf-16"), "application/x-www-form-urlencoded; charset=utf-16"),
}


@pytest.mark.parametrize(("body", "content_type"), UNDECODABLE.values(), ids=UNDECODABLE.keys())
async def test_undecodable_forms_are_refused(
    stack: Stack, module_db: asyncpg.Pool, body: bytes, content_type: str
) -> None:
    client = await flows.make_client(module_db)
    headers = {"Content-Type": content_type}
    async with flows.browser() as http:
        for path in ("/token", "/revoke", "/introspect", "/par"):
            async with http.post(stack.authz + path, data=body, headers={**headers, **client.basic}) as resp:
                assert resp.status == 400, (path, await resp.text())
                assert (await resp.json())["error"] == "invalid_request"
        for path in (
            "/authorize",
            "/authorize/login",
            "/authorize/consent",
            "/logout",
            "/logout/confirm",
            "/account/apps/remove",
            "/account/sessions/end",
            "/account/password",
            "/device",
        ):
            async with http.post(stack.authz + path, data=body, headers=headers, allow_redirects=False) as resp:
                # A sign-out request (or its confirmation) with no parameters is a valid one (RP-Initiated Logout 1.0
                # section 2): with nobody signed in here, a page saying so.
                allowed = (200, 400) if path.startswith("/logout") else (400, 403)
                assert resp.status in allowed, (path, await resp.text())
                assert "Location" not in resp.headers
        visitor = Visitor(stack, http)
        await visitor.sign_in(await flows.make_user(module_db))
        for path in ("/notes", "/logout", "/backchannel-logout"):
            async with http.post(stack.demo + path, data=body, headers={**headers, **HTML}, allow_redirects=False) as r:
                assert r.status in (400, 403), (path, await r.text())
        assert "Sign out" in (await visitor.get("/"))[1], "still signed in"


async def test_a_file_where_the_authorization_endpoint_expects_a_form_is_refused(
    stack: Stack, module_http: aiohttp.ClientSession, module_db: asyncpg.Pool
) -> None:
    client = await flows.make_client(module_db)
    form = aiohttp.FormData(
        {"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri}
    )
    form.add_field("state", b"\x00\x01", filename="state.bin", content_type="application/octet-stream")
    async with module_http.post(f"{stack.authz}/authorize", data=form, allow_redirects=False) as resp:
        assert_error_page(resp.status, resp.headers, await resp.text())


@pytest.mark.parametrize("credentials", ["a\x00b:secret", "a%00b:secret"], ids=["raw", "form-encoded"])
async def test_a_nul_in_basic_credentials_is_invalid_client(
    start_authz: AuthzFactory, http: aiohttp.ClientSession, credentials: str
) -> None:
    # A server of its own, so a regression (a 500) is charged to it rather than to the module's stack.
    headers = {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}
    async with (
        start_authz() as authz,
        http.post(f"{authz}/token", data={"grant_type": "client_credentials"}, headers=headers) as resp,
    ):
        assert_oauth_error(resp.status, await resp.json(), resp, "invalid_client", http_status=401)


async def test_every_table_is_still_there_and_in_use(
    stack: Stack, module_http: aiohttp.ClientSession, module_db: asyncpg.Pool, tables: set[str]
) -> None:
    now = {
        row["tablename"] for row in await module_db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    }
    assert tables <= now
    for table in ("clients", "users", "consents", "grants", "refresh_tokens", "signing_keys", "audit_events", "notes"):
        assert table in now
        await module_db.fetchval(f'SELECT count(*) FROM "{table}"')
    # And the stack still works: a new user signs in to the demo and writes a note.
    async with flows.browser() as http:
        visitor = Visitor(stack, http)
        await visitor.sign_in(await flows.make_user(module_db))
        status, _, resp = await visitor.post("/notes", {"csrf": await visitor.csrf(), "title": "still here"})
        assert (status, resp.headers["Location"]) == (303, "/?notice=note-added")
