"""Authorization server metadata (RFC 8414 section 2) and OpenID Connect Discovery 1.0 section 3.

Lists exactly what this server implements, nothing it does not."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web

from authorium_shared import dpop
from authorium_shared.keys import ALGORITHMS
from authorium_shared.middleware import json_response
from authz.appkeys import RESOURCES, SETTINGS
from authz.authorization.checks import PROMPTS
from authz.authorization.pkce import METHOD as PKCE_METHOD
from authz.clients.assertions import SIGNING_ALGORITHMS
from authz.clients.authentication import AUTH_METHODS
from authz.endpoints import paths
from authz.factors.assurance import ACR_VALUES
from authz.grants import GRANT_TYPES
from authz.settings import AuthzSettings


def build_metadata(settings: AuthzSettings, scopes: Sequence[str]) -> dict[str, Any]:
    """`scopes`: every scope this server knows (OpenID Connect's and the registered resources')."""
    issuer = settings.issuer
    auth_methods = list(AUTH_METHODS)
    # private_key_jwt's assertions (RFC 8414 section 2: required once private_key_jwt is listed).
    assertion_algs = list(SIGNING_ALGORITHMS)
    meta: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": issuer + paths.AUTHORIZE,
        "token_endpoint": issuer + paths.TOKEN,
        "jwks_uri": issuer + paths.JWKS,
        "userinfo_endpoint": issuer + paths.USERINFO,
        "revocation_endpoint": issuer + paths.REVOKE,
        "introspection_endpoint": issuer + paths.INTROSPECT,
        # OpenID Connect RP-Initiated Logout 1.0 section 2.1 and Back-Channel Logout 1.0 section 2.1.
        "end_session_endpoint": issuer + paths.END_SESSION,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "device_authorization_endpoint": issuer + paths.DEVICE_AUTHORIZATION,
        "scopes_supported": list(scopes),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": sorted(GRANT_TYPES),
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "revocation_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "introspection_endpoint_auth_signing_alg_values_supported": assertion_algs,
        # RFC 9126 section 5.
        "pushed_authorization_request_endpoint": issuer + paths.PAR,
        "require_pushed_authorization_requests": settings.require_par,
        "code_challenge_methods_supported": [PKCE_METHOD],
        "authorization_response_iss_parameter_supported": True,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(ALGORITHMS),
        "prompt_values_supported": list(PROMPTS),
        "acr_values_supported": list(ACR_VALUES),
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "acr",
            "amr",
            "nonce",
            "at_hash",
            "sid",
            "preferred_username",
            "name",
            "email",
            "email_verified",
        ],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        # RFC 9449 section 5.1: the token endpoint takes DPoP proofs signed with these.
        "dpop_signing_alg_values_supported": list(dpop.ALGORITHMS),
    }
    if settings.registration_token is not None:
        meta["registration_endpoint"] = issuer + paths.REGISTER
    return meta


async def metadata(request: web.Request) -> web.Response:
    """Served at both well-known paths: one document, so the two can never disagree."""
    scopes = request.app[RESOURCES].current.known_scopes
    document = build_metadata(request.app[SETTINGS], scopes)
    return json_response(document, headers={"Cache-Control": "public, max-age=300"})
