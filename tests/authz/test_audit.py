"""Audit events in Postgres: each security-relevant action leaves one row naming who and what, and no row
ever holds a password, a client secret or a token."""

from __future__ import annotations

import json
import uuid
from typing import Any

import aiohttp
import asyncpg
import orjson

from tests.authz.conftest import AuthzFactory
from tests.authz.flows import (
    PASSWORD,
    authorize,
    browser,
    hidden_fields,
    make_client,
    make_user,
    pkce_pair,
    sign_in_and_redeem,
    token_request,
)
from tests.authz.test_register import WITH_CLIENT_CREDENTIALS

REGISTRATION_TOKEN = "r" * 20 + uuid.uuid4().hex[:20]


async def events_of(db: asyncpg.Pool, client_id: str) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT event, client_id, user_id, details FROM audit_events WHERE client_id = $1 ORDER BY id", client_id
    )
    return [
        {**dict(r), "details": json.loads(r["details"]) if isinstance(r["details"], str) else r["details"]}
        for r in rows
    ]


async def user_id_of(db: asyncpg.Pool, username: str) -> uuid.UUID:
    user_id: uuid.UUID = await db.fetchval("SELECT user_id FROM users WHERE username = $1", username)
    return user_id


async def test_signing_in_and_consenting_are_audited(authz: str, db: asyncpg.Pool) -> None:
    client = await make_client(db)
    username = await make_user(db)
    wrong_password = f"wrong {uuid.uuid4().hex}"
    async with browser() as session:
        query = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": client.redirect_uri,
            "scope": "openid",
            "code_challenge": pkce_pair()[1],
            "code_challenge_method": "S256",
        }
        async with session.get(f"{authz}/authorize", params=query) as resp:
            page = await resp.text()
        assert 'action="/authorize/login"' in page
        form = {**hidden_fields(page), "username": username, "password": wrong_password}
        async with session.post(f"{authz}/authorize/login", data=form, allow_redirects=False) as resp:
            assert resp.status == 200
            assert 'action="/authorize/login"' in await resp.text()
        # The same browser then signs in properly and consents.
        result = await authorize(
            session,
            authz,
            client,
            username,
            scope="openid",
            code_challenge=pkce_pair()[1],
            code_challenge_method="S256",
        )
        assert "code" in result.params

    user_id = await user_id_of(db, username)
    found = await events_of(db, client.client_id)
    by_event = {e["event"]: e for e in found}
    failure = by_event["sign_in_failure"]
    assert failure["details"]["username"] == username
    assert failure["user_id"] is None
    success = by_event["sign_in_success"]
    assert success["user_id"] == user_id
    granted = by_event["consent_granted"]
    assert granted["user_id"] == user_id
    assert granted["details"]["scopes"] == ["openid"]
    assert [e["event"] for e in found] == ["client_registered", "sign_in_failure", "sign_in_success", "consent_granted"]
    text = orjson.dumps(found, default=str).decode()
    assert wrong_password not in text
    assert PASSWORD not in text


async def test_denying_consent_is_audited(authz: str, db: asyncpg.Pool) -> None:
    client = await make_client(db)
    username = await make_user(db)
    async with browser() as session:
        result = await authorize(
            session,
            authz,
            client,
            username,
            consent="deny",
            scope="openid",
            code_challenge=pkce_pair()[1],
            code_challenge_method="S256",
        )
    assert result.params["error"] == "access_denied"
    found = await events_of(db, client.client_id)
    denied = [e for e in found if e["event"] == "consent_denied"]
    assert len(denied) == 1
    assert denied[0]["user_id"] == await user_id_of(db, username)
    assert "consent_granted" not in {e["event"] for e in found}


async def test_replays_revocations_and_registrations_are_audited_without_secrets(
    start_authz: AuthzFactory, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    # The registration below is a service's, which the operator must allow (AUTHORIUM_REGISTRATION_GRANT_TYPES).
    async with start_authz(
        AUTHORIUM_REGISTRATION_TOKEN=REGISTRATION_TOKEN, AUTHORIUM_REGISTRATION_GRANT_TYPES=WITH_CLIENT_CREDENTIALS
    ) as authz:
        client = await make_client(db)
        username = await make_user(db)
        secrets_seen: list[str] = [PASSWORD, REGISTRATION_TOKEN]
        assert client.secret is not None
        secrets_seen.append(client.secret)

        # A code redeemed twice.
        verifier, challenge = pkce_pair()
        async with browser() as session:
            result = await authorize(
                session,
                authz,
                client,
                username,
                scope="openid offline_access",
                code_challenge=challenge,
                code_challenge_method="S256",
            )
        redeem = {
            "grant_type": "authorization_code",
            "code": result.code,
            "redirect_uri": client.redirect_uri,
            "code_verifier": verifier,
        }
        status, first, _ = await token_request(http, authz, client, **redeem)
        assert status == 200, first
        status, again, _ = await token_request(http, authz, client, **redeem)
        assert (status, again["error"]) == (400, "invalid_grant")
        secrets_seen += [result.code, verifier, first["access_token"], first["refresh_token"], first["id_token"]]

        # A refresh token used twice.
        tokens = await sign_in_and_redeem(http, authz, client, username, scope="openid offline_access")
        status, refreshed, _ = await token_request(
            http, authz, client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
        )
        assert status == 200, refreshed
        status, reused, _ = await token_request(
            http, authz, client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
        )
        assert (status, reused["error"]) == (400, "invalid_grant")
        secrets_seen += [tokens["access_token"], tokens["refresh_token"], refreshed["access_token"]]
        secrets_seen.append(refreshed["refresh_token"])

        # A revocation.
        cc_status, cc, _ = await token_request(http, authz, client, grant_type="client_credentials")
        assert cc_status == 200
        async with http.post(f"{authz}/revoke", data={"token": cc["access_token"]}, headers=client.basic) as resp:
            assert resp.status == 200
        secrets_seen.append(cc["access_token"])

        # A registration over HTTP.
        async with http.post(
            f"{authz}/register",
            data=orjson.dumps({"client_name": "audited", "grant_types": ["client_credentials"]}),
            headers={"Authorization": f"Bearer {REGISTRATION_TOKEN}", "Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 201
            registered = await resp.json()
        secrets_seen.append(registered["client_secret"])

    found = await events_of(db, client.client_id)
    kinds = [e["event"] for e in found]
    for event in ("client_registered", "code_replay", "refresh_reuse", "token_revoked"):
        assert event in kinds, event
    replay = next(e for e in found if e["event"] == "code_replay")
    reuse = next(e for e in found if e["event"] == "refresh_reuse")
    assert replay["details"]["grant_id"] != reuse["details"]["grant_id"]
    assert reuse["user_id"] == await user_id_of(db, username)
    revoked = next(e for e in found if e["event"] == "token_revoked")
    assert revoked["details"]["token_type"] == "access_token"
    assert kinds.count("client_registered") == 1
    new = await events_of(db, registered["client_id"])
    assert [e["event"] for e in new] == ["client_registered"]
    assert new[0]["details"]["name"] == "audited"

    # No secret, in any audit row at all (not just this test's), in any column.
    rows = await db.fetch("SELECT to_jsonb(a)::text AS row FROM audit_events a")
    everything = "\n".join(r["row"] for r in rows)
    for secret in secrets_seen:
        assert secret not in everything
