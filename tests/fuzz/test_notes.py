"""Fuzzing the resource server's notes API over HTTP: never a 5xx other than 503, never a success without a token
it must accept, every 401 and 403 an RFC 6750 section 3 challenge matching the JSON body (or RFC 9449 section 7.1's
DPoP challenge, for DPoP-bound tokens and hostile DPoP proofs), and no body over the limit accepted."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from dataclasses import replace
from datetime import timedelta

import aiohttp
import asyncpg
import jwt
import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from authorium_shared.jwt import encode
from resource_server.access import REALM
from tests.fuzz import strategies as s
from tests.fuzz.conftest import FUZZ
from tests.fuzz.invariants import BEARER_ERRORS, bearer_challenge, no_server_error, note, over_limit, refused_by_parser
from tests.fuzz.wire import BODY_LIMIT, Answer, Request, Served, send
from tests.resource.conftest import RESOURCE_URL, claims_for, current_key, service_token, user_token

# Tokens the resource server must accept (forged ones carry the authorization server's real signature).
ACCEPTED = ("user_token", "service_token", "forged_token", "scopeless_token")
REFUSED = ("expired_token", "other_audience_token", "odd_claims_token", "other_typ_token")


class Placeholders(dict[str, str]):
    """Shown by name only in failing examples: the tokens are long and say nothing."""

    def __repr__(self) -> str:
        return f"<values of {', '.join(self)}>"


@pytest.fixture(scope="module")
async def values(
    authz_server: Served,
    resource_server: Served,
    fuzz_http: aiohttp.ClientSession,
    module_db: asyncpg.Pool,
    fuzz_environ: dict[str, str],
) -> Placeholders:
    """What the placeholders stand for: real tokens (a user's, a service's), tokens signed with the real key with
    good or bad claims, and a note of the user's."""
    user = await user_token(fuzz_http, authz_server.url, module_db)
    service = await service_token(fuzz_http, authz_server.url, module_db, scope="notes:read notes:admin")
    key = await current_key(module_db, fuzz_environ)
    issuer = authz_server.url
    # A token bound to the strategies' DPoP key (RFC 9449 section 5), from the fuzz client registered for services.
    proof = jwt.encode(
        {"jti": uuid.uuid4().hex, "htm": "POST", "htu": issuer + "/token", "iat": int(time.time())},
        s.DPOP_KEY,
        algorithm="ES256",
        headers={"typ": "dpop+jwt", "jwk": s.DPOP_JWK},
    )
    async with fuzz_http.post(
        issuer + "/token",
        data={"grant_type": "client_credentials", "scope": "notes:read"},
        headers={"Authorization": s.basic(s.CLIENT_ID, s.CLIENT_SECRET), "DPoP": proof},
    ) as resp:
        bound = (await resp.json())["access_token"]
        assert resp.status == 200, bound

    def forged(typ: str = "at+jwt", **claims: object) -> str:
        return encode(claims_for(issuer, **claims), key, typ=typ)

    async with fuzz_http.post(
        resource_server.url + "/api/notes", json={"title": "fuzz", "body": "b"}, headers=user.headers
    ) as resp:
        assert resp.status == 201, await resp.text()
        note_id = (await resp.json())["id"]
    return Placeholders(
        {
            "user_token": user.token,
            "service_token": service.token,
            "forged_token": forged(),
            "scopeless_token": forged(scope=""),
            "expired_token": forged(exp=timedelta(seconds=-60)),
            "other_audience_token": forged(aud="https://elsewhere.example"),
            "odd_claims_token": forged(sub=123, scope=["notes:read"]),
            "other_typ_token": forged(typ="JWT"),
            "note_id": note_id,
            "user_sub": user.sub,
            "bound_token": bound,
            # Good for one GET /api/me with the bound token: the only request a proof can open.
            "bound_proof": jwt.encode(
                {
                    "jti": uuid.uuid4().hex,
                    "htm": "GET",
                    "htu": RESOURCE_URL + "/api/me",
                    "iat": int(time.time()),
                    "ath": base64.urlsafe_b64encode(hashlib.sha256(bound.encode()).digest()).rstrip(b"=").decode(),
                },
                s.DPOP_KEY,
                algorithm="ES256",
                headers={"typ": "dpop+jwt", "jwk": s.DPOP_JWK},
            ),
        }
    )


