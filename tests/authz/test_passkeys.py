"""Passkeys and security keys (WebAuthn Level 2) over HTTP, with a software authenticator that can lie: registering
from the account pages (section 7.1), signing in with one as a second factor and passwordless (section 7.2), the
`amr` they earn (RFC 8176 section 2), and the refusals: a replayed assertion, another origin, another RP ID, a
counter that did not increase (section 6.1.1), another user's credential, a missing user verification."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest

from authorium_shared.settings import ConfigError
from authz.factors import recovery
from authz.factors.repository import RecoveryCodes
from authz.factors.step import APP_OR_RECOVERY_CODE, RECOVERY_CODE_ONLY
from authz.settings import AuthzSettings
from tests.authz import factor_flows, flows
from tests.authz.authenticator import b64url, page_options
from tests.authz.passkey_flows import (
    PasskeyServer,
    authorize_path,
    consent_and_code,
    enrol,
    fetch,
    id_token_claims,
    passkey_authz,
    password_step,
    post_credential,
    sign_in_with_password,
)

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.fixture(scope="module")
async def server(module_environ: dict[str, str]) -> AsyncIterator[PasskeyServer]:
    async with passkey_authz(module_environ, AUTHORIUM_PASSWORDLESS="true") as served:
        yield served


@pytest.fixture
async def client(module_db: asyncpg.Pool) -> flows.RegisteredClient:
    return await flows.make_client(module_db, scope="openid profile")


async def passkeys_of(db: asyncpg.Pool, username: str) -> list[asyncpg.Record]:
    return await db.fetch(
        """SELECT p.name, p.sign_count, p.last_used_at FROM passkeys p JOIN users u USING (user_id)
           WHERE u.username = $1 ORDER BY p.created_at""",
        username,
    )


async def enrolled_user(
    db: asyncpg.Pool, server: PasskeyServer, client: flows.RegisteredClient, **authenticator: Any
) -> tuple[str, Any]:
    """A user with a password and one registered software authenticator."""
    username = await flows.make_user(db)
    key = server.authenticator(**authenticator)
    async with flows.browser() as browser:
        await sign_in_with_password(browser, server, client, username)
        page = await enrol(browser, server, key)
        assert page.status == 200 and "My key" in page.body, page.body[:500]
    return username, key


def link(page: str, path: str) -> str:
    """The page's link to `path` (with its query)."""
    found = re.search(f'href="({re.escape(path)}\\?[^"]+)"', page)
    assert found is not None, f"no link to {path}: {page[:500]}"
    return html.unescape(found[1])


async def security_key_page(
    browser: aiohttp.ClientSession, server: PasskeyServer, client: flows.RegisteredClient, username: str
) -> Any:
    """Password, then the second-factor step's "Use a security key": the ceremony page."""
    step = await password_step(browser, server, client, username)
    assert step.url.startswith(server.url + "/authorize/second-factor?rid="), step.url
    assert "Use a security key" in step.body
    page = await fetch(browser, server, "GET", link(step.body, "/authorize/security-key"))
    assert page.status == 200, page.body[:300]
    return page


async def test_enrol_then_sign_in_with_password_and_security_key(
    server: PasskeyServer, client: flows.RegisteredClient, module_db: asyncpg.Pool, http: aiohttp.ClientSession
) -> None:
    """WebAuthn L2 7.1 and 7.2; RFC 8176 section 2: a password and a hardware-bound key give amr pwd, hwk, mfa."""
    username, key = await enrolled_user(module_db, server, client)
    [stored] = await passkeys_of(module_db, username)
    assert stored["name"] == "My key" and stored["last_used_at"] is None
    async with flows.browser() as browser:
        page = await security_key_page(browser, server, client, username)
        options = page_options(page.body)
        assert options["rpId"] == "localhost"
        assert [c["id"] for c in options["allowCredentials"]] == [b64url(key.credential_id)]
        after = await fetch(
            browser, server, "POST", "/authorize/security-key", data=post_credential(page, key.get(options))
        )
        code = await consent_and_code(browser, server, after)
    claims = await id_token_claims(http, server, client, code)
    assert claims["amr"] == ["pwd", "hwk", "mfa"]
    [stored] = await passkeys_of(module_db, username)
    assert stored["sign_count"] == 1 and stored["last_used_at"] is not None


