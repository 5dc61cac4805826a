"""The authorization request's checks (checks.py) and PKCE (pkce.py) as pure functions, without HTTP."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from authorium_shared.errors import InvalidRequest, InvalidScope, UnsupportedResponseType
from authz.authorization import checks, pkce
from authz.clients.records import Client

REGISTERED = "https://client.example/callback"
OTHER = "https://client.example/other"

# RFC 7636 Appendix B: the verifier is the base64url of the 32 octets listed there.
RFC_VERIFIER_OCTETS = bytes(
    (
        *(116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186),
        *(22, 212, 37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121),
    )
)
RFC_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
RFC_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def client(
    *,
    redirect_uris: tuple[str, ...] = (REGISTERED,),
    public: bool = False,
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token"),
    scopes: tuple[str, ...] = ("openid",),
) -> Client:
    return Client(
        client_id="c1",
        name="Test",
        secret_hash=None if public else b"x",
        token_endpoint_auth_method="none" if public else "client_secret_basic",
        grant_types=grant_types,
        redirect_uris=redirect_uris,
        scopes=scopes,
        id_token_signed_response_alg="RS256",
        metadata={},
        created_at=datetime.now(UTC),
    )


# check_redirect_uri


def test_registered_redirect_uri_is_returned() -> None:
    assert checks.check_redirect_uri(client(redirect_uris=(REGISTERED, OTHER)), OTHER) == OTHER


@pytest.mark.parametrize(
    "near_miss",
    [
        REGISTERED + "/",
        "https://client.example/Callback",
        "https://CLIENT.example/callback",
        REGISTERED + "?next=1",
        REGISTERED + "#x",
        "http://client.example/callback",
        "https://client.example:443/callback",
        "https://client.example/callback/../callback",
        "https://client.example/callback%2F",
        "https://client.example.evil.test/callback",
        " " + REGISTERED,
        REGISTERED + "\n",
        "",
    ],
)
def test_redirect_uri_must_match_exactly(near_miss: str) -> None:
    with pytest.raises(checks.UntrustedRedirect):
        checks.check_redirect_uri(client(), near_miss)


def test_missing_redirect_uri_uses_the_only_registered_one() -> None:
    assert checks.check_redirect_uri(client(), None) == REGISTERED


def test_an_openid_request_must_name_its_redirect_uri() -> None:
    """OIDC Core 3.1.2.1: redirect_uri is REQUIRED when the scope has `openid`; the sole registered URI stands
    in for a missing one only in plain OAuth (RFC 6749 section 3.1.2.3)."""
    with pytest.raises(checks.UntrustedRedirect):
        checks.check_redirect_uri(client(), None, openid=True)
    assert checks.check_redirect_uri(client(), REGISTERED, openid=True) == REGISTERED
    assert checks.is_openid_request({"scope": "profile openid"})
    assert not checks.is_openid_request({"scope": "openidx profile"})
    assert not checks.is_openid_request({})


def test_missing_redirect_uri_with_several_registered_is_refused() -> None:
    with pytest.raises(checks.UntrustedRedirect):
        checks.check_redirect_uri(client(redirect_uris=(REGISTERED, OTHER)), None)


LOOPBACK_V4 = "http://127.0.0.1/callback"
LOOPBACK_V6 = "http://[::1]:8080/cb"


@pytest.mark.parametrize(
    ("registered", "requested"),
    [
        (LOOPBACK_V4, "http://127.0.0.1:51234/callback"),
        (LOOPBACK_V4, "http://127.0.0.1:1/callback"),
        (LOOPBACK_V4, "http://127.0.0.1:65535/callback"),
        (LOOPBACK_V6, "http://[::1]/cb"),
        (LOOPBACK_V6, "http://[::1]:49152/cb"),
        ("http://127.0.0.1:8002/callback?app=x", "http://127.0.0.1:9/callback?app=x"),
        ("http://127.0.0.1:8002", "http://127.0.0.1:40000"),
    ],
)
def test_a_loopback_redirect_uri_matches_on_any_port(registered: str, requested: str) -> None:
    """RFC 8252 section 7.3: the server MUST allow any port in a request for a registered loopback IP redirect
    URI (a native app listens on the port the operating system gives it); the URI returned is the request's,
    which the code is then bound to (RFC 6749 section 4.1.3)."""
    c = client(redirect_uris=(REGISTERED, registered))
    assert checks.check_redirect_uri(c, requested) == requested


@pytest.mark.parametrize(
    "requested",
    [
        "http://127.0.0.1:51234/callback/",
        "http://127.0.0.1:51234/Callback",
        "http://127.0.0.1:51234/callback?x=1",
        "http://127.0.0.1:51234/callback#x",
        "https://127.0.0.1:51234/callback",
        "HTTP://127.0.0.1:51234/callback",
        "http://127.0.0.2:51234/callback",
        "http://127.1:51234/callback",
        "http://localhost:51234/callback",
        "http://[::1]:51234/callback",
        "http://[0:0:0:0:0:0:0:1]:51234/cb",
        "http://127.0.0.1:0/callback",
        "http://127.0.0.1:65536/callback",
        "http://127.0.0.1:051234/callback",
        "http://127.0.0.1:/callback",
        "http://127.0.0.1:\uff15\uff10\uff10\uff10/callback",  # fullwidth digits
        "http://127.0.0.1:5000@evil.example/callback",
        "http://127.0.0.1:5000.evil.example/callback",
        "http://127.0.0.1.evil.example/callback",
        "http://user@127.0.0.1:5000/callback",
        "http://127.0.0.1:5000/callback\n",
    ],
)
def test_a_loopback_redirect_uri_differs_only_in_the_port(requested: str) -> None:
    """RFC 8252 section 7.3 relaxes the port and nothing else: scheme, host, path and query still match exactly
    (RFC 9700 section 4.1.3), and a port is 1-65535 written as a plain decimal number."""
    with pytest.raises(checks.UntrustedRedirect):
        checks.check_redirect_uri(client(redirect_uris=(LOOPBACK_V4, LOOPBACK_V6)), requested)


@pytest.mark.parametrize(
    ("registered", "requested"),
    [
        ("http://localhost:8080/cb", "http://localhost:9090/cb"),
        ("http://localhost/cb", "http://localhost:9090/cb"),
        ("https://client.example:8443/callback", "https://client.example:9443/callback"),
        ("https://127.0.0.1:8443/callback", "https://127.0.0.1:9443/callback"),
        ("com.example.app:/callback", "com.example.app:/callback:1"),
    ],
)
def test_only_loopback_ip_redirect_uris_ignore_the_port(registered: str, requested: str) -> None:
    """RFC 8252 section 7.3 is about loopback IP literals over http; `localhost` (section 8.3: NOT RECOMMENDED),
    https and private-use schemes keep the exact string match of RFC 9700 section 4.1.3."""
    with pytest.raises(checks.UntrustedRedirect):
        checks.check_redirect_uri(client(redirect_uris=(registered,)), requested)


def test_unknown_client_is_refused() -> None:
    with pytest.raises(checks.UntrustedRedirect):
        checks.check_redirect_uri(None, REGISTERED)


def test_client_without_the_code_grant_is_refused() -> None:
    with pytest.raises(checks.UntrustedRedirect):
        checks.check_redirect_uri(client(grant_types=("client_credentials",)), REGISTERED)


# check_requested_scope

API_CLIENT_SCOPES = ("openid", "profile", "email", "offline_access", "notes:read", "notes:write")


def test_openid_requests_drop_scopes_the_client_may_not_have() -> None:
    """OIDC Core 3.1.2.1: scope values not understood SHOULD be ignored in an OpenID Connect request."""
    c = client(scopes=("openid", "notes:read"))
    got = checks.check_requested_scope(c, {"scope": "notes:admin openid x notes:read offline_access"})
    assert got == ("openid", "notes:read")


def test_plain_oauth_requests_refuse_scopes_the_client_may_not_have() -> None:
    """RFC 6749 section 3.3: invalid_scope, also for `openid` from a client that may not have it."""
    for scope in ("notes:read notes:admin", "openid notes:read"):
        with pytest.raises(InvalidScope):
            checks.check_requested_scope(client(scopes=("notes:read",)), {"scope": scope})
    assert checks.check_requested_scope(client(scopes=("notes:read",)), {"scope": "notes:read"}) == ("notes:read",)


def test_no_scope_is_the_clients_scopes_without_openid_connects() -> None:
    """RFC 6749 section 3.3's default, never a sign-in (`openid`) or `offline_access` nobody asked for."""
    assert checks.check_requested_scope(client(scopes=API_CLIENT_SCOPES), {}) == ("notes:read", "notes:write")
    with pytest.raises(InvalidScope):
        checks.check_requested_scope(client(scopes=("openid", "profile", "offline_access")), {})


