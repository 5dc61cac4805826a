"""Client registration rules shared by `authorium client create` and RFC 7591 dynamic registration."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from authorium_shared.errors import InvalidClientMetadata, InvalidRedirectUri, InvalidScope, OAuthError
from authorium_shared.keys import ALGORITHMS
from authorium_shared.settings import is_loopback
from authz.audit import AuditLog
from authz.clients import credentials
from authz.clients.authentication import AUTH_METHODS
from authz.clients.records import Client, ClientSpec
from authz.clients.repository import ClientRepository
from authz.grants import GRANT_TYPES, device_code
from authz.resources.repository import declared_scopes
from authz.scopes import DEFAULT_CLIENT_SCOPES, USER_SCOPES, parse_scope

MAX_REDIRECT_URIS = 20
# The grants that issue refresh tokens: those a person authorizes.
REFRESHABLE_GRANT_TYPES = ("authorization_code", device_code.GRANT_TYPE)
# A client's own token lifetimes, in seconds: the ranges the server's own settings allow.
ACCESS_TOKEN_TTL_RANGE = (30, 86400)
REFRESH_TOKEN_TTL_RANGE = (60, 365 * 86400)
MAX_URI_LENGTH = 2000
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
) -> ClientSpec:
    """Validate a registration; raises InvalidClientMetadata / InvalidRedirectUri saying what is wrong. Without
    `scope`, the client may ask for DEFAULT_CLIENT_SCOPES. A `token_endpoint_auth_method` given is the only one the
    client may use; without one, a confidential client may use either secret method. `may_introspect` (any token of
    this issuer, RFC 7662 section 2.1) is the operator's to grant: dynamic registration never passes it."""
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
            "token_endpoint_auth_method", "a public client authenticates with 'none'; a confidential one with a secret"
        )
    if public and "client_credentials" in grants:
        raise _bad("grant_types", "a public client cannot use client_credentials: it has no secret")
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
    )


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


async def register_client(
    pool: asyncpg.Pool, spec: ClientSpec, *, registration_access_token: str | None = None
) -> tuple[Client, str | None]:
    """Store a validated client; returns it with its secret, which exists only in this return value. Of a
    `registration_access_token` (RFC 7592), too, only the digest is stored."""
    await check_known_scopes(pool, spec)
    secret = None if spec.is_public else credentials.new_secret()
    token_hash = None if registration_access_token is None else credentials.digest(registration_access_token)
    client = await ClientRepository(pool).create(
        credentials.new_client_id(),
        spec,
        None if secret is None else credentials.digest(secret),
        registration_token_hash=token_hash,
    )
    await AuditLog(pool).record("client_registered", client_id=client.client_id, details={"name": client.name})
    return client, secret


async def declare_client(pool: asyncpg.Pool, client_id: str, spec: ClientSpec, secret: str | None) -> Client:
    """Make sure `client_id` is registered exactly as `spec` with `secret`, as configuration declares it
    (the demo client of a deployment). Idempotent; only the secret's digest is stored."""
    if not 1 <= len(client_id) <= MAX_DECLARED_ID or not set(client_id) <= _ID_CHARS:
        raise InvalidClientMetadata(f"client_id must be 1 to {MAX_DECLARED_ID} of A-Z a-z 0-9 - . _ ~")
    check_not_a_user_id(client_id)
    if spec.is_public != (secret is None):
        raise InvalidClientMetadata("a confidential client needs a secret, and a public one has none")
    if secret is not None and len(secret) < MIN_DECLARED_SECRET:
        raise InvalidClientMetadata(f"client_secret must be at least {MIN_DECLARED_SECRET} characters")
    await check_known_scopes(pool, spec)
    digest = None if secret is None else credentials.digest(secret)
    existing = await ClientRepository(pool).get(client_id)
    client = await ClientRepository(pool).create(client_id, spec, digest, replace=True)
    if existing is None:
        await AuditLog(pool).record("client_registered", client_id=client_id, details={"name": client.name})
    return client
