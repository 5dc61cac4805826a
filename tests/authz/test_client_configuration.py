"""The client configuration endpoint (RFC 7592) over HTTP: a dynamically registered client reads, replaces and
deletes its own registration with the registration access token it was given, and nothing else can."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest

from tests.authz.conftest import AuthzFactory
from tests.authz.flows import (
    REDIRECT_URI,
    RegisteredClient,
    authorize,
    basic_header,
    browser,
    make_client,
    make_user,
    pkce_pair,
    sign_in_and_redeem,
    token_request,
)
from tests.authz.test_register import DEFAULT_SCOPE, TOKEN, register
from tests.waiting import eventually

CHALLENGE = 'Bearer realm="authorium-registration"'
# Section 3: members of a client information response that a client must not send back in an update (section 2.2).
SERVER_MEMBERS = (
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "client_id_issued_at",
)
WEB_APP = {"client_name": "Web app", "redirect_uris": [REDIRECT_URI], "grant_types": ["authorization_code"]}


@pytest.fixture
async def authz(start_authz: AuthzFactory) -> AsyncIterator[str]:
    async with start_authz(AUTHORIUM_REGISTRATION_TOKEN=TOKEN) as url:
        yield url


async def registered(http: aiohttp.ClientSession, authz: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    status, answer, _ = await register(http, authz, body or WEB_APP)
    assert status == 201, answer
    return answer


async def configure(
    http: aiohttp.ClientSession, method: str, uri: str, token: str | None, body: Any = None
) -> tuple[int, dict[str, Any], aiohttp.ClientResponse]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else orjson.dumps(body)
    async with http.request(method, uri, data=data, headers=headers) as resp:
        raw = await resp.read()
        answer = json.loads(raw) if raw and resp.content_type == "application/json" else {}
        return resp.status, answer, resp


def update_of(answer: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A client update request (section 2.2): everything the server returned, less what only the server sets."""
    document = {name: value for name, value in answer.items() if name not in SERVER_MEMBERS}
    document.pop("client_secret", None)
    return {**document, **changes}


async def stored_row(db: asyncpg.Pool, client_id: str) -> dict[str, Any] | None:
    row = await db.fetchrow("SELECT * FROM clients WHERE client_id = $1", client_id)
    return None if row is None else dict(row)


async def audited(db: asyncpg.Pool, client_id: str) -> list[str]:
    rows = await db.fetch("SELECT event FROM audit_events WHERE client_id = $1 ORDER BY id", client_id)
    return [r["event"] for r in rows]


async def introspects(http: aiohttp.ClientSession, authz: str, headers: dict[str, str], form: dict[str, str]) -> int:
    """The status of an introspection request: 200 once the client authenticated, whatever the token."""
    async with http.post(f"{authz}/introspect", data={"token": "x", **form}, headers=headers) as resp:
        return resp.status


