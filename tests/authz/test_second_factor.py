"""Multi-factor sign-in over HTTP, as a browser and a client see it: setting up an authenticator app on
/account/security (RFC 6238), the second-factor step after the password, the ID token's `amr` and `acr` (OIDC Core 2,
RFC 8176), step-up for `acr_values` (OIDC Core 3.1.2.1), recovery codes, replay, and the step's own throttle."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import jwt
import pyotp
import pytest

from authz.endpoints.account_security import NOT_CONFIRMED
from authz.factors.assurance import ACR_MFA, ACR_PWD
from authz.factors.step import REPLAYED_CODE, THROTTLED, WRONG_CODE
from authz.interaction import EXPIRED
from authz.ratelimit import SECOND_FACTOR_FAILURES_PER_USER
from tests.authz import flows
from tests.authz.factor_flows import (
    AuthenticatorApp,
    post,
    recovery_codes_on,
    security_page,
    signed_in_with_app,
    start_enrolment,
)

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")
SECOND_FACTOR_FORM = 'action="/authorize/second-factor"'


@pytest.fixture
def authz(module_authz: str) -> str:
    return module_authz


@pytest.fixture
async def client(db: asyncpg.Pool) -> flows.RegisteredClient:
    return await flows.make_client(db)


async def id_token_claims(
    http: aiohttp.ClientSession, authz: str, client: flows.RegisteredClient, result: flows.Authorization
) -> dict[str, Any]:
    status, body, _ = await flows.token_request(
        http, authz, client, grant_type="authorization_code", code=result.code, redirect_uri=client.redirect_uri
    )
    assert status == 200, body
    claims: dict[str, Any] = jwt.decode(body["id_token"], options={"verify_signature": False})
    return claims


async def password_only(
    browser: aiohttp.ClientSession, authz: str, client: flows.RegisteredClient, username: str, **params: str
) -> str:
    """Open the login page and give the right password: the page that follows."""
    query = {"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri, **params}
    async with browser.get(f"{authz}/authorize", params=query, allow_redirects=False) as resp:
        page = await resp.text()
    form = {**flows.hidden_fields(page), "username": username, "password": flows.PASSWORD}
    async with browser.post(f"{authz}/authorize/login", data=form, allow_redirects=True) as resp:
        assert resp.status == 200
        return await resp.text()


async def is_signed_in(browser: aiohttp.ClientSession, authz: str, client: flows.RegisteredClient) -> bool:
    """Asked the way a client would: prompt=none."""
    params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri}
    async with browser.get(f"{authz}/authorize", params={**params, "prompt": "none"}, allow_redirects=False) as resp:
        return flows.query_of(resp.headers["Location"]).get("error") != "login_required"


@pytest.fixture
async def person_with_app(
    db: asyncpg.Pool, authz: str, client: flows.RegisteredClient
) -> AsyncIterator[tuple[str, AuthenticatorApp]]:
    async with flows.browser() as browser:
        yield await signed_in_with_app(db, authz, client, browser)


async def test_sign_in_with_password_and_app_code_gives_mfa_id_token(
    http: aiohttp.ClientSession,
    authz: str,
    client: flows.RegisteredClient,
    person_with_app: tuple[str, AuthenticatorApp],
) -> None:
    """RFC 6238 section 5.2 and OIDC Core 2: after the password, the app's code completes the sign-in; the ID token
    says how (amr: pwd, otp, mfa, RFC 8176 section 2) and at which level (acr)."""
    username, app = person_with_app
    async with flows.browser() as browser:
        result = await flows.authorize(browser, authz, client, username, scope="openid", second_factor=app.code)
        assert any(SECOND_FACTOR_FORM in page for page in result.pages)
    claims = await id_token_claims(http, authz, client, result)
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["acr"] == ACR_MFA


async def test_password_alone_signs_in_nowhere(
    db: asyncpg.Pool, authz: str, client: flows.RegisteredClient, person_with_app: tuple[str, AuthenticatorApp]
) -> None:
    """OIDC Core 3.1.2.3: a person who gave the password but not yet the second factor is not authenticated: no
    prompt=none answer, no consent, no security page."""
    username, _ = person_with_app
    async with flows.browser() as browser:
        page = await password_only(browser, authz, client, username)
        assert SECOND_FACTOR_FORM in page
        assert not await is_signed_in(browser, authz, client)
        status, _ = await security_page(browser, authz)
        assert status == 303
        # The consent form, posted with the parked request's id and the session's CSRF token, is refused.
        fields = flows.hidden_fields(page)
        status, body, _ = await post(browser, authz, "/authorize/consent", {**fields, "decision": "allow"})
        assert status == 403 and EXPIRED in body


async def test_a_used_code_is_refused(
    authz: str, client: flows.RegisteredClient, person_with_app: tuple[str, AuthenticatorApp]
) -> None:
    """RFC 6238 section 5.2: a code accepted once is not accepted again, even within its time step."""
    username, app = person_with_app
    code = app.code()
    async with flows.browser() as browser:
        await flows.authorize(browser, authz, client, username, scope="openid", second_factor=lambda: code)
    async with flows.browser() as browser:
        page = await password_only(browser, authz, client, username)
        status, body, _ = await post(
            browser, authz, "/authorize/second-factor", {**flows.hidden_fields(page), "code": code}
        )
        assert status == 200 and REPLAYED_CODE in body
        assert not await is_signed_in(browser, authz, client)
        # The next code still works.
        result = await flows.authorize(
            browser, authz, client, username, scope="openid", second_factor=lambda: app.code(1)
        )
        assert "code" in result.params


async def test_a_recovery_code_works_once(
    http: aiohttp.ClientSession,
    authz: str,
    client: flows.RegisteredClient,
    person_with_app: tuple[str, AuthenticatorApp],
) -> None:
    """A recovery code is a one-time password (RFC 8176 `otp`): it completes one sign-in, then never another."""
    username, app = person_with_app
    recovery_code = app.recovery_codes[3].upper()  # typed in any case
    async with flows.browser() as browser:
        result = await flows.authorize(
            browser, authz, client, username, scope="openid", second_factor=lambda: recovery_code
        )
    claims = await id_token_claims(http, authz, client, result)
    assert claims["amr"] == ["pwd", "otp", "mfa"] and claims["acr"] == ACR_MFA
    async with flows.browser() as browser:
        page = await password_only(browser, authz, client, username)
        fields = {**flows.hidden_fields(page), "code": recovery_code}
        status, body, _ = await post(browser, authz, "/authorize/second-factor", fields)
        assert status == 200 and WRONG_CODE in body
        assert not await is_signed_in(browser, authz, client)


async def test_acr_values_steps_up_a_password_session_without_the_password(
    http: aiohttp.ClientSession, db: asyncpg.Pool, authz: str, client: flows.RegisteredClient
) -> None:
    """OIDC Core 3.1.2.1 (acr_values) and 5.5.1.1: a session signed in with a password alone answers at the password
    level; asking for the MFA level sends the person to the second factor, not the login page, and the ID token then
    has acr MFA."""
    async with flows.browser() as browser:
        _, app = await signed_in_with_app(db, authz, client, browser)  # signed in before the app existed
        plain = await flows.authorize(browser, authz, client, None, scope="openid")
        claims = await id_token_claims(http, authz, client, plain)
        assert claims["amr"] == ["pwd"] and claims["acr"] == ACR_PWD

        stepped = await flows.authorize(
            browser, authz, client, None, scope="openid", acr_values=f"{ACR_MFA} {ACR_PWD}", second_factor=app.code
        )
        assert any(SECOND_FACTOR_FORM in page for page in stepped.pages)
        assert not any('action="/authorize/login"' in page for page in stepped.pages)
        claims = await id_token_claims(http, authz, client, stepped)
        assert claims["amr"] == ["pwd", "otp", "mfa"] and claims["acr"] == ACR_MFA

        # Stepped up once, the session is at the MFA level: no second ask.
        again = await flows.authorize(browser, authz, client, None, scope="openid", acr_values=ACR_MFA)
        assert (await id_token_claims(http, authz, client, again))["acr"] == ACR_MFA


async def test_a_step_up_cannot_be_skipped_by_posting_the_consent_form(
    db: asyncpg.Pool, authz: str, client: flows.RegisteredClient
) -> None:
    """OIDC Core 3.1.2.1 (acr_values): the request waiting for the second factor is not answered through the consent
    form, even by its own signed-in browser with its CSRF token."""
    async with flows.browser() as browser:
        await signed_in_with_app(db, authz, client, browser)
        query = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": client.redirect_uri,
            "scope": "openid",
            "acr_values": ACR_MFA,
        }
        async with browser.get(f"{authz}/authorize", params=query) as resp:
            page = await resp.text()
        assert SECOND_FACTOR_FORM in page
        fields = flows.hidden_fields(page)
        status, body, location = await post(browser, authz, "/authorize/consent", {**fields, "decision": "allow"})
        assert status == 403 and EXPIRED in body and location == ""


async def test_acr_values_for_a_person_without_a_second_factor_is_answered_at_the_level_reached(
    http: aiohttp.ClientSession, db: asyncpg.Pool, authz: str, client: flows.RegisteredClient
) -> None:
    """OIDC Core 3.1.2.1: acr_values is a voluntary request; the ID token states the level actually reached
    (section 2, acr), and an unknown value is no error."""
    username = await flows.make_user(db)
    async with flows.browser() as browser:
        result = await flows.authorize(
            browser, authz, client, username, scope="openid", acr_values=f"urn:example:unknown {ACR_MFA}"
        )
    claims = await id_token_claims(http, authz, client, result)
    assert claims["amr"] == ["pwd"] and claims["acr"] == ACR_PWD


async def test_wrong_codes_are_throttled_per_user_apart_from_passwords(
    start_authz: Any, environ: dict[str, str], db: asyncpg.Pool, client: flows.RegisteredClient
) -> None:
    """The second factor has a throttle of its own (issue 16): after the allowed wrong codes, 429 with Retry-After,
    and even the right code waits; each failure is audited."""
    prefix = f"{environ['AUTHORIUM_REDIS_PREFIX']}factor-{uuid.uuid4().hex[:8]}:"
    async with start_authz(AUTHORIUM_REDIS_PREFIX=prefix) as authz, flows.browser() as browser:
        username, app = await signed_in_with_app(db, authz, client, browser)
        async with flows.browser() as other:
            page = await password_only(other, authz, client, username)
            fields = flows.hidden_fields(page)
            wrong = f"{(int(app.code()) + 1) % 1_000_000:06d}"
            for _ in range(SECOND_FACTOR_FAILURES_PER_USER):
                status, body, _ = await post(other, authz, "/authorize/second-factor", {**fields, "code": wrong})
                assert status == 200 and WRONG_CODE in body
            async with other.post(
                f"{authz}/authorize/second-factor", data={**fields, "code": app.code()}, allow_redirects=False
            ) as resp:
                assert resp.status == 429 and THROTTLED in await resp.text()
                assert int(resp.headers["Retry-After"]) > 0
            assert not await is_signed_in(other, authz, client)
            # The password throttle is apart: the password still leads to the second factor.
            assert SECOND_FACTOR_FORM in await password_only(other, authz, client, username)
    user_id = await db.fetchval("SELECT user_id FROM users WHERE username = $1", username)
    failures = await db.fetch(
        "SELECT details FROM audit_events WHERE event = 'sign_in_failure' AND user_id = $1", user_id
    )
    reasons = sorted(row["details"]["reason"] for row in failures)
    assert reasons == ["throttled"] + ["wrong code"] * SECOND_FACTOR_FAILURES_PER_USER


async def test_the_step_belongs_to_the_browser_that_gave_the_password(
    authz: str, client: flows.RegisteredClient, person_with_app: tuple[str, AuthenticatorApp]
) -> None:
    """OIDC Core 3.1.2.3 / RFC 6749 section 10.12: another browser cannot finish someone's second-factor step, even
    with the request id and a right code; the step's page needs a request that waits for a second factor."""
    username, app = person_with_app
    async with flows.browser() as victim, flows.browser() as attacker:
        page = await password_only(victim, authz, client, username)
        fields = flows.hidden_fields(page)
        status, body, _ = await post(attacker, authz, "/authorize/second-factor", {**fields, "code": app.code()})
        assert status == 403 and EXPIRED in body
        async with attacker.get(f"{authz}/authorize/second-factor", params={"rid": fields["rid"]}) as resp:
            assert resp.status == 403
        assert not await is_signed_in(attacker, authz, client)
    async with flows.browser() as browser:
        # A request at the login page (not waiting for a second factor) has no second-factor step.
        query = {"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri}
        async with browser.get(f"{authz}/authorize", params=query) as resp:
            rid = flows.hidden_fields(await resp.text())["rid"]
        async with browser.get(f"{authz}/authorize/second-factor", params={"rid": rid}) as resp:
            assert resp.status == 403 and EXPIRED in await resp.text()


async def test_removing_the_app_needs_a_code_and_ends_the_second_step(
    http: aiohttp.ClientSession, db: asyncpg.Pool, authz: str, client: flows.RegisteredClient
) -> None:
    """A session left open is not enough to take the second factor away: removing it asks for a current code."""
    async with flows.browser() as browser:
        username, app = await signed_in_with_app(db, authz, client, browser)
        _, page = await security_page(browser, authz)
        csrf = flows.hidden_fields(page)["csrf"]
        status, body, _ = await post(browser, authz, "/account/security/totp/remove", {"csrf": csrf, "code": "000000"})
        assert status == 200 and WRONG_CODE in body
        assert "Remove authenticator app" in body
        status, _, location = await post(
            browser, authz, "/account/security/totp/remove", {"csrf": csrf, "code": app.code()}
        )
        assert status == 303 and location == "/account/security"
        _, page = await security_page(browser, authz)
        assert "Set up an authenticator app" in page
    async with flows.browser() as browser:
        result = await flows.authorize(browser, authz, client, username, scope="openid")
        assert not any(SECOND_FACTOR_FORM in p for p in result.pages)
    assert (await id_token_claims(http, authz, client, result))["acr"] == ACR_PWD


async def test_new_recovery_codes_replace_the_old(authz: str, db: asyncpg.Pool, client: flows.RegisteredClient) -> None:
    """Making new recovery codes (with a current code) shows ten new ones once; the old ones stop working."""
    async with flows.browser() as browser:
        username, app = await signed_in_with_app(db, authz, client, browser)
        _, page = await security_page(browser, authz)
        csrf = flows.hidden_fields(page)["csrf"]
        status, body, _ = await post(
            browser, authz, "/account/security/recovery-codes", {"csrf": csrf, "code": app.code()}
        )
        assert status == 200
        new = recovery_codes_on(body)
        assert len(new) == 10 and not set(new) & set(app.recovery_codes)
        _, again = await security_page(browser, authz)
        assert not set(recovery_codes_on(again)) & set(new), "codes are shown only once"
    async with flows.browser() as browser:
        page = await password_only(browser, authz, client, username)
        fields = {**flows.hidden_fields(page), "code": app.recovery_codes[0]}
        status, body, _ = await post(browser, authz, "/authorize/second-factor", fields)
        assert WRONG_CODE in body
        result = await flows.authorize(browser, authz, client, username, scope="openid", second_factor=lambda: new[0])
        assert "code" in result.params


async def test_the_secret_is_encrypted_at_rest_and_codes_are_hashed(
    db: asyncpg.Pool, authz: str, client: flows.RegisteredClient, person_with_app: tuple[str, AuthenticatorApp]
) -> None:
    """DESIGN.md (State): secrets are kept encrypted (the TOTP key under the KEK) or hashed (recovery codes)."""
    username, app = person_with_app
    user_id = await db.fetchval("SELECT user_id FROM users WHERE username = $1", username)
    sealed = await db.fetchval("SELECT secret FROM totp_factors WHERE user_id = $1", user_id)
    assert app.secret.encode() not in sealed
    assert base64.b32decode(app.secret) not in sealed
    stored = await db.fetch("SELECT code_hash FROM recovery_codes WHERE user_id = $1", user_id)
    assert len(stored) == 10
    for row in stored:
        assert all(code.replace("-", "").encode() not in row["code_hash"] for code in app.recovery_codes)


async def test_a_wrong_first_code_does_not_turn_the_app_on(
    db: asyncpg.Pool, authz: str, client: flows.RegisteredClient
) -> None:
    """RFC 6238: the app is a factor only once a code it made is typed; until then signing in needs no code."""
    async with flows.browser() as browser:
        username = await flows.make_user(db)
        await flows.authorize(browser, authz, client, username, scope="openid")
        secret, csrf = await start_enrolment(browser, authz)
        wrong = f"{(int(pyotp.TOTP(secret).now()) + 500_000) % 1_000_000:06d}"
        status, body, _ = await post(browser, authz, "/account/security/totp/confirm", {"csrf": csrf, "code": wrong})
        assert status == 200 and NOT_CONFIRMED in body and 'id="totp-secret"' in body
    async with flows.browser() as browser:
        result = await flows.authorize(browser, authz, client, username, scope="openid")
        assert not any(SECOND_FACTOR_FORM in p for p in result.pages)


async def test_security_page_without_a_session_goes_to_the_account_page(authz: str) -> None:
    """The account page signs a person in; the security page only sends them there."""
    async with flows.browser() as browser:
        status, _ = await security_page(browser, authz)
        async with browser.get(f"{authz}/account/security", allow_redirects=False) as resp:
            assert resp.headers["Location"] == "/account"
        assert status == 303
        status, body, _ = await post(browser, authz, "/account/security/totp", {"csrf": "x"})
        assert status == 403 and EXPIRED in body


async def test_discovery_lists_the_levels(http: aiohttp.ClientSession, authz: str) -> None:
    """OpenID Connect Discovery 1.0 section 3: acr_values_supported, and acr and amr among the claims."""
    async with http.get(f"{authz}/.well-known/openid-configuration") as resp:
        meta = await resp.json()
    assert meta["acr_values_supported"] == [ACR_PWD, ACR_MFA]
    assert {"acr", "amr"} <= set(meta["claims_supported"])


async def test_the_account_pages_sign_in_asks_for_the_second_factor_too(
    db: asyncpg.Pool, authz: str, client: flows.RegisteredClient, person_with_app: tuple[str, AuthenticatorApp]
) -> None:
    """The account page signs a person in with the same login page: a person with an app gives its code too before
    the account page (or its security page) opens (OIDC Core 3.1.2.3)."""
    username, app = person_with_app
    async with flows.browser() as browser:
        async with browser.get(f"{authz}/account") as resp:
            page = await resp.text()
        form = {**flows.hidden_fields(page), "username": username, "password": flows.PASSWORD}
        async with browser.post(f"{authz}/authorize/login", data=form) as resp:
            page = await resp.text()
        assert SECOND_FACTOR_FORM in page and "your Authorium account" in page
        status, _ = await security_page(browser, authz)
        assert status == 303, "half signed in is not signed in"
        async with browser.post(
            f"{authz}/authorize/second-factor", data={**flows.hidden_fields(page), "code": app.code()}
        ) as resp:
            assert resp.status == 200 and str(resp.url) == f"{authz}/account"
            assert "<h1>Your account</h1>" in await resp.text()
        status, page = await security_page(browser, authz)
        assert status == 200 and "Remove authenticator app" in page
