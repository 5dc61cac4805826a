"""Client registration rules shared by `authorium client create` and RFC 7591 dynamic registration."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import jwt

from authorium_shared.errors import InvalidClientMetadata, InvalidRedirectUri, InvalidScope, OAuthError
from authorium_shared.jwt import MAX_KID_LENGTH
from authorium_shared.keys import ALGORITHMS
from authorium_shared.settings import is_loopback
from authz.audit import AuditLog
from authz.clients import credentials
from authz.clients.assertions import SIGNING_ALGORITHMS
from authz.clients.authentication import AUTH_METHODS
from authz.clients.records import Client, ClientSpec
from authz.clients.repository import ClientRepository
from authz.grants import GRANT_TYPES, device_code, token_exchange
from authz.resources.records import InvalidResource, check_identifier
from authz.resources.repository import declared_scopes, registered_identifiers
from authz.scopes import DEFAULT_CLIENT_SCOPES, USER_SCOPES, parse_scope
from authz.settings import BuiltInResources

MAX_REDIRECT_URIS = 20
# The notes and admin API identifiers when a caller names none: the settings' defaults.
DEFAULT_BUILT_IN = BuiltInResources()
# The grants that issue refresh tokens: those a person authorizes.
REFRESHABLE_GRANT_TYPES = ("authorization_code", device_code.GRANT_TYPE)
# A client's own token lifetimes, in seconds: the ranges the server's own settings allow.
ACCESS_TOKEN_TTL_RANGE = (30, 86400)
REFRESH_TOKEN_TTL_RANGE = (60, 365 * 86400)
MAX_URI_LENGTH = 2000
MAX_CLIENT_KEYS = 10
# The algorithms a client's own keys may sign with (its assertions, RFC 7523; its DPoP proofs, RFC 9449): asymmetric
# only, never `none` or an HMAC, whose "key" would be public.
ASSERTION_ALGORITHMS = SIGNING_ALGORITHMS
# JWK members that only a private (or symmetric) key has (RFC 7518 sections 6.2.2, 6.3.2 and 6.4; RFC 8037).
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_PRIVATE_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+$")  # reverse domain name (RFC 8252 7.1)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A declared client (one whose id and secret come from configuration) has an id of unreserved characters and
# a secret long enough to stand in for the 256 random bits the server would have made: it is stored as a fast
# SHA-256 digest, which only a high-entropy secret makes safe.
MAX_DECLARED_ID = 100
MIN_DECLARED_SECRET = 32
_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _bad(field: str, description: str, kind: type[OAuthError] = InvalidClientMetadata) -> OAuthError:
    """A registration error naming the client metadata member (RFC 7591 section 2) at fault."""
    error = kind(description)
    error.field = field
    return error


def check_redirect_uri_form(uri: str, *, public: bool) -> None:
    """RFC 6749 section 3.1.2, RFC 8252 section 7 and RFC 9700 section 2.1: absolute, no fragment, https
    except on loopback (an IP literal for native apps), or a private-use scheme for native (public) clients."""
    if not uri or len(uri) > MAX_URI_LENGTH or _CONTROL.search(uri) or " " in uri:
        raise InvalidRedirectUri(f"redirect URI must be 1 to {MAX_URI_LENGTH} characters without spaces")
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise InvalidRedirectUri(f"redirect URI {uri!r} is not a valid URI") from None
    if parts.fragment or "#" in uri:
        raise InvalidRedirectUri("redirect URI must not contain a fragment")
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        # RFC 8252 section 8.3: a native app listens on a loopback interface, and `localhost` may resolve to another
        # one (or elsewhere) than the app bound. A confidential web client on http://localhost (the docker-compose
        # demo) is a server the browser reaches by that same name, so it may keep it.
        if public and parts.hostname == "localhost":
            raise InvalidRedirectUri(
                f"redirect URI {uri!r}: a native app's loopback redirect URI uses 127.0.0.1 or [::1], not localhost"
                " (RFC 8252 section 8.3)"
            )
        return
    if public and _PRIVATE_SCHEME.fullmatch(parts.scheme) and parts.path.startswith("/"):
        return
    raise InvalidRedirectUri(
        f"redirect URI {uri!r} must use https, http on a loopback address, or a reverse-domain private scheme"
    )


def check_not_a_user_id(client_id: str) -> None:
    """A client-credentials token's `sub` is its client's id, and a user's token's `sub` is the user's id (a UUID):
    a client id a person chooses must not be one a user could have, or a service token could pass for a user's
    (RFC 9068 section 5, RFC 9700 section 4.15). Any form `uuid.UUID` reads counts, not only the canonical one."""
    try:
        uuid.UUID(client_id)
    except ValueError:
        return
    raise InvalidClientMetadata(
        "client_id must not have the form of a user id (a UUID): the subject of its service tokens would be "
        "mistaken for a user's"
    )


def build_spec(
    *,
    name: str,
    grant_types: Sequence[str],
    redirect_uris: Iterable[str],
    scope: str | None,
    public: bool,
    token_endpoint_auth_method: str | None = None,
    id_token_signed_response_alg: str = "RS256",
    metadata: dict[str, Any] | None = None,
    may_introspect: bool = False,
    access_token_ttl: int | None = None,
    refresh_token_ttl: int | None = None,
    post_logout_redirect_uris: Iterable[str] = (),
    backchannel_logout_uri: str | None = None,
    backchannel_logout_session_required: bool = False,
    jwks: object = None,
    jwks_uri: str | None = None,
    dpop_bound_access_tokens: bool = False,
    may_exchange_for: Iterable[str] = (),
    require_pushed_authorization_requests: bool = False,
) -> ClientSpec:
    """Validate a registration; raises InvalidClientMetadata / InvalidRedirectUri saying what is wrong. Without
    `scope`, the client may ask for DEFAULT_CLIENT_SCOPES. A `token_endpoint_auth_method` given is the only one the
    client may use; without one, a confidential client may use either secret method. `may_introspect` (any token of
    this issuer, RFC 7662 section 2.1) is the operator's to grant: dynamic registration never passes it, nor
    `may_exchange_for` (RFC 8693 token exchange towards those registered resources)."""
    name = name.strip()
    if not 1 <= len(name) <= 200 or _CONTROL.search(name):
        raise _bad("client_name", "client name must be 1 to 200 printable characters")
    grants = tuple(dict.fromkeys(grant_types))
    if not grants:
        raise _bad("grant_types", "at least one grant type is required")
    for grant in grants:
        if grant not in GRANT_TYPES:
            raise _bad(
                "grant_types",
                f"grant type {grant!r} is not supported; use {', '.join(GRANT_TYPES)}"
                + (" (RFC 9700 forbids password and implicit)" if grant in ("password", "implicit") else ""),
            )
    method = token_endpoint_auth_method or ("none" if public else "client_secret_basic")
    if method not in AUTH_METHODS:
        raise _bad("token_endpoint_auth_method", f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}")
    if public != (method == "none"):
        raise _bad(
            "token_endpoint_auth_method",
            "a public client authenticates with 'none'; a confidential one with a secret or its key",
        )
    if public and "client_credentials" in grants:
        raise _bad("grant_types", "a public client cannot use client_credentials: it has no secret")
    if public and token_exchange.GRANT_TYPE in grants:
        raise _bad("grant_types", "a public client cannot use token exchange: delegation is for authenticated services")
    if public and may_introspect:
        raise _bad("introspect", "a public client cannot introspect: it has no credentials (RFC 7662 section 2.1)")
    if "refresh_token" in grants and not set(grants) & set(REFRESHABLE_GRANT_TYPES):
        raise _bad("grant_types", f"refresh_token is only issued with {' or '.join(REFRESHABLE_GRANT_TYPES)}")
    uris = tuple(dict.fromkeys(redirect_uris))
    if len(uris) > MAX_REDIRECT_URIS:
        raise _bad("redirect_uris", f"at most {MAX_REDIRECT_URIS} redirect URIs", InvalidRedirectUri)
    for uri in uris:
        try:
            check_redirect_uri_form(uri, public=public)
        except InvalidRedirectUri as exc:
            exc.field = "redirect_uris"
            raise
    if "authorization_code" in grants and not uris:
        raise _bad("redirect_uris", "authorization_code needs at least one redirect URI", InvalidRedirectUri)
    try:
        scopes = parse_scope(scope) or DEFAULT_CLIENT_SCOPES
    except InvalidScope as exc:
        raise _bad("scope", exc.description or "scope is malformed") from None
    if id_token_signed_response_alg not in ALGORITHMS:
        raise _bad(
            "id_token_signed_response_alg", f"id_token_signed_response_alg must be one of {', '.join(ALGORITHMS)}"
        )
    for field, ttl, (low, high) in (
        ("access_token_ttl", access_token_ttl, ACCESS_TOKEN_TTL_RANGE),
        ("refresh_token_ttl", refresh_token_ttl, REFRESH_TOKEN_TTL_RANGE),
    ):
        if ttl is not None and not low <= ttl <= high:
            raise _bad(field, f"{field} must be {low} to {high} seconds (or null for the server's)")
    logout_uris = tuple(dict.fromkeys(post_logout_redirect_uris))
    if len(logout_uris) > MAX_REDIRECT_URIS:
        raise _bad("post_logout_redirect_uris", f"at most {MAX_REDIRECT_URIS} post-logout redirect URIs")
    for uri in (*logout_uris, *((backchannel_logout_uri,) if backchannel_logout_uri is not None else ())):
        field = "post_logout_redirect_uris" if uri in logout_uris else "backchannel_logout_uri"
        try:
            # RP-Initiated Logout 1.0 section 3.1 and Back-Channel Logout 1.0 section 2.2: absolute, no fragment, and
            # like a redirect URI (https, or http on loopback; a native app's private scheme after sign-out too).
            check_redirect_uri_form(uri, public=public and field == "post_logout_redirect_uris")
        except InvalidRedirectUri as exc:
            raise _bad(field, (exc.description or "").replace("redirect URI", field, 1)) from None
    if backchannel_logout_session_required and backchannel_logout_uri is None:
        raise _bad(
            "backchannel_logout_session_required", "backchannel_logout_session_required needs a backchannel_logout_uri"
        )
    key_set = check_jwks(jwks, jwks_uri)
    if method == "private_key_jwt" and key_set is None and jwks_uri is None:
        raise _bad(
            "jwks", "private_key_jwt needs the client's public keys: jwks or jwks_uri (RFC 7523, RFC 7591 section 2)"
        )
    if method == "private_key_jwt" and key_set is not None and not all(_has_kid(key) for key in key_set["keys"]):
        # The assertion's header names its key (authz.clients.assertions); a key without a kid could never be found.
        raise _bad(
            "jwks", "each key of a private_key_jwt client needs a kid, for its assertions to name (RFC 7517 4.5)"
        )
    targets = tuple(dict.fromkeys(may_exchange_for))
    for target in targets:
        try:
            check_identifier(target)
        except InvalidResource as exc:
            raise _bad("may_exchange_for", f"may_exchange_for: {exc}") from None
    return ClientSpec(
        name=name,
        grant_types=grants,
        redirect_uris=uris,
        scopes=scopes,
        token_endpoint_auth_method=method,
        id_token_signed_response_alg=id_token_signed_response_alg,
        metadata=metadata or {},
        auth_method_explicit=token_endpoint_auth_method is not None,
        may_introspect=may_introspect,
        access_token_ttl=access_token_ttl,
        refresh_token_ttl=refresh_token_ttl,
        post_logout_redirect_uris=logout_uris,
        backchannel_logout_uri=backchannel_logout_uri,
        backchannel_logout_session_required=backchannel_logout_session_required,
        jwks=key_set,
        jwks_uri=jwks_uri,
        dpop_bound_access_tokens=dpop_bound_access_tokens,
        may_exchange_for=targets,
        require_pushed_authorization_requests=require_pushed_authorization_requests,
    )


def _has_kid(key: dict[str, Any]) -> bool:
    kid = key.get("kid")
    return isinstance(kid, str) and 0 < len(kid) <= MAX_KID_LENGTH


def check_jwks(jwks: object, jwks_uri: str | None) -> dict[str, Any] | None:
    """A client's public keys (RFC 7591 section 2): `jwks`, a JWK Set of at most MAX_CLIENT_KEYS public keys pyjwt
    can use, or `jwks_uri`, where one is fetched (https, or http on loopback) — never both. Returns the set."""
    if jwks is not None and jwks_uri is not None:
        raise _bad("jwks", "jwks and jwks_uri must not both be given (RFC 7591 section 2)")
    if jwks_uri is not None:
        try:
            check_redirect_uri_form(jwks_uri, public=False)
        except InvalidRedirectUri:
            raise _bad(
                "jwks_uri", "jwks_uri must be an https URI (or http on a loopback address), without a fragment"
            ) from None
    if jwks is None:
        return None
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if (
        not isinstance(keys, list)
        or not 1 <= len(keys) <= MAX_CLIENT_KEYS
        or not all(isinstance(k, dict) for k in keys)
    ):
        raise _bad(
            "jwks", f'jwks must be a JWK Set: {{"keys": [...]}} with 1 to {MAX_CLIENT_KEYS} keys (RFC 7517 section 5)'
        )
    for key in keys:
        private = sorted(_PRIVATE_MEMBERS & set(key))
        if private or key.get("kty") == "oct":
            raise _bad("jwks", "jwks must hold public keys only: no private or symmetric key members")
        if key.get("alg") is not None and key.get("alg") not in ASSERTION_ALGORITHMS:
            raise _bad("jwks", f"a key's alg must be one of {', '.join(ASSERTION_ALGORITHMS)}")
        try:
            jwt.PyJWK(key)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            raise _bad("jwks", "jwks holds a key that is not a usable EC, RSA or OKP public key (RFC 7517)") from None
    return {"keys": keys}


async def check_known_scopes(conn: asyncpg.Connection | asyncpg.Pool, spec: ClientSpec) -> None:
    """A client may be registered only for scopes this server knows: OpenID Connect's and those a registered
    resource declares (RFC 8707); InvalidClientMetadata naming the others."""
    declared = await declared_scopes(conn)
    unknown = [s for s in spec.scopes if s not in USER_SCOPES and s not in declared]
    if unknown:
        raise InvalidClientMetadata(
            f"no registered resource declares the scope {' '.join(unknown)} (register its API first:"
            " `authorium resource create`)"
        )


async def check_exchange_targets(
    conn: asyncpg.Connection | asyncpg.Pool, spec: ClientSpec, built_in: BuiltInResources
) -> None:
    """Each resource a client may exchange tokens towards (`may_exchange_for`, RFC 8693) must be a registered one
    (RFC 8707), and not the admin API, which acts for the operator's admin clients, never for a user through a
    service; InvalidClientMetadata naming the member otherwise."""
    if not spec.may_exchange_for:
        return
    if built_in.admin_url in spec.may_exchange_for:
        raise _bad("may_exchange_for", "may_exchange_for: the admin API cannot be a target of token exchange")
    known = await registered_identifiers(conn, built_in)
    unknown = [target for target in spec.may_exchange_for if target not in known]
    if unknown:
        raise _bad(
            "may_exchange_for",
            f"may_exchange_for: {unknown[0][:200]} is not a registered resource (register its API first:"
            " `authorium resource create`)",
        )


async def register_client(
    pool: asyncpg.Pool,
    spec: ClientSpec,
    *,
    registration_access_token: str | None = None,
    built_in: BuiltInResources = DEFAULT_BUILT_IN,
) -> tuple[Client, str | None]:
    """Store a validated client; returns it with its secret, which exists only in this return value. Of a
    `registration_access_token` (RFC 7592), too, only the digest is stored. `built_in`: the deployment's notes
    and admin API identifiers, against which `may_exchange_for` is checked."""
    await check_known_scopes(pool, spec)
    await check_exchange_targets(pool, spec, built_in)
    secret = credentials.new_secret() if spec.takes_secret else None
    token_hash = None if registration_access_token is None else credentials.digest(registration_access_token)
    client = await ClientRepository(pool).create(
        credentials.new_client_id(),
        spec,
        None if secret is None else credentials.digest(secret),
        registration_token_hash=token_hash,
    )
    await AuditLog(pool).record("client_registered", client_id=client.client_id, details={"name": client.name})
    return client, secret


async def declare_client(
    pool: asyncpg.Pool,
    client_id: str,
    spec: ClientSpec,
    secret: str | None,
    *,
    built_in: BuiltInResources = DEFAULT_BUILT_IN,
) -> Client:
    """Make sure `client_id` is registered exactly as `spec` with `secret`, as configuration declares it
    (the demo client of a deployment). Idempotent; only the secret's digest is stored."""
    if not 1 <= len(client_id) <= MAX_DECLARED_ID or not set(client_id) <= _ID_CHARS:
        raise InvalidClientMetadata(f"client_id must be 1 to {MAX_DECLARED_ID} of A-Z a-z 0-9 - . _ ~")
    check_not_a_user_id(client_id)
    if spec.takes_secret == (secret is None):
        raise InvalidClientMetadata(
            "a client authenticating with a secret needs one, and a public or private_key_jwt client has none"
        )
    if secret is not None and len(secret) < MIN_DECLARED_SECRET:
        raise InvalidClientMetadata(f"client_secret must be at least {MIN_DECLARED_SECRET} characters")
    await check_known_scopes(pool, spec)
    await check_exchange_targets(pool, spec, built_in)
    digest = None if secret is None else credentials.digest(secret)
    existing = await ClientRepository(pool).get(client_id)
    client = await ClientRepository(pool).create(client_id, spec, digest, replace=True)
    if existing is None:
        await AuditLog(pool).record("client_registered", client_id=client_id, details={"name": client.name})
    return client
