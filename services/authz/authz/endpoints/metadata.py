"""Authorization server metadata (RFC 8414 section 3) and OpenID Connect Discovery 1.0 section 4.

Lists exactly what this server implements, nothing it does not."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from authorium_shared.middleware import json_response
from authz.appkeys import SETTINGS
from authz.settings import AuthzSettings

JWKS_PATH = "/jwks.json"


def build_metadata(settings: AuthzSettings) -> dict[str, Any]:
    issuer = settings.issuer
    return {
        "issuer": issuer,
        "jwks_uri": issuer + JWKS_PATH,
        # Nothing is issued through the authorization endpoint yet.
        "response_types_supported": [],
        "grant_types_supported": [],
        "scopes_supported": [],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
    }


async def metadata(request: web.Request) -> web.Response:
    """Served at both well-known paths: one document, so the two can never disagree."""
    return json_response(build_metadata(request.app[SETTINGS]), headers={"Cache-Control": "public, max-age=300"})
