"""Token exchange (RFC 8693) for delegation between internal services: a confidential client presents a user's
access token it received (`subject_token`, section 2.1) and gets an access token for another registered resource,
for the same user (`sub`), naming itself as the actor (`act`, section 4.1, nested for chains), with the same or
fewer scopes, under the same grant (so revoking the user's grant revokes it too), living no longer than the
subject token. Which client may exchange towards which resource is the operator's policy (`may_exchange_for`).

Errors (section 2.2.2): a request that is not valid, or a subject_token that is invalid for any reason or
unacceptable by policy, is `invalid_request` (the section says MUST); a target that is unknown or that this client
may not exchange towards is `invalid_target`; scopes beyond what the subject token and the target allow are
`invalid_scope` (RFC 6749 section 5.2)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from authorium_shared import access_tokens
from authorium_shared.errors import InvalidRequest, InvalidScope, InvalidTarget, UnauthorizedClient
from authorium_shared.jwt import TokenInvalid
from authz.appkeys import ACCESS_TOKENS, AUDIT, MINTER, RESOURCES, SETTINGS, USERS
from authz.clients.records import Client
from authz.forms import require
from authz.grants.request import TokenRequest
from authz.resources import indicators
from authz.resources.records import ADMIN_ID, Resource
from authz.resources.registry import Registry
from authz.scopes import parse_scope
from authz.tokens.minter import Issue, access_token_lifetime, new_jti

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
# Section 3: the token type identifier of an OAuth 2.0 access token; the only type exchanged and issued here.
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
# The claim naming who acts (section 4.1) and who may (section 4.4).
ACT_CLAIM = "act"
MAY_ACT_CLAIM = "may_act"
# Each exchange wraps the previous actor in a new `act`; a chain this deep is a loop, not a design.
MAX_CHAIN = 8
# Section 2.2.2: when "the subject_token or actor_token are invalid for any reason, or are unacceptable based on
# policy", the error "MUST be the invalid_request error code", not RFC 6749's invalid_grant.
SubjectTokenRefused = InvalidRequest


def check_token_types(params: Mapping[str, str]) -> None:
    """Section 2.1: `subject_token_type` names an access token (the only type this server exchanges); a
    `requested_token_type`, if any, asks for one too; `actor_token` is not supported (the calling client, which
    authenticated, is the actor), and `actor_token_type` must not come without it."""
    subject_type = require(params, "subject_token_type")
    if subject_type != ACCESS_TOKEN_TYPE:
        raise InvalidRequest(f"subject_token_type must be {ACCESS_TOKEN_TYPE}: only access tokens are exchanged here")
    requested = params.get("requested_token_type")
    if requested is not None and requested != ACCESS_TOKEN_TYPE:
        raise InvalidRequest(f"requested_token_type must be {ACCESS_TOKEN_TYPE}: only access tokens are issued here")
    if "actor_token" in params:
        raise InvalidRequest(
            "actor_token is not supported: the authenticated client is the actor, named in the issued token's act"
        )
    if "actor_token_type" in params:
        raise InvalidRequest("actor_token_type must not be sent without actor_token (RFC 8693 section 2.1)")


def check_may_act(claims: Mapping[str, Any], client_id: str) -> None:
    """Section 4.4: a subject token carrying `may_act` may be exchanged only by the party it names."""
    if MAY_ACT_CLAIM not in claims:
        return
    may_act = claims[MAY_ACT_CLAIM]
    if not isinstance(may_act, dict) or may_act.get("sub") != client_id:
        raise SubjectTokenRefused("the subject_token's may_act does not name this client (RFC 8693 section 4.4)")


def nested_act(client_id: str, previous: object) -> dict[str, Any]:
    """Section 4.1: the caller is the current actor; an actor the subject token already names becomes its `act`."""
    act: dict[str, Any] = {"sub": client_id}
    if previous is None:
        return act
    depth, current = 0, previous
    while isinstance(current, dict):
        if not isinstance(current.get("sub"), str):
            raise SubjectTokenRefused("the subject_token's act claim is malformed")
        depth, current = depth + 1, current.get(ACT_CLAIM)
    if current is not None:
        raise SubjectTokenRefused("the subject_token's act claim is malformed")
    if depth >= MAX_CHAIN:
        raise SubjectTokenRefused(f"the delegation chain is longer than {MAX_CHAIN} exchanges")
    act[ACT_CLAIM] = previous
    return act


def choose_targets(
    registry: Registry, client: Client, resources: Sequence[str], audiences: Sequence[str]
) -> tuple[Resource, ...]:
    """The registered resources the new token is for (section 2.1: `resource` and `audience`; an audience is the
    identifier of a registered resource), each one the operator lets this client exchange towards.

    A resource that exists but that this client may not exchange towards is `invalid_target`, not
    `unauthorized_client`: section 2.2.2 gives invalid_target when the server is "unwilling or unable to issue a
    token for any target service indicated by the resource or audience parameters", while unauthorized_client
    (RFC 6749 section 5.2) is about the grant type, which this client is registered for."""
    # The operator's policy (`authorium client create --may-exchange-for`, the admin API's `may_exchange_for`).
    allowed = client.may_exchange_for
    named = tuple(dict.fromkeys((*resources, *audiences)))
    if len(named) > indicators.MAX_RESOURCES:
        raise InvalidRequest(f"at most {indicators.MAX_RESOURCES} resource and audience values together")
    if not named:
        if len(allowed) != 1:
            raise InvalidTarget("name the target service with resource or audience (RFC 8693 section 2.1)")
        named = allowed
    targets: list[Resource] = []
    for identifier in named:
        found = registry.find(identifier)
        if found is None:
            raise InvalidTarget(f"{identifier[:100]} is not a resource registered at this server")
        if found.resource_id == ADMIN_ID:
            # The admin API is for the operator's admin clients acting for themselves, never on a user's behalf.
            raise InvalidTarget("the admin API is not a target of token exchange")
        if identifier not in allowed:
            raise InvalidTarget(f"this client may not exchange tokens towards {identifier[:100]}")
        targets.append(found)
    return tuple(targets)


def choose_scopes(requested: Sequence[str], held: Sequence[str], targets: Sequence[Resource]) -> tuple[str, ...]:
    """The new token's scopes: those asked for, each held by the subject token and declared by a target (never
    wider, section 1.1's delegation); without `scope`, every scope of the subject token a target accepts."""
    declared = {scope for r in targets for scope in r.scopes}
    if not requested:
        scopes = tuple(s for s in held if s in declared)
        if not scopes:
            raise InvalidScope("the subject_token holds no scope the target service accepts")
        return scopes
    beyond = [s for s in requested if s not in held]
    if beyond:
        raise InvalidScope(f"{' '.join(beyond)} is beyond the scopes of the subject_token")
    foreign = [s for s in requested if s not in declared]
    if foreign:
        raise InvalidScope(f"{' '.join(foreign)} is not a scope of the target service")
    return tuple(requested)


