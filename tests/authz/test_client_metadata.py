"""The second round's client metadata, each member named as its specification names it: how registration checks it
(pure rules), and that it round-trips through RFC 7591 registration and the admin API.
RP-Initiated Logout 1.0 section 3.1, Back-Channel Logout 1.0 section 2.2, RFC 7591 section 2 (jwks, jwks_uri),
RFC 9449 section 5.2, RFC 9126 section 6, and the operator's RFC 8693 exchange policy."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from authorium_shared.errors import OAuthError
from authz.clients.registration import build_spec
from tests.authz.test_register import register, service_authz  # noqa: F401 - fixture

WEB = {
    "name": "app",
    "grant_types": ["authorization_code"],
    "redirect_uris": ["https://app.example/cb"],
    "scope": "openid",
    "public": False,
}


def public_jwks() -> dict[str, Any]:
    key = ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key(), as_dict=True)
    return {"keys": [{**key, "kid": "k1", "alg": "ES256", "use": "sig"}]}


def private_jwks() -> dict[str, Any]:
    return {"keys": [ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()), as_dict=True)]}


def field_of(**fields: Any) -> str | None:
    with pytest.raises(OAuthError) as caught:
        build_spec(**{**WEB, **fields})
    return caught.value.field


def test_rfc7591_section2_private_key_jwt_needs_public_keys_and_gets_no_secret() -> None:
    """RFC 7591 section 2: `jwks` and `jwks_uri` MUST NOT both be present; a private_key_jwt client (RFC 7523) needs
    one; a JWK Set holding a private or symmetric key is refused, since registration publishes it."""
    spec = build_spec(**WEB, token_endpoint_auth_method="private_key_jwt", jwks=public_jwks())
    assert not spec.takes_secret and not spec.is_public
    assert field_of(token_endpoint_auth_method="private_key_jwt") == "jwks"
    assert field_of(jwks=public_jwks(), jwks_uri="https://app.example/jwks") == "jwks"
    assert field_of(jwks=private_jwks()) == "jwks"
    assert field_of(jwks={"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}) == "jwks"
    assert field_of(jwks={"keys": "nope"}) == "jwks"
    assert field_of(jwks={"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}) == "jwks"
    assert field_of(jwks_uri="http://app.example/jwks") == "jwks_uri"  # https only, off loopback
    assert build_spec(**WEB, jwks_uri="https://app.example/jwks").jwks_uri == "https://app.example/jwks"


def test_logout_uris_follow_the_redirect_uri_rules() -> None:
    """RP-Initiated Logout 1.0 section 3.1 and Back-Channel Logout 1.0 section 2.2: absolute URIs without a fragment;
    https off loopback, as redirect URIs are."""
    spec = build_spec(
        **WEB,
        post_logout_redirect_uris=["https://app.example/bye", "https://app.example/bye"],
        backchannel_logout_uri="https://app.example/backchannel",
        backchannel_logout_session_required=True,
    )
    assert spec.post_logout_redirect_uris == ("https://app.example/bye",)
    assert field_of(post_logout_redirect_uris=["https://app.example/bye#x"]) == "post_logout_redirect_uris"
    assert field_of(post_logout_redirect_uris=["http://app.example/bye"]) == "post_logout_redirect_uris"
    assert field_of(backchannel_logout_uri="/relative") == "backchannel_logout_uri"
    assert field_of(backchannel_logout_session_required=True) == "backchannel_logout_session_required"


def test_exchange_targets_are_resource_identifiers() -> None:
    """RFC 8707 section 2: a resource is an absolute URI without a fragment."""
    spec = build_spec(**WEB, may_exchange_for=["https://inventory.example/"], dpop_bound_access_tokens=True)
    assert spec.may_exchange_for == ("https://inventory.example/",) and spec.dpop_bound_access_tokens
    assert field_of(may_exchange_for=["not a uri"]) == "may_exchange_for"


async def test_rfc7591_registration_round_trips_the_members_but_never_the_exchange_policy(
    service_authz: str,  # noqa: F811
    http: aiohttp.ClientSession,
) -> None:
    """RFC 7591 section 3.2.1: the response carries the registered metadata, including members defined by other
    specifications; `may_exchange_for` is the operator's to set, and is ignored as a member this server does not
    take from clients (section 2)."""
    keys = public_jwks()
    status, answer, _ = await register(
        http,
        service_authz,
        {
            "grant_types": ["client_credentials"],
            "scope": "notes:read",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": keys,
            "dpop_bound_access_tokens": True,
            "require_pushed_authorization_requests": True,
            "may_exchange_for": ["https://inventory.example/"],
        },
    )
    assert status == 201, answer
    assert "client_secret" not in answer and "client_secret_expires_at" not in answer
    assert answer["jwks"] == keys and answer["token_endpoint_auth_method"] == "private_key_jwt"
    assert answer["dpop_bound_access_tokens"] is True and answer["require_pushed_authorization_requests"] is True
    assert "may_exchange_for" not in answer

    status, answer, _ = await register(http, service_authz, {"dpop_bound_access_tokens": "yes"})
    assert (status, answer["error"]) == (400, "invalid_client_metadata")
