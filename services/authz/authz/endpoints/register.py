"""Dynamic client registration (RFC 7591), open only to holders of the operator's initial access token
(section 3, AUTHORIUM_REGISTRATION_TOKEN), within the operator's registration policy (section 3.2.2,
`authz.clients.dynamic`)."""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import quote

import orjson
from aiohttp import web

from authorium_shared.appkeys import PG_POOL
from authorium_shared.bearer import bearer_token, refuse
from authorium_shared.errors import InvalidClientMetadata, InvalidToken
from authorium_shared.middleware import NO_STORE, json_response
from authz.appkeys import SETTINGS
from authz.clients.dynamic import client_information, new_registration_access_token, read_metadata
from authz.clients.records import Client
from authz.clients.registration import register_client
from authz.endpoints import paths
from authz.settings import AuthzSettings

REALM = "authorium-registration"


async def read_document(request: web.Request) -> Any:
    """The JSON body of a registration or update request; section 3.2.2's error for anything else."""
    if request.content_type != "application/json":
        raise InvalidClientMetadata("the body must be a JSON object (application/json)")
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise InvalidClientMetadata("the body is not valid JSON") from None
    except web.HTTPRequestEntityTooLarge:
        # Section 3.2.2's JSON error rather than aiohttp's plain text, with the status that says what is wrong.
        raise InvalidClientMetadata("the body is too large", status=413) from None


def registration_client_uri(settings: AuthzSettings, client_id: str) -> str:
    return settings.issuer + paths.CLIENT_CONFIGURATION.format(client_id=quote(client_id, safe=""))


def information_response(settings: AuthzSettings, client: Client, token: str) -> dict[str, Any]:
    """A client information response (section 3.2.1, with RFC 7592 section 3's two members). The registration access
    token is the one just issued or presented: it is not rotated. The secret is added only when it is issued; it
    cannot be shown again, since only its digest is kept."""
    answer = client_information(client)
    if client.takes_secret:
        answer["client_secret_expires_at"] = 0
    answer["registration_client_uri"] = registration_client_uri(settings, client.client_id)
    answer["registration_access_token"] = token
    return answer


async def register(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    expected = settings.registration_token
    presented = bearer_token(request, REALM)
    if expected is None or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise refuse(InvalidToken("the initial access token is not valid"), REALM)
    spec = read_metadata(await read_document(request), settings)
    token = new_registration_access_token()
    client, secret = await register_client(request.app[PG_POOL], spec, registration_access_token=token)
    answer = information_response(settings, client, token)
    if secret is not None:
        answer["client_secret"] = secret
    return json_response(answer, status=201, headers=NO_STORE)