CODE_PATH = "/authorize/second-factor"
CODE_FORM = f'action="{CODE_PATH}"'


async def test_the_second_factor_step_offers_only_what_the_person_has(
    server: PasskeyServer, client: flows.RegisteredClient, module_db: asyncpg.Pool, http: aiohttp.ClientSession
) -> None:
    """The second-factor step asks for a code only from a person who has something to type: a security key alone
    gets the key choice and no code form; recovery codes (a fallback for any factor) bring a code form labelled
    for them; an authenticator app, the form labelled for the app's code or a recovery code, beside the key."""
    username, key = await enrolled_user(module_db, server, client)
    async with flows.browser() as browser:
        step = await password_step(browser, server, client, username)
        assert step.url.startswith(server.url + "/authorize/second-factor?rid="), step.url
        assert CODE_FORM not in step.body and 'name="code"' not in step.body
        assert "Use a security key" in step.body and "Use a passkey or security key" in step.body
        page = await fetch(browser, server, "GET", link(step.body, "/authorize/security-key"))
        answer = key.get(page_options(page.body))
        after = await fetch(browser, server, "POST", "/authorize/security-key", data=post_credential(page, answer))
        code = await consent_and_code(browser, server, after)
    assert (await id_token_claims(http, server, client, code))["amr"] == ["pwd", "hwk", "mfa"]

    user_id = await module_db.fetchval("SELECT user_id FROM users WHERE username = $1", username)
    codes = recovery.generate()
    async with module_db.acquire() as conn, conn.transaction():
        await RecoveryCodes.replace(conn, user_id, codes)
    async with flows.browser() as browser:
        step = await password_step(browser, server, client, username)
        assert CODE_FORM in step.body and f">{RECOVERY_CODE_ONLY}</label>" in step.body
        assert APP_OR_RECOVERY_CODE not in step.body and "Use a security key" in step.body
        form = {**step.fields, "code": codes[0]}
        code = await consent_and_code(browser, server, await fetch(browser, server, "POST", CODE_PATH, data=form))
    assert (await id_token_claims(http, server, client, code))["amr"] == ["pwd", "otp", "mfa"]

    async with flows.browser() as browser:
        page = await fetch(browser, server, "GET", "/account")
        form = {**page.fields, "username": username, "password": flows.PASSWORD}
        step = await fetch(browser, server, "POST", "/authorize/login", data=form)
        page = await fetch(browser, server, "GET", link(step.body, "/authorize/security-key"))
        answer = key.get(page_options(page.body))
        account = await fetch(browser, server, "POST", "/authorize/security-key", data=post_credential(page, answer))
        assert account.status == 200 and account.url.startswith(server.url + "/account"), account.url
        await factor_flows.enrol(browser, server.url)
    async with flows.browser() as browser:
        step = await password_step(browser, server, client, username)
        assert CODE_FORM in step.body and f">{APP_OR_RECOVERY_CODE}</label>" in step.body
        assert "Use a security key" in step.body and "Or use a passkey or security key" in step.body


