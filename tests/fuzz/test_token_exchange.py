"""Fuzzing token exchange (RFC 8693) at the token endpoint over HTTP, from a client registered for it: random forms
never get a 5xx and every refusal is RFC 6749 section 5.2's JSON with a code section 2.2.2 allows; a token comes
back only for a good subject token, and then it is the user's, for a target the client may exchange towards, with
no more scope than the user's token and `act` naming the client. A valid request broken in any of BREAKAGES' ways
gets no token, and a request broken in one way gets that way's error."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote_plus

import aiohttp
import asyncpg
import jwt
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from authorium_shared.jwt import encode
from tests.authz.flows import make_client
from tests.fuzz import strategies as s
from tests.fuzz.conftest import FUZZ
from tests.fuzz.invariants import TOKEN_ERRORS, no_server_error, note, oauth_error, refused_by_parser
from tests.fuzz.test_notes import Placeholders
from tests.fuzz.wire import Answer, Request, Served, send
from tests.resource.conftest import RESOURCE_URL, claims_for, current_key, service_token, unverified_claims, user_token

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
ADMIN_API = "http://127.0.0.1:8010"  # AUTHORIUM_ADMIN_URL's default: registered, never an exchange target
USER_SCOPES = frozenset({"notes:read", "notes:write"})  # the user's token's (tests.resource.conftest.USER_SCOPE)
SUBJECT_TOKENS = ("user_token", "expired_token", "other_issuer_token", "service_token", "other_typ_token")


@pytest.fixture(scope="module")
async def values(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, module_db: asyncpg.Pool, fuzz_environ: dict[str, str]
) -> Placeholders:
    """A user's real access token and tokens that are not one to exchange, and the credentials of a service the
    operator lets exchange towards the notes API (its id is new each run, so requests name it by placeholder)."""
    user = await user_token(fuzz_http, authz_server.url, module_db)
    service = await service_token(fuzz_http, authz_server.url, module_db, scope="notes:read")
    caller = await make_client(module_db, grant_types=(GRANT,), redirect_uris=(), may_exchange_for=(RESOURCE_URL,))
    assert caller.secret is not None
    key = await current_key(module_db, fuzz_environ)
    claims = unverified_claims(user.token)
    return Placeholders(
        {
            "user_token": user.token,
            "user_sub": user.sub,
            "expired_token": encode(
                {**claims, "exp": claims["iat"] - 1, "iat": claims["iat"] - 600}, key, typ="at+jwt"
            ),
            "other_issuer_token": encode(claims_for("https://elsewhere.example", sub=user.sub), key, typ="at+jwt"),
            "other_typ_token": encode(claims, key, typ="JWT"),
            "service_token": service.token,
            "exchange_id": caller.client_id,
            "exchange_secret": caller.secret,
            "exchange_basic": caller.basic["Authorization"],
        }
    )


def _pair(name: str, value: str) -> str:
    # Placeholders go on the wire as they are, to be filled in at send time; everything else is form-encoded.
    if value.startswith("<") and value.endswith(">") and value[1:-1].replace("_", "").isalpha():
        return f"{quote_plus(name)}={value}"
    return f"{quote_plus(name)}={quote_plus(value)}"


EXCHANGE_PARAMETERS = (
    "subject_token",
    "subject_token_type",
    "actor_token",
    "actor_token_type",
    "requested_token_type",
    "resource",
    "audience",
    "scope",
)
MEANINGFUL: dict[str, tuple[str, ...]] = {
    "subject_token": tuple(f"<{name}>" for name in SUBJECT_TOKENS),
    "actor_token": tuple(f"<{name}>" for name in SUBJECT_TOKENS),
    "subject_token_type": (
        ACCESS_TOKEN,
        "urn:ietf:params:oauth:token-type:id_token",
        "urn:ietf:params:oauth:token-type:refresh_token",
        "urn:ietf:params:oauth:token-type:jwt",
    ),
    "actor_token_type": (ACCESS_TOKEN, "urn:ietf:params:oauth:token-type:jwt"),
    "requested_token_type": (ACCESS_TOKEN, "urn:ietf:params:oauth:token-type:refresh_token"),
    "resource": (RESOURCE_URL, ADMIN_API, "https://elsewhere.example", "notes"),
    "audience": (RESOURCE_URL, ADMIN_API, "https://elsewhere.example", "notes"),
    "scope": ("notes:read", "notes:write", "notes:read notes:write", "notes:admin", "openid", "authorium:admin"),
}


@st.composite
def exchange_forms(draw: st.DrawFn) -> Request:
    """A token exchange request from the service, authenticated (Basic or in the body), with the grant's parameters
    chosen at random: meaningful values three times in four, anything the form checks let through otherwise."""
    pairs = [("grant_type", GRANT)]
    for name in draw(st.lists(st.sampled_from(EXCHANGE_PARAMETERS), unique=True, max_size=len(EXCHANGE_PARAMETERS))):
        meaningful = MEANINGFUL[name]
        value = draw(st.sampled_from(meaningful)) if draw(st.integers(0, 3)) else draw(s.tame_values)
        pairs.append((name, value))
    if draw(st.booleans()):
        pairs.append(("subject_token", "<user_token>"))
        pairs = list(dict(pairs).items())
    headers = [("Content-Type", s.FORM)]
    if draw(st.booleans()):
        headers.append(("Authorization", "<exchange_basic>"))
    else:
        pairs += [("client_id", "<exchange_id>"), ("client_secret", "<exchange_secret>")]
    body = "&".join(_pair(k, v) for k, v in draw(st.permutations(pairs)))
    return Request("POST", "/token", "", tuple(headers), body.encode("utf-8", "surrogatepass"))


def check(answer: Answer, values: Placeholders) -> None:
    """Section 2.2.2's refusals, or a token that is the user's, for the notes API, within the user's scopes, with
    `act` naming the service (section 4.1), and no refresh token (section 2.2.1)."""
    no_server_error(answer)
    if refused_by_parser(answer):
        return
    if answer.status != 200:
        note(f"{answer.status} {oauth_error(answer, TOKEN_ERRORS)['error']}")
        return
    note("200")
    body = answer.json()
    assert body["issued_token_type"] == ACCESS_TOKEN and body["token_type"] == "Bearer", answer
    assert "refresh_token" not in body, answer
    sent = parse_qsl((answer.request.body or b"").decode("utf-8", "replace"))
    assert [v for k, v in sent if k == "subject_token"] == [values["user_token"]], answer
    claims: dict[str, Any] = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == values["user_sub"], answer
    assert claims["act"] == {"sub": values["exchange_id"]}, answer
    assert claims["aud"] == RESOURCE_URL, answer
    assert set(claims["scope"].split()) <= USER_SCOPES, answer


@FUZZ
@given(request=exchange_forms())
async def test_random_exchanges_get_a_token_only_for_the_users_token(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, values: Placeholders, request: Request
) -> None:
    check(await send(fuzz_http, authz_server.url, request.filled(values)), values)


# Each of these alone makes a valid exchange invalid, with the error it gets (RFC 8693 section 2.2.2).
BREAKAGES = {
    "wrong secret": "invalid_client",
    "subject_token expired": "invalid_request",
    "subject_token of another issuer": "invalid_request",
    "subject_token a service's": "invalid_request",
    "subject_token not an access token": "invalid_request",
    "subject_token tampered": "invalid_request",
    "subject_token missing": "invalid_request",
    "subject_token repeated": "invalid_request",
    "subject_token_type wrong": "invalid_request",
    "subject_token_type missing": "invalid_request",
    "actor_token sent": "invalid_request",
    "actor_token_type alone": "invalid_request",
    "requested_token_type refresh": "invalid_request",
    "resource unknown": "invalid_target",
    "audience unknown": "invalid_target",
    "resource not allowed": "invalid_target",
    "scope wider": "invalid_scope",
    "scope of no target": "invalid_scope",
    "grant_type repeated": "invalid_request",
}


@st.composite
def broken_exchanges(draw: st.DrawFn) -> tuple[Request, frozenset[str]]:
    """A valid exchange (the user's token, towards the notes API by `resource`, `audience` or the client's one
    target, with or without a narrower `scope` and `requested_token_type`), broken in zero or more ways."""
    broken = frozenset(draw(st.lists(st.sampled_from(sorted(BREAKAGES)), max_size=2)))
    subject = "<user_token>"
    for breakage, token in (
        ("subject_token expired", "<expired_token>"),
        ("subject_token of another issuer", "<other_issuer_token>"),
        ("subject_token a service's", "<service_token>"),
        ("subject_token not an access token", "<other_typ_token>"),
        ("subject_token tampered", "<user_token>x"),
    ):
        if breakage in broken:
            subject = token
    pairs: list[tuple[str, str]] = [("grant_type", GRANT)]
    if "grant_type repeated" in broken:
        pairs.append(("grant_type", GRANT))
    if "subject_token missing" not in broken:
        pairs.append(("subject_token", subject))
    if "subject_token repeated" in broken:
        pairs.append(("subject_token", "<user_token>"))
    if "subject_token_type missing" not in broken:
        kind = "urn:ietf:params:oauth:token-type:jwt" if "subject_token_type wrong" in broken else ACCESS_TOKEN
        pairs.append(("subject_token_type", kind))
    target = draw(st.sampled_from(["resource", "audience", None]))
    if target is not None:
        pairs.append((target, RESOURCE_URL))
    if "resource unknown" in broken:
        pairs.append(("resource", "https://elsewhere.example/api"))
    if "audience unknown" in broken:
        pairs.append(("audience", "https://elsewhere.example/api"))
    if "resource not allowed" in broken:
        pairs.append(("resource", ADMIN_API))
    scope = draw(st.sampled_from([None, "notes:read", "notes:write", "notes:read notes:write"]))
    if "scope wider" in broken:
        scope = draw(st.sampled_from(["notes:admin", "notes:read notes:admin"]))
    if "scope of no target" in broken:
        scope = draw(st.sampled_from(["openid", "authorium:admin", "notes:read openid"]))
    if scope is not None:
        pairs.append(("scope", scope))
    if draw(st.booleans()):
        pairs.append(("requested_token_type", ACCESS_TOKEN))
    if "requested_token_type refresh" in broken:
        pairs.append(("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token"))
        pairs = [p for p in pairs if p != ("requested_token_type", ACCESS_TOKEN)]
    if "actor_token sent" in broken:
        pairs += [("actor_token", "<service_token>"), ("actor_token_type", ACCESS_TOKEN)]
    if "actor_token_type alone" in broken:
        pairs.append(("actor_token_type", ACCESS_TOKEN))
    headers = [("Content-Type", s.FORM)]
    secret = "<exchange_secret>" + ("x" if "wrong secret" in broken else "")
    if draw(st.booleans()) and "wrong secret" not in broken:
        headers.append(("Authorization", "<exchange_basic>"))
    else:
        pairs += [("client_id", "<exchange_id>"), ("client_secret", secret)]
    body = "&".join(
        f"{quote_plus(k)}={v}" if v.startswith("<") else f"{quote_plus(k)}={quote_plus(v)}"
        for k, v in draw(st.permutations(pairs))
    )
    return Request("POST", "/token", "", tuple(headers), body.encode()), broken


VALID = Request(
    "POST",
    "/token",
    "",
    (("Content-Type", s.FORM), ("Authorization", "<exchange_basic>")),
    f"grant_type={quote_plus(GRANT)}&subject_token=<user_token>&subject_token_type={quote_plus(ACCESS_TOKEN)}".encode(),
)


@FUZZ
@given(case=broken_exchanges())
@example(case=(VALID, frozenset()))
async def test_only_a_well_formed_exchange_gets_a_token(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, values: Placeholders, case: tuple[Request, frozenset[str]]
) -> None:
    request, broken = case
    answer = await send(fuzz_http, authz_server.url, request.filled(values))
    check(answer, values)
    if not broken:
        assert answer.status == 200, answer
        return
    assert answer.status != 200, answer
    if len(broken) == 1:
        (breakage,) = broken
        assert answer.json()["error"] == BREAKAGES[breakage], answer
