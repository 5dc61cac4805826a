"""Fuzzing dynamic client registration (RFC 7591) over HTTP: without the operator's initial access token nothing is
ever registered and the refusal is RFC 6750's; with it, any metadata document either registers exactly one client
(201, section 3.2.1) or is refused with section 3.2.2's error and registers none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from authz.endpoints.register import REALM
from tests.fuzz import strategies as s
from tests.fuzz.conftest import FUZZ, REGISTRATION_TOKEN
from tests.fuzz.invariants import (
    REGISTRATION_ERRORS,
    bearer_challenge,
    method_not_allowed,
    no_server_error,
    note,
    oauth_error,
    refused_by_parser,
)
from tests.fuzz.wire import BODY_LIMIT, Request, Served, send


async def clients(db: asyncpg.Pool) -> int:
    return int(await db.fetchval("SELECT count(*) FROM clients"))


# Near misses of the initial access token; `bearer <token>` is not one (the scheme is case-insensitive).
NEAR_MISSES = (
    "Bearer " + REGISTRATION_TOKEN[:-1],
    "Bearer " + REGISTRATION_TOKEN + "x",
    "Bearer " + REGISTRATION_TOKEN.upper(),
    "Bearer " + REGISTRATION_TOKEN + "=",
    "Bearer  " + REGISTRATION_TOKEN[1:],
    "Bearer " + REGISTRATION_TOKEN[:16],
    "Bearer " + REGISTRATION_TOKEN + " " + REGISTRATION_TOKEN,
    "Basic " + REGISTRATION_TOKEN,
    REGISTRATION_TOKEN,
)
wrong_authorizations = st.one_of(
    s.bearer_authorizations,
    st.sampled_from(NEAR_MISSES),
)

METADATA_KEYS = (
    "client_name",
    "redirect_uris",
    "grant_types",
    "response_types",
    "token_endpoint_auth_method",
    "scope",
    "id_token_signed_response_alg",
    "client_uri",
    "logo_uri",
    "contacts",
    "jwks",
    "jwks_uri",
    "software_statement",
    "software_id",
    "client_id",
    "client_secret",
)


def mostly(good: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(good, good, good, s.json_documents(s.names))


grant_lists = st.sampled_from(
    [["client_credentials"], ["authorization_code"], ["authorization_code", "refresh_token"]]
) | st.lists(
    st.sampled_from(["authorization_code", "refresh_token", "client_credentials", "password", "implicit", ""]),
    max_size=4,
)
uri_lists = st.just([s.REDIRECT_URI]) | st.lists(
    st.sampled_from(
        [
            s.REDIRECT_URI,
            "http://127.0.0.1/cb",
            "http://localhost:8080/cb",
            "http://example.com/cb",
            "com.example.app:/cb",
            "https://a.example/cb#frag",
            "https://a.example/cb?x=1",
            "https:///nohost",
            "javascript:alert(1)",
            "https://a.example:99999/cb",
            "https://a.example/\x00",
            "",
        ]
    )
    | s.values,
    max_size=4,
)
METADATA_VALUES = {
    "client_name": mostly(st.sampled_from(["fuzz", "", " ", "a" * 201, "tab\there"]) | s.values),
    "redirect_uris": mostly(uri_lists),
    "grant_types": mostly(grant_lists),
    "response_types": mostly(st.lists(st.sampled_from(["code", "token", "id_token", ""]), max_size=2)),
    "token_endpoint_auth_method": mostly(
        st.sampled_from(["client_secret_basic", "client_secret_post", "none", "private_key_jwt"])
    ),
    "scope": mostly(st.sampled_from(["openid", "notes:read notes:write", "notes:admin", "", "a\x00b"]) | s.values),
    "id_token_signed_response_alg": mostly(st.sampled_from(["RS256", "ES256", "EdDSA", "none", "HS256"])),
}


@st.composite
def metadata_documents(draw: st.DrawFn) -> bytes:
    document = {name: draw(values) for name, values in METADATA_VALUES.items() if draw(st.booleans())}
    if draw(st.integers(0, 2)) == 0:
        keys = st.sampled_from(METADATA_KEYS) | s.names
        document.update(draw(st.dictionaries(keys, s.json_documents(s.names), max_size=2)))
    return orjson.dumps(document)


@FUZZ
@given(
    request=s.requests(
        st.sampled_from(["/register"] * 6 + ["/register/", "/Register"]),
        wrong_authorizations,
        methods=st.sampled_from(["POST"] * 4 + ["GET", "PUT", "DELETE"]),
        body_strategy=st.one_of(
            metadata_documents(), s.json_bodies(st.sampled_from(METADATA_KEYS) | s.names), s.bodies
        ),
    )
)
async def test_without_the_initial_access_token_nothing_is_registered(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, module_db: asyncpg.Pool, request: Request
) -> None:
    before = await clients(module_db)
    answer = await send(fuzz_http, authz_server.url, request)
    no_server_error(answer)
    assert await clients(module_db) == before, answer
    if refused_by_parser(answer) or request.path != "/register" or method_not_allowed(answer, "POST"):
        return
    note(f"status {answer.status}")
    assert answer.status in (400, 401), answer
    bearer_challenge(answer, REALM)


def registration(body: bytes, *, pad_to: int | None = None) -> Request:
    headers = (("Authorization", "Bearer " + REGISTRATION_TOKEN), ("Content-Type", s.JSON))
    return Request("POST", "/register", "", headers, body, pad_to=pad_to)


VALID_METADATA = orjson.dumps({"grant_types": ["client_credentials"], "scope": "notes:read"})


@FUZZ
@given(
    request=st.one_of(
        st.builds(registration, metadata_documents()),
        st.builds(registration, s.json_bodies(st.sampled_from(METADATA_KEYS) | s.names)),
        st.builds(registration, metadata_documents(), pad_to=st.sampled_from([BODY_LIMIT, BODY_LIMIT + 1])),
    )
)
@example(request=registration(VALID_METADATA))
@example(request=registration(VALID_METADATA, pad_to=BODY_LIMIT))
@example(request=registration(VALID_METADATA, pad_to=BODY_LIMIT + 1))
async def test_with_the_token_a_document_registers_one_client_or_none(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, module_db: asyncpg.Pool, request: Request
) -> None:
    before = await clients(module_db)
    answer = await send(fuzz_http, authz_server.url, request)
    no_server_error(answer)
    note(f"status {answer.status}")
    if answer.status == 201:
        body = answer.json()
        assert isinstance(body["client_id"], str) and body["client_id"], answer
        assert await clients(module_db) == before + 1, answer
        assert len(request.payload() or b"") <= BODY_LIMIT, answer
        return
    assert await clients(module_db) == before, answer
    oauth_error(answer, REGISTRATION_ERRORS)
    if len(request.payload() or b"") > BODY_LIMIT:
        assert answer.status == 413, answer


@pytest.mark.parametrize("authorization", NEAR_MISSES)
async def test_near_misses_of_the_initial_access_token_register_nothing(
    authz_server: Served, fuzz_http: aiohttp.ClientSession, module_db: asyncpg.Pool, authorization: str
) -> None:
    """Each hand-picked near miss on every run, with metadata that the right token would register."""
    before = await clients(module_db)
    headers = (("Authorization", authorization), ("Content-Type", s.JSON))
    answer = await send(fuzz_http, authz_server.url, Request("POST", "/register", "", headers, VALID_METADATA))
    assert answer.status == 401, answer
    bearer_challenge(answer, REALM)
    assert await clients(module_db) == before


# The client configuration endpoint (RFC 7592).


@dataclass(frozen=True)
class Configurable:
    client_id: str
    token: str


@pytest.fixture(scope="module")
async def configurable(authz_server: Served, fuzz_http: aiohttp.ClientSession) -> Configurable:
    """A client registered over HTTP, with its registration access token."""
    answer = await send(fuzz_http, authz_server.url, registration(orjson.dumps({"redirect_uris": [s.REDIRECT_URI]})))
    assert answer.status == 201, answer
    body = answer.json()
    return Configurable(body["client_id"], body["registration_access_token"])


async def row(db: asyncpg.Pool, client_id: str) -> dict[str, Any] | None:
    found = await db.fetchrow("SELECT * FROM clients WHERE client_id = $1", client_id)
    return None if found is None else dict(found)


configuration_paths = st.sampled_from(
    ["/register/<client_id>"] * 6 + ["/register/<client_id>/", "/register/%00", "/register/" + s.CLIENT_ID]
) | st.builds(lambda text: "/register/" + s.quoted_path_segment(text), s.values)
near_misses_of_the_registration_access_token = st.sampled_from(
    [
        "Bearer <token>x",
        "Bearer " + REGISTRATION_TOKEN,
        "Basic <token>",
        "<token>",
        "Bearer  <token> <token>",
    ]
)


@FUZZ
@given(
    request=s.requests(
        configuration_paths,
        wrong_authorizations | near_misses_of_the_registration_access_token,
        methods=st.sampled_from(["GET", "PUT", "DELETE"] * 2 + ["POST", "PATCH", "HEAD"]),
        body_strategy=st.one_of(
            metadata_documents(), s.json_bodies(st.sampled_from(METADATA_KEYS) | s.names), s.bodies
        ),
    )
)
async def test_without_its_registration_access_token_a_client_is_neither_read_nor_changed(
    authz_server: Served,
    fuzz_http: aiohttp.ClientSession,
    module_db: asyncpg.Pool,
    configurable: Configurable,
    request: Request,
) -> None:
    """RFC 7592 sections 2.1-2.3 with RFC 6750 section 3: any request to a configuration URI without the client's
    own registration access token is refused (401 with a Bearer challenge, or 404/405 for what is not the endpoint)
    and leaves the client as it was."""
    before = await row(module_db, configurable.client_id)
    request = request.filled({"client_id": configurable.client_id, "token": configurable.token + "x"})
    answer = await send(fuzz_http, authz_server.url, request)
    no_server_error(answer)
    assert await row(module_db, configurable.client_id) == before, answer
    assert not (answer.status == 200 and configurable.token.encode() in answer.body), answer
    if refused_by_parser(answer) or answer.status in (404, 405, 413):
        note(f"status {answer.status}")
        return
    note(f"status {answer.status}")
    assert answer.status in (400, 401), answer
    bearer_challenge(answer, REALM)


def update(body: bytes, *, pad_to: int | None = None) -> Request:
    headers = (("Authorization", "Bearer <token>"), ("Content-Type", s.JSON))
    return Request("PUT", "/register/<client_id>", "", headers, body, pad_to=pad_to)


@st.composite
def update_documents(draw: st.DrawFn) -> bytes:
    """Metadata documents, most carrying this client's id as an update must (RFC 7592 section 2.2)."""
    document = orjson.loads(draw(metadata_documents()))
    if draw(st.integers(0, 4)):
        document["client_id"] = "<client_id>"
    return orjson.dumps(document)


