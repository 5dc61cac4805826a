"""The authorization endpoint's consent page: what it shows, allowing and denying, and its CSRF protection."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp
import asyncpg
import pytest

from authz.authorization.consents import ConsentRepository
from authz.interaction import EXPIRED
from authz.users.repository import UserRepository
from tests.authz import flows

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.fixture
def authz(module_authz: str) -> str:
    """One server for the module (starting one costs more than most tests here); tests share nothing else,
    each making its own client, user and browser."""
    return module_authz


def assert_secure_page(headers: Mapping[str, str]) -> None:
    assert headers["Content-Type"].startswith("text/html")
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"


async def granted(db: asyncpg.Pool, username: str, client: flows.RegisteredClient) -> frozenset[str]:
    user = await UserRepository(db).find_by_username(username)
    assert user is not None
    return await ConsentRepository(db).granted(user.user_id, client.client_id)


async def reach_consent_page(
    browser: aiohttp.ClientSession, authz: str, client: flows.RegisteredClient, username: str, **params: str
) -> tuple[Mapping[str, str], str]:
    """Sign in through the login page and stop at the consent page: its headers and body."""
    query = {"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri, **params}
    async with browser.get(f"{authz}/authorize", params=query, allow_redirects=False) as resp:
        page = await resp.text()
    if 'action="/authorize/login"' in page:
        form = {**flows.hidden_fields(page), "username": username, "password": flows.PASSWORD}
        async with browser.post(f"{authz}/authorize/login", data=form, allow_redirects=False) as resp:
            assert resp.status == 303, await resp.text()
            location = resp.headers["Location"]
        async with browser.get(authz + location, allow_redirects=False) as resp:
            page = await resp.text()
    assert resp.status == 200, page[:300]
    assert 'action="/authorize/consent"' in page, page[:300]
    return resp.headers, page


async def post_consent(
    browser: aiohttp.ClientSession, authz: str, form: Mapping[str, str]
) -> tuple[aiohttp.ClientResponse, str]:
    async with browser.post(f"{authz}/authorize/consent", data=dict(form), allow_redirects=False) as resp:
        return resp, await resp.text()


async def test_the_consent_page_says_who_asks_for_what(
    authz: str, db: asyncpg.Pool, module_environ: dict[str, str]
) -> None:
    """OIDC Core 3.1.2.4 (consent), RFC 8707 section 2: the page names the client, the scopes asked for, and the APIs
    (resources) the token will be for, by name and identifier."""
    api = await flows.make_resource(db, module_environ, authz, scopes=["x<b>bold</b>"], name="Inventory <i>API</i>")
    odd_scope = api.scopes[0]
    client = await flows.make_client(db, scope=f"openid notes:read notes:write {odd_scope}")
    username = await flows.make_user(db)
    async with flows.browser() as browser:
        headers, page = await reach_consent_page(
            browser, authz, client, username, scope=f"notes:read {odd_scope}", state="s"
        )
    assert_secure_page(headers)
    assert username in page
    assert "client.example" in page  # where the browser will be sent back
    assert "<code>notes:read</code>" in page
    assert "Read your notes" in page
    assert "notes:write" not in page  # only what is asked for
    # Scope and API names are the operator's and the client's words: shown escaped, never as markup.
    assert "<b>bold</b>" not in page
    assert "x&lt;b&gt;bold&lt;/b&gt;" in page
    assert "Inventory &lt;i&gt;API&lt;/i&gt;" in page
    # Both APIs the token is for: the notes API (the default resource) and the one registered above.
    assert "<code>http://127.0.0.1:8001</code>" in page
    assert f"<code>{api.identifier}</code>" in page
    assert set(flows.hidden_fields(page)) == {"rid", "csrf"}


async def test_allowing_redirects_with_a_code_and_remembers(authz: str, db: asyncpg.Pool) -> None:
    client = await flows.make_client(db, scope="openid notes:read")
    username = await flows.make_user(db)
    async with flows.browser() as browser:
        _, page = await reach_consent_page(browser, authz, client, username, scope="notes:read", state="ok")
        resp, _ = await post_consent(browser, authz, {**flows.hidden_fields(page), "decision": "allow"})
        assert resp.status == 303  # after a POST: the browser follows with a GET (RFC 9700 section 4.12)
        got = flows.query_of(resp.headers["Location"])
        assert resp.headers["Location"].startswith(client.redirect_uri + "?")
        assert set(got) == {"code", "state", "iss"}
        assert got["state"] == "ok"
        assert got["iss"] == authz
        assert await granted(db, username, client) == {"notes:read"}

        # The form is spent: posting it again issues nothing.
        resp, body = await post_consent(browser, authz, {**flows.hidden_fields(page), "decision": "allow"})
        assert resp.status == 403
        assert "Location" not in resp.headers
        assert EXPIRED in body


async def test_denying_redirects_with_access_denied(authz: str, db: asyncpg.Pool) -> None:
    client = await flows.make_client(db, scope="openid notes:read")
    username = await flows.make_user(db)
    state = "deny me ü\r\n"
    async with flows.browser() as browser:
        result = await flows.authorize(
            browser, authz, client, username, consent="deny", scope="notes:read", state=state
        )
        assert set(result.params) == {"error", "error_description", "state", "iss"}
        assert result.params["error"] == "access_denied"
        assert result.params["state"] == state
        assert result.params["iss"] == authz
        assert await granted(db, username, client) == frozenset()

        # Anything but an explicit allow is a refusal.
        _, page = await reach_consent_page(browser, authz, client, username, scope="notes:read")
        resp, _ = await post_consent(browser, authz, {**flows.hidden_fields(page), "decision": "ALLOW"})
        assert resp.status == 303
        assert flows.query_of(resp.headers["Location"])["error"] == "access_denied"

        # Nothing was remembered: the next request asks again.
        again = await flows.authorize(browser, authz, client, None, scope="notes:read")
        assert len(again.pages) == 1
        assert again.code


async def test_consent_form_csrf(authz: str, db: asyncpg.Pool) -> None:
    client = await flows.make_client(db, scope="openid notes:read")
    username = await flows.make_user(db)
    async with flows.browser() as victim, flows.browser() as other, aiohttp.ClientSession() as no_cookies:
        _, page = await reach_consent_page(victim, authz, client, username, scope="notes:read", state="v")
        fields = {**flows.hidden_fields(page), "decision": "allow"}
        # Another browser, signed in as the same user, with a request of its own.
        _, other_page = await reach_consent_page(other, authz, client, username, scope="notes:read")
        other_fields = flows.hidden_fields(other_page)
        attempts = [
            (no_cookies, fields),
            (victim, {**fields, "csrf": other_fields["csrf"]}),
            (victim, {**fields, "csrf": fields["csrf"][:-1]}),
            (victim, {k: v for k, v in fields.items() if k != "csrf"}),
            (victim, {**fields, "rid": other_fields["rid"]}),
            (other, fields),
            (other, {**fields, "csrf": other_fields["csrf"]}),
        ]
        for browser, form in attempts:
            resp, body = await post_consent(browser, authz, form)
            assert resp.status == 403, form
            assert "Location" not in resp.headers
            assert EXPIRED in body
            assert_secure_page(resp.headers)
        assert await granted(db, username, client) == frozenset()
        # The genuine form still works, once.
        resp, _ = await post_consent(victim, authz, fields)
        assert resp.status == 303
        assert flows.query_of(resp.headers["Location"])["state"] == "v"


async def test_the_consent_form_cannot_skip_a_required_sign_in(authz: str, db: asyncpg.Pool) -> None:
    """prompt=login and max_age ask for a fresh sign-in; the login page's hidden fields (the same rid and
    csrf) posted to the consent form must not stand in for it."""
    client = await flows.make_client(db, scope="openid notes:read")
    username = await flows.make_user(db)
    async with flows.browser() as browser:
        await flows.authorize(browser, authz, client, username, scope="openid")
        for forcing in ({"prompt": "login"}, {"max_age": "0"}):
            query = {
                "response_type": "code",
                "client_id": client.client_id,
                "redirect_uri": client.redirect_uri,
                "scope": "openid",
                **forcing,
            }
            async with browser.get(f"{authz}/authorize", params=query, allow_redirects=False) as resp:
                page = await resp.text()
            assert 'action="/authorize/login"' in page
            resp, _ = await post_consent(browser, authz, {**flows.hidden_fields(page), "decision": "allow"})
            assert resp.status == 403, forcing
            assert "Location" not in resp.headers


async def test_the_consent_form_needs_a_signed_in_session(authz: str, db: asyncpg.Pool) -> None:
    client = await flows.make_client(db)
    async with flows.browser() as browser:
        query = {"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri}
        async with browser.get(f"{authz}/authorize", params=query, allow_redirects=False) as resp:
            page = await resp.text()
        assert 'action="/authorize/login"' in page
        resp, body = await post_consent(browser, authz, {**flows.hidden_fields(page), "decision": "allow"})
    assert resp.status == 403
    assert "Location" not in resp.headers
    assert EXPIRED in body


# Public clients (RFC 8252 section 8.6, RFC 6749 section 10.2): who answers at their redirect URI is unproven.


async def test_a_public_client_is_asked_for_consent_on_every_request(authz: str, db: asyncpg.Pool) -> None:
    """RFC 8252 section 8.6 and RFC 6749 section 10.2: the server cannot tell a public client from another app
    that claims its loopback port or custom scheme, so it must not approve the client's requests automatically;
    remembered consent is not used, and the consent page comes every time (the code still comes after it)."""
    client = await flows.make_client(db, public=True, scope="openid notes:read")
    username = await flows.make_user(db)
    _, challenge = flows.pkce_pair()
    pkce = {"code_challenge": challenge, "code_challenge_method": "S256"}
    async with flows.browser() as browser:
        first = await flows.authorize(browser, authz, client, username, scope="openid notes:read", **pkce)
        assert len(first.pages) == 2
        assert first.code
        for scope in ("openid notes:read", "openid"):
            again = await flows.authorize(browser, authz, client, None, scope=scope, state="again", **pkce)
            (page,) = again.pages
            assert 'action="/authorize/consent"' in page, scope
            assert again.params["state"] == "again"
            assert again.code
        # Refusing it then is refusing it: no code.
        denied = await flows.authorize(browser, authz, client, None, consent="deny", scope="openid", **pkce)
        assert denied.params["error"] == "access_denied"
        assert "code" not in denied.params


async def test_prompt_none_for_a_public_client_is_consent_required(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """OIDC Core 3.1.2.6 (`consent_required`) with RFC 8252 section 8.6: a public client cannot get a code
    without the consent page, so `prompt=none` from it is answered with consent_required, with `state` and the
    RFC 9207 `iss`, even when the user consented to the same scopes before; a confidential client with the same
    remembered consent gets its code silently."""
    public = await flows.make_client(db, public=True, scope="openid notes:read")
    confidential = await flows.make_client(db, scope="openid notes:read")
    username = await flows.make_user(db)
    _, challenge = flows.pkce_pair()
    pkce = {"code_challenge": challenge, "code_challenge_method": "S256"}
    async with flows.browser() as browser:
        for client in (public, confidential):
            await flows.authorize(browser, authz, client, username, scope="openid notes:read", **pkce)
        assert await granted(db, username, public) == {"openid", "notes:read"}
        silent = await flows.authorize(
            browser, authz, public, None, consent=None, scope="openid notes:read", prompt="none", state="q", **pkce
        )
        assert silent.pages == []
        assert silent.params["error"] == "consent_required"
        assert silent.params["state"] == "q"
        assert silent.params["iss"] == authz
        assert "code" not in silent.params

        trusted = await flows.authorize(
            browser, authz, confidential, None, consent=None, scope="openid notes:read", prompt="none", **pkce
        )
        assert trusted.pages == []
        assert trusted.code