# check_response_type and unsupported parameters


def test_response_type() -> None:
    checks.check_response_type({"response_type": "code"})
    with pytest.raises(InvalidRequest):
        checks.check_response_type({})
    for other in ("token", "code id_token", "id_token", "CODE"):
        with pytest.raises(UnsupportedResponseType):
            checks.check_response_type({"response_type": other})


def test_request_objects_and_other_response_modes_are_refused() -> None:
    with pytest.raises(checks.RequestNotSupported) as caught:
        checks.check_unsupported_parameters({"request": "eyJ..."})
    assert caught.value.error == "request_not_supported"
    with pytest.raises(checks.RequestUriNotSupported) as caught_uri:
        checks.check_unsupported_parameters({"request_uri": "urn:x"})
    assert caught_uri.value.error == "request_uri_not_supported"
    with pytest.raises(InvalidRequest):
        checks.check_unsupported_parameters({"response_mode": "fragment"})
    checks.check_unsupported_parameters({"response_mode": "query"})


# check_pkce


def test_pkce_s256_challenge_is_accepted_from_every_client() -> None:
    for c in (client(), client(public=True)):
        assert checks.check_pkce(c, {"code_challenge": RFC_CHALLENGE, "code_challenge_method": "S256"}) == RFC_CHALLENGE