async def test_the_account_pages_sign_in_takes_a_security_key_too(
    server: PasskeyServer, client: flows.RegisteredClient, module_db: asyncpg.Pool
) -> None:
    """Opening /account without a session signs the person in there: password, then "Use a security key" (a refused
    answer audited without a client), then the account page, whose sign-in names the account rather than a client."""
    username, key = await enrolled_user(module_db, server, client)
    async with flows.browser() as browser:
        login = await fetch(browser, server, "GET", "/account")
        form = {**login.fields, "username": username, "password": flows.PASSWORD}
        step = await fetch(browser, server, "POST", "/authorize/login", data=form)
        page = await fetch(browser, server, "GET", link(step.body, "/authorize/security-key"))
        assert "your Authorium account" in page.body
        phished = key.get(page_options(page.body), origin="http://evil.example")
        page = await fetch(browser, server, "POST", "/authorize/security-key", data=post_credential(page, phished))
        assert page.status == 400 and "could not be checked" in page.body
        answer = key.get(page_options(page.body))
        account = await fetch(browser, server, "POST", "/authorize/security-key", data=post_credential(page, answer))
        assert account.status == 200 and account.url.startswith(server.url + "/account"), account.url
        assert username in account.body
    refusals = await module_db.fetch(
        """SELECT a.client_id FROM audit_events a JOIN users u USING (user_id)
           WHERE u.username = $1 AND a.event = 'sign_in_failure'""",
        username,
    )
    assert [r["client_id"] for r in refusals] == [None]


async def test_a_synced_passkey_is_a_software_key(
    server: PasskeyServer, client: flows.RegisteredClient, module_db: asyncpg.Pool, http: aiohttp.ClientSession
) -> None:
    """RFC 8176 section 2 (`swk`): a backup-eligible credential (the BE flag) is copied between devices by software."""
    username, key = await enrolled_user(module_db, server, client, backup_eligible=True)
    async with flows.browser() as browser:
        page = await security_key_page(browser, server, client, username)
        answer = key.get(page_options(page.body))
        after = await fetch(browser, server, "POST", "/authorize/security-key", data=post_credential(page, answer))
        code = await consent_and_code(browser, server, after)
    assert (await id_token_claims(http, server, client, code))["amr"] == ["pwd", "swk", "mfa"]


async def test_a_replayed_assertion_is_refused(
    server: PasskeyServer, client: flows.RegisteredClient, module_db: asyncpg.Pool
) -> None:
    """WebAuthn L2 13.4.3: each challenge is answered once. The same assertion posted again finds no challenge (and
    would carry a counter no longer above the stored one, section 6.1.1): the person stays on the page."""
    username, key = await enrolled_user(module_db, server, client)
    async with flows.browser() as browser:
        page = await security_key_page(browser, server, client, username)
        form = post_credential(page, key.get(page_options(page.body)))
        async with browser.post(server.url + "/authorize/security-key", data=form, allow_redirects=False) as resp:
            assert resp.status == 303
        # The request went on (to consent); a second post of the same assertion is not another sign-in.
        again = await fetch(browser, server, "POST", "/authorize/security-key", data=form)
        assert again.status in (400, 403)
    async with flows.browser() as other:
        # In a fresh sign-in, the captured assertion answers none of the new challenges.
        page = await security_key_page(other, server, client, username)
        replay = {**page.fields, "credential": form["credential"]}
        refused = await fetch(other, server, "POST", "/authorize/security-key", data=replay)
        assert refused.status == 400
        assert "could not be checked" in refused.body
    [stored] = await passkeys_of(module_db, username)
    assert stored["sign_count"] == 1


async def test_a_challenge_is_answered_once(
    server: PasskeyServer, client: flows.RegisteredClient, module_db: asyncpg.Pool
) -> None:
    """WebAuthn L2 13.4.3: a challenge is good for one answer. Two authenticators answer the same registration
    options; the first is registered, the second finds the challenge used up (GETDEL) and is refused."""
    username = await flows.make_user(module_db)
    async with flows.browser() as browser:
        await sign_in_with_password(browser, server, client, username)
        page = await fetch(browser, server, "GET", "/account/security-keys/new")
        options = page_options(page.body)
        for name, expected in (("first", 200), ("second", 400)):
            credential = orjson.dumps(server.authenticator().create(options)).decode()
            form = {**page.fields, "name": name, "credential": credential}
            answer = await fetch(browser, server, "POST", "/account/security-keys", data=form)
            assert answer.status == expected, name
        assert "expired" in answer.body
    assert [r["name"] for r in await passkeys_of(module_db, username)] == ["first"]


