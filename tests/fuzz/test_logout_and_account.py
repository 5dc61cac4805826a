"""Fuzzing the end-session endpoint (OpenID Connect RP-Initiated Logout 1.0 sections 2-4), its confirmation form, and
the account page's forms over HTTP, with a real signed-in session and a real ID token among the values: never a
5xx, and never a redirect anywhere but a post-logout redirect URI the client registered (with nothing but `state`
added), and a page otherwise."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import aiohttp
import asyncpg
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.authz import flows
from tests.authz.conftest import cheap_password_hashing  # noqa: F401 - fixture
from tests.fuzz import strategies as s
from tests.fuzz.conftest import FUZZ
from tests.fuzz.invariants import no_server_error, note, refused_by_parser
from tests.fuzz.wire import Request, Served, send

POST_LOGOUT_URIS = (
    s.POST_LOGOUT_REDIRECT_URI,
    s.POST_LOGOUT_REDIRECT_URI + "/",
    s.POST_LOGOUT_REDIRECT_URI + "?x=1",
    s.POST_LOGOUT_REDIRECT_URI.upper(),
    s.POST_LOGOUT_REDIRECT_URI + "\x00",
    "https://evil.example/",
    "//evil.example",
    s.REDIRECT_URI,
)


def mostly(*good: str) -> st.SearchStrategy[str]:
    return st.one_of(*[st.sampled_from(good)] * 3, s.values)


LOGOUT_PARAMETERS = {
    "id_token_hint": mostly("<hint>", "<hint>x", "<tampered>", "e30.e30.", "a.b.c"),
    "client_id": mostly(*s.CLIENT_IDS),
    "post_logout_redirect_uri": mostly(*POST_LOGOUT_URIS),
    "state": mostly("xyz", "a" * 1024, "a" * 1025, "<script>", "a&b=c"),
    "logout_hint": mostly("someone", "<username>"),
    "ui_locales": mostly("en", "fr-CA en", "x" * 300),
    "csrf": mostly("<csrf>", "A" * 43),
    "decision": mostly("sign-out", "stay"),
}
ACCOUNT_FORMS = {
    "/account/apps/remove": {"csrf": mostly("<csrf>", "A" * 43), "client_id": mostly(*s.CLIENT_IDS)},
    "/account/sessions/end": {"csrf": mostly("<csrf>", "A" * 43), "session": mostly("A" * 43, "<sid>")},
    "/account/password": {
        "csrf": mostly("<csrf>", "A" * 43),
        "current_password": mostly("wrong password here"),
        "new_password": mostly("a new password of length"),
        "confirm_password": mostly("a new password of length", "other"),
    },
}


@st.composite
def logout_requests(draw: st.DrawFn) -> Request:
    """End-session requests by GET or POST, confirmation posts, and account forms, with the real session's cookie
    (or another), encoded cleanly or not, with random Content-Types now and then."""
    clean = draw(st.booleans())
    encodings = st.just("utf-8") if clean else st.sampled_from(("utf-8",) * 6 + s.PAIR_ENCODINGS)
    path = draw(st.sampled_from(["/logout"] * 3 + ["/logout/confirm"] * 2 + list(ACCOUNT_FORMS)))
    fields = ACCOUNT_FORMS.get(path, LOGOUT_PARAMETERS)
    pairs = [(name, draw(values), draw(encodings)) for name, values in fields.items() if draw(st.integers(0, 2))]
    if not clean and pairs and draw(st.booleans()):
        pairs.append(draw(st.sampled_from(pairs)))
    encoded = b"&".join(s.encode_pair(*pair) for pair in draw(st.permutations(pairs)))
    headers = [("Cookie", draw(st.sampled_from(["authz_session=<sid>", "authz_session=" + "A" * 43, "x=y"])))]
    if path == "/logout" and draw(st.booleans()):
        return Request("GET", path, s.raw_query(encoded), tuple(headers))
    headers.append(("Content-Type", s.FORM if clean else draw(s.content_types)))
    return Request("POST", path, "", tuple(headers), encoded)


@pytest.fixture(scope="module")
async def person(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, module_db: asyncpg.Pool
) -> AsyncIterator[dict[str, str]]:
    """A person signed in to the fuzz client through a browser: their session cookie, CSRF token, ID token and name,
    for the placeholders. (A request may sign them out: the properties hold either way.)"""
    client = flows.RegisteredClient(s.CODE_CLIENT_ID, s.CODE_CLIENT_SECRET, s.REDIRECT_URI)
    username = await flows.make_user(module_db)
    async with flows.browser() as browser:
        tokens = await flows.code_flow(fuzz_http, browser, authz_server.url, client, username, scope="openid")
        async with browser.get(authz_server.url + "/account") as resp:
            csrf = flows.hidden_fields(await resp.text())["csrf"]
        sid = next(c.value for c in browser.cookie_jar if c.key == "authz_session")
    header, _, signature = tokens["id_token"].split(".")
    yield {
        "sid": sid,
        "csrf": csrf,
        "hint": tokens["id_token"],
        "tampered": f"{header}.e30.{signature}",
        "username": username,
    }


def check_redirect(answer_location: str | None, status: int) -> None:
    if not 300 <= status < 400:
        assert answer_location is None
        return
    assert answer_location is not None
    if answer_location.startswith("/account?notice="):
        note("back to the account page")
        return
    assert answer_location == s.POST_LOGOUT_REDIRECT_URI or answer_location.startswith(
        s.POST_LOGOUT_REDIRECT_URI + "?state="
    ), answer_location
    query = parse_qs(urlsplit(answer_location).query, keep_blank_values=True)
    assert set(query) <= {"state"}, answer_location
    note("redirected to the registered post-logout URI")


@pytest.mark.usefixtures("cheap_password_hashing")
@FUZZ
@given(request=logout_requests())
@example(request=Request("GET", "/logout", "id_token_hint=<hint>&post_logout_redirect_uri=https://evil.example/"))
@example(
    request=Request(
        "GET", "/logout", f"id_token_hint=<hint>&post_logout_redirect_uri={s.POST_LOGOUT_REDIRECT_URI}&state=a%26b%3Dc"
    )
)
@example(
    request=Request(
        "POST",
        "/logout/confirm",
        "",
        (("Content-Type", s.FORM), ("Cookie", "authz_session=<sid>")),
        b"csrf=<csrf>&client_id=" + s.CODE_CLIENT_ID.encode() + b"&decision=stay",
    )
)
async def test_logout_and_account_forms_never_fail_or_redirect_elsewhere(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, person: dict[str, str], request: Request
) -> None:
    answer = await send(fuzz_http, authz_server.url, request.filled(person))
    no_server_error(answer)
    if refused_by_parser(answer):
        return
    note(f"{request.path} {answer.status}")
    check_redirect(answer.headers.get("Location"), answer.status)
    if answer.status < 300:
        assert answer.content_type == "text/html", answer
