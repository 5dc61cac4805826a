"""The demo client in a real headless Chromium in front of the whole stack: a person signs in through the
real login and consent pages, keeps a note, reads the flow inspector and signs out; and the attacks on the
callback (tampered state, replayed callback URL, ID token with another nonce) each end in an error page with
no session. Every page is saved as a screenshot in the test's temporary folder."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import asyncpg
import orjson
from playwright.async_api import BrowserContext, Page, Route, expect

from authorium_shared.resources import create_redis
from tests.authz.flows import PASSWORD, make_user, token_request
from tests.conftest import REDIS_URL
from tests.stack import Stack


class Journey:
    """One person's browser tab: numbered screenshots, and every HTML page it was shown."""

    def __init__(self, page: Page, folder: Path) -> None:
        self.page = page
        self.folder = folder
        self.pages: list[str] = []
        self.shots: list[Path] = []

    async def snap(self, name: str) -> None:
        path = self.folder / f"{len(self.shots) + 1:02d}-{name}.png"
        await self.page.screenshot(path=path, full_page=True)
        self.shots.append(path)
        self.pages.append(await self.page.content())


async def sign_in(journey: Journey, stack: Stack, username: str) -> None:
    page = journey.page
    await page.goto(stack.demo + "/")
    await journey.snap("home")
    await page.get_by_role("link", name="Sign in with Authorium").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await journey.snap("login")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Allow")).to_be_visible()
    await journey.snap("consent")
    await page.get_by_role("button", name="Allow").click()


async def demo_cookie(context: BrowserContext, stack: Stack) -> dict[str, object] | None:
    cookies = [c for c in await context.cookies(stack.demo) if c["name"] == "demo_session"]
    return dict(cookies[0]) if cookies else None


async def stored_tokens(stack: Stack, sid: str) -> dict[str, str]:
    redis = create_redis(REDIS_URL)
    try:
        raw = await redis.hget(stack.environ["AUTHORIUM_REDIS_PREFIX"] + f"demo:session:{sid}", "tokens")
    finally:
        await redis.aclose()
    assert raw, "the signed-in session holds tokens on the server"
    tokens: dict[str, str] = orjson.loads(raw)
    return tokens


async def test_a_person_signs_in_keeps_a_note_reads_the_flow_and_signs_out(
    stack: Stack, context: BrowserContext, module_db: asyncpg.Pool, tmp_path: Path
) -> None:
    username = await make_user(module_db)
    journey = Journey(await context.new_page(), tmp_path)
    page = journey.page
    await sign_in(journey, stack, username)

    await expect(page.get_by_role("heading", name=f"Hello, {username}")).to_be_visible()
    await journey.snap("signed-in")
    cookie = await demo_cookie(context, stack)
    assert cookie is not None and cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    tokens = await stored_tokens(stack, str(cookie["value"]))

    await page.get_by_label("Title").fill("Remember the milk")
    await page.get_by_label("Note (optional)").fill("Written in Chromium, stored by the notes API.")
    await page.get_by_role("button", name="Add note").click()
    await expect(page.get_by_role("status")).to_have_text("Note added.")
    notes = page.get_by_role("list", name="Notes")
    await expect(notes.get_by_role("heading", name="Remember the milk")).to_be_visible()
    await journey.snap("note-added")

    await page.get_by_role("navigation").get_by_role("link", name="Flow inspector").click()
    for step in ("1. Authorization request", "2. Redirect back with a code", "3. Token request and response"):
        await expect(page.get_by_role("heading", name=step)).to_be_visible()
    await expect(page.get_by_role("heading", name="4. ID token")).to_be_visible()
    await expect(page.get_by_role("heading", name="7. API call (the latest)")).to_be_visible()
    await journey.snap("flow-inspector")

    # Nothing a script on these pages could read holds a token: not the HTML, not cookies, not storage.
    assert await page.evaluate("document.cookie") == ""
    assert await page.evaluate("localStorage.length + sessionStorage.length") == 0
    for html in journey.pages:
        for name in ("access_token", "refresh_token", "id_token"):
            assert tokens[name] not in html, f"the {name} appears in a page"

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("status")).to_contain_text("You are signed out")
    await expect(page.get_by_role("link", name="Sign in with Authorium")).to_be_visible()
    await journey.snap("signed-out")
    assert await demo_cookie(context, stack) is None

    async with aiohttp.ClientSession() as http:
        status, body, _ = await token_request(
            http, stack.authz, stack.client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
        )
    assert status == 400 and body["error"] == "invalid_grant", "the refresh token still works after sign-out"
    assert [p.name for p in journey.shots] == [
        "01-home.png",
        "02-login.png",
        "03-consent.png",
        "04-signed-in.png",
        "05-note-added.png",
        "06-flow-inspector.png",
        "07-signed-out.png",
    ]
    assert all(p.stat().st_size > 10_000 for p in journey.shots)