async def test_a_challenge_answers_only_its_own_form(
    server: PasskeyServer, client: flows.RegisteredClient, module_db: asyncpg.Pool
) -> None:
    """A second-factor challenge does not answer the passwordless form of the same request."""
    username, key = await enrolled_user(module_db, server, client)
    async with flows.browser() as browser:
        page = await security_key_page(browser, server, client, username)
        answer = key.get(page_options(page.body))
        wrong_form = await fetch(browser, server, "POST", "/authorize/passkey", data=post_credential(page, answer))
        assert wrong_form.status == 400 and "expired" in wrong_form.body
    [stored] = await passkeys_of(module_db, username)
    assert stored["sign_count"] == 0


@pytest.mark.parametrize(
    ("lie", "value"),
    [
        ("origin", "http://evil.example"),
        ("origin", "https://localhost"),
        ("origin", "http://localhost\x00\n.evil.example"),
        ("rp_id", "evil.example"),
        ("rp_id", "127.0.0.1"),
    ],
)
async def test_an_assertion_for_another_origin_or_rp_id_is_refused(
    server: PasskeyServer, client: flows.RegisteredClient, module_db: asyncpg.Pool, lie: str, value: str
) -> None:
    """WebAuthn L2 7.2 step 13 (clientDataJSON.origin must be the RP's origin) and step 15 (rpIdHash must be the
    SHA-256 of the RP ID): a phishing page's assertion is refused, and the counter does not move."""
    username, key = await enrolled_user(module_db, server, client)
    async with flows.browser() as browser:
        page = await security_key_page(browser, server, client, username)
        answer = key.get(page_options(page.body), **{lie: value})
        refused = await fetch(browser, server, "POST", "/authorize/security-key", data=post_credential(page, answer))
        assert refused.status == 400
        assert "could not be checked" in refused.body
    [stored] = await passkeys_of(module_db, username)
    assert stored["sign_count"] == 0 and stored["last_used_at"] is None


@pytest.mark.parametrize(
    ("lie", "value"), [("origin", "http://evil.example"), ("origin", "\x00\x1b[31m"), ("rp_id", "evil.example")]
)
async def test_a_registration_for_another_origin_or_rp_id_is_refused(
    server: PasskeyServer, client: flows.RegisteredClient, module_db: asyncpg.Pool, lie: str, value: str
) -> None:
    """WebAuthn L2 7.1 steps 9 and 13: a credential made for another origin or RP ID is not registered."""
    username = await flows.make_user(module_db)
    key = server.authenticator()
    async with flows.browser() as browser:
        await sign_in_with_password(browser, server, client, username)
        page = await fetch(browser, server, "GET", "/account/security-keys/new")
        credential = key.create(page_options(page.body), **{lie: value})
        form = {**page.fields, "name": "phished", "credential": orjson.dumps(credential).decode()}
        refused = await fetch(browser, server, "POST", "/account/security-keys", data=form)
        assert refused.status == 400
        assert "could not be checked" in refused.body
    assert await passkeys_of(module_db, username) == []


async def test_a_counter_that_did_not_increase_is_refused_and_audited(
    server: PasskeyServer, client: flows.RegisteredClient, module_db: asyncpg.Pool
) -> None:
    """WebAuthn L2 6.1.1 and 7.2 step 21: a signature counter not above the stored one (a cloned authenticator) is
    refused, and audited as such; the stored counter stays."""
    username, key = await enrolled_user(module_db, server, client)
    async with flows.browser() as browser:
        page = await security_key_page(browser, server, client, username)
        answer = key.get(page_options(page.body), sign_count=7)
        after = await fetch(browser, server, "POST", "/authorize/security-key", data=post_credential(page, answer))
        assert after.status in (200, 302, 303) and "could not be checked" not in after.body
    async with flows.browser() as clone:
        page = await security_key_page(clone, server, client, username)
        answer = key.get(page_options(page.body), sign_count=7)
        refused = await fetch(clone, server, "POST", "/authorize/security-key", data=post_credential(page, answer))
        assert refused.status == 400
    [stored] = await passkeys_of(module_db, username)
    assert stored["sign_count"] == 7
    events = await module_db.fetch(
        """SELECT a.details FROM audit_events a JOIN users u USING (user_id)
           WHERE u.username = $1 AND a.event = 'passkey_sign_count_not_increased'""",
        username,
    )
    assert len(events) == 1
    assert events[0]["details"]["stored_sign_count"] == 7 and events[0]["details"]["presented_sign_count"] == 7


