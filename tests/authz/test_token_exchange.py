"""Token exchange (RFC 8693) at the token endpoint over HTTP: a service presents a user's access token and gets one
for another registered resource, for the same user, naming itself as the actor; everything else is refused with
section 2.2.2's errors and changes nothing."""

from __future__ import annotations

import time
import uuid
import warnings
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import jwt
import pytest
from aiohttp import web
from authlib.deprecate import AuthlibDeprecationWarning
from cryptography.hazmat.primitives.asymmetric import rsa

from authorium_shared.keys import SigningKey
from authz.resources.records import Resource
from tests.authz.conftest import AuthzFactory
from tests.authz.flows import (
    RegisteredClient,
    make_client,
    make_resource,
    make_user,
    sign_in_and_redeem,
    token_request,
)
from tests.authz.test_authorization_code import DEFAULT_RESOURCE, verified
from tests.authz.test_register import TOKEN as REGISTRATION_TOKEN
from tests.authz.test_register import register
from tests.resource.conftest import current_key
from tests.waiting import eventually

with warnings.catch_warnings():
    # Authlib 1.9 prefers the `httpx2` package and warns that falling back to httpx (installed here) is deprecated.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"


@pytest.fixture
def authz(module_authz: str) -> str:
    return module_authz


@pytest.fixture(scope="module")
async def inventory(
    module_db: asyncpg.Pool, module_environ: dict[str, str], module_server: tuple[str, web.Application]
) -> Resource:
    """A second API (scopes `<tag>:read`, `<tag>:write`), the target services exchange towards."""
    return await make_resource(module_db, module_environ, module_server[0], name="Inventory API")


@dataclass(frozen=True)
class Subject:
    """A user's tokens from the code flow, through a web app (the client the services received the token from)."""

    access_token: str
    refresh_token: str
    user_id: str
    app: RegisteredClient

    @property
    def claims(self) -> dict[str, Any]:
        return unverified(self.access_token)


def unverified(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


async def signed_in(http: aiohttp.ClientSession, authz: str, db: asyncpg.Pool, scope: str) -> Subject:
    app = await make_client(db, scope=scope)
    username = await make_user(db)
    body = await sign_in_and_redeem(http, authz, app, username, scope=scope)
    user_id = str(await db.fetchval("SELECT user_id FROM users WHERE username = $1", username))
    return Subject(body["access_token"], body["refresh_token"], user_id, app)


@pytest.fixture
async def subject(http: aiohttp.ClientSession, authz: str, db: asyncpg.Pool, inventory: Resource) -> Subject:
    """A user's access token for the notes API and the inventory API (RFC 8707: the scopes choose)."""
    return await signed_in(http, authz, db, f"notes:read notes:write {inventory.scopes[0]}")


async def service(db: asyncpg.Pool, *may_exchange_for: str) -> RegisteredClient:
    """A confidential service registered for token exchange towards `may_exchange_for` (the operator's policy)."""
    return await make_client(db, grant_types=(GRANT,), redirect_uris=(), may_exchange_for=may_exchange_for)


async def exchange(
    http: aiohttp.ClientSession,
    authz: str,
    caller: RegisteredClient,
    subject_token: str,
    *extra: tuple[str, str],
    subject_token_type: str = ACCESS_TOKEN,
) -> tuple[int, dict[str, Any]]:
    """A token exchange request (RFC 8693 section 2.1) from `caller` (client_secret_basic); `extra` as pairs, so that
    `resource` and `audience` can repeat."""
    form = [
        ("grant_type", GRANT),
        ("subject_token", subject_token),
        ("subject_token_type", subject_token_type),
        *extra,
    ]
    async with http.post(f"{authz}/token", data=form, headers=caller.basic) as resp:
        body: dict[str, Any] = await resp.json()
        if resp.status != 200:
            # RFC 6749 section 5.2 (RFC 8693 section 2.2.2): JSON, not cached.
            assert resp.headers["Cache-Control"] == "no-store"
            assert "access_token" not in body
        return resp.status, body


async def exchanges_recorded(db: asyncpg.Pool, client_id: str) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM audit_events WHERE event = 'token_exchanged' AND client_id = $1", client_id
    )
    return count


