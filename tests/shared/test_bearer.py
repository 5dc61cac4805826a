"""Bearer tokens on requests (RFC 6750): reading them from the Authorization header only, and the
`WWW-Authenticate` challenges that refuse them (section 3)."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from authorium_shared.bearer import bearer_token, challenge, missing_token, refuse
from authorium_shared.errors import InsufficientScope, InvalidRequest, InvalidToken, OAuthError

REALM = "example"


def request(path: str = "/", *authorization: str) -> web.Request:
    headers = CIMultiDict[str]()
    for value in authorization:
        headers.add("Authorization", value)
    return make_mocked_request("GET", path, headers=headers)


def test_a_bare_challenge_names_only_the_realm() -> None:
    assert challenge(REALM) == 'Bearer realm="example"'


def test_a_challenge_carries_the_error_its_description_and_the_scope() -> None:
    got = challenge(REALM, InsufficientScope("needs more"), scope="openid profile")
    assert (
        got
        == 'Bearer realm="example", error="insufficient_scope", error_description="needs more", scope="openid profile"'
    )


def test_an_error_without_a_description_has_no_description_attribute() -> None:
    assert challenge(REALM, InvalidToken()) == 'Bearer realm="example", error="invalid_token"'


@pytest.mark.parametrize(
    ("raw", "quoted"),
    [
        ('say "hi"', "say hi"),
        ("back\\slash", "backslash"),
        ("line\r\nbreak", "linebreak"),
        ("tab\there", "tabhere"),
        ("caf\u00e9", "caf"),
        ("a\x00b\x7fc", "abc"),
    ],
)
def test_quoting_strips_what_would_break_out_of_a_quoted_string(raw: str, quoted: str) -> None:
    got = challenge(REALM, InvalidToken(raw))
    assert got == f'Bearer realm="example", error="invalid_token", error_description="{quoted}"'
    got = challenge(raw)
    assert got == f'Bearer realm="{quoted}"'


def test_an_injected_attribute_stays_inside_the_quotes() -> None:
    got = challenge(REALM, InvalidToken('x", error="none'))
    assert got.count('"') == 6
    assert got.endswith('error_description="x, error=none"')


def test_refuse_attaches_the_challenge_to_the_error() -> None:
    error = refuse(InvalidToken("expired"), REALM)
    assert isinstance(error, OAuthError)
    assert error.status == 401
    assert (
        error.headers["WWW-Authenticate"]
        == 'Bearer realm="example", error="invalid_token", error_description="expired"'
    )
    scoped = refuse(InsufficientScope("more"), REALM, scope="openid")
    assert scoped.status == 403
    assert scoped.headers["WWW-Authenticate"].endswith('scope="openid"')


def test_a_missing_token_is_a_401_without_an_error_code() -> None:
    answer = missing_token(REALM)
    assert answer.status == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="example"'
    assert answer.headers["Cache-Control"] == "no-store"


def test_the_token_is_read_from_the_authorization_header() -> None:
    assert bearer_token(request("/", "Bearer abc.DEF-_~+/=="), REALM) == "abc.DEF-_~+/=="
    # The scheme is case-insensitive (RFC 7235 section 2.1).
    assert bearer_token(request("/", "bearer tok"), REALM) == "tok"


def test_no_header_is_a_missing_token() -> None:
    with pytest.raises(web.HTTPUnauthorized) as caught:
        bearer_token(request(), REALM)
    assert caught.value.headers["WWW-Authenticate"] == 'Bearer realm="example"'


def test_another_scheme_is_a_missing_token() -> None:
    with pytest.raises(web.HTTPUnauthorized) as caught:
        bearer_token(request("/", "Basic dXNlcjpwYXNz"), REALM)
    assert "error=" not in caught.value.headers["WWW-Authenticate"]


def test_a_token_in_the_query_string_is_refused() -> None:
    with pytest.raises(InvalidRequest) as caught:
        bearer_token(request("/?access_token=abc"), REALM)
    assert caught.value.status == 400
    assert caught.value.headers["WWW-Authenticate"].startswith('Bearer realm="example", error="invalid_request"')


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Bearer a b", "Bearer a=b", "Bearer =abc", "Bearer tök"])
def test_a_malformed_token_is_invalid_token(header: str) -> None:
    with pytest.raises(InvalidToken) as caught:
        bearer_token(request("/", header), REALM)
    assert caught.value.headers["WWW-Authenticate"].startswith('Bearer realm="example", error="invalid_token"')


def test_two_authorization_headers_are_refused() -> None:
    with pytest.raises(InvalidRequest):
        bearer_token(request("/", "Bearer a", "Bearer b"), REALM)