async def test_another_users_security_key_is_not_a_second_factor(
    server: PasskeyServer, client: flows.RegisteredClient, module_db: asyncpg.Pool
) -> None:
    """WebAuthn L2 7.2 step 6: the credential must belong to the user being signed in."""
    victim, _ = await enrolled_user(module_db, server, client)
    _, attackers_key = await enrolled_user(module_db, server, client)
    async with flows.browser() as browser:
        page = await security_key_page(browser, server, client, victim)
        options = {**page_options(page.body), "allowCredentials": []}
        answer = attackers_key.get(options)
        refused = await fetch(browser, server, "POST", "/authorize/security-key", data=post_credential(page, answer))
        assert refused.status == 400


async def test_passwordless_sign_in_with_a_discoverable_credential(
    server: PasskeyServer, client: flows.RegisteredClient, module_db: asyncpg.Pool, http: aiohttp.ClientSession
) -> None:
    """WebAuthn L2 7.2 (no allowCredentials; the userHandle names the user, step 6) with user verification
    required; RFC 8176 section 2: hwk, user, mfa. The user handle is opaque, never the username (section 5.4.3)."""
    username, key = await enrolled_user(module_db, server, client)
    assert key.user_handle is not None and username.encode() not in key.user_handle
    async with flows.browser() as browser:
        login = await fetch(browser, server, "GET", authorize_path(client))
        assert "Sign in with a passkey" in login.body
        page = await fetch(browser, server, "GET", link(login.body, "/authorize/passkey"))
        options = page_options(page.body)
        assert options.get("allowCredentials", []) == [] and options["userVerification"] == "required"
        after = await fetch(browser, server, "POST", "/authorize/passkey", data=post_credential(page, key.get(options)))
        code = await consent_and_code(browser, server, after)
    claims = await id_token_claims(http, server, client, code)
    assert claims["amr"] == ["hwk", "user", "mfa"]
    expected = await module_db.fetchval("SELECT user_id FROM users WHERE username = $1", username)
    assert claims["sub"] == str(expected)


@pytest.mark.parametrize("lie", ["no user verification", "another user handle"])
async def test_passwordless_refusals(
    server: PasskeyServer, client: flows.RegisteredClient, module_db: asyncpg.Pool, lie: str
) -> None:
    """WebAuthn L2 7.2 step 17 (user verification required) and step 6 (userHandle must be the credential's
    owner's): either way nobody is signed in."""
    _, key = await enrolled_user(module_db, server, client)
    async with flows.browser() as browser:
        login = await fetch(browser, server, "GET", authorize_path(client))
        page = await fetch(browser, server, "GET", link(login.body, "/authorize/passkey"))
        options = page_options(page.body)
        if lie == "no user verification":
            answer = key.get(options, user_verified=False)
        else:
            answer = key.get(options, user_handle=uuid.uuid4().bytes * 2)
        refused = await fetch(browser, server, "POST", "/authorize/passkey", data=post_credential(page, answer))
        assert refused.status == 400
        # Still not signed in: the request goes back to the login page.
        back = await fetch(browser, server, "GET", "/authorize/continue?rid=" + page.fields["rid"])
        assert 'action="/authorize/login"' in back.body


async def test_passwordless_is_off_by_default(module_environ: dict[str, str], client: flows.RegisteredClient) -> None:
    """AUTHORIUM_PASSWORDLESS unset: no "Sign in with a passkey" on the login page, and no such endpoint."""
    async with passkey_authz(module_environ) as off, flows.browser() as browser:
        login = await fetch(browser, off, "GET", authorize_path(client))
        assert 'action="/authorize/login"' in login.body and "passkey" not in login.body
        gone = await fetch(browser, off, "GET", "/authorize/passkey?rid=" + login.fields["rid"])
        assert gone.status == 404