async def refused(
    http: aiohttp.ClientSession,
    authz: str,
    db: asyncpg.Pool,
    caller: RegisteredClient,
    subject_token: str,
    *extra: tuple[str, str],
    error: str,
    subject_token_type: str = ACCESS_TOKEN,
) -> str:
    """The exchange is refused with `error` (400), and nothing was issued or recorded; returns the description."""
    before = await exchanges_recorded(db, caller.client_id)
    status, body = await exchange(http, authz, caller, subject_token, *extra, subject_token_type=subject_token_type)
    assert (status, body["error"]) == (400, error), body
    assert await exchanges_recorded(db, caller.client_id) == before
    return str(body.get("error_description", ""))


async def test_section_2_2_1_the_token_is_the_users_for_the_target_and_names_the_caller_as_actor(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, subject: Subject, inventory: Resource
) -> None:
    """RFC 8693 section 2.2.1: an access token (issued_token_type), Bearer, no refresh token; section 4.1: `sub` is
    still the user and `act` names the service that exchanged; RFC 8707: `aud` is the target alone; the grant id is
    the user's grant's, and the token lives no longer than the subject token."""
    caller = await service(db, inventory.identifier)
    status, body = await exchange(http, authz, caller, subject.access_token, ("resource", inventory.identifier))
    assert status == 200, body
    assert body["issued_token_type"] == ACCESS_TOKEN
    assert body["token_type"] == "Bearer"
    assert "refresh_token" not in body and "id_token" not in body
    assert body["scope"] == inventory.scopes[0]
    claims = await verified(http, authz, body["access_token"], audience=inventory.identifier, typ="at+jwt")
    held = subject.claims
    assert claims["sub"] == subject.user_id == held["sub"]
    assert claims["aud"] == inventory.identifier
    assert claims["client_id"] == caller.client_id
    assert claims["act"] == {"sub": caller.client_id}
    assert claims["scope"] == inventory.scopes[0]
    assert claims["grant_id"] == held["grant_id"]
    assert claims["jti"] != held["jti"]
    assert claims["exp"] <= held["exp"]
    assert body["expires_in"] == claims["exp"] - claims["iat"]
    assert await exchanges_recorded(db, caller.client_id) == 1
    event = await db.fetchrow(
        "SELECT user_id, details FROM audit_events WHERE event = 'token_exchanged' AND client_id = $1",
        caller.client_id,
    )
    assert str(event["user_id"]) == subject.user_id
    assert subject.access_token not in str(event["details"])


async def test_section_4_1_a_chain_of_exchanges_keeps_sub_and_nests_act(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, subject: Subject, inventory: Resource
) -> None:
    """RFC 8693 section 4.1: service A exchanges the user's token, service B exchanges A's; B's token is still the
    user's, and its `act` names B with A nested inside (the current actor outermost)."""
    a = await service(db, inventory.identifier, DEFAULT_RESOURCE)
    b = await service(db, DEFAULT_RESOURCE)
    both = (("resource", DEFAULT_RESOURCE), ("resource", inventory.identifier))
    narrower = ("scope", f"notes:read {inventory.scopes[0]}")
    status, first = await exchange(http, authz, a, subject.access_token, *both, narrower)
    assert status == 200, first
    assert first["scope"] == narrower[1]
    assert unverified(first["access_token"])["act"] == {"sub": a.client_id}

    status, second = await exchange(http, authz, b, first["access_token"], ("resource", DEFAULT_RESOURCE))
    assert status == 200, second
    claims = await verified(http, authz, second["access_token"], audience=DEFAULT_RESOURCE, typ="at+jwt")
    assert claims["sub"] == subject.user_id
    assert claims["client_id"] == b.client_id
    assert claims["act"] == {"sub": b.client_id, "act": {"sub": a.client_id}}
    # Without `scope`: what the subject token (A's: notes:read and the inventory scope) holds that the target takes.
    assert claims["scope"] == "notes:read"
    assert claims["grant_id"] == subject.claims["grant_id"]


