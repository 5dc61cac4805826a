"""`authorium keys list|rotate` against a running authorization server, which follows without a restart."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from authz.app import create_app
from authz.appkeys import KEY_RING
from authz.settings import AuthzSettings
from tests.conftest import DatabaseFactory
from tests.processes import authorium
from tests.servers import run_service
from tests.waiting import eventually


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
    from authorium_shared.keys import generate_kek

    env = {**environ, "DATABASE_URL": await make_database(), "AUTHORIUM_JWKS_MAX_AGE": "0"}
    assert (await asyncio.to_thread(authorium, "keys", "rotate", env=env)).returncode == 0
    result = await asyncio.to_thread(authorium, "keys", "list", env={**env, "AUTHORIUM_KEK": generate_kek()})
    assert result.returncode == 1
    assert "cannot be decrypted with this AUTHORIUM_KEK" in result.stderr
