"""Driving the second factors the way a person does, for the tests: set up an authenticator app on
/account/security (reading the key from the page's text beside the QR code), and work out its codes with pyotp."""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass

import aiohttp
import asyncpg
import pyotp

from tests.authz import flows

_SECRET = re.compile(r'<code id="totp-secret">([A-Z2-7]+)</code>')
_CODES = re.compile(r"<li><code>([a-z0-9-]+)</code></li>")


@dataclass(frozen=True)
class AuthenticatorApp:
    """The app a person set up: its key, and the recovery codes they were shown."""

    secret: str
    recovery_codes: tuple[str, ...]

    def code(self, steps_from_now: int = 0) -> str:
        """The code of the time step `steps_from_now` away (the server accepts one step either way)."""
        return pyotp.TOTP(self.secret).at(time.time() + 30 * steps_from_now)


async def security_page(browser: aiohttp.ClientSession, authz: str) -> tuple[int, str]:
    async with browser.get(f"{authz}/account/security", allow_redirects=False) as resp:
        return resp.status, await resp.text()


async def post(browser: aiohttp.ClientSession, authz: str, path: str, form: dict[str, str]) -> tuple[int, str, str]:
    """POST a form of the security page: the status, body, and Location (if any)."""
    async with browser.post(f"{authz}{path}", data=form, allow_redirects=False) as resp:
        return resp.status, await resp.text(), resp.headers.get("Location", "")


async def start_enrolment(browser: aiohttp.ClientSession, authz: str) -> tuple[str, str]:
    """Press "Set up an authenticator app": the key shown beside the QR code, and the page's CSRF token."""
    status, page = await security_page(browser, authz)
    assert status == 200, page[:300]
    csrf = flows.hidden_fields(page)["csrf"]
    status, _, location = await post(browser, authz, "/account/security/totp", {"csrf": csrf})
    assert status == 303 and location == "/account/security"
    status, page = await security_page(browser, authz)
    assert status == 200 and "<svg" in page, page[:500]
    found = _SECRET.search(page)
    assert found, "the key is shown as text beside the QR code"
    return found[1], csrf


def recovery_codes_on(page: str) -> tuple[str, ...]:
    return tuple(html.unescape(c) for c in _CODES.findall(page))


async def enrol(browser: aiohttp.ClientSession, authz: str) -> AuthenticatorApp:
    """Set up an authenticator app for the person signed in in `browser`: confirmed with the code of the step
    before now, so that the current step's code is still unused for the test to sign in with."""
    secret, csrf = await start_enrolment(browser, authz)
    app = AuthenticatorApp(secret, ())
    status, page, _ = await post(browser, authz, "/account/security/totp/confirm", {"csrf": csrf, "code": app.code(-1)})
    assert status == 200, page[:500]
    codes = recovery_codes_on(page)
    assert len(codes) == 10, page[:2000]
    return AuthenticatorApp(secret, codes)


async def signed_in_with_app(
    db: asyncpg.Pool, authz: str, client: flows.RegisteredClient, browser: aiohttp.ClientSession
) -> tuple[str, AuthenticatorApp]:
    """A new user, signed in in `browser` with their password, who then sets up an authenticator app."""
    username = await flows.make_user(db)
    await flows.authorize(browser, authz, client, username, scope="openid")
    return username, await enrol(browser, authz)