async def test_section_2_1_audience_names_a_registered_resource(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, subject: Subject, inventory: Resource
) -> None:
    """RFC 8693 section 2.1: `audience` is the logical name of the target service; here, a registered resource's
    identifier, which it means exactly as `resource` does. Without either, a client that may exchange towards one
    resource only gets a token for that one; one that may exchange towards several must name the target."""
    caller = await service(db, DEFAULT_RESOURCE, inventory.identifier)
    status, body = await exchange(http, authz, caller, subject.access_token, ("audience", inventory.identifier))
    assert status == 200, body
    assert unverified(body["access_token"])["aud"] == inventory.identifier
    status, body = await exchange(http, authz, caller, subject.access_token, ("audience", DEFAULT_RESOURCE))
    assert status == 200, body
    assert unverified(body["access_token"])["aud"] == DEFAULT_RESOURCE
    await refused(http, authz, db, caller, subject.access_token, error="invalid_target")

    single = await service(db, inventory.identifier)
    status, body = await exchange(http, authz, single, subject.access_token)
    assert status == 200, body
    assert unverified(body["access_token"])["aud"] == inventory.identifier


@pytest.mark.parametrize("parameter", ["resource", "audience"])
async def test_section_2_2_2_an_unregistered_target_is_invalid_target(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, subject: Subject, inventory: Resource, parameter: str
) -> None:
    """RFC 8693 section 2.2.2: a target service the server cannot issue a token for is invalid_target."""
    caller = await service(db, inventory.identifier)
    target = (parameter, "https://unregistered.example/api")
    await refused(http, authz, db, caller, subject.access_token, target, error="invalid_target")
    # One good target does not carry an unknown one.
    both = (("resource", inventory.identifier), target)
    await refused(http, authz, db, caller, subject.access_token, *both, error="invalid_target")


async def test_section_2_2_2_a_target_the_client_may_not_exchange_for_is_invalid_target(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, subject: Subject, inventory: Resource
) -> None:
    """RFC 8693 section 2.2.2: a registered resource the operator did not let this client exchange towards is a
    target the server is unwilling to issue a token for: invalid_target. A client the operator let exchange towards
    nothing gets nothing, even without naming a target."""
    caller = await service(db, inventory.identifier)
    description = await refused(
        http, authz, db, caller, subject.access_token, ("resource", DEFAULT_RESOURCE), error="invalid_target"
    )
    assert DEFAULT_RESOURCE in description
    await refused(http, authz, db, caller, subject.access_token, ("audience", DEFAULT_RESOURCE), error="invalid_target")
    nowhere = await service(db)
    await refused(http, authz, db, nowhere, subject.access_token, error="invalid_target")
    await refused(
        http, authz, db, nowhere, subject.access_token, ("resource", inventory.identifier), error="invalid_target"
    )