@FUZZ
@given(
    request=st.one_of(
        st.builds(update, update_documents()),
        st.builds(update, s.json_bodies(st.sampled_from(METADATA_KEYS) | s.names)),
        st.builds(update, update_documents(), pad_to=st.sampled_from([BODY_LIMIT, BODY_LIMIT + 1])),
    )
)
@example(request=update(orjson.dumps({"client_id": "<client_id>", "redirect_uris": [s.REDIRECT_URI]})))
async def test_with_its_token_an_update_applies_a_valid_document_or_changes_nothing(
    authz_server: Served,
    fuzz_http: aiohttp.ClientSession,
    module_db: asyncpg.Pool,
    configurable: Configurable,
    request: Request,
) -> None:
    """RFC 7592 section 2.2: an update either replaces the registration (200, the stored client as answered, within
    the registration policy) or is refused with RFC 7591 section 3.2.2's error and changes nothing."""
    before = await row(module_db, configurable.client_id)
    assert before is not None
    request = request.filled({"client_id": configurable.client_id, "token": configurable.token})
    answer = await send(fuzz_http, authz_server.url, request)
    no_server_error(answer)
    note(f"status {answer.status}")
    after = await row(module_db, configurable.client_id)
    assert after is not None, answer
    if answer.status == 200:
        body = answer.json()
        assert body["client_id"] == configurable.client_id, answer
        assert body["scope"] == " ".join(after["scopes"]), answer
        assert after["secret_hash"] == before["secret_hash"], answer
        assert after["registration_token_hash"] == before["registration_token_hash"], answer
        assert after["token_endpoint_auth_method"] != "none", answer  # it registered as confidential
        return
    assert after == before, answer
    oauth_error(answer, REGISTRATION_ERRORS)
