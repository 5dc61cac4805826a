"""`authorium setup`: what a deployment needs before its services start: migrations, signing keys, the notes API in
the resource registry, and the demo client and demo user when the environment declares them. Idempotent; replicas
and jobs may run it at once."""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg
from redis.exceptions import RedisError

from authorium_shared.errors import OAuthError
from authorium_shared.migrations import Timeouts, migrate
from authorium_shared.redis_keys import RedisKeys
from authorium_shared.resources import create_pg_pool, create_redis
from authorium_shared.settings import ConfigError, env_raw
from authz.clients.cache import announce_change
from authz.clients.records import ClientSpec
from authz.clients.registration import build_spec, declare_client
from authz.resources.records import ResourceConflict
from authz.resources.registry import announce_change as announce_resources
from authz.resources.repository import ResourceRepository
from authz.scopes import ADMIN_SCOPE
from authz.settings import AuthzSettings
from authz.signing.lifecycle import ensure as ensure_keys
from authz.users.passwords import Passwords
from authz.users.repository import UsernameTaken, UserRepository
from client_demo.settings import BACKCHANNEL_LOGOUT_PATH, DEFAULT_SCOPE, POST_LOGOUT_PATH, ClientDemoSettings

DEMO_USERNAME = "demo"
DEMO_NAME = "Demo User"
DEMO_CLIENT_NAME = "Authorium demo client"
# Setting either registers the demo client (and then both must be set).
DEMO_CLIENT_VARIABLES = ("AUTHORIUM_CLIENT_DEMO_CLIENT_ID", "AUTHORIUM_CLIENT_DEMO_CLIENT_SECRET")
# Likewise the first admin client, which may call the admin API.
ADMIN_CLIENT_VARIABLES = ("AUTHORIUM_ADMIN_CLIENT_ID", "AUTHORIUM_ADMIN_CLIENT_SECRET")
ADMIN_CLIENT_NAME = "Authorium admin"


async def ensure_demo_user(pool: asyncpg.Pool, password: str) -> bool:
    """Make sure the demo user exists with `password`; True if it was created."""
    users = UserRepository(pool)
    try:
        with Passwords(workers=1) as passwords:
            password_hash = await passwords.hash(password)
    except ValueError as exc:
        raise ConfigError("AUTHORIUM_DEMO_PASSWORD", str(exc)) from None
    user = await users.find_by_username(DEMO_USERNAME)
    if user is None:
        try:
            await users.create(DEMO_USERNAME, password_hash, name=DEMO_NAME)
            return True
        except UsernameTaken:  # another setup run created it a moment ago
            user = await users.find_by_username(DEMO_USERNAME)
            assert user is not None
    await users.set_password(user.user_id, password_hash)
    return False


async def _declare(
    pool: asyncpg.Pool, client_id: str, spec: ClientSpec, secret: str, variables: tuple[str, str]
) -> None:
    """Register `client_id` as `spec` with `secret` (idempotent); a refusal names the variable at fault, the id's or
    the secret's (`variables`, in that order)."""
    try:
        await declare_client(pool, client_id, spec, secret)
    except OAuthError as exc:
        problem = exc.description or exc.error
        id_variable, secret_variable = variables
        variable = secret_variable if problem.startswith("client_secret") else id_variable
        raise ConfigError(variable, f"cannot be used: {problem}") from None


async def ensure_demo_client(
    pool: asyncpg.Pool,
    client_id: str,
    secret: str,
    demo_url: str,
    scope: str = DEFAULT_SCOPE,
    backchannel_logout_uri: str | None = None,
) -> None:
    """The demo's registration: its callback, where the browser comes back after signing out (RP-Initiated Logout
    1.0), and where logout tokens go (Back-Channel Logout 1.0; `demo_url`'s own unless the authorization server
    reaches the demo elsewhere, AUTHORIUM_CLIENT_DEMO_BACKCHANNEL_LOGOUT_URI)."""
    spec = build_spec(
        name=DEMO_CLIENT_NAME,
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[demo_url + "/callback"],
        scope=scope,
        public=False,
        post_logout_redirect_uris=[demo_url + POST_LOGOUT_PATH],
        backchannel_logout_uri=backchannel_logout_uri or demo_url + BACKCHANNEL_LOGOUT_PATH,
        backchannel_logout_session_required=True,
    )
    await _declare(pool, client_id, spec, secret, DEMO_CLIENT_VARIABLES)


