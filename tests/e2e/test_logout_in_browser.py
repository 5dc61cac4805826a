"""Signing out in a real headless Chromium: through the demo (OpenID Connect RP-Initiated Logout 1.0, sections 2-3),
after which the next sign-in asks for the password again; a second app signed in with the same session receives a
logout token (Back-Channel Logout 1.0, sections 2.5-2.7) and ends its session; and a person removing the demo's access
on the account page ends the demo's session at its next API call. Every page is saved as a screenshot."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from playwright.async_api import BrowserContext, expect

from client_demo.app import create_app as create_demo
from client_demo.settings import DEFAULT_SCOPE, ClientDemoSettings
from tests.authz.conftest import server_errors
from tests.authz.flows import PASSWORD, make_client, make_user
from tests.e2e.test_demo_in_browser import Journey, demo_cookie, sign_in
from tests.servers import serve
from tests.stack import Stack


@asynccontextmanager
async def second_demo(stack: Stack, db: asyncpg.Pool) -> AsyncIterator[str]:
    """Another instance of the demo, registered as a client of its own with its own back-channel logout URI, on
    another loopback address: cookies ignore ports, so on 127.0.0.1 the two demos would share their cookie."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.2", 0))
    url = f"http://127.0.0.2:{sock.getsockname()[1]}"
    client = await make_client(
        db,
        grant_types=("authorization_code", "refresh_token"),
        scope=DEFAULT_SCOPE,
        redirect_uris=(url + "/callback",),
        post_logout_redirect_uris=(url + "/signed-out",),
        backchannel_logout_uri=url + "/backchannel-logout",
        backchannel_logout_session_required=True,
    )
    assert client.secret is not None
    env = {
        **stack.environ,
        "AUTHORIUM_CLIENT_DEMO_URL": url,
        "AUTHORIUM_CLIENT_DEMO_CLIENT_ID": client.client_id,
        "AUTHORIUM_CLIENT_DEMO_CLIENT_SECRET": client.secret,
    }
    app = create_demo(ClientDemoSettings.from_env(env))
    try:
        async with serve(app, sock):
            yield url
    finally:
        sock.close()
    assert server_errors(app) == 0, "the second demo answered a request with a 5xx"


async def test_signing_out_of_the_demo_signs_out_at_the_server_and_the_next_sign_in_asks_again(
    stack: Stack, context: BrowserContext, module_db: asyncpg.Pool, tmp_path: Path
) -> None:
    """RP-Initiated Logout 1.0 sections 2-3: the demo's "Sign out" goes through the end-session endpoint (with its ID
    token as the hint, so nobody is asked) and comes back with its state; signing in again needs the password."""
    username = await make_user(module_db)
    journey = Journey(await context.new_page(), tmp_path)
    page = journey.page
    await sign_in(journey, stack, username)
    await expect(page.get_by_role("heading", name=f"Hello, {username}")).to_be_visible()
    async with page.expect_request(lambda r: r.url.startswith(stack.authz + "/logout?")):
        await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("status")).to_contain_text("You are signed out")
    assert page.url.startswith(stack.demo + "/?notice=signed-out")
    await journey.snap("signed-out")
    assert await demo_cookie(context, stack) is None
    await page.get_by_role("link", name="Sign in with Authorium").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.get_by_label("Password")).to_be_visible()
    await journey.snap("asked-again")


async def test_a_second_app_in_the_same_session_is_signed_out_through_the_back_channel(
    stack: Stack, context: BrowserContext, module_db: asyncpg.Pool, tmp_path: Path
) -> None:
    """Back-Channel Logout 1.0 sections 2.5-2.7: one sign-in at the server reaches two apps; signing out of one sends
    the other a logout token for that session, and the other app's session ends without the browser visiting it."""
    username = await make_user(module_db)
    async with second_demo(stack, module_db) as other:
        journey = Journey(await context.new_page(), tmp_path)
        page = journey.page
        await sign_in(journey, stack, username)
        await expect(page.get_by_role("heading", name=f"Hello, {username}")).to_be_visible()

        await page.goto(other + "/")
        await page.get_by_role("link", name="Sign in with Authorium").click()
        # Signed in at the server already: only this app's consent is asked, never the password.
        await expect(page.get_by_role("heading", name="Allow")).to_be_visible()
        await expect(page.get_by_label("Password")).to_have_count(0)
        await page.get_by_role("button", name="Allow").click()
        await expect(page.get_by_role("heading", name=f"Hello, {username}")).to_be_visible()
        await journey.snap("second-app-signed-in")

        await page.goto(stack.demo + "/")
        await page.get_by_role("button", name="Sign out").click()
        await expect(page.get_by_role("status")).to_contain_text("You are signed out")

        # The other app's cookie is still in the browser; its session on the server is gone.
        assert [c for c in await context.cookies(other) if c["name"] == "demo_session"]
        await page.goto(other + "/")
        await expect(page.get_by_role("link", name="Sign in with Authorium")).to_be_visible()
        await expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
        await journey.snap("second-app-signed-out")


async def test_removing_the_demos_access_on_the_account_page_ends_its_session(
    stack: Stack, context: BrowserContext, module_db: asyncpg.Pool, tmp_path: Path
) -> None:
    """The account page lists the demo; "Remove access" revokes its grants and consent; the demo's next API call is
    refused, its refresh too, so it ends its session and says so."""
    username = await make_user(module_db)
    name = await module_db.fetchval("SELECT name FROM clients WHERE client_id = $1", stack.client.client_id)
    journey = Journey(await context.new_page(), tmp_path)
    page = journey.page
    await sign_in(journey, stack, username)
    await expect(page.get_by_role("heading", name=f"Hello, {username}")).to_be_visible()

    await page.goto(stack.authz + "/account")
    await expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    apps = page.get_by_role("list", name="Apps with access")
    await expect(apps.get_by_role("heading", name=name)).to_be_visible()
    await journey.snap("account")
    await apps.get_by_role("button", name=f"Remove access for {name}").click()
    await expect(page.get_by_role("status")).to_contain_text("Access removed")
    await expect(apps.get_by_role("heading", name=name)).to_have_count(0)
    await journey.snap("access-removed")

    await page.goto(stack.demo + "/")
    await expect(page.get_by_role("status")).to_contain_text("Your session has ended")
    await expect(page.get_by_role("link", name="Sign in with Authorium")).to_be_visible()
    assert await demo_cookie(context, stack) is None
    await journey.snap("demo-signed-out")


async def test_the_account_page_asks_a_signed_out_person_to_sign_in_first(
    stack: Stack, context: BrowserContext, module_db: asyncpg.Pool, tmp_path: Path
) -> None:
    """The account page of someone not signed in is the login page; after it, the account page."""
    username = await make_user(module_db)
    journey = Journey(await context.new_page(), tmp_path)
    page = journey.page
    await page.goto(stack.authz + "/account")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    assert page.url == stack.authz + "/account"
    await expect(page.get_by_role("link", name="Manage security keys and your authenticator app")).to_be_visible()
    await journey.snap("account-after-sign-in")
