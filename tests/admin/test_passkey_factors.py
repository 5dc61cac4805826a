"""Passkeys and security keys in the admin API's view of users' second factors: listed (name, last use, transports,
never the key), removed one by one, and removed by a reset, after which the person signs in with the password alone.
The keys are stored as a registration stores them (the ceremonies are tests/authz/test_passkeys.py's)."""

from __future__ import annotations

import secrets
import uuid

import aiohttp
import asyncpg

from authz.factors.passkeys import PasskeyRepository
from tests.admin.conftest import Admin, assert_problem, call
from tests.admin.test_factors import needs_second_factor
from tests.authz import flows


async def user_with_keys(db: asyncpg.Pool, *names: str) -> tuple[str, str]:
    username = await flows.make_user(db)
    user_id = await db.fetchval("SELECT user_id FROM users WHERE username = $1", username)
    keys = PasskeyRepository(db)
    await keys.user_handle(user_id)
    for name in names:
        await keys.add(
            user_id=user_id,
            credential_id=secrets.token_bytes(32),
            public_key=secrets.token_bytes(77),
            sign_count=0,
            transports=("usb", "nfc"),
            backup_eligible=False,
            name=name,
        )
    return username, str(user_id)


async def test_passkeys_are_listed_removed_and_reset(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str, authz: str, db: asyncpg.Pool
) -> None:
    client = await flows.make_client(db)
    username, user_id = await user_with_keys(db, "Desk key", "Phone")
    url = f"{admin_url}/admin/v1/users/{user_id}/factors"
    status, listed, _ = await call(http, admin, "GET", url)
    assert status == 200
    assert [(f["type"], f["label"], f["transports"], f["synced"]) for f in listed["items"]] == [
        ("webauthn", "Desk key", ["usb", "nfc"], False),
        ("webauthn", "Phone", ["usb", "nfc"], False),
    ]
    assert all("public_key" not in f and "credential_id" not in f for f in listed["items"])
    assert await needs_second_factor(authz, client, username)

    status, _, _ = await call(http, admin, "DELETE", f"{url}/{listed['items'][0]['factor_id']}")
    assert status == 204
    status, listed, _ = await call(http, admin, "GET", url)
    assert [f["label"] for f in listed["items"]] == ["Phone"]
    status, problem, resp = await call(http, admin, "DELETE", f"{url}/{uuid.uuid4()}")
    assert_problem(status, problem, resp, 404, None)

    status, _, _ = await call(http, admin, "DELETE", url)
    assert status == 204
    status, listed, _ = await call(http, admin, "GET", url)
    assert listed["items"] == []
    assert not await needs_second_factor(authz, client, username)
    removed = await db.fetchval(
        "SELECT details->>'factors_removed' FROM audit_events WHERE event = 'second_factors_reset' AND user_id = $1",
        uuid.UUID(user_id),
    )
    assert removed == "1"
