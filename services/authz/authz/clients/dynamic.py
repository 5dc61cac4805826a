"""Clients that register themselves (RFC 7591): client metadata documents read into a `ClientSpec` under the
operator's registration policy, and a registered client written back as a client information response. The rules
every registration follows, the CLI's included, are `authz.clients.registration`'s."""

from __future__ import annotations

from typing import Any

from authorium_shared.errors import InvalidClientMetadata
from authz.clients.records import Client, ClientSpec
from authz.clients.registration import build_spec
from authz.scopes import DEFAULT_CLIENT_SCOPES
from authz.settings import AuthzSettings

DEFAULT_NAME = "Unnamed client"
# RFC 7591 section 2: the method when the document names none.
DEFAULT_AUTH_METHOD = "client_secret_basic"


def _string(document: dict[str, Any], name: str) -> str | None:
    value = document.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidClientMetadata(f"{name} must be a string")
    return value


def _strings(document: dict[str, Any], name: str, default: list[str]) -> list[str]:
    value = document.get(name)
    if value is None:
        return default
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidClientMetadata(f"{name} must be an array of strings")
    return value


def default_scope(settings: AuthzSettings) -> tuple[str, ...]:
    """What a client that names no scope gets (RFC 7591 section 2): DEFAULT_CLIENT_SCOPES, as far as the policy
    allows them."""
    return tuple(s for s in DEFAULT_CLIENT_SCOPES if s in settings.registration_scopes)


def check_policy(spec: ClientSpec, settings: AuthzSettings) -> None:
    """The operator's registration policy (RFC 7591 section 3.2.2): grant types and scopes beyond it are
    `invalid_client_metadata`. (Redirect URIs follow the rules every registration does.)"""
    grants = [g for g in spec.grant_types if g not in settings.registration_grant_types]
    if grants:
        raise InvalidClientMetadata(
            f"grant type {', '.join(grants)} is not open to registration here;"
            f" a registered client may use {', '.join(settings.registration_grant_types)}"
        )
    scopes = [s for s in spec.scopes if s not in settings.registration_scopes]
    if scopes:
        raise InvalidClientMetadata(
            f"scope {' '.join(scopes)} is not open to registration here;"
            f" a registered client may ask for {' '.join(settings.registration_scopes)}"
        )


def read_metadata(document: object, settings: AuthzSettings) -> ClientSpec:
    """A client metadata document (RFC 7591 section 2) as a spec within the policy. A member that is absent or null
    (or an empty `scope` or `client_name`) takes the section's default; RFC 7592 section 2.2 reads an omitted member
    as deleted, which comes to the same. Members this server does not use are ignored, as section 2 requires."""
    if not isinstance(document, dict):
        raise InvalidClientMetadata("the body must be a JSON object")
    grant_types = _strings(document, "grant_types", ["authorization_code"])
    response_types = _strings(document, "response_types", ["code"] if "authorization_code" in grant_types else [])
    # Section 2.1: response types and grant types must agree.
    if response_types not in ([], ["code"]) or (response_types == ["code"]) != ("authorization_code" in grant_types):
        raise InvalidClientMetadata('response_types must be ["code"] exactly when authorization_code is used')
    scope = _string(document, "scope") or " ".join(default_scope(settings))
    if not scope:
        raise InvalidClientMetadata(
            f"scope is required here: a registered client may ask for {' '.join(settings.registration_scopes)}"
        )
    method = _string(document, "token_endpoint_auth_method") or DEFAULT_AUTH_METHOD
    spec = build_spec(
        name=_string(document, "client_name") or DEFAULT_NAME,
        grant_types=grant_types,
        redirect_uris=_strings(document, "redirect_uris", []),
        scope=scope,
        public=method == "none",
        token_endpoint_auth_method=method,
        id_token_signed_response_alg=_string(document, "id_token_signed_response_alg") or "RS256",
    )
    check_policy(spec, settings)
    return spec


def client_information(client: Client) -> dict[str, Any]:
    """The registered metadata of a client information response (RFC 7591 section 3.2.1), without its credentials."""
    return {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        "client_name": client.name,
        "redirect_uris": list(client.redirect_uris),
        "grant_types": list(client.grant_types),
        "response_types": ["code"] if "authorization_code" in client.grant_types else [],
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "scope": " ".join(client.scopes),
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
    }