async def test_the_account_lists_and_removes_keys(
    server: PasskeyServer, client: flows.RegisteredClient, module_db: asyncpg.Pool
) -> None:
    """The account's "Security keys": name and last use listed. Removing one is confirmed with one of the person's
    keys (an assertion for a challenge of that purpose), needs the session's CSRF token, and reaches only the
    owner's keys."""
    username = await flows.make_user(module_db)
    other, _ = await enrolled_user(module_db, server, client)
    others_id = await module_db.fetchval(
        "SELECT passkey_id FROM passkeys JOIN users USING (user_id) WHERE username = $1", other
    )
    key = server.authenticator()
    async with flows.browser() as browser:
        await sign_in_with_password(browser, server, client, username)
        listing = await enrol(browser, server, key, name="Desk key")
        assert "Desk key" in listing.body and "never used" in listing.body
        confirm = await fetch(browser, server, "GET", link(listing.body, "/account/security-keys/remove"))
        assert confirm.status == 200 and "Remove “Desk key”" in confirm.body
        options = page_options(confirm.body)
        assert [c["id"] for c in options["allowCredentials"]] == [b64url(key.credential_id)]
        theirs = await fetch(browser, server, "GET", f"/account/security-keys/remove?passkey_id={others_id}")
        assert theirs.status == 404
        forged = {**post_credential(confirm, key.get(options)), "csrf": "x" * 43}
        assert (await fetch(browser, server, "POST", "/account/security-keys/remove", data=forged)).status == 403
        unconfirmed = {"csrf": confirm.fields["csrf"], "passkey_id": confirm.fields["passkey_id"]}
        refused = await fetch(browser, server, "POST", "/account/security-keys/remove", data=unconfirmed)
        assert refused.status == 400
        assert len(await passkeys_of(module_db, username)) == 1
        confirm = await fetch(browser, server, "GET", link(listing.body, "/account/security-keys/remove"))
        removed = await fetch(
            browser,
            server,
            "POST",
            "/account/security-keys/remove",
            data=post_credential(confirm, key.get(page_options(confirm.body))),
        )
        assert removed.status == 200 and "Desk key" not in removed.body and "No security keys yet" in removed.body
    assert await passkeys_of(module_db, username) == []
    assert len(await passkeys_of(module_db, other)) == 1


async def test_a_key_can_be_removed_with_the_authenticator_apps_code(
    server: PasskeyServer, client: flows.RegisteredClient, module_db: asyncpg.Pool
) -> None:
    """A lost key is removed with the other factor: the authenticator app's current code (wrong codes refused)."""
    username = await flows.make_user(module_db)
    async with flows.browser() as browser:
        await sign_in_with_password(browser, server, client, username)
        app = await factor_flows.enrol(browser, server.url)
        listing = await enrol(browser, server, server.authenticator(), name="Lost key")
        confirm = await fetch(browser, server, "GET", link(listing.body, "/account/security-keys/remove"))
        assert "Confirm with a code" in confirm.body
        form = {"csrf": confirm.fields["csrf"], "passkey_id": confirm.fields["passkey_id"]}
        wrong = await fetch(browser, server, "POST", "/account/security-keys/remove", data={**form, "code": "000000"})
        assert wrong.status == 400 and len(await passkeys_of(module_db, username)) == 1
        removed = await fetch(
            browser, server, "POST", "/account/security-keys/remove", data={**form, "code": app.code()}
        )
        assert removed.status == 200 and "Lost key" not in removed.body
    assert await passkeys_of(module_db, username) == []


