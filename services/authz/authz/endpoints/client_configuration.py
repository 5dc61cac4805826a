"""The client configuration endpoint (RFC 7592): a client that registered itself reads (section 2.1), replaces
(section 2.2) or deletes (section 2.3) its registration, with the registration access token it was given. Served
only while registration is on. A token that is missing, wrong, or not this client's, and a client that does not
exist, all get the same RFC 6750 refusal, so nobody learns which clients exist."""

from __future__ import annotations

from aiohttp import web

from authorium_shared.appkeys import PG_POOL, REDIS, REDIS_KEYS
from authorium_shared.bearer import bearer_token, refuse
from authorium_shared.errors import InvalidToken, OAuthError
from authorium_shared.middleware import NO_STORE, json_response
from authz.appkeys import AUDIT, CLIENTS, REVOKER, SETTINGS
from authz.clients import credentials
from authz.clients.cache import announce_change
from authz.clients.dynamic import (
    delete_client,
    read_update,
    registration_token_matches,
    replace_client,
)
from authz.clients.records import Client
from authz.endpoints.register import REALM, information_response, read_document


def _refused() -> OAuthError:
    return refuse(InvalidToken("the registration access token is not valid for this client"), REALM)


async def _authorized(request: web.Request) -> tuple[Client, str]:
    """The client the path names, if the request carries its registration access token; else 401 invalid_token."""
    token = bearer_token(request, REALM)
    client_id = request.match_info["client_id"]
    client = (
        # From Postgres, not the cache: a registration just replaced on another replica must not be read stale.
        await request.app[CLIENTS].repository.get(client_id) if credentials.could_be_client_id(client_id) else None
    )
    if not registration_token_matches(token, client):
        raise _refused()
    assert client is not None
    return client, token


async def _announce(app: web.Application, client_id: str) -> None:
    """Every replica (this one at once) drops its cached copy of the client."""
    app[CLIENTS].invalidate(client_id)
    await announce_change(app[REDIS], app[REDIS_KEYS], client_id)


async def read(request: web.Request) -> web.Response:
    client, token = await _authorized(request)
    return json_response(information_response(request.app[SETTINGS], client, token), headers=NO_STORE)


async def update(request: web.Request) -> web.Response:
    client, token = await _authorized(request)
    settings = request.app[SETTINGS]
    spec = read_update(await read_document(request), client, settings)
    updated = await replace_client(
        request.app[PG_POOL], request.app[AUDIT], client.client_id, spec, remote_addr=request.remote
    )
    if updated is None:  # deleted while this request was under way
        raise _refused()
    await _announce(request.app, client.client_id)
    return json_response(information_response(settings, updated, token), headers=NO_STORE)


async def delete(request: web.Request) -> web.Response:
    client, _ = await _authorized(request)
    app = request.app
    if not await delete_client(app[PG_POOL], app[AUDIT], app[REVOKER], client.client_id, remote_addr=request.remote):
        raise _refused()
    await _announce(app, client.client_id)
    return web.Response(status=204, headers=NO_STORE)