authorizations = st.one_of(
    st.sampled_from([f"Bearer <{name}>" for name in ACCEPTED + REFUSED] * 2),
    st.sampled_from(["DPoP <bound_token>", "dpop <bound_token>", "Bearer <bound_token>", "DPoP <user_token>", "DPoP"]),
    st.sampled_from(["bearer <user_token>", "Bearer  <user_token>", "Bearer <user_token>x", "Basic <user_token>"]),
    s.bearer_authorizations,
)
paths = st.sampled_from(
    [
        "/api/me",
        "/api/notes",
        "/api/notes",
        "/api/notes/<note_id>",
        "/api/notes/<note_id>",
        "/api/notes/<note_id>/",
        "/api/notes/00000000-0000-0000-0000-000000000000",
        "/api/notes/%00",
        "/api/notes/..%2F..%2Fapi%2Fme",
        "/openapi.json",
    ]
) | s.names.map(lambda segment: "/api/notes/" + s.quoted_path_segment(segment))
NOTE_QUERY = {
    "limit": st.sampled_from(["1", "100", "101", "0", "-1", "1e2", "٣", "99999999999999999999"]) | s.values,
    "cursor": st.sampled_from(["MjAyNi0wMS0wMVQwMDowMDowMCswMDowMHw", "x", "=" * 8]) | s.values,
    "owner": st.sampled_from(["<user_sub>", "someone", "\x00", "a" * 256]) | s.values,
    "access_token": st.sampled_from(["<user_token>"]) | s.values,
}


@st.composite
def note_queries(draw: st.DrawFn) -> str:
    pairs = [(name, draw(v), "utf-8") for name, v in NOTE_QUERY.items() if draw(st.booleans())]
    return s.raw_query(b"&".join(s.encode_pair(*pair) for pair in pairs))


note_bodies = st.one_of(
    st.builds(
        lambda fields: orjson.dumps(fields),
        st.fixed_dictionaries(
            {},
            optional={
                "title": st.sampled_from(["t", "", " ", "t" * 200, "t" * 201, "a\x00b"]) | s.json_scalars,
                "body": st.sampled_from(["", "b" * 10_000, "b" * 10_001, "\x00"]) | s.json_scalars,
                "owner": s.json_scalars,
            },
        ),
    ),
    s.json_bodies(st.sampled_from(["title", "body", "id", "owner"]) | s.names),
    s.bodies,
)


hostile_requests = (
    s.requests(
        paths,
        authorizations,
        methods=st.sampled_from(["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD"]),
        body_strategy=note_bodies,
        content_types=st.sampled_from([s.JSON, s.JSON, s.JSON + "; charset=utf-8", *s.CONTENT_TYPES]),
    )
    .flatmap(
        lambda request: st.builds(replace, st.just(request), query=st.just("") | note_queries() | s.query_strings())
    )
    .flatmap(
        lambda request: st.builds(
            lambda proofs: replace(request, headers=request.headers + tuple(("DPoP", p) for p in proofs)),
            st.lists(st.just("<bound_proof>") | s.dpop_proofs, max_size=2),
        )
    )
)
accepted_tokens = st.sampled_from(ACCEPTED + ACCEPTED[:1] * 3).map(lambda name: ("Authorization", f"Bearer <{name}>"))


@st.composite
def list_requests(draw: st.DrawFn) -> Request:
    """Listing notes with a token the API accepts and odd list parameters."""
    query = draw(note_queries() | s.query_strings())
    return Request(draw(st.sampled_from(["GET", "GET", "HEAD"])), "/api/notes", query, (draw(accepted_tokens),))