async def test_section_2_2_2_scopes_beyond_the_subject_token_or_the_target_are_invalid_scope(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, inventory: Resource
) -> None:
    """RFC 8693 section 2.2.2 with RFC 6749 section 5.2: the same or fewer scopes than the subject token holds, and
    only the target's: anything wider is invalid_scope. Without `scope`, the subject's scopes the target accepts."""
    read, write = inventory.scopes
    user = await signed_in(http, authz, db, f"notes:read {read}")
    caller = await service(db, inventory.identifier, DEFAULT_RESOURCE)
    to_inventory = ("resource", inventory.identifier)
    # The target declares `write`, but the user never granted it.
    await refused(http, authz, db, caller, user.access_token, to_inventory, ("scope", write), error="invalid_scope")
    await refused(
        http, authz, db, caller, user.access_token, to_inventory, ("scope", f"{read} {write}"), error="invalid_scope"
    )
    # The user granted notes:read, but the target does not take it.
    await refused(
        http, authz, db, caller, user.access_token, to_inventory, ("scope", "notes:read"), error="invalid_scope"
    )
    # The target takes notes:write, which the user never granted; and the target takes nothing the user granted.
    to_notes = ("resource", DEFAULT_RESOURCE)
    await refused(http, authz, db, caller, user.access_token, to_notes, ("scope", "notes:write"), error="invalid_scope")
    only_read = await signed_in(http, authz, db, read)
    await refused(http, authz, db, caller, only_read.access_token, to_notes, error="invalid_scope")

    status, body = await exchange(http, authz, caller, user.access_token, to_inventory, ("scope", read))
    assert (status, body.get("scope")) == (200, read), body
    status, body = await exchange(http, authz, caller, user.access_token, to_notes)
    assert (status, body.get("scope")) == (200, "notes:read"), body


async def test_section_2_2_2_a_revoked_subject_token_is_invalid_request(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, subject: Subject, inventory: Resource
) -> None:
    """RFC 8693 section 2.2.2: a subject_token invalid for any reason is invalid_request (the section's MUST);
    revoked (RFC 7009) is such a reason, whether the token itself or its grant was revoked."""
    caller = await service(db, inventory.identifier)
    to_inventory = ("resource", inventory.identifier)
    async with http.post(f"{authz}/revoke", data={"token": subject.access_token}, headers=subject.app.basic) as resp:
        assert resp.status == 200

    async def refused_now() -> bool:
        status, body = await exchange(http, authz, caller, subject.access_token, to_inventory)
        return status == 400 and body["error"] == "invalid_request"

    await eventually(refused_now, timeout=5, message="the revoked subject_token to be refused")
    assert "revoked" in await refused(
        http, authz, db, caller, subject.access_token, to_inventory, error="invalid_request"
    )

    # A new access token of the same grant is good until the grant goes (revoking the refresh token, RFC 7009 2.1).
    status, fresh, _ = await token_request(
        http, authz, subject.app, grant_type="refresh_token", refresh_token=subject.refresh_token
    )
    assert status == 200, fresh
    status, body = await exchange(http, authz, caller, fresh["access_token"], to_inventory)
    assert status == 200, body
    form = {"token": fresh["refresh_token"], "token_type_hint": "refresh_token"}
    async with http.post(f"{authz}/revoke", data=form, headers=subject.app.basic) as resp:
        assert resp.status == 200

    async def grant_refused() -> bool:
        status, body = await exchange(http, authz, caller, fresh["access_token"], to_inventory)
        return status == 400 and body["error"] == "invalid_request"

    await eventually(grant_refused, timeout=5, message="the subject_token of a revoked grant to be refused")


@pytest.fixture
async def key(db: asyncpg.Pool, environ: dict[str, str]) -> SigningKey:
    """The authorization server's current RS256 key, to sign subject tokens it never issued."""
    return await current_key(db, environ)


def resigned(key: SigningKey | rsa.RSAPrivateKey, claims: dict[str, Any], *, kid: str, typ: str = "at+jwt") -> str:
    private = key if isinstance(key, rsa.RSAPrivateKey) else key.private_key
    return jwt.encode(claims, private, algorithm="RS256", headers={"kid": kid, "typ": typ})


