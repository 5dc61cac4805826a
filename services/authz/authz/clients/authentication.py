"""Client authentication at the token, revocation, introspection and pushed authorization request endpoints
(RFC 6749 section 2.3, RFC 7591 `token_endpoint_auth_method`): client_secret_basic, client_secret_post,
private_key_jwt (RFC 7523 section 2.2, `authz.clients.assertions`), or none for public clients. A client whose method
was named when it was registered authenticates only that way (OpenID Connect Core section 9)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from urllib.parse import unquote_plus

from aiohttp import web

from authorium_shared.errors import InvalidClient, InvalidRequest
from authz.appkeys import AUDIT, CLIENT_ASSERTIONS, SETTINGS
from authz.clients import assertions, credentials
from authz.clients.cache import ClientCache
from authz.clients.records import Client

# The methods a client may register (RFC 7591 section 2); discovery, registration and the CLI list these.
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
REALM = "authorium"
# `matches` returns at once for a missing digest; comparing against this one really does the work.
_UNKNOWN_CLIENT_DIGEST = credentials.digest(credentials.new_secret())


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except ValueError:  # binascii.Error, UnicodeDecodeError, and what non-ASCII input raises
        raise _basic_failure("malformed Basic credentials") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise _basic_failure("malformed Basic credentials")
    # RFC 6749 section 2.3.1: both parts are form-urlencoded before they are joined.
    return unquote_plus(client_id), unquote_plus(secret)


def _basic_failure(description: str) -> InvalidClient:
    return InvalidClient(description, headers={"WWW-Authenticate": f'Basic realm="{REALM}"'})


def _failure(description: str, *, basic: bool) -> InvalidClient:
    # RFC 6749 section 5.2: 401 with a challenge when the Authorization header was used; otherwise 400,
    # since a 401 must carry a challenge the client never asked for.
    return _basic_failure(description) if basic else InvalidClient(description, status=400)


async def authenticate(
    request: web.Request, form: Mapping[str, str], clients: ClientCache, *, public: bool = True
) -> Client:
    """The client the request authenticates as; InvalidClient (or InvalidRequest) otherwise. With `public=False`,
    a public client is refused too: an endpoint for confidential clients only (RFC 7662 section 2.1)."""
    headers = request.headers.getall("Authorization", [])
    if len(headers) > 1:
        # RFC 9110 section 11.6.2 allows one set of credentials; which of two would count is anyone's guess.
        raise InvalidRequest("send one Authorization header")
    header = headers[0] if headers else None
    basic = _basic_credentials(header) if header else None
    if header and basic is None:
        raise InvalidRequest("only the Basic scheme authenticates clients here")
    if "client_assertion" in form or "client_assertion_type" in form:
        if header or "client_secret" in form:
            raise InvalidRequest("use one client authentication method, not two")
        return await _by_assertion(request, form, clients)
    if basic is not None:
        if "client_secret" in form:
            raise InvalidRequest("use one client authentication method, not two")
        client_id, secret = basic
        if form.get("client_id", client_id) != client_id:
            raise InvalidRequest("client_id in the body does not match the authenticated client")
        secret_or_none: str | None = secret
    else:
        client_id = form.get("client_id", "")
        secret_or_none = form.get("client_secret")
        if not client_id:
            raise InvalidClient("client authentication is required", status=400)
    client = await clients.get(client_id) if credentials.could_be_client_id(client_id) else None
    if client is None:
        # Compare anyway, so an unknown client costs what a wrong secret does.
        credentials.matches(secret_or_none or "", _UNKNOWN_CLIENT_DIGEST)
        raise _failure("unknown client or wrong credentials", basic=basic is not None)
    if client.is_public:
        if secret_or_none:
            raise _failure("a public client has no secret", basic=basic is not None)
        if not public:
            raise _failure("this endpoint is for confidential clients only", basic=basic is not None)
        return client
    if not secret_or_none or not credentials.matches_client(secret_or_none, client):
        raise _failure("unknown client or wrong credentials", basic=basic is not None)
    used = "client_secret_basic" if basic is not None else "client_secret_post"
    if not accepts(client, used):
        # Only after the secret proved right, so a stranger learns nothing about how the client authenticates. A 401
        # with the Basic challenge either way: it names the scheme that works (RFC 6749 section 5.2), or answers an
        # Authorization header, which must get one.
        raise _basic_failure(f"this client is registered to authenticate with {client.token_endpoint_auth_method}")
    return client


async def _by_assertion(request: web.Request, form: Mapping[str, str], clients: ClientCache) -> Client:
    """RFC 7523 section 2.2: `client_assertion_type` jwt-bearer and a `client_assertion` signed with a key the client
    registered; `client_id` is optional (the assertion's `sub` names the client), and must match when sent."""
    assertion_type, assertion = form.get("client_assertion_type"), form.get("client_assertion")
    if assertion_type is None or assertion is None:
        raise InvalidRequest("client_assertion and client_assertion_type go together (RFC 7521 section 4.2)")
    if assertion_type != assertions.ASSERTION_TYPE:
        raise InvalidClient(f"client_assertion_type must be {assertions.ASSERTION_TYPE}", status=400)
    client_id = form.get("client_id") or assertions.unverified_subject(assertion) or ""
    client = await clients.get(client_id) if credentials.could_be_client_id(client_id) else None
    if client is None or not accepts(client, assertions.METHOD):
        raise _failure("unknown client or wrong credentials", basic=False)
    try:
        await request.app[CLIENT_ASSERTIONS].verify(
            assertion,
            client_id=client.client_id,
            jwks=client.jwks,
            jwks_uri=client.jwks_uri,
            endpoint=request.app[SETTINGS].issuer + request.path,
        )
    except assertions.AssertionRejected as exc:
        if exc.reason == assertions.REPLAYED:
            # A signed assertion seen before: its client's key or its traffic has leaked somewhere.
            await request.app[AUDIT].record(
                "client_assertion_replay", client_id=client.client_id, remote_addr=request.remote
            )
        # Why a signed assertion failed helps its client's developer; why an unsigned one did only a prober.
        shown = exc.proven or exc.reason not in ("bad signature", "unknown kid")
        description = f"client_assertion: {exc.reason}" if shown else "unknown client or wrong credentials"
        raise _failure(description, basic=False) from None
    return client


def accepts(client: Client, method: str) -> bool:
    """Whether `client` may authenticate with `method`: the one it registered (OpenID Connect Core section 9), or, for a
    confidential client the operator made without naming one, either secret method: both are equally strong
    (RFC 6749 section 2.3.1), and clients made before methods were recorded keep working as they did."""
    if client.auth_method_explicit or client.is_public:
        return method == client.token_endpoint_auth_method
    return method in SECRET_METHODS