async def test_the_account_pages_need_a_signed_in_session(server: PasskeyServer) -> None:
    """Without a session the add page sends the person to the account page (which signs them in); a posted form
    without a signed-in session changes nothing."""
    async with flows.browser() as browser:
        async with browser.get(server.url + "/account/security-keys/new", allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/account"
        for path, form in (
            ("/account/security-keys", {"csrf": "x" * 43, "name": "k", "credential": "{}"}),
            ("/account/security-keys/remove", {"csrf": "x" * 43, "passkey_id": str(uuid.uuid4())}),
        ):
            page = await fetch(browser, server, "POST", path, data=form)
            assert page.status == 403, path


async def test_only_the_webauthn_pages_may_run_scripts(
    server: PasskeyServer, client: flows.RegisteredClient, module_db: asyncpg.Pool
) -> None:
    """The ceremony pages allow scripts from this origin only (script-src 'self'); every other page keeps the
    script-less policy. The script is served from this origin, as JavaScript."""
    username = await flows.make_user(module_db)
    async with flows.browser() as browser:
        login = await fetch(browser, server, "GET", authorize_path(client))
        assert "script-src" not in login.headers["Content-Security-Policy"]
        await consent_and_code(browser, server, await password_step(browser, server, client, username))
        listing = await fetch(browser, server, "GET", "/account/security")
        assert listing.status == 200 and "Security keys" in listing.body
        assert "script-src" not in listing.headers["Content-Security-Policy"]
        assert "<script" not in listing.body
        new = await fetch(browser, server, "GET", "/account/security-keys/new")
        policy = new.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "default-src 'none'" in policy
        assert "frame-ancestors 'none'" in policy
        assert '<script src="/static/webauthn.js" defer></script>' in new.body
        async with browser.get(server.url + "/static/webauthn.js") as resp:
            assert resp.status == 200
            assert resp.content_type in ("application/javascript", "text/javascript")
            assert "navigator.credentials.create" in await resp.text()


async def test_a_challenge_is_bound_to_the_browser_session(
    server: PasskeyServer, client: flows.RegisteredClient, module_db: asyncpg.Pool
) -> None:
    """A challenge issued to one browser's session is no good in another's (even for the same account)."""
    username = await flows.make_user(module_db)
    key = server.authenticator()
    async with flows.browser() as first, flows.browser() as second:
        await sign_in_with_password(first, server, client, username)
        await sign_in_with_password(second, server, client, username)
        page = await fetch(first, server, "GET", "/account/security-keys/new")
        other = await fetch(second, server, "GET", "/account/security-keys/new")
        credential = key.create(page_options(page.body))
        form = {**other.fields, "name": "k", "credential": orjson.dumps(credential).decode()}
        refused = await fetch(second, server, "POST", "/account/security-keys", data=form)
        assert refused.status == 400
    assert await passkeys_of(module_db, username) == []


def test_the_rp_id_is_the_issuers_host(module_environ: dict[str, str]) -> None:
    """WebAuthn L2 5.1.2: the RP ID is a domain, the issuer's host; the origin is the issuer. An IP address cannot
    be one, so passwordless refuses to start with such an issuer."""
    settings = AuthzSettings.from_env({**module_environ, "AUTHORIUM_ISSUER": "https://auth.example.com"})
    assert settings.webauthn_rp_id == "auth.example.com"
    assert settings.webauthn_origin == "https://auth.example.com"
    settings = AuthzSettings.from_env({**module_environ, "AUTHORIUM_ISSUER": "http://localhost:8000"})
    assert (settings.webauthn_rp_id, settings.webauthn_origin) == ("localhost", "http://localhost:8000")
    assert (
        AuthzSettings.from_env({**module_environ, "AUTHORIUM_ISSUER": "http://127.0.0.1:8000"}).webauthn_rp_id is None
    )
    with pytest.raises(ConfigError, match="AUTHORIUM_PASSWORDLESS"):
        AuthzSettings.from_env(
            {**module_environ, "AUTHORIUM_ISSUER": "http://127.0.0.1:8000", "AUTHORIUM_PASSWORDLESS": "true"}
        )
    with pytest.raises(ConfigError, match="AUTHORIUM_PASSWORDLESS"):
        AuthzSettings.from_env({**module_environ, "AUTHORIUM_PASSWORDLESS": "maybe"})
