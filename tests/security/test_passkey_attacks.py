"""Attacks on the passkey pages: cross-site request forgery with the attacker's own valid CSRF token, state changes
through GET, framing of the ceremony pages, a phishing site's assertion relayed by the attacker (WebAuthn Level 2
section 13.4.9: the origin and RP ID in the signed data name the phishing site), and a victim's challenge answered
from the attacker's browser (section 13.4.3: challenges are bound to the browser session).

Covered elsewhere and not repeated: origin/RP ID/counter/replay refusals in detail (tests/authz/test_passkeys.py),
hostile encodings of the answers (tests/fuzz/test_passkeys.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import orjson
import pytest

from tests.authz import flows
from tests.authz.authenticator import page_options
from tests.authz.passkey_flows import (
    PasskeyServer,
    authorize_path,
    enrol,
    fetch,
    passkey_authz,
    password_step,
    post_credential,
    sign_in_with_password,
)
from tests.authz.test_login import assert_secure_page

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.fixture(scope="module")
async def server(module_environ: dict[str, str]) -> AsyncIterator[PasskeyServer]:
    async with passkey_authz(module_environ, AUTHORIUM_PASSWORDLESS="true") as served:
        yield served


async def key_count(db: asyncpg.Pool, username: str) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM passkeys JOIN users USING (user_id) WHERE username = $1", username
    )
    return count


async def test_the_attackers_own_csrf_token_does_not_work_in_the_victims_browser(
    server: PasskeyServer, module_db: asyncpg.Pool
) -> None:
    """A genuine token of the attacker's own signed-in session, placed in a page the victim opens, neither adds the
    attacker's key to the victim's account nor removes the victim's (even with a confirmation the attacker's own
    key made for the attacker's own challenge)."""
    client = await flows.make_client(module_db, scope="openid")
    victim, attacker = await flows.make_user(module_db), await flows.make_user(module_db)
    attackers_key = server.authenticator()
    async with flows.browser() as victim_http, flows.browser() as attacker_http:
        await sign_in_with_password(victim_http, server, client, victim)
        await sign_in_with_password(attacker_http, server, client, attacker)
        await enrol(victim_http, server, server.authenticator())
        await enrol(attacker_http, server, attackers_key)
        victims_key = await module_db.fetchval(
            "SELECT passkey_id FROM passkeys JOIN users USING (user_id) WHERE username = $1", victim
        )
        attackers_page = await fetch(attacker_http, server, "GET", "/account/security-keys/new")
        token = attackers_page.fields["csrf"]
        credential = orjson.dumps(server.authenticator().create(page_options(attackers_page.body))).decode()
        attackers_own = await module_db.fetchval(
            "SELECT passkey_id FROM passkeys JOIN users USING (user_id) WHERE username = $1", attacker
        )
        confirm = await fetch(attacker_http, server, "GET", f"/account/security-keys/remove?passkey_id={attackers_own}")
        assertion = orjson.dumps(attackers_key.get(page_options(confirm.body))).decode()
        for path, form in (
            ("/account/security-keys", {"csrf": token, "name": "attacker", "credential": credential}),
            (
                "/account/security-keys/remove",
                {"csrf": token, "passkey_id": str(victims_key), "credential": assertion},
            ),
        ):
            page = await fetch(victim_http, server, "POST", path, data=form)
            assert page.status == 403, path
            assert_secure_page(page.headers)
    assert await key_count(module_db, victim) == 1
    assert await key_count(module_db, attacker) == 1


async def test_state_changes_cannot_be_made_with_a_get(server: PasskeyServer, module_db: asyncpg.Pool) -> None:
    """A link or an <img> makes a GET with the victim's cookies: adding answers none, and removal's GET is only the
    confirmation page."""
    client = await flows.make_client(module_db, scope="openid")
    username = await flows.make_user(module_db)
    async with flows.browser() as browser:
        await sign_in_with_password(browser, server, client, username)
        listing = await enrol(browser, server, server.authenticator())
        passkey_id = await module_db.fetchval(
            "SELECT passkey_id FROM passkeys JOIN users USING (user_id) WHERE username = $1", username
        )
        query = {"csrf": listing.fields["csrf"], "passkey_id": str(passkey_id), "code": "000000", "credential": "{}"}
        async with browser.get(server.url + "/account/security-keys", params=query, allow_redirects=False) as resp:
            assert resp.status == 405
        async with browser.get(
            server.url + "/account/security-keys/remove", params=query, allow_redirects=False
        ) as resp:
            assert resp.status == 200 and "Confirm it is you" in await resp.text()
    assert await key_count(module_db, username) == 1


async def test_ceremony_pages_cannot_be_framed(server: PasskeyServer, module_db: asyncpg.Pool) -> None:
    """Every ceremony page (add, second factor, passwordless) forbids framing and referrers, like every page."""
    client = await flows.make_client(module_db, scope="openid")
    username = await flows.make_user(module_db)
    async with flows.browser() as browser:
        await sign_in_with_password(browser, server, client, username)
        await enrol(browser, server, server.authenticator())
        assert_secure_page((await fetch(browser, server, "GET", "/account/security-keys/new")).headers)
    async with flows.browser() as browser:
        step = await password_step(browser, server, client, username)
        page = await fetch(browser, server, "GET", f"/authorize/security-key?rid={flows.query_of(step.url)['rid']}")
        assert page.status == 200
        assert_secure_page(page.headers)
    async with flows.browser() as browser:
        login = await fetch(browser, server, "GET", authorize_path(client))
        page = await fetch(browser, server, "GET", f"/authorize/passkey?rid={login.fields['rid']}")
        assert page.status == 200
        assert_secure_page(page.headers)


async def test_a_victims_challenge_cannot_be_answered_from_the_attackers_browser(
    server: PasskeyServer, module_db: asyncpg.Pool
) -> None:
    """The attacker lures the victim into answering a challenge the attacker's session was given, relaying it from a
    page of their own (at their own origin the browser signs their origin, refused by origin; here the worst case,
    the genuine origin). The answer is posted from the attacker's browser for the victim's parked request: the
    challenge belongs to the victim's session, and the attacker's session has none, so nobody is signed in."""
    client = await flows.make_client(module_db, scope="openid")
    username = await flows.make_user(module_db)
    key = server.authenticator()
    async with flows.browser() as browser:
        await sign_in_with_password(browser, server, client, username)
        await enrol(browser, server, key)
    async with flows.browser() as victim, flows.browser() as attacker:
        victims = await fetch(victim, server, "GET", authorize_path(client))
        victims_page = await fetch(victim, server, "GET", f"/authorize/passkey?rid={victims.fields['rid']}")
        answer = key.get(page_options(victims_page.body))
        attackers = await fetch(attacker, server, "GET", authorize_path(client))
        attackers_page = await fetch(attacker, server, "GET", f"/authorize/passkey?rid={attackers.fields['rid']}")
        refused = await fetch(
            attacker, server, "POST", "/authorize/passkey", data=post_credential(attackers_page, answer)
        )
        assert refused.status == 400
        cross = await fetch(
            attacker, server, "POST", "/authorize/passkey", data={**post_credential(victims_page, answer)}
        )
        assert cross.status == 403