def test_pkce_is_optional_for_confidential_clients_only() -> None:
    assert checks.check_pkce(client(), {}) is None
    with pytest.raises(InvalidRequest, match="PKCE"):
        checks.check_pkce(client(public=True), {})


@pytest.mark.parametrize(
    "params",
    [
        {"code_challenge": RFC_CHALLENGE, "code_challenge_method": "plain"},
        {"code_challenge": RFC_CHALLENGE},  # RFC 7636 4.3: absent means plain
        {"code_challenge": RFC_CHALLENGE, "code_challenge_method": "s256"},
        {"code_challenge_method": "S256"},
        {"code_challenge": RFC_CHALLENGE[:-1], "code_challenge_method": "S256"},
        {"code_challenge": RFC_CHALLENGE + "A", "code_challenge_method": "S256"},
        {"code_challenge": RFC_CHALLENGE[:-1] + "=", "code_challenge_method": "S256"},
        {"code_challenge": RFC_CHALLENGE[:-1] + "+", "code_challenge_method": "S256"},
    ],
)
def test_pkce_refuses_plain_and_malformed_challenges(params: dict[str, str]) -> None:
    for c in (client(), client(public=True)):
        with pytest.raises(InvalidRequest):
            checks.check_pkce(c, params)


# check_prompt


def test_prompt_values() -> None:
    assert checks.check_prompt({}) == ()
    assert checks.check_prompt({"prompt": "none"}) == ("none",)
    assert checks.check_prompt({"prompt": "login consent"}) == ("login", "consent")
    assert checks.check_prompt({"prompt": "login login"}) == ("login",)
    # OIDC Core 3.1.2.1.
    assert checks.check_prompt({"prompt": "select_account"}) == ("select_account",)
    assert checks.check_prompt({"prompt": "select_account consent"}) == ("select_account", "consent")