@st.composite
def write_requests(draw: st.DrawFn) -> Request:
    """Creating and changing notes with a token the API accepts and odd bodies."""
    method, path = draw(st.sampled_from([("POST", "/api/notes"), ("PATCH", "/api/notes/<note_id>")]))
    content_type = draw(st.sampled_from([s.JSON, s.JSON, s.JSON + "; charset=utf-8", s.JSON + "; charset=bogus"]))
    headers = (draw(accepted_tokens), ("Content-Type", content_type))
    return Request(method, path, "", headers, draw(note_bodies), pad_to=draw(st.sampled_from(s.SIZES)))


def accepted_authorization(request: Request, values: dict[str, str]) -> bool:
    """Whether the request carries exactly one Authorization header with a token the server must accept."""
    found = request.header("Authorization")
    if len(found) != 1 or "access_token=" in request.query:
        return False
    scheme, _, token = found[0].partition(" ")  # the scheme is case-insensitive (RFC 9110 section 11.1)
    if scheme.lower() == "dpop":
        # Only with its one valid proof, which the server checked (RFC 9449 section 7.1).
        return token.strip() == values["bound_token"] and request.header("DPoP") == [values["bound_proof"]]
    return scheme.lower() == "bearer" and token.strip() in {values[name] for name in ACCEPTED}


def check(answer: Answer, values: dict[str, str]) -> None:
    no_server_error(answer)
    if refused_by_parser(answer):
        return
    request = answer.request
    note(f"{request.method} {request.path.replace(values['note_id'], '{id}')[:20]} {answer.status}")
    if answer.status < 300 and request.path != "/openapi.json":  # the API description is public
        assert accepted_authorization(request, values), answer
        assert not (over_limit(answer) and request.method in ("POST", "PATCH", "PUT")), answer
    if answer.status in (401, 403):
        params = bearer_challenge(answer, REALM, dpop=True)
        assert answer.status == 401 or params["error"] == "insufficient_scope", answer
        assert "no-store" in answer.headers.get("Cache-Control", ""), answer
    elif answer.status == 400 and request.method != "HEAD":
        assert answer.json().get("error") in BEARER_ERRORS, answer
        if "WWW-Authenticate" in answer.headers:
            bearer_challenge(answer, REALM, dpop=True)
    elif answer.status == 405:
        assert answer.headers.get("Allow"), answer


@FUZZ
@given(request=hostile_requests)
@example(request=Request("GET", "/api/me", "", (("Authorization", "Bearer <user_token>"),)))
async def test_hostile_requests_are_refused_per_rfc_6750(
    resource_server: Served, fuzz_http: aiohttp.ClientSession, values: dict[str, str], request: Request
) -> None:
    check(await send(fuzz_http, resource_server.url, request.filled(values)), values)


@FUZZ
@given(request=list_requests())
async def test_odd_list_parameters_are_refused_not_failed(
    resource_server: Served, fuzz_http: aiohttp.ClientSession, values: dict[str, str], request: Request
) -> None:
    check(await send(fuzz_http, resource_server.url, request.filled(values)), values)


@FUZZ
@given(request=write_requests())
@example(
    request=Request(
        "POST",
        "/api/notes",
        "",
        (("Authorization", "Bearer <user_token>"), ("Content-Type", s.JSON)),
        b'{"title": "t"}',
    )
)
@example(
    request=Request(
        "PATCH",
        "/api/notes/<note_id>",
        "",
        (("Authorization", "Bearer <user_token>"), ("Content-Type", s.JSON)),
        b'{"title": "fuzz"}',
        pad_to=BODY_LIMIT + 1,
    )
)
async def test_odd_note_bodies_are_refused_not_failed(
    resource_server: Served, fuzz_http: aiohttp.ClientSession, values: dict[str, str], request: Request
) -> None:
    check(await send(fuzz_http, resource_server.url, request.filled(values)), values)