@pytest.mark.parametrize(
    "forgery",
    ["expired", "another issuer", "another key", "an ID token", "not a JWT", "a refresh token", "tampered claims"],
)
async def test_section_2_2_2_an_expired_or_foreign_subject_token_is_invalid_request(
    authz: str,
    http: aiohttp.ClientSession,
    db: asyncpg.Pool,
    subject: Subject,
    inventory: Resource,
    key: SigningKey,
    forgery: str,
) -> None:
    """RFC 8693 section 2.2.2: a subject_token that is not an unexpired access token of this issuer (RFC 9068: its
    signature by a key of this server, `iss`, `exp`, `typ` at+jwt) is invalid_request."""
    caller = await service(db, inventory.identifier)
    now = int(time.time())
    claims = subject.claims
    if forgery == "expired":
        token = resigned(key, {**claims, "iat": now - 700, "exp": now - 100}, kid=key.kid)
    elif forgery == "another issuer":
        token = resigned(key, {**claims, "iss": "https://elsewhere.example"}, kid=key.kid)
    elif forgery == "another key":
        token = resigned(rsa.generate_private_key(public_exponent=65537, key_size=2048), claims, kid=key.kid)
    elif forgery == "an ID token":
        token = resigned(key, claims, kid=key.kid, typ="JWT")
    elif forgery == "not a JWT":
        token = "not-a-token"
    elif forgery == "a refresh token":
        token = subject.refresh_token
    else:
        header, payload, signature = subject.access_token.split(".")
        widened = jwt.utils.base64url_encode(jwt.utils.base64url_decode(payload).replace(b"notes:read", b"notes:admn"))
        token = ".".join((header, widened.decode(), signature))
    description = await refused(
        http, authz, db, caller, token, ("resource", inventory.identifier), error="invalid_request"
    )
    assert "subject_token" in description


async def test_section_2_2_2_a_service_token_is_no_users_subject(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, inventory: Resource
) -> None:
    """RFC 8693 section 1.1 delegation is for a user: a client's own client-credentials token (whose `sub` is the
    client) is unacceptable by this server's policy as a subject_token, so invalid_request (section 2.2.2)."""
    own = await make_client(db, grant_types=("client_credentials",), scope="notes:read", redirect_uris=())
    status, body, _ = await token_request(http, authz, own, grant_type="client_credentials", scope="notes:read")
    assert status == 200, body
    caller = await service(db, inventory.identifier, DEFAULT_RESOURCE)
    description = await refused(
        http, authz, db, caller, body["access_token"], ("resource", DEFAULT_RESOURCE), error="invalid_request"
    )
    assert "client credentials" in description


@pytest.mark.parametrize(
    "subject_token_type",
    [
        "urn:ietf:params:oauth:token-type:id_token",
        "urn:ietf:params:oauth:token-type:refresh_token",
        "urn:ietf:params:oauth:token-type:jwt",
        "urn:ietf:params:oauth:token-type:saml2",
        "access_token",
        "",  # absent (an empty value counts as absent, RFC 6749 section 3.1)
    ],
)
async def test_section_2_1_an_unsupported_subject_token_type_is_invalid_request(
    authz: str,
    http: aiohttp.ClientSession,
    db: asyncpg.Pool,
    subject: Subject,
    inventory: Resource,
    subject_token_type: str,
) -> None:
    """RFC 8693 section 2.1: subject_token_type is required and names the token's type (section 3); this server
    exchanges access tokens only, and refuses any other type with invalid_request (section 2.2.2), even when the
    token presented is in fact an access token."""
    caller = await service(db, inventory.identifier)
    await refused(
        http,
        authz,
        db,
        caller,
        subject.access_token,
        ("resource", inventory.identifier),
        error="invalid_request",
        subject_token_type=subject_token_type,
    )