async def test_registration_gives_a_configuration_uri_and_a_token_kept_only_as_a_digest(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 7592 section 3: the client information response carries `registration_client_uri` and
    `registration_access_token` (REQUIRED); the token is 256 random bits, stored only as its SHA-256 digest."""
    answer = await registered(http, authz)
    assert answer["registration_client_uri"] == f"{authz}/register/{answer['client_id']}"
    token = answer["registration_access_token"]
    assert len(token) >= 43 and token != answer["client_secret"]
    row = await stored_row(db, answer["client_id"])
    assert row is not None
    assert row["registration_token_hash"] == hashlib.sha256(token.encode()).digest()
    assert token not in repr(row)
    everything = await db.fetch("SELECT to_jsonb(a)::text AS row FROM audit_events a")
    assert all(token not in r["row"] for r in everything)
    other = await registered(http, authz)
    assert other["registration_access_token"] != token


async def test_a_client_reads_its_registration(authz: str, http: aiohttp.ClientSession) -> None:
    """RFC 7592 section 2.1: GET with the registration access token answers 200 with the client information response
    (section 3), not cacheable. The secret is not shown again: only its digest is kept (RFC 7591 section 3.2.1 makes
    `client_secret` optional)."""
    answer = await registered(http, authz, {**WEB_APP, "scope": "openid notes:read"})
    status, read, resp = await configure(
        http, "GET", answer["registration_client_uri"], answer["registration_access_token"]
    )
    assert status == 200, read
    assert resp.headers["Cache-Control"] == "no-store"
    assert "client_secret" not in read
    assert read == {name: value for name, value in answer.items() if name != "client_secret"}


async def test_a_client_replaces_its_registration_and_every_replica_uses_it_at_once(
    start_authz: AuthzFactory, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 7592 section 2.2: PUT replaces the metadata and answers 200 with all of it (section 3); the secret stays
    the one issued (no new one is sent). The change is announced, so a replica that had the client cached uses the
    new registration at once; it is recorded in the audit log."""
    async with start_authz(AUTHORIUM_REGISTRATION_TOKEN=TOKEN) as first, start_authz() as second:
        answer = await registered(http, first)
        client_id, secret = answer["client_id"], answer["client_secret"]
        basic = {"Authorization": basic_header(client_id, secret)}
        post = {"client_id": client_id, "client_secret": secret}
        assert await introspects(http, second, basic, {}) == 200  # `second` now holds the client in its cache
        assert await introspects(http, second, {}, post) == 401

        second_uri = "https://client.example/other-callback"
        update = update_of(
            answer,
            client_name="Renamed",
            redirect_uris=[REDIRECT_URI, second_uri],
            scope="openid notes:read",
            token_endpoint_auth_method="client_secret_post",
        )
        status, updated, resp = await configure(
            http, "PUT", answer["registration_client_uri"], answer["registration_access_token"], update
        )
        assert status == 200, updated
        assert resp.headers["Cache-Control"] == "no-store"
        assert "client_secret" not in updated
        for name, value in update.items():
            if name != "client_id":
                assert updated[name] == value, name
        for name in ("client_id", "client_id_issued_at", "registration_client_uri", "registration_access_token"):
            assert updated[name] == answer[name], name
        status, read, _ = await configure(
            http, "GET", answer["registration_client_uri"], answer["registration_access_token"]
        )
        assert read == updated

        async def post_is_accepted() -> bool:
            return await introspects(http, second, {}, post) == 200

        await eventually(post_is_accepted, timeout=1.0, message="the update at the other replica")
        assert await introspects(http, second, basic, {}) == 401
        row = await stored_row(db, client_id)
        assert row is not None
        assert row["name"] == "Renamed" and list(row["scopes"]) == ["openid", "notes:read"]
        assert row["secret_hash"] == hashlib.sha256(secret.encode()).digest()
        assert "client_updated" in await audited(db, client_id)

        # The new redirect URI is the client's at once.
        client = RegisteredClient(client_id, secret, second_uri)
        tokens = await sign_in_and_redeem_post(http, first, client, await make_user(db))
        assert tokens["scope"] == "openid"


async def sign_in_and_redeem_post(
    http: aiohttp.ClientSession, authz: str, client: RegisteredClient, username: str
) -> dict[str, Any]:
    """The code flow, redeemed with client_secret_post (the helper in flows uses Basic)."""
    verifier, challenge = pkce_pair()
    async with browser() as session:
        result = await authorize(
            session, authz, client, username, scope="openid", code_challenge=challenge, code_challenge_method="S256"
        )
    form = {
        "grant_type": "authorization_code",
        "code": result.code,
        "redirect_uri": client.redirect_uri,
        "code_verifier": verifier,
        "client_id": client.client_id,
        "client_secret": client.secret or "",
    }
    async with http.post(f"{authz}/token", data=form) as resp:
        body: dict[str, Any] = await resp.json()
        assert resp.status == 200, body
        return body


async def test_an_update_may_repeat_the_current_secret_but_never_choose_one(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 7592 section 2.2: "If the client includes the client_secret field in the request, the value of this field
    MUST match the currently issued client secret"; the client "MUST NOT be allowed to overwrite its existing client
    secret with its own chosen value". Compared in constant time against the stored digest."""
    answer = await registered(http, authz)
    uri, token = answer["registration_client_uri"], answer["registration_access_token"]
    status, updated, _ = await configure(
        http, "PUT", uri, token, update_of(answer, client_secret=answer["client_secret"])
    )
    assert status == 200, updated
    before = await stored_row(db, answer["client_id"])
    status, refused, _ = await configure(
        http, "PUT", uri, token, update_of(answer, client_secret="a-secret-of-my-choosing")
    )
    assert (status, refused.get("error")) == (400, "invalid_client_metadata"), refused
    assert await stored_row(db, answer["client_id"]) == before
    basic = {"Authorization": basic_header(answer["client_id"], answer["client_secret"])}
    assert await introspects(http, authz, basic, {}) == 200


async def test_an_update_follows_the_registration_rules_and_a_refused_one_changes_nothing(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 7592 section 2.2: invalid metadata is answered "with an error as described in [RFC7591]" (section 3.2.2:
    `invalid_redirect_uri`, `invalid_client_metadata`, 400), under the same policy as registration; the request must
    carry this client's `client_id` and none of the members only the server sets (section 3)."""
    answer = await registered(http, authz)
    uri, token = answer["registration_client_uri"], answer["registration_access_token"]
    before = await stored_row(db, answer["client_id"])
    other = await registered(http, authz)
    without_client_id = update_of(answer)
    del without_client_id["client_id"]
    refusals: list[tuple[Any, str]] = [
        (update_of(answer, scope="openid notes:admin"), "invalid_client_metadata"),
        (update_of(answer, grant_types=["client_credentials"]), "invalid_client_metadata"),
        (update_of(answer, redirect_uris=["http://client.example/callback"]), "invalid_redirect_uri"),
        (update_of(answer, redirect_uris=[]), "invalid_redirect_uri"),
        (update_of(answer, token_endpoint_auth_method="none"), "invalid_client_metadata"),
        (update_of(answer, token_endpoint_auth_method="private_key_jwt"), "invalid_client_metadata"),
        (update_of(answer, client_name=7), "invalid_client_metadata"),
        (without_client_id, "invalid_client_metadata"),
        (update_of(answer, client_id=other["client_id"]), "invalid_client_metadata"),
        (update_of(answer, client_secret=other["client_secret"]), "invalid_client_metadata"),
        *[(update_of(answer, **{name: answer[name]}), "invalid_client_metadata") for name in SERVER_MEMBERS],
        (["not", "an", "object"], "invalid_client_metadata"),
    ]
    for body, error in refusals:
        status, refused, resp = await configure(http, "PUT", uri, token, body)
        assert (status, refused.get("error")) == (400, error), (body, refused)
        assert resp.headers["Cache-Control"] == "no-store"
    async with http.put(
        uri, data=b"{not json", headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    ) as resp:
        assert resp.status == 400 and (await resp.json())["error"] == "invalid_client_metadata"
    assert await stored_row(db, answer["client_id"]) == before
    assert "client_updated" not in await audited(db, answer["client_id"])
    # Omitted members are deleted (section 2.2), so they take their RFC 7591 defaults again.
    status, updated, _ = await configure(
        http, "PUT", uri, token, {"client_id": answer["client_id"], "redirect_uris": [REDIRECT_URI]}
    )
    assert status == 200, updated
    assert updated["scope"] == DEFAULT_SCOPE and updated["client_name"] != answer["client_name"]
    assert updated["token_endpoint_auth_method"] == "client_secret_basic"


async def test_a_deleted_client_is_gone_and_so_are_its_grants(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 7592 section 2.3: DELETE answers 204; the client_id, client_secret and registration access token stop
    working, and (SHOULD) its grants and access tokens are invalidated at once: every live grant is revoked through
    the Revoker, so its access tokens are refused (here at userinfo) and its refresh tokens are gone."""
    answer = await registered(http, authz, {**WEB_APP, "grant_types": ["authorization_code", "refresh_token"]})
    client = RegisteredClient(answer["client_id"], answer["client_secret"])
    tokens = await sign_in_and_redeem(http, authz, client, await make_user(db), scope="openid offline_access")
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    async with http.get(f"{authz}/userinfo", headers=bearer) as resp:
        assert resp.status == 200
    grant_ids = [
        r["grant_id"] for r in await db.fetch("SELECT grant_id FROM grants WHERE client_id = $1", client.client_id)
    ]
    assert len(grant_ids) == 1

    uri, token = answer["registration_client_uri"], answer["registration_access_token"]
    status, body, resp = await configure(http, "DELETE", uri, token)
    assert status == 204 and body == {}
    async with http.get(f"{authz}/userinfo", headers=bearer) as resp:
        assert resp.status == 401
        assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
    status, refreshed, _ = await token_request(
        http, authz, client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert (status, refreshed["error"]) == (401, "invalid_client")
    assert await introspects(http, authz, client.basic, {}) == 401
    for method in ("GET", "DELETE"):
        status, refused, _ = await configure(http, method, uri, token)
        assert (status, refused.get("error")) == (401, "invalid_token"), method
    assert await stored_row(db, client.client_id) is None
    revoked = await db.fetch("SELECT id FROM revocations WHERE kind = 'grant' AND id = $1", str(grant_ids[0]))
    assert len(revoked) == 1
    assert (await audited(db, client.client_id))[-1] == "client_deleted"


async def test_a_wrong_or_missing_token_or_another_clients_id_is_invalid_token_and_reveals_nothing(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 7592 sections 2.1-2.3 and RFC 6750 section 3.1: a missing token is 401 with a bare `Bearer` challenge; a
    wrong one, another client's, the initial access token, or a client_id that does not exist or was not registered
    dynamically is 401 `invalid_token` (the same answer, so existence is not revealed), and changes nothing."""
    mine, theirs = await registered(http, authz), await registered(http, authz)
    operator_made = await make_client(db)
    uri = mine["registration_client_uri"]
    before = await stored_row(db, mine["client_id"])
    status, _, resp = await configure(http, "GET", uri, None)
    assert status == 401
    assert resp.headers["WWW-Authenticate"] == CHALLENGE
    attempts = [
        (uri, theirs["registration_access_token"]),
        (uri, mine["registration_access_token"][:-1]),
        (uri, TOKEN),
        (uri, mine["client_secret"]),
        (theirs["registration_client_uri"], mine["registration_access_token"]),
        (f"{authz}/register/no-such-client", mine["registration_access_token"]),
        (f"{authz}/register/{operator_made.client_id}", mine["registration_access_token"]),
    ]
    answers = []
    for target, token in attempts:
        for method, body in (("GET", None), ("PUT", update_of(mine, client_name="Taken over")), ("DELETE", None)):
            status, refused, resp = await configure(http, method, target, token, body)
            assert (status, refused.get("error")) == (401, "invalid_token"), (method, target)
            assert resp.headers["WWW-Authenticate"].startswith(CHALLENGE + ', error="invalid_token"')
            assert resp.headers["Cache-Control"] == "no-store"
            answers.append((refused, resp.headers["WWW-Authenticate"]))
    assert all(answer == answers[0] for answer in answers)
    assert await stored_row(db, mine["client_id"]) == before
    assert await stored_row(db, theirs["client_id"]) is not None
    assert await stored_row(db, operator_made.client_id) is not None


async def test_without_registration_there_is_no_configuration_endpoint(
    start_authz: AuthzFactory, http: aiohttp.ClientSession
) -> None:
    """RFC 7592 section 1: the configuration endpoint exists alongside registration (RFC 7591), so only when the
    operator switches registration on."""
    async with start_authz(AUTHORIUM_REGISTRATION_TOKEN=TOKEN) as authz:
        answer = await registered(http, authz)
    async with start_authz() as authz:
        uri = f"{authz}/register/{answer['client_id']}"
        status, _, _ = await configure(http, "GET", uri, answer["registration_access_token"])
        assert status == 404