def test_login_hint_is_kept_only_when_it_could_be_a_username() -> None:
    """OIDC Core 3.1.2.1: login_hint is advice the server MAY use; one no username could be is left unused."""
    assert checks.check_login_hint({}) is None
    assert checks.check_login_hint({"login_hint": "alice@example.com"}) == "alice@example.com"
    for unusable in ("a" * 101, 'x"><script>', "two words", "tab\tname"):
        assert checks.check_login_hint({"login_hint": unusable}) is None


@pytest.mark.parametrize("prompt", ["none login", "consent none", "none select_account", "LOGIN", "login bogus"])
def test_prompt_refuses_unknown_values_and_none_with_others(prompt: str) -> None:
    with pytest.raises(InvalidRequest):
        checks.check_prompt({"prompt": prompt})


# check_max_age


def test_max_age_values() -> None:
    assert checks.check_max_age({}) is None
    assert checks.check_max_age({"max_age": "0"}) == 0
    assert checks.check_max_age({"max_age": "3600"}) == 3600
    assert checks.check_max_age({"max_age": str(checks.MAX_AGE_LIMIT)}) == checks.MAX_AGE_LIMIT


@pytest.mark.parametrize("value", ["-1", "1.5", "abc", " 5", "١٢", "²", str(checks.MAX_AGE_LIMIT + 1), "9" * 400])
def test_max_age_refuses_anything_but_a_bounded_decimal(value: str) -> None:
    with pytest.raises(InvalidRequest):
        checks.check_max_age({"max_age": value})


# state and nonce


def test_state_and_nonce_are_passed_through_within_limits() -> None:
    state = "a b\r\nç" + "x" * (checks.MAX_STATE_LENGTH - 6)
    assert checks.check_state_and_nonce({"state": state, "nonce": "n"}) == (state, "n")
    assert checks.check_state_and_nonce({}) == (None, None)
    with pytest.raises(InvalidRequest):
        checks.check_state_and_nonce({"state": "x" * (checks.MAX_STATE_LENGTH + 1)})
    with pytest.raises(InvalidRequest):
        checks.check_state_and_nonce({"nonce": "x" * (checks.MAX_NONCE_LENGTH + 1)})


# pkce


def test_pkce_rfc7636_appendix_b_vector() -> None:
    assert base64.urlsafe_b64encode(RFC_VERIFIER_OCTETS).rstrip(b"=").decode() == RFC_VERIFIER
    assert pkce.challenge_of(RFC_VERIFIER) == RFC_CHALLENGE
    assert pkce.verify(RFC_VERIFIER, RFC_CHALLENGE)
    assert pkce.is_valid_challenge(RFC_CHALLENGE)


def test_pkce_verify_refuses_wrong_or_malformed_verifiers() -> None:
    assert not pkce.verify(RFC_VERIFIER[:-1] + "5", RFC_CHALLENGE)
    assert not pkce.verify(RFC_CHALLENGE, RFC_CHALLENGE)
    # The verifier must be 43 to 128 unreserved characters (RFC 7636 section 4.1).
    short = "a" * 42
    assert not pkce.verify(short, pkce.challenge_of(short))
    long = "a" * 129
    assert not pkce.verify(long, pkce.challenge_of(long))
    for bad in (RFC_VERIFIER[:-1] + "+", RFC_VERIFIER[:-1] + "/", RFC_VERIFIER[:-1] + " ", RFC_VERIFIER + "\n"):
        assert not pkce.verify(bad, RFC_CHALLENGE)
    assert not pkce.verify("é" * 43, RFC_CHALLENGE)
    assert not pkce.verify("", "")


def test_pkce_boundary_lengths_are_accepted() -> None:
    for verifier in ("a" * 43, "~._-" * 32):
        assert pkce.verify(verifier, pkce.challenge_of(verifier))
