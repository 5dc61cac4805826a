"""Audit events as log lines (docs/operations.md, "Audit log lines"): every event is also one JSON line on the
`authorium.audit` logger, written once the change commits, never for a change rolled back."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest

from authorium_shared.logs import JsonFormatter
from authz.audit import AuditLog, audited_transaction
from tests.admin.conftest import Admin, call
from tests.authz.flows import PASSWORD, make_client, make_user, sign_in_and_redeem


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The audit lines as an operator's log pipeline reads them: rendered by the services' JSON formatter."""
    formatter = JsonFormatter("authz")
    return [orjson.loads(formatter.format(r)) for r in caplog.records if r.name == "authorium.audit"]


@pytest.fixture
def caplog_audit(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="authorium.audit")
    return caplog


async def test_an_admin_change_is_one_line_with_actor_client_outcome_and_request_id(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str, caplog_audit: pytest.LogCaptureFixture
) -> None:
    body = {"name": f"svc {uuid.uuid4().hex[:8]}", "grant_types": ["client_credentials"], "scopes": ["notes:read"]}
    status, created, resp = await call(http, admin, "POST", admin_url + "/admin/v1/clients", json=body)
    assert status == 201, created
    [line] = [x for x in audit_lines(caplog_audit) if x.get("client_id") == created["client_id"]]
    assert line["event"] == "client_registered"
    assert line["actor"] == f"client:{admin.client.client_id}"
    assert line["outcome"] == "success"
    assert line["request_id"] == resp.headers["X-Request-ID"]
    assert line["remote_addr"] == "127.0.0.1"
    assert line["logger"] == "authorium.audit" and line["level"] == "info"
    assert created["client_secret"] not in orjson.dumps(line).decode()


async def test_a_refused_change_logs_nothing(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str, caplog_audit: pytest.LogCaptureFixture
) -> None:
    body = {"name": "x", "grant_types": ["client_credentials"], "scopes": ["notes:read"], "disabled": True}
    status, _, _ = await call(http, admin, "POST", admin_url + "/admin/v1/clients", json=body)
    assert status == 400
    assert audit_lines(caplog_audit) == []


async def test_an_event_recorded_in_a_transaction_rolled_back_logs_nothing(
    db: asyncpg.Pool, caplog_audit: pytest.LogCaptureFixture
) -> None:
    """The event was written, then the change failed: the row goes with the rollback, and so must the line."""
    marker = uuid.uuid4().hex
    with pytest.raises(RuntimeError, match="refused"):
        async with audited_transaction(db) as conn:
            await AuditLog(db).record("client_updated", client_id=marker, details={"actor": "cli"}, conn=conn)
            raise RuntimeError("refused after the event was written")
    assert audit_lines(caplog_audit) == []
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE client_id = $1", marker) == 0

    async with audited_transaction(db) as conn:
        await AuditLog(db).record("client_updated", client_id=marker, details={"actor": "cli"}, conn=conn)
        assert audit_lines(caplog_audit) == [], "logged before the commit"
    assert [(x["event"], x["actor"]) for x in audit_lines(caplog_audit)] == [("client_updated", "cli")]


async def test_an_event_in_a_transaction_not_opened_for_audit_is_refused(db: asyncpg.Pool) -> None:
    """A transaction whose commit the audit log cannot see would log too early: that is a programming error."""
    async with db.acquire() as conn:
        with pytest.raises(RuntimeError, match="audited_transaction"):
            async with conn.transaction():
                await AuditLog(db).record("client_updated", client_id="x", conn=conn)


async def test_a_sign_in_is_one_line_naming_client_user_and_address_without_the_password(
    http: aiohttp.ClientSession, authz: str, db: asyncpg.Pool, caplog_audit: pytest.LogCaptureFixture
) -> None:
    client = await make_client(db)
    username = await make_user(db)
    tokens = await sign_in_and_redeem(http, authz, client, username, scope="openid")
    lines = [x for x in audit_lines(caplog_audit) if x.get("client_id") == client.client_id]
    [signed_in] = [x for x in lines if x["event"] == "sign_in_success"]
    user_id = await db.fetchval("SELECT user_id FROM users WHERE username = $1", username)
    assert signed_in["user_id"] == str(user_id)
    assert signed_in["outcome"] == "success"
    assert signed_in["remote_addr"] == "127.0.0.1"
    assert signed_in["request_id"]
    everything = orjson.dumps(lines).decode()
    for secret in (PASSWORD, client.secret, tokens["access_token"], tokens["id_token"]):
        assert secret and secret not in everything
