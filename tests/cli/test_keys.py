"""`authorium keys list|rotate|reencrypt` against a running authorization server, which follows without a
restart; and changing the KEK (AUTHORIUM_KEK_PREVIOUS, then `keys reencrypt`) without an outage."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import asyncpg
import jwt
import pytest

from authorium_shared.keys import generate_kek
from authorium_shared.resources import create_pg_pool
from authz.app import create_app
from authz.appkeys import KEY_RING
from authz.settings import AuthzSettings
from authz.signing.repository import KEYS_LOCK_ID
from tests.authz.flows import make_client, token_request
from tests.conftest import DatabaseFactory
from tests.processes import authorium
from tests.servers import run_service
from tests.waiting import eventually

KEK_MISMATCH = "cannot be decrypted with this AUTHORIUM_KEK (nor AUTHORIUM_KEK_PREVIOUS"


async def _keys(env: dict[str, str]) -> list[dict[str, str]]:
    result = await asyncio.to_thread(authorium, "keys", "list", "--json", env=env)
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


async def test_rotation_waits_for_the_next_key_to_be_published_for_the_cache_lifetime(
    environ: dict[str, str], make_database: DatabaseFactory
) -> None:
    env = {**environ, "DATABASE_URL": await make_database(), "AUTHORIUM_JWKS_MAX_AGE": "300"}
    async with run_service(AuthzSettings.from_env, create_app, env, "AUTHORIUM_ISSUER"):
        before = await _keys(env)
        result = await asyncio.to_thread(authorium, "keys", "rotate", env=env)
        assert result.returncode == 1
        assert "has not been published long enough; rotate at or after" in result.stderr
        assert await _keys(env) == before, "a refused rotation changes nothing"


async def test_rotate_promotes_the_published_next_key_and_every_replica_follows(
    environ: dict[str, str], make_database: DatabaseFactory
) -> None:
    env = {**environ, "DATABASE_URL": await make_database(), "AUTHORIUM_JWKS_MAX_AGE": "0"}
    async with (
        run_service(AuthzSettings.from_env, create_app, env, "AUTHORIUM_ISSUER") as (url, app),
        aiohttp.ClientSession() as http,
    ):
        before = {(k["alg"], k["state"]): k["kid"] for k in await _keys(env)}
        assert app[KEY_RING].keyset.signing_key("RS256").kid == before[("RS256", "current")]

        result = await asyncio.to_thread(authorium, "keys", "rotate", "--alg", "RS256", env=env)
        assert result.returncode == 0, result.stderr

        after = {(k["alg"], k["state"]): k["kid"] for k in await _keys(env)}
        assert after[("RS256", "current")] == before[("RS256", "next")]
        assert after[("RS256", "retired")] == before[("RS256", "current")]
        assert after[("RS256", "next")] not in before.values()
        assert after[("ES256", "current")] == before[("ES256", "current")], "only the named algorithm rotates"

        # The running server hears of the change over pub/sub, without a restart.
        await eventually(
            lambda: app[KEY_RING].keyset.signing_key("RS256").kid == after[("RS256", "current")],
            timeout=2.5,
            message="the running server to sign with the promoted key",
        )
        async with http.get(url + "/jwks.json") as resp:
            published = {k["kid"] for k in (await resp.json())["keys"]}
        assert {after[("RS256", s)] for s in ("current", "next", "retired")} <= published


async def test_keys_cannot_be_read_with_another_kek(environ: dict[str, str], make_database: DatabaseFactory) -> None:
    env = {**environ, "DATABASE_URL": await make_database(), "AUTHORIUM_JWKS_MAX_AGE": "0"}
    assert (await asyncio.to_thread(authorium, "keys", "rotate", env=env)).returncode == 0
    result = await asyncio.to_thread(authorium, "keys", "list", env={**env, "AUTHORIUM_KEK": generate_kek()})
    assert result.returncode == 1
    assert "cannot be decrypted with this AUTHORIUM_KEK" in result.stderr


async def _signed_token(http: aiohttp.ClientSession, url: str, pool: asyncpg.Pool) -> dict[str, str]:
    """A client credentials token from the server at `url`, checked against its published keys; its header."""
    client = await make_client(pool, grant_types=("client_credentials",), scope="notes:read")
    status, body, _ = await token_request(http, url, client, grant_type="client_credentials")
    assert status == 200, body
    async with http.get(url + "/jwks.json") as resp:
        keys = jwt.PyJWKSet.from_dict(await resp.json())
    header = jwt.get_unverified_header(body["access_token"])
    key = next(k for k in keys.keys if k.key_id == header["kid"])
    jwt.decode(body["access_token"], key, algorithms=[header["alg"]], options={"verify_aud": False})
    return dict(header)


async def test_the_kek_changes_without_an_outage_and_reencrypt_moves_every_key_to_the_new_one(
    environ: dict[str, str], make_database: DatabaseFactory
) -> None:
    old, new = environ["AUTHORIUM_KEK"], generate_kek()
    base = {**environ, "DATABASE_URL": await make_database(), "AUTHORIUM_JWKS_MAX_AGE": "0"}
    under_old = {**base, "AUTHORIUM_KEK": old}
    changing = {**base, "AUTHORIUM_KEK": new, "AUTHORIUM_KEK_PREVIOUS": old}
    under_new = {**base, "AUTHORIUM_KEK": new}

    made = await asyncio.to_thread(authorium, "setup", env=under_old)
    assert made.returncode == 0, made.stderr
    made_under_old = {k["kid"] for k in await _keys(under_old)}
    assert len(made_under_old) == 6, "a current and a next key for each algorithm"
    refused = await asyncio.to_thread(authorium, "keys", "list", env=under_new)
    assert refused.returncode == 1
    assert KEK_MISMATCH in refused.stderr, "the new KEK alone cannot read them yet"

    pool = await create_pg_pool(base["DATABASE_URL"], max_size=2)
    try:
        async with (
            run_service(AuthzSettings.from_env, create_app, changing, "AUTHORIUM_ISSUER") as (url, app),
            aiohttp.ClientSession() as http,
        ):
            # With the new KEK and the old one as the previous, the server starts on the old keys and signs.
            assert (await _signed_token(http, url, pool))["kid"] in made_under_old

            # A key made meanwhile is under the new KEK only: a rotation publishes a new next key per algorithm.
            rotated = await asyncio.to_thread(authorium, "keys", "rotate", env=changing)
            assert rotated.returncode == 0, rotated.stderr
            everything = {k["kid"] for k in await _keys(changing)}
            assert len(everything) == 9 and made_under_old < everything

            result = await asyncio.to_thread(authorium, "keys", "reencrypt", env=changing)
            assert result.returncode == 0, result.stderr
            assert result.stdout == "re-encrypted 6 keys under AUTHORIUM_KEK\n"
            again = await asyncio.to_thread(authorium, "keys", "reencrypt", env=changing)
            assert again.returncode == 0, again.stderr
            assert again.stdout == "re-encrypted 0 keys under AUTHORIUM_KEK\n", "it is idempotent"

            # The running server follows the rotation and goes on signing, with the new KEK alone from now on.
            await eventually(
                lambda: {k.kid for k in app[KEY_RING].keyset.keys} == everything,
                timeout=2.5,
                message="the running server to reload the keys",
            )
            assert (await _signed_token(http, url, pool))["kid"] in everything
        audit = await pool.fetchval("SELECT details FROM audit_events WHERE event = 'key_reencryption'")
        assert set(audit["kids"]) == made_under_old
    finally:
        await pool.close()

    # Afterwards the previous KEK can go: the new one alone reads every key, and the old one none.
    assert {k["kid"] for k in await _keys(under_new)} == everything
    async with run_service(AuthzSettings.from_env, create_app, under_new, "AUTHORIUM_ISSUER") as (_, app):
        assert {k.kid for k in app[KEY_RING].keyset.keys} == everything
    stale = await asyncio.to_thread(authorium, "keys", "list", env=under_old)
    assert stale.returncode == 1
    assert KEK_MISMATCH in stale.stderr
    assert len(stale.stderr.strip().splitlines()) == 1


async def test_reencrypt_waits_for_a_key_change_in_progress(
    environ: dict[str, str], make_database: DatabaseFactory
) -> None:
    base = {**environ, "DATABASE_URL": await make_database()}
    assert (await asyncio.to_thread(authorium, "setup", env=base)).returncode == 0
    changing = {**base, "AUTHORIUM_KEK": generate_kek(), "AUTHORIUM_KEK_PREVIOUS": base["AUTHORIUM_KEK"]}
    conn = await asyncpg.connect(base["DATABASE_URL"])
    try:
        # What `keys rotate` and start-up maintenance hold while they change keys.
        holding = conn.transaction()
        await holding.start()
        await conn.execute("SELECT pg_advisory_xact_lock($1)", KEYS_LOCK_ID)
        reencrypt = asyncio.ensure_future(asyncio.to_thread(authorium, "keys", "reencrypt", env=changing))

        async def waiting_for_the_lock() -> bool:
            assert not reencrypt.done(), (await reencrypt).stderr
            return bool(
                await conn.fetchval(
                    "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                    " WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()"
                )
            )

        await eventually(waiting_for_the_lock, timeout=20, message="reencrypt to wait for the keys lock")
        await holding.rollback()
        result = await reencrypt
    finally:
        await conn.close()
    assert result.returncode == 0, result.stderr
    assert result.stdout == "re-encrypted 6 keys under AUTHORIUM_KEK\n"


async def test_a_replica_left_on_the_old_kek_keeps_signing_and_says_why_it_cannot_reload(
    environ: dict[str, str], make_database: DatabaseFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # `keys reencrypt` run before every replica has the new KEK: the straggler cannot read the re-encrypted keys, but
    # they are the keys it holds already, so it goes on signing with them, and its event feed keeps running.
    base = {**environ, "DATABASE_URL": await make_database()}
    assert (await asyncio.to_thread(authorium, "setup", env=base)).returncode == 0
    changing = {**base, "AUTHORIUM_KEK": generate_kek(), "AUTHORIUM_KEK_PREVIOUS": base["AUTHORIUM_KEK"]}
    pool = await create_pg_pool(base["DATABASE_URL"], max_size=2)
    try:
        async with (
            run_service(AuthzSettings.from_env, create_app, base, "AUTHORIUM_ISSUER") as (url, app),
            aiohttp.ClientSession() as http,
        ):
            held = app[KEY_RING].keyset
            result = await asyncio.to_thread(authorium, "keys", "reencrypt", env=changing)
            assert result.returncode == 0, result.stderr
            await eventually(
                lambda: "key reload failed: the signing keys cannot be decrypted" in caplog.text,
                timeout=2.5,
                message="the announced reload to fail on this replica",
            )
            assert app[KEY_RING].keyset is held
            assert (await _signed_token(http, url, pool))["kid"] in {k.kid for k in held.keys}
    finally:
        await pool.close()
