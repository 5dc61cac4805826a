"""Passkeys in a real headless Chromium with a virtual authenticator (the DevTools protocol's WebAuthn domain:
CTAP2, resident keys, user verification): a person enrols one from the account pages, then, in a fresh browser
holding the same credential, signs in with password and security key, and without a password where that is on.
The ID tokens carry the `amr` of each (RFC 8176 section 2). The issuer is http://localhost:PORT: an IP address
cannot be a WebAuthn RP ID, and localhost is a secure context; the same server reached as 127.0.0.1 cannot make a
passkey for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest
from playwright.async_api import Browser, BrowserContext, CDPSession, Page, Route, expect

from tests.authz import flows
from tests.authz.conftest import cheap_password_hashing  # noqa: F401 - fixture
from tests.authz.passkey_flows import PasskeyServer, authorize_path, id_token_claims, passkey_authz

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")

# WebAuthn.addVirtualAuthenticator's options: a roaming security key that keeps passkeys and verifies its user.
AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "usb",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}


@pytest.fixture(scope="module")
async def server(module_environ: dict[str, str]) -> AsyncIterator[PasskeyServer]:
    async with passkey_authz(module_environ, AUTHORIUM_PASSWORDLESS="true") as served:
        yield served


async def with_authenticator(chromium: Browser) -> tuple[BrowserContext, Page, CDPSession, str]:
    """A fresh profile whose tab has a virtual authenticator; the client's redirect URI answers with a blank page."""
    context = await chromium.new_context()

    async def client_callback(route: Route) -> None:
        await route.fulfill(status=200, content_type="text/plain", body="the client")

    await context.route("https://client.example/**", client_callback)
    page = await context.new_page()
    cdp = await context.new_cdp_session(page)
    await cdp.send("WebAuthn.enable", {"enableUI": False})
    added = await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
    return context, page, cdp, added["authenticatorId"]


async def password_sign_in(page: Page, server: PasskeyServer, client: flows.RegisteredClient, username: str) -> None:
    await page.goto(server.issuer + authorize_path(client, prompt="consent"))
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(flows.PASSWORD)
    await page.get_by_role("button", name="Sign in").click()


async def consent_and_code(page: Page) -> str:
    await expect(page.get_by_role("button", name="Allow")).to_be_visible()
    await page.get_by_role("button", name="Allow").click()
    await page.wait_for_url("https://client.example/**")
    return flows.query_of(page.url)["code"]


async def test_enrol_a_passkey_then_sign_in_with_it_in_chromium(
    chromium: Browser,
    server: PasskeyServer,
    module_db: asyncpg.Pool,
    http: aiohttp.ClientSession,
) -> None:
    """WebAuthn L2 7.1 (registration from the account page) and 7.2 (authentication as a second factor, then
    passwordless with a discoverable credential and user verification); RFC 8176 section 2."""
    client = await flows.make_client(module_db, scope="openid profile")
    username = await flows.make_user(module_db)

    # Enrol, in a first browser.
    context, page, cdp, authenticator = await with_authenticator(chromium)
    try:
        await password_sign_in(page, server, client, username)
        await consent_and_code(page)
        await page.goto(server.issuer + "/account/security-keys/new")
        await page.get_by_label("Name").fill("Virtual key")
        await page.get_by_role("button", name="Add security key").click()
        await expect(page.get_by_role("heading", name="Security keys")).to_be_visible()
        await expect(page.get_by_text("Virtual key")).to_be_visible()
        credentials: list[dict[str, Any]] = (
            await cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
        )["credentials"]
        assert len(credentials) == 1, credentials
        assert credentials[0].get("isResidentCredential", credentials[0].get("isResidentKey")), credentials[0].keys()
        assert credentials[0]["rpId"] == "localhost"
    finally:
        await context.close()

    # A fresh browser (no session) holding the same credential: password, then the security key.
    context, page, cdp, authenticator = await with_authenticator(chromium)
    try:
        await cdp.send("WebAuthn.addCredential", {"authenticatorId": authenticator, "credential": credentials[0]})
        await password_sign_in(page, server, client, username)
        await page.get_by_role("link", name="Use a security key").click()
        await page.get_by_role("button", name="Use security key").click()
        code = await consent_and_code(page)
        # As it now is (its signature counter moved on): a copy with an older counter would be refused as a clone.
        [carried] = (await cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator}))["credentials"]
    finally:
        await context.close()
    claims = await id_token_claims(http, server, client, code)
    assert claims["amr"] == ["pwd", "hwk", "mfa"]

    # Another fresh browser, passwordless: the passkey alone, its user handle naming the user.
    context, page, cdp, authenticator = await with_authenticator(chromium)
    try:
        used = (await cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator}))["credentials"]
        assert used == []
        await cdp.send("WebAuthn.addCredential", {"authenticatorId": authenticator, "credential": carried})
        await page.goto(server.issuer + authorize_path(client, prompt="consent"))
        await page.get_by_role("link", name="Sign in with a passkey").click()
        await page.get_by_role("button", name="Sign in with a passkey").click()
        code = await consent_and_code(page)
    finally:
        await context.close()
    claims = await id_token_claims(http, server, client, code)
    assert claims["amr"] == ["hwk", "user", "mfa"]
    user_id = await module_db.fetchval("SELECT user_id FROM users WHERE username = $1", username)
    assert claims["sub"] == str(user_id)


async def test_the_same_server_reached_by_another_host_cannot_make_a_passkey(
    chromium: Browser, server: PasskeyServer, module_db: asyncpg.Pool
) -> None:
    """WebAuthn L2 5.1.2 and 13.4.9: the RP ID (localhost, from the issuer) must be the page's host or a registrable
    suffix of it. Reached as http://127.0.0.1:PORT, the same server's page cannot create a credential for it: the
    browser refuses (SecurityError), the page says so, and nothing is registered."""
    client = await flows.make_client(module_db, scope="openid profile")
    username = await flows.make_user(module_db)
    context, page, _, _ = await with_authenticator(chromium)
    try:
        await page.goto(server.url + authorize_path(client, prompt="consent"))
        await page.get_by_label("Username").fill(username)
        await page.get_by_label("Password").fill(flows.PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await consent_and_code(page)
        await page.goto(server.url + "/account/security-keys/new")
        await page.get_by_label("Name").fill("Wrong host")
        await page.get_by_role("button", name="Add security key").click()
        await expect(page.get_by_role("status")).to_contain_text("did not work (SecurityError)")
    finally:
        await context.close()
    count = await module_db.fetchval(
        "SELECT count(*) FROM passkeys JOIN users USING (user_id) WHERE username = $1", username
    )
    assert count == 0