async def exchange(request: TokenRequest) -> dict[str, Any]:
    client, app, params = request.client, request.app, request.params
    if client.is_public:
        # Section 2.1 leaves client authentication to the server; delegation between services needs it.
        raise UnauthorizedClient("token exchange is for confidential clients: this one has no credentials")
    presented = require(params, "subject_token")
    check_token_types(params)
    requested = parse_scope(params.get("scope"))
    reader = app[ACCESS_TOKENS]
    try:
        # Any access token of this issuer, whatever its audience: signature by the key ring, iss, exp, typ at+jwt.
        claims = reader.read(presented)
    except TokenInvalid as exc:
        raise SubjectTokenRefused(f"the subject_token is not an access token of this server: {exc.reason}") from None
    if reader.is_revoked(claims):
        raise SubjectTokenRefused("the subject_token was revoked")
    subject, grant_id = claims["sub"], claims.get(access_tokens.GRANT_ID_CLAIM)
    if subject == claims["client_id"]:
        raise SubjectTokenRefused("the subject_token is a client's own token (client credentials), not a user's")
    if not isinstance(grant_id, str) or not isinstance(subject, str):
        raise SubjectTokenRefused("the subject_token names no grant of a user")
    check_may_act(claims, client.client_id)
    act = nested_act(client.client_id, claims.get(ACT_CLAIM))
    try:
        user = await app[USERS].get(uuid.UUID(subject))
    except ValueError:
        user = None
    if user is None or user.disabled:
        raise SubjectTokenRefused("the subject_token's user no longer exists or is disabled")

    registry = app[RESOURCES].current
    targets = choose_targets(registry, client, request.resources, request.audiences)
    held = parse_scope(claims.get("scope")) if isinstance(claims.get("scope"), str) else ()
    target = indicators.Target(targets, choose_scopes(requested, held, targets))
    settings = app[SETTINGS]
    now = int(time.time())
    remaining = int(claims["exp"]) - now
    if remaining <= 0:
        raise SubjectTokenRefused("the subject_token has expired")
    lifetime = min(registry.lifetime(target.identifiers, access_token_lifetime(settings, client)), remaining)
    jti = new_jti()
    await app[AUDIT].record(
        "token_exchanged",
        client_id=client.client_id,
        user_id=user.user_id,
        remote_addr=request.remote,
        details={
            "grant_id": grant_id,
            "subject_client_id": claims["client_id"],
            "audience": list(target.identifiers),
            "scope": " ".join(target.scopes),
            "jti": jti,
        },
    )
    body = app[MINTER].issue(
        Issue(
            client=client,
            subject=subject,
            scopes=target.scopes,
            audience=target.audience(settings.issuer),
            jti=jti,
            issued_at=now,
            lifetime=lifetime,
            grant_id=grant_id,
            auth_time=claims["auth_time"] if isinstance(claims.get("auth_time"), int) else None,
            act=act,
            # Disabling or deleting the caller revokes this token too, as it revokes the caller's own.
            client_grant_id=str(client.service_grant_id) if client.service_grant_id else None,
            # A proof with the request binds the new token to the caller's key (RFC 9449 section 5).
            dpop_jkt=request.dpop_jkt,
        )
    )
    # Section 2.2.1: no refresh token (the subject token is the way back), and the type of what was issued.
    return {**body, "issued_token_type": ACCESS_TOKEN_TYPE}
