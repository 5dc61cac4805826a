"""Fuzzing the authorization endpoint (RFC 6749 section 4.1.1-4.1.2.1, OIDC Core 3.1.2) and its login and consent
forms over HTTP: never a 5xx, never a redirect anywhere but a registered redirect URI (and then only with an error
and RFC 9207's `iss`, since nobody is signed in), never a code, never a signed-in session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import asyncpg
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from authz.appkeys import SESSIONS
from tests.authz.conftest import cheap_password_hashing  # noqa: F401 - fixture
from tests.authz.flows import hidden_fields, make_user
from tests.fuzz import strategies as s
from tests.fuzz.conftest import FUZZ
from tests.fuzz.invariants import AUTHORIZATION_ERRORS, no_server_error, note, refused_by_parser
from tests.fuzz.wire import Answer, Request, Served, send

REDIRECT_URIS = (
    s.REDIRECT_URI,
    s.REDIRECT_URI + "/",
    s.REDIRECT_URI + "?x=1",
    s.REDIRECT_URI + "#fragment",
    s.REDIRECT_URI.upper(),
    s.REDIRECT_URI.replace("https", "http"),
    " " + s.REDIRECT_URI,
    s.REDIRECT_URI + "\x00",
    s.REDIRECT_URI + "%2F..%2F",
    "https://evil.example/fuzz/callback",
    "https://client.example.evil.example/fuzz/callback",
    "https://client.example@evil.example/fuzz/callback",
    "//evil.example",
    "/authorize",
)


def mostly(*good: str) -> st.SearchStrategy[str]:
    """One of `good` three times in four, else anything."""
    return st.one_of(*[st.sampled_from(good)] * 3, s.values)


AUTHORIZATION_PARAMETERS = {
    "response_type": mostly("code", "code", "token", "code id_token", "CODE", "none"),
    "client_id": mostly(s.CLIENT_ID, s.CODE_CLIENT_ID, s.PUBLIC_CLIENT_ID),
    "redirect_uri": mostly(*[s.REDIRECT_URI] * len(REDIRECT_URIS), *REDIRECT_URIS),
    "scope": mostly("openid", "notes:read", "openid profile email offline_access", "notes:admin"),
    "state": mostly("xyz", "a" * 1024, "a" * 1025, "<script>"),
    "nonce": mostly("n-0S6_WzA2Mj", "a" * 256),
    "code_challenge": mostly("A" * 43, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "a" * 42, "a" * 129),
    "code_challenge_method": mostly("S256", "S256", "plain", "s256"),
    "prompt": mostly("none", "login", "consent", "none login", "select_account", "login login"),
    "max_age": mostly("0", "60", "-1", "1e3", "+5", "99999999999999999999", "٣"),
    "response_mode": mostly("query", "fragment", "form_post"),
    "acr_values": mostly(
        "urn:authorium:acr:mfa", "urn:authorium:acr:pwd urn:authorium:acr:mfa", "a b c d e f g h i j k"
    ),
    "request": s.values,
    "request_uri": s.values,
}


@st.composite
def authorization_requests(draw: st.DrawFn) -> Request:
    """Authorization requests by GET (query) or POST (form, OIDC Core 3.1.2.1) with wrong, odd or hostile values;
    half of them otherwise well-formed (so that they get past the client and redirect URI checks), the other half
    also with repeated parameters, random names, bad encodings and random Content-Types. Now and then a cookie
    names a real anonymous session."""
    clean = draw(st.booleans())
    encodings = st.just("utf-8") if clean else st.sampled_from(("utf-8",) * 6 + s.PAIR_ENCODINGS)
    pairs: list[tuple[str, str, str]] = []
    for name, values in AUTHORIZATION_PARAMETERS.items():
        weight = 5 if name in ("response_type", "client_id") else 3 if name == "redirect_uri" else 1
        if draw(st.integers(0, 5)) < weight:
            pairs.append((name, draw(values), draw(encodings)))
    if not clean:
        pairs.extend(draw(st.lists(st.tuples(s.names, s.values, encodings), max_size=2)))
        if pairs and draw(st.booleans()):
            pairs.append(draw(st.sampled_from(pairs)))
    encoded = b"&".join(s.encode_pair(*pair) for pair in draw(st.permutations(pairs)))
    headers: list[tuple[str, str]] = []
    if draw(st.booleans()):
        headers.append(("Cookie", draw(st.sampled_from(["authz_session=<sid>", "authz_session=" + "A" * 43]))))
    if draw(st.booleans()):
        return Request("GET", "/authorize", s.raw_query(encoded), tuple(headers))
    headers.append(("Content-Type", s.FORM if clean else draw(s.content_types)))
    return Request("POST", "/authorize", "", tuple(headers), encoded)


FORM_PATHS = st.sampled_from(["/authorize/login", "/authorize/consent", "/authorize/continue"])
FORM_VALUES = {
    "rid": st.sampled_from(["<rid>", "<rid>x", "A" * 43]) | s.values,
    "csrf": st.sampled_from(["<csrf>", "<csrf> ", "A" * 43]) | s.values,
    "username": st.sampled_from(["<username>", "<username>\x00", "<username> ", "admin"]) | s.values,
    "password": s.values,
    "decision": st.sampled_from(["allow", "deny", "Allow"]) | s.values,
}


@st.composite
def form_posts(draw: st.DrawFn) -> Request:
    """The login and consent forms, posted with the real request id, CSRF token and session, or not."""
    pairs = [
        (name, draw(values), draw(st.sampled_from(("utf-8",) * 6 + s.PAIR_ENCODINGS)))
        for name, values in FORM_VALUES.items()
        if draw(st.integers(0, 3))
    ]
    if pairs and draw(st.integers(0, 4)) == 0:
        pairs.append(draw(st.sampled_from(pairs)))
    body = b"&".join(s.encode_pair(*pair) for pair in pairs)
    headers = [("Content-Type", draw(st.sampled_from([s.FORM] * 4) | s.content_types))]
    if draw(st.integers(0, 3)):
        headers.append(("Cookie", draw(st.sampled_from(["authz_session=<sid>", "authz_session=<sid>; a=b", "x=y"]))))
    path = draw(FORM_PATHS)
    if path == "/authorize/continue":
        return Request(
            draw(st.sampled_from(["GET", "POST"])), path, "rid=" + draw(st.sampled_from(["<rid>", "x"])), tuple(headers)
        )
    return Request(draw(st.sampled_from(["POST"] * 6 + ["GET", "PUT"])), path, "", tuple(headers), body)


@pytest.fixture(scope="module")
async def waiting_request(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, module_db: asyncpg.Pool
) -> AsyncIterator[dict[str, str]]:
    """An authorization request parked at the login page: its id, the session's CSRF token and id, and a real
    username (whose password the fuzzing never has)."""
    query = urlencode({"response_type": "code", "client_id": s.CLIENT_ID, "redirect_uri": s.REDIRECT_URI})
    async with fuzz_http.get(f"{authz_server.url}/authorize?{query}", allow_redirects=False) as resp:
        assert resp.status == 200, await resp.text()
        fields = hidden_fields(await resp.text())
        sid = resp.cookies["authz_session"].value
    yield {"rid": fields["rid"], "csrf": fields["csrf"], "sid": sid, "username": await make_user(module_db)}


async def check_no_sign_in(served: Served, answer: Answer) -> None:
    """Any session cookie set names an anonymous session."""
    for header in answer.headers.getall("Set-Cookie", []):
        cookie = SimpleCookie()
        cookie.load(header)
        for morsel in cookie.values():
            session = await served.app[SESSIONS].get(morsel.value)
            assert session is None or session.user_id is None, answer


def check_redirect(served: Served, answer: Answer) -> None:
    """A redirect goes to the registered redirect URI only, with an authorization error and `iss`, never a code."""
    location = answer.headers.get("Location")
    if not 300 <= answer.status < 400:
        assert location is None, answer
        return
    assert location is not None and location.startswith(s.REDIRECT_URI + "?"), answer
    params = parse_qs(urlsplit(location).query, keep_blank_values=True)
    assert "code" not in params, answer
    assert [e for e in params.get("error", []) if e in AUTHORIZATION_ERRORS] == params["error"] != [], answer
    assert params["iss"] == [served.url], answer
    note(f"redirected with {params['error'][0]}")


WELL_FORMED = urlencode({"response_type": "code", "client_id": s.CLIENT_ID, "redirect_uri": s.REDIRECT_URI})


@FUZZ
@given(request=authorization_requests())
@example(request=Request("GET", "/authorize", WELL_FORMED))
@example(request=Request("POST", "/authorize", "", (("Content-Type", s.FORM),), b"client_id=\xff"))
@example(
    request=Request(
        "POST",
        "/authorize",
        "",
        (("Content-Type", f"multipart/form-data; boundary={s.BOUNDARY}"),),
        f'--{s.BOUNDARY}\r\nContent-Disposition: form-data; name="client_id"; filename="x"\r\n\r\n'
        f"{s.CLIENT_ID}\r\n--{s.BOUNDARY}--\r\n".encode(),
    )
)
@example(
    request=Request("GET", "/authorize", WELL_FORMED + "&prompt=none&state=s", (("Cookie", "authz_session=<sid>"),))
)
@example(request=Request("POST", "/authorize", "", (("Content-Type", s.FORM),), WELL_FORMED.encode() + b"&scope=x"))
async def test_authorization_requests_never_sign_in_or_redirect_elsewhere(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, waiting_request: dict[str, str], request: Request
) -> None:
    answer = await send(fuzz_http, authz_server.url, request.filled(waiting_request))
    no_server_error(answer)
    if refused_by_parser(answer):
        return

    note(f"status {answer.status}")
    check_redirect(authz_server, answer)
    await check_no_sign_in(authz_server, answer)
    if answer.status < 300:
        assert answer.content_type == "text/html", answer
    elif answer.status in (400, 403, 413) and answer.content_type != "text/html":
        # An error page for people; only a Content-Type header too malformed to parse is refused before the
        # endpoint runs, with section 5.2's JSON.
        assert answer.json()["error"] == "invalid_request", answer


@pytest.mark.usefixtures("cheap_password_hashing")
@FUZZ
@given(request=form_posts())
@example(
    request=Request(
        "POST",
        "/authorize/login",
        "",
        (("Content-Type", s.FORM), ("Cookie", "authz_session=<sid>")),
        b"rid=<rid>&csrf=<csrf>&username=<username>&password=wrong+password",
    )
)
async def test_login_and_consent_forms_never_sign_in(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, waiting_request: dict[str, str], request: Request
) -> None:
    answer = await send(fuzz_http, authz_server.url, request.filled(waiting_request))
    no_server_error(answer)
    if refused_by_parser(answer):
        return
    note(f"{request.path} {answer.status}")
    assert not 300 <= answer.status < 400, answer
    await check_no_sign_in(authz_server, answer)