@pytest.mark.parametrize(
    "extra",
    [
        (("actor_token", "x.y.z"), ("actor_token_type", ACCESS_TOKEN)),
        (("actor_token_type", ACCESS_TOKEN),),
        (("actor_token", "x.y.z"),),
        (("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token"),),
        (("requested_token_type", "urn:ietf:params:oauth:token-type:id_token"),),
    ],
    ids=["actor_token", "actor_token_type alone", "actor_token without type", "refresh token asked", "ID token asked"],
)
async def test_section_2_1_actor_tokens_and_other_requested_types_are_invalid_request(
    authz: str,
    http: aiohttp.ClientSession,
    db: asyncpg.Pool,
    subject: Subject,
    inventory: Resource,
    extra: tuple[tuple[str, str], ...],
) -> None:
    """RFC 8693 section 2.1: `actor_token` is optional for a server to support; here the authenticated client is the
    actor, so one sent is refused (invalid_request, with a description saying so), as is `actor_token_type` without
    it (which the section forbids). A `requested_token_type` other than an access token cannot be met."""
    caller = await service(db, inventory.identifier)
    description = await refused(
        http,
        authz,
        db,
        caller,
        subject.access_token,
        ("resource", inventory.identifier),
        *extra,
        error="invalid_request",
    )
    assert ("actor_token" if extra[0][0].startswith("actor") else "requested_token_type") in description
    status, body = await exchange(
        http,
        authz,
        caller,
        subject.access_token,
        ("resource", inventory.identifier),
        ("requested_token_type", ACCESS_TOKEN),
    )
    assert status == 200, body


async def test_section_2_1_a_public_client_may_not_exchange(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, subject: Subject, inventory: Resource
) -> None:
    """RFC 8693 section 2.1 leaves client authentication to the server: here token exchange is for confidential
    clients. A public client cannot be registered for it, and one whose record says it is anyway (registered under
    other rules) is unauthorized_client (RFC 6749 section 5.2), as is a confidential client not registered for it."""
    with pytest.raises(Exception, match="public client cannot use token exchange"):
        await make_client(db, public=True, grant_types=(GRANT,), redirect_uris=())
    public = await make_client(db, public=True)
    await db.execute("UPDATE clients SET grant_types = $2 WHERE client_id = $1", public.client_id, [GRANT])
    form = {
        "grant_type": GRANT,
        "client_id": public.client_id,
        "subject_token": subject.access_token,
        "subject_token_type": ACCESS_TOKEN,
        "resource": inventory.identifier,
    }
    async with http.post(f"{authz}/token", data=form) as resp:
        body = await resp.json()
        assert (resp.status, body["error"]) == (400, "unauthorized_client"), body
    assert await exchanges_recorded(db, public.client_id) == 0

    code_flow = await make_client(db)
    status, body = await exchange(http, authz, code_flow, subject.access_token, ("resource", inventory.identifier))
    assert (status, body["error"]) == (400, "unauthorized_client"), body


async def test_section_4_4_may_act_must_name_the_caller(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, subject: Subject, inventory: Resource, key: SigningKey
) -> None:
    """RFC 8693 section 4.4: a subject token's `may_act` names who may act for its subject; any other caller's
    exchange is unacceptable (invalid_request, section 2.2.2), the named one's goes through."""
    caller = await service(db, inventory.identifier)
    other = await service(db, inventory.identifier)
    claims = {**subject.claims, "jti": uuid.uuid4().hex, "may_act": {"sub": caller.client_id}}
    token = resigned(key, claims, kid=key.kid)
    description = await refused(
        http, authz, db, other, token, ("resource", inventory.identifier), error="invalid_request"
    )
    assert "may_act" in description
    status, body = await exchange(http, authz, caller, token, ("resource", inventory.identifier))
    assert status == 200, body
    assert unverified(body["access_token"])["act"] == {"sub": caller.client_id}


async def test_section_2_2_1_the_token_lives_no_longer_than_the_subject_token(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, subject: Subject, inventory: Resource, key: SigningKey
) -> None:
    """RFC 8693 section 2.2.1 `expires_in`: an exchange cannot extend a delegation; the new token expires no later
    than the subject token."""
    caller = await service(db, inventory.identifier)
    exp = int(time.time()) + 20
    token = resigned(key, {**subject.claims, "jti": uuid.uuid4().hex, "exp": exp}, kid=key.kid)
    status, body = await exchange(http, authz, caller, token, ("resource", inventory.identifier))
    assert status == 200, body
    assert body["expires_in"] <= 20
    assert unverified(body["access_token"])["exp"] <= exp