async def ensure_admin_client(pool: asyncpg.Pool, client_id: str, secret: str) -> None:
    """Make sure `client_id` is registered as an admin client (client credentials, scope authorium:admin) with
    `secret`; idempotent."""
    spec = build_spec(
        name=ADMIN_CLIENT_NAME, grant_types=["client_credentials"], redirect_uris=[], scope=ADMIN_SCOPE, public=False
    )
    await _declare(pool, client_id, spec, secret, ADMIN_CLIENT_VARIABLES)


async def ensure_notes_api(pool: asyncpg.Pool, settings: AuthzSettings) -> bool:
    """Make sure the notes API is registered as AUTHORIUM_RESOURCE_URL (RFC 8707), the default resource; True if
    this registered or moved it (running servers are told)."""
    try:
        changed = await ResourceRepository(pool, settings).declare_notes_api()
    except ResourceConflict as exc:
        raise ConfigError("AUTHORIUM_RESOURCE_URL", f"cannot register the notes API: {exc.message}") from None
    if changed:
        redis = create_redis(settings.common.redis_url)
        try:
            await announce_resources(redis, RedisKeys(settings.common.redis_prefix))
        except (RedisError, OSError):
            pass  # nothing is serving yet, or servers reload the registry on their own within half a minute
        finally:
            await redis.aclose()
    return changed


async def _announce(settings: AuthzSettings, client_id: str) -> None:
    """Running authorization servers drop their cached copy of the client at once (else within a minute)."""
    redis = create_redis(settings.common.redis_url)
    try:
        await announce_change(redis, RedisKeys(settings.common.redis_prefix), client_id)
    except (RedisError, OSError):
        pass  # nothing is serving yet (the usual case for a set-up job), or the cache expires on its own
    finally:
        await redis.aclose()


async def setup(environ: Mapping[str, str]) -> list[str]:
    """Returns what was done, one line each."""
    settings = AuthzSettings.from_env(environ)
    applied = await migrate(settings.common.database_url, Timeouts.from_env(environ))
    done = [f"applied migration {m.component} {m.version:04d}_{m.name}" for m in applied]
    pool = await create_pg_pool(settings.common.database_url, max_size=2)
    try:
        done += [f"{plan.alg}: signing key {plan.promote or 'created'}" for plan in await ensure_keys(pool, settings)]
        if await ensure_notes_api(pool, settings):
            done.append(f"notes API registered as {settings.resource_url}")
        if any(env_raw(environ, name) for name in DEMO_CLIENT_VARIABLES):
            # Read as the demo client itself reads it, so the two cannot disagree.
            demo = ClientDemoSettings.from_env(environ)
            await ensure_demo_client(
                pool, demo.client_id, demo.client_secret, demo.public_url, demo.scope, demo.backchannel_logout_uri
            )
            await _announce(settings, demo.client_id)
            done.append(f"demo client {demo.client_id} registered for {demo.redirect_uri}")
        if any(env_raw(environ, name) for name in ADMIN_CLIENT_VARIABLES):
            client_id, secret = (env_raw(environ, name) for name in ADMIN_CLIENT_VARIABLES)
            for name, value in zip(ADMIN_CLIENT_VARIABLES, (client_id, secret), strict=True):
                if not value:
                    raise ConfigError(name, f"must be set with {' and '.join(ADMIN_CLIENT_VARIABLES)}")
            await ensure_admin_client(pool, client_id, secret)
            await _announce(settings, client_id)
            done.append(f"admin client {client_id} registered (scope {ADMIN_SCOPE})")
        password = env_raw(environ, "AUTHORIUM_DEMO_PASSWORD")
        if password:
            created = await ensure_demo_user(pool, password)
            done.append(f"demo user {DEMO_USERNAME!r} {'created' if created else 'password set'}")
    finally:
        await pool.close()
    return done
