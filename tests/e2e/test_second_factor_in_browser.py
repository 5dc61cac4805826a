"""Multi-factor sign-in in a real headless Chromium (issue 16 item 4's acceptance): a person sets up an authenticator
app on /account/security (RFC 6238; the key read from the text beside the server-rendered QR code), then signs in
with password and app code and gets an ID token with amr pwd, otp, mfa and the MFA acr (OIDC Core 2, RFC 8176); a
reused code is refused; a recovery code works once; acr_values steps up a password-only session (OIDC Core
3.1.2.1). Every page is saved as a screenshot in the test's temporary folder."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import asyncpg
import jwt
import pyotp
import pytest
from playwright.async_api import Browser, BrowserContext, Page, Route, expect

from authz.factors.assurance import ACR_MFA, ACR_PWD
from authz.factors.step import REPLAYED_CODE, WRONG_CODE
from tests.authz import flows
from tests.authz.conftest import module_authz, module_server  # noqa: F401 - fixtures

CALLBACK = "https://client.example/callback"


@pytest.fixture
async def client(module_db: asyncpg.Pool) -> flows.RegisteredClient:
    return await flows.make_client(module_db, redirect_uris=(CALLBACK,))


async def answer_callbacks(context: BrowserContext) -> None:
    """The client's redirect URI answers with a plain page, so the browser stops there with the code in its URL."""

    async def handler(route: Route) -> None:
        await route.fulfill(status=200, content_type="text/plain", body="callback")

    await context.route("https://client.example/**", handler)


@pytest.fixture
async def fresh(chromium: Browser) -> AsyncIterator[Any]:
    """Opens fresh browser profiles (no cookies) for the test, closed at its end."""
    opened: list[BrowserContext] = []

    async def open_context() -> BrowserContext:
        ctx = await chromium.new_context(viewport={"width": 1280, "height": 900})
        await answer_callbacks(ctx)
        opened.append(ctx)
        return ctx

    yield open_context
    for ctx in opened:
        await ctx.close()


class Shots:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    async def __call__(self, page: Page, name: str) -> None:
        self.count += 1
        await page.screenshot(path=self.folder / f"{self.count:02d}-{name}.png", full_page=True)


def authorize_url(authz: str, client: flows.RegisteredClient, **params: str) -> str:
    # prompt=consent: every sign-in ends at the consent page, whether or not the person consented before.
    query = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": CALLBACK,
        "scope": "openid",
        "prompt": "consent",
    }
    return f"{authz}/authorize?{urlencode({**query, **params})}"


async def id_token(authz: str, client: flows.RegisteredClient, page: Page) -> dict[str, Any]:
    """Redeem the code the browser was sent back with; the ID token's claims."""
    assert page.url.startswith(CALLBACK + "?"), page.url
    code = flows.query_of(page.url)["code"]
    async with aiohttp.ClientSession() as http:
        status, body, _ = await flows.token_request(
            http, authz, client, grant_type="authorization_code", code=code, redirect_uri=CALLBACK
        )
    assert status == 200, body
    claims: dict[str, Any] = jwt.decode(body["id_token"], options={"verify_signature": False})
    return claims


async def password(page: Page, username: str) -> None:
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(flows.PASSWORD)
    await page.get_by_role("button", name="Sign in").click()


async def allow(page: Page) -> None:
    await expect(page.get_by_role("heading", name="Allow")).to_be_visible()
    await page.get_by_role("button", name="Allow").click()
    await page.wait_for_url(CALLBACK + "?**")


async def second_factor(page: Page, code: str) -> None:
    await expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    await page.get_by_label("Code from your authenticator app, or a recovery code").fill(code)
    await page.get_by_role("button", name="Continue").click()


async def test_totp_enrolment_sign_in_replay_recovery_and_step_up(
    module_authz: str,  # noqa: F811
    client: flows.RegisteredClient,
    module_db: asyncpg.Pool,
    fresh: Any,
    tmp_path: Path,
) -> None:
    authz = module_authz
    shot = Shots(tmp_path)
    username = await flows.make_user(module_db)

    # Signed in with the password, the person sets up an authenticator app.
    first = await (await fresh()).new_page()
    await first.goto(authorize_url(authz, client))
    await password(first, username)
    await allow(first)
    assert (await id_token(authz, client, first))["acr"] == ACR_PWD
    await first.goto(f"{authz}/account/security")
    await shot(first, "security")
    await first.get_by_role("button", name="Set up an authenticator app").click()
    qr = first.locator("figure.qr svg")
    await expect(qr).to_be_visible()
    assert (await qr.bounding_box() or {}).get("width", 0) > 100
    secret = (await first.locator("#totp-secret").inner_text()).strip()
    totp = pyotp.TOTP(secret)
    await shot(first, "enrolment")
    await first.get_by_label("Code from your app").fill(totp.at(time.time() - 30))
    await first.get_by_role("button", name="Turn on").click()
    await expect(first.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    recovery_codes = [c.strip() for c in await first.locator("ul.codes code").all_inner_texts()]
    assert len(recovery_codes) == 10
    await shot(first, "recovery-codes")

    # Step-up: the session (password only) is asked for the second factor, not the password, when acr_values asks.
    await first.goto(authorize_url(authz, client, acr_values=ACR_MFA))
    await shot(first, "step-up")
    await second_factor(first, totp.now())
    await allow(first)
    claims = await id_token(authz, client, first)
    assert claims["acr"] == ACR_MFA and claims["amr"] == ["pwd", "otp", "mfa"]

    # A fresh browser: password, then the app's code.
    code = totp.at(time.time() + 30)
    second = await (await fresh()).new_page()
    await second.goto(authorize_url(authz, client))
    await password(second, username)
    await shot(second, "second-factor")
    await second_factor(second, code)
    await allow(second)
    claims = await id_token(authz, client, second)
    assert claims["amr"] == ["pwd", "otp", "mfa"] and claims["acr"] == ACR_MFA

    # The same code again, in another browser: refused.
    third = await (await fresh()).new_page()
    await third.goto(authorize_url(authz, client))
    await password(third, username)
    await second_factor(third, code)
    await expect(third.get_by_role("alert")).to_have_text(REPLAYED_CODE)
    await shot(third, "replayed")

    # A recovery code works once...
    await second_factor(third, recovery_codes[0])
    await allow(third)
    assert (await id_token(authz, client, third))["acr"] == ACR_MFA
    # ...and not twice.
    fourth = await (await fresh()).new_page()
    await fourth.goto(authorize_url(authz, client))
    await password(fourth, username)
    await second_factor(fourth, recovery_codes[0])
    await expect(fourth.get_by_role("alert")).to_have_text(WRONG_CODE)
    await shot(fourth, "recovery-code-used")
    # Half signed in is not signed in: the security page sends the person to the account page's sign-in.
    await fourth.goto(f"{authz}/account/security")
    assert fourth.url == f"{authz}/account"