async def test_section_4_1_introspection_shows_who_acts(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, subject: Subject, inventory: Resource
) -> None:
    """RFC 8693 section 4.1 (and RFC 7662 section 2.2): introspecting an exchanged token shows its `act`."""
    caller = await service(db, inventory.identifier)
    status, body = await exchange(http, authz, caller, subject.access_token, ("resource", inventory.identifier))
    assert status == 200, body
    form = {"token": body["access_token"]}
    async with http.post(f"{authz}/introspect", data=form, headers=caller.basic) as resp:
        answer = await resp.json()
    assert answer["active"] is True
    assert (answer["sub"], answer["client_id"]) == (subject.user_id, caller.client_id)
    assert answer["act"] == {"sub": caller.client_id}


async def test_section_2_1_authlib_exchanges_through_fetch_token(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, subject: Subject, inventory: Resource
) -> None:
    """RFC 8693 section 2.1 with an independent client: Authlib has no token exchange helper, but its fetch_token
    posts any grant with client_secret_basic, and reads section 2.2.1's response as a token."""
    caller = await service(db, inventory.identifier)
    assert caller.secret is not None
    async with AsyncOAuth2Client(caller.client_id, caller.secret) as oauth:
        token = await oauth.fetch_token(
            authz + "/token",
            grant_type=GRANT,
            subject_token=subject.access_token,
            subject_token_type=ACCESS_TOKEN,
            audience=inventory.identifier,
        )
    assert token["issued_token_type"] == ACCESS_TOKEN
    assert token["token_type"] == "Bearer"
    claims = await verified(http, authz, token["access_token"], audience=inventory.identifier, typ="at+jwt")
    assert (claims["sub"], claims["act"]) == (subject.user_id, {"sub": caller.client_id})


async def test_rfc7591_registration_grants_token_exchange_only_by_policy_and_never_a_target(
    start_authz: AuthzFactory,
    authz: str,
    http: aiohttp.ClientSession,
    db: asyncpg.Pool,
    subject: Subject,
    inventory: Resource,
) -> None:
    """RFC 7591 section 3.2.2: the grant is outside the default registration policy (invalid_client_metadata); an
    operator may open it (AUTHORIUM_REGISTRATION_GRANT_TYPES), but which resources a client may exchange towards is
    the operator's alone: a registration's `may_exchange_for` is ignored, so such a client exchanges towards nothing
    (invalid_target, RFC 8693 section 2.2.2)."""
    metadata = {"grant_types": [GRANT], "scope": "notes:read", "may_exchange_for": [inventory.identifier]}
    async with start_authz(AUTHORIUM_REGISTRATION_TOKEN=REGISTRATION_TOKEN) as closed:
        status, answer, _ = await register(http, closed, metadata)
        assert (status, answer["error"]) == (400, "invalid_client_metadata"), answer
    policy = f"authorization_code refresh_token {GRANT}"
    # The module server's issuer, so that the user's token it issued is this issuer's too.
    opened_env = {"AUTHORIUM_REGISTRATION_GRANT_TYPES": policy, "AUTHORIUM_ISSUER": authz}
    async with start_authz(AUTHORIUM_REGISTRATION_TOKEN=REGISTRATION_TOKEN, **opened_env) as opened:
        status, answer, _ = await register(http, opened, metadata)
        assert status == 201, answer
        assert answer["grant_types"] == [GRANT] and "may_exchange_for" not in answer
        registered = RegisteredClient(answer["client_id"], answer["client_secret"])
        target = ("resource", inventory.identifier)
        await refused(http, opened, db, registered, subject.access_token, target, error="invalid_target")