def with_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return parts._replace(query=urlencode({**query, name: value})).geturl()


def rewrite_redirect(name: str, value: str) -> Callable[[Route], Awaitable[None]]:
    """A route handler that sets one query parameter of the redirect a response carries. (Playwright does not
    route the requests a redirect makes, so the redirect itself is rewritten.)"""

    async def handler(route: Route) -> None:
        response = await route.fetch(max_redirects=0)
        headers = dict(response.headers)
        assert response.status in (302, 303), response.status
        headers["location"] = with_param(headers["location"], name, value)
        await route.fulfill(response=response, headers=headers)

    return handler


async def expect_error_page_and_no_session(journey: Journey, stack: Stack, heading: str, name: str) -> None:
    page = journey.page
    await expect(page.get_by_role("heading", name=heading)).to_be_visible()
    await journey.snap(name)
    assert await demo_cookie(page.context, stack) is None
    await page.goto(stack.demo + "/")
    await expect(page.get_by_role("link", name="Sign in with Authorium")).to_be_visible()
    await expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


async def test_a_tampered_state_ends_in_an_error_page_and_no_session(
    stack: Stack, context: BrowserContext, module_db: asyncpg.Pool, tmp_path: Path
) -> None:
    # The authorization server's redirect back (answering the consent form) is rewritten on its way to the
    # browser, as an attacker who controls the link would.
    await context.route(stack.authz + "/authorize/consent", rewrite_redirect("state", "A" * 43))
    journey = Journey(await context.new_page(), tmp_path)
    await sign_in(journey, stack, await make_user(module_db))
    await expect_error_page_and_no_session(journey, stack, "This sign-in link is not valid", "tampered-state")


async def test_a_replayed_callback_ends_in_an_error_page_and_no_session(
    stack: Stack, context: BrowserContext, module_db: asyncpg.Pool, tmp_path: Path
) -> None:
    journey = Journey(await context.new_page(), tmp_path)
    page = journey.page
    async with page.expect_request(lambda r: r.url.startswith(stack.demo + "/callback?")) as callback:
        await sign_in(journey, stack, await make_user(module_db))
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    await page.goto((await callback.value).url)
    await expect_error_page_and_no_session(journey, stack, "This sign-in link is not valid", "replayed-callback")


async def test_an_id_token_with_a_wrong_nonce_ends_in_an_error_page_and_no_session(
    stack: Stack, context: BrowserContext, module_db: asyncpg.Pool, tmp_path: Path
) -> None:
    # The authorization server is asked with a nonce other than the one the demo keeps for this sign-in, so the
    # ID token it returns carries the wrong nonce (as when a code from another request is injected).
    await context.route(stack.demo + "/login", rewrite_redirect("nonce", "B" * 43))
    journey = Journey(await context.new_page(), tmp_path)
    await sign_in(journey, stack, await make_user(module_db))
    await expect(journey.page.get_by_text("nonce does not match")).to_be_visible()
    await expect_error_page_and_no_session(journey, stack, "The ID token was rejected", "wrong-nonce")
