"""private_key_jwt client authentication (RFC 7523 sections 2.2 and 3, OpenID Connect Core section 9) over HTTP, at the
token, revocation, introspection and pushed authorization request endpoints, with Authlib as the independent client
where it can be one. The checks themselves, without HTTP: test_client_assertions.py."""

from __future__ import annotations

import asyncio
import time
import uuid
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
import jwt
import pytest
from aiohttp import web
from authlib.deprecate import AuthlibDeprecationWarning
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from cryptography.hazmat.primitives import serialization
from joserfc.jwk import ECKey, RSAKey

from authorium_shared.errors import OAuthError
from authorium_shared.keys import SigningKey
from authorium_shared.redis_keys import RedisKeys
from authorium_shared.resources import create_redis
from authz.clients.cache import announce_change
from authz.clients.registration import build_spec, register_client
from tests.authz import flows
from tests.authz.conftest import AuthzFactory, Person
from tests.authz.test_client_assertions import forged_hs256
from tests.authz.test_register import TOKEN as REGISTRATION_TOKEN
from tests.authz.test_register import WITH_CLIENT_CREDENTIALS, register
from tests.waiting import eventually

with warnings.catch_warnings():
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client
    from authlib.integrations.httpx_client import OAuthError as AuthlibError

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.fixture
def authz(module_authz: str) -> str:
    return module_authz


@dataclass
class KeyClient:
    """A client registered for private_key_jwt with `keys`' public halves; it has no secret."""

    client_id: str
    keys: list[SigningKey]
    redirect_uri: str = flows.REDIRECT_URI
    used: list[str] = field(default_factory=list)

    @property
    def key(self) -> SigningKey:
        return self.keys[0]

    def assertion(self, audience: object, *, key: SigningKey | None = None, **changes: Any) -> str:
        """An assertion as RFC 7523 section 3 describes it, with `changes` to its claims (None removes one), signed
        with `key` (the client's first by default)."""
        key = key or self.key
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + 60,
            **changes,
        }
        claims = {name: value for name, value in claims.items() if value is not None}
        return jwt.encode(claims, key.private_key, algorithm=key.alg, headers={"kid": key.kid})

    def form(self, assertion: str, **params: str) -> dict[str, str]:
        return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion, **params}


def pem(key: SigningKey) -> bytes:
    """The private key as PKCS#8 PEM, as Authlib (joserfc) imports it."""
    return key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def jwk_set(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [{**key.public_jwk(), "use": "sig"} for key in keys]}


async def make_key_client(
    db: asyncpg.Pool,
    *,
    alg: str = "ES256",
    jwks_uri: str | None = None,
    keys: list[SigningKey] | None = None,
    grant_types: tuple[str, ...] = ("client_credentials", "authorization_code", "refresh_token"),
) -> KeyClient:
    keys = keys or [SigningKey.generate(alg)]
    spec = build_spec(
        name=f"key client {uuid.uuid4().hex[:8]}",
        grant_types=grant_types,
        redirect_uris=(flows.REDIRECT_URI,),
        scope="openid notes:read notes:write",
        public=False,
        token_endpoint_auth_method="private_key_jwt",
        jwks=None if jwks_uri else jwk_set(*keys),
        jwks_uri=jwks_uri,
    )
    client, secret = await register_client(db, spec)
    assert secret is None, "a private_key_jwt client gets no secret"
    return KeyClient(client.client_id, keys)


async def post(
    http: aiohttp.ClientSession, url: str, form: dict[str, str], headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with http.post(url, data=form, headers=headers or {}) as resp:
        body = await resp.json() if resp.content_type == "application/json" else await resp.text()
        return resp.status, body


def refused(answer: tuple[int, Any], reason: str | None = None) -> None:
    """RFC 7521 section 4.2.1 / RFC 6749 section 5.2: invalid_client (400: no Authorization header was used)."""
    status, body = answer
    assert (status, body["error"]) == (400, "invalid_client"), answer
    if reason is not None:
        assert reason in body["error_description"], body


async def test_rfc7523_section_2_2_authlib_gets_a_client_credentials_token_with_a_signed_assertion(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 7523 section 2.2 with Authlib's PrivateKeyJWT as the client (aud: the token endpoint, as Authlib sends
    it, which OIDC Core 9 allows), ES256 and RS256: a token for the client, and no secret anywhere. Discovery lists
    the method and the algorithms (RFC 8414 section 2)."""
    async with http.get(authz + "/.well-known/oauth-authorization-server") as resp:
        meta = await resp.json()
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
    assert {"ES256", "RS256"} <= set(meta["token_endpoint_auth_signing_alg_values_supported"])
    for alg, key_type in (("ES256", ECKey), ("RS256", RSAKey)):
        client = await make_key_client(db, alg=alg)
        private = key_type.import_key(pem(client.key))
        async with AsyncOAuth2Client(
            client.client_id, private, token_endpoint_auth_method="private_key_jwt", scope="notes:read"
        ) as oauth:
            # Authlib's assertions live an hour unless told otherwise; this server takes at most five minutes.
            method = PrivateKeyJWT(
                meta["token_endpoint"], alg=alg, headers={"kid": client.key.kid}, claims={"exp": int(time.time()) + 60}
            )
            oauth.register_client_auth_method(method)
            token = await oauth.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
        assert token["token_type"] == "Bearer" and token["scope"] == "notes:read"
        claims = jwt.decode(token["access_token"], options={"verify_signature": False})
        assert claims["client_id"] == claims["sub"] == client.client_id


async def test_rfc7523_section_3_item_4_authlibs_hour_long_assertion_is_refused(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 7523 section 3 item 4: the server may reject an exp unreasonably far in the future. Authlib's default
    assertion lives an hour: refused as too long-lived."""
    client = await make_key_client(db)
    async with AsyncOAuth2Client(
        client.client_id, ECKey.import_key(pem(client.key)), token_endpoint_auth_method="private_key_jwt"
    ) as oauth:
        oauth.register_client_auth_method(PrivateKeyJWT(authz + "/token", alg="ES256", headers={"kid": client.key.kid}))
        with pytest.raises(AuthlibError) as caught:
            await oauth.fetch_token(authz + "/token", grant_type="client_credentials")
    assert caught.value.error == "invalid_client"
    assert "lives too long" in str(caught.value.description)


async def test_rfc7523_section_3_the_assertion_authenticates_at_revocation_introspection_and_par(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 7523 section 2.2 at every endpoint that authenticates clients: revocation (RFC 7009), introspection (RFC
    7662) and PAR (RFC 9126 section 2), with aud the issuer identifier (RFC 7523bis) or the endpoint being called
    (OIDC Core 9); an assertion made for one endpoint is refused at another (wrong audience)."""
    client = await make_key_client(db)
    status, token = await post(
        http, authz + "/token", client.form(client.assertion(authz), grant_type="client_credentials")
    )
    assert status == 200, token
    status, body = await post(
        http, authz + "/introspect", client.form(client.assertion(authz), token=token["access_token"])
    )
    assert (status, body["active"], body["client_id"]) == (200, True, client.client_id)
    status, body = await post(
        http, authz + "/par", client.form(client.assertion(authz + "/par"), response_type="code", scope="notes:read")
    )
    assert status == 201, body
    refused(
        await post(
            http, authz + "/token", client.form(client.assertion(authz + "/revoke"), grant_type="client_credentials")
        ),
        "wrong audience",
    )
    status, _ = await post(
        http, authz + "/revoke", client.form(client.assertion(authz + "/revoke"), token=token["access_token"])
    )
    assert status == 200
    status, body = await post(
        http, authz + "/introspect", client.form(client.assertion(authz), token=token["access_token"])
    )
    assert (status, body) == (200, {"active": False})


async def test_rfc7523_section_3_item_3_wrong_audience(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 7523 section 3 item 3: aud must identify this server: another server's issuer or token endpoint, or a
    look-alike of ours, is invalid_client."""
    client = await make_key_client(db)
    for audience in ("https://other.example", "https://other.example/token", authz + "/", authz + "/token/", None):
        form = client.form(client.assertion(audience), grant_type="client_credentials")
        refused(await post(http, authz + "/token", form), "aud")


async def test_rfc7523_section_3_item_7_a_replayed_jti_is_refused(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 7523 section 3 item 7: the server may ensure the JWT is not replayed, by its jti; here each is accepted
    once per client, and not only at one endpoint: the same assertion sent again, to the same or another endpoint,
    or a new assertion reusing the jti, is invalid_client. A forged assertion reusing a jti does not spend it."""
    client = await make_key_client(db)
    jti = uuid.uuid4().hex
    forged = client.assertion(authz, key=SigningKey.generate("ES256"), jti=jti)
    refused(await post(http, authz + "/token", client.form(forged, grant_type="client_credentials")))
    assertion = client.assertion(authz, jti=jti)
    status, token = await post(http, authz + "/token", client.form(assertion, grant_type="client_credentials"))
    assert status == 200, token
    refused(await post(http, authz + "/token", client.form(assertion, grant_type="client_credentials")), "jti")
    refused(await post(http, authz + "/introspect", client.form(assertion, token="x")), "jti")
    again = client.assertion(authz, jti=jti)
    refused(await post(http, authz + "/token", client.form(again, grant_type="client_credentials")), "jti")
    # Concurrent replays: exactly one of them is accepted.
    racing = client.assertion(authz)
    answers = await asyncio.gather(
        *(post(http, authz + "/token", client.form(racing, grant_type="client_credentials")) for _ in range(5))
    )
    assert sorted(status for status, _ in answers) == [200, 400, 400, 400, 400]
    # Each replay of a signed assertion is in the audit log.
    replays = await db.fetchval(
        "SELECT count(*) FROM audit_events WHERE event = 'client_assertion_replay' AND client_id = $1", client.client_id
    )
    assert replays == 7


async def test_rfc7523_section_3_item_4_expired_and_too_long_lived_assertions(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 7523 section 3 items 4 and 6: an expired assertion is refused; one whose exp is more than five minutes
    off, or made (iat) in the future, too."""
    client = await make_key_client(db)
    now = int(time.time())
    for changes, reason in (
        ({"iat": now - 600, "exp": now - 120}, "expired"),
        ({"exp": now + 3600}, "lives too long"),
        ({"iat": None, "exp": now + 900}, "lives too long"),
        ({"iat": now + 600, "exp": now + 660}, "not yet valid"),
    ):
        form = client.form(client.assertion(authz, **changes), grant_type="client_credentials")
        refused(await post(http, authz + "/token", form), reason)


async def test_rfc7523_section_3_item_9_wrong_algorithm_and_wrong_key(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 7523 section 3 item 9 and RFC 8725 section 3.1: only the registered keys' asymmetric algorithms. HS256
    keyed with the client's public key, `none`, and a signature by a key the client never registered (with the
    registered key's kid, or another) are all invalid_client."""
    client = await make_key_client(db, alg="RS256")
    now = int(time.time())
    claims = {"iss": client.client_id, "sub": client.client_id, "aud": authz, "jti": "j1", "exp": now + 60}
    hs256 = forged_hs256(client.key, claims)
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": client.key.kid})  # type: ignore[arg-type]
    for assertion in (hs256, unsigned):
        refused(
            await post(http, authz + "/token", client.form(assertion, grant_type="client_credentials")), "algorithm"
        )
    stranger = SigningKey.generate("RS256")
    other_key = jwt.encode(claims, stranger.private_key, algorithm="RS256", headers={"kid": client.key.kid})
    unknown_kid = jwt.encode(claims, stranger.private_key, algorithm="RS256", headers={"kid": stranger.kid})
    es256 = client.assertion(authz, key=SigningKey.generate("ES256"))
    for assertion in (other_key, unknown_kid, es256):
        form = client.form(assertion, grant_type="client_credentials")
        refused(await post(http, authz + "/token", form), "unknown client or wrong credentials")


async def test_rfc7523_section_3_items_1_and_2_iss_and_sub_must_both_be_the_client(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 7523 section 3 items 1-2 and OIDC Core 9: iss and sub are both the client_id; a client_id sent in the
    form must be that client too."""
    client, other = await make_key_client(db), await make_key_client(db)
    refused(
        await post(
            http,
            authz + "/token",
            client.form(client.assertion(authz, iss=other.client_id), grant_type="client_credentials"),
        )
    )
    refused(
        await post(
            http,
            authz + "/token",
            client.form(client.assertion(authz, sub=other.client_id), grant_type="client_credentials"),
        )
    )
    form = client.form(client.assertion(authz), grant_type="client_credentials", client_id=other.client_id)
    refused(await post(http, authz + "/token", form))
    form = client.form(client.assertion(authz), grant_type="client_credentials", client_id=client.client_id)
    assert (await post(http, authz + "/token", form))[0] == 200


async def test_oidc_core_9_one_method_per_request_and_the_registered_one_only(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 6749 section 2.3 (one method per request) and OIDC Core 9 (the registered method only): a secret and an
    assertion together are invalid_request; a private_key_jwt client sending a secret (it has none) and a
    secret-registered client sending an assertion are invalid_client."""
    client = await make_key_client(db)
    both = client.form(client.assertion(authz), grant_type="client_credentials", client_secret="x")
    status, body = await post(http, authz + "/token", both)
    assert (status, body["error"]) == (400, "invalid_request")
    basic = flows.basic_header(client.client_id, "x")
    status, body = await post(
        http,
        authz + "/token",
        client.form(client.assertion(authz), grant_type="client_credentials"),
        {"Authorization": basic},
    )
    assert (status, body["error"]) == (400, "invalid_request")
    status, body = await post(http, authz + "/token", {"grant_type": "client_credentials"}, {"Authorization": basic})
    assert (status, body["error"]) == (401, "invalid_client")
    form = {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": ""}
    refused(await post(http, authz + "/token", form))

    secret_client = await flows.make_client(db)
    impostor = KeyClient(secret_client.client_id, [SigningKey.generate("ES256")])
    form = impostor.form(impostor.assertion(authz), grant_type="client_credentials")
    refused(await post(http, authz + "/token", form), "unknown client or wrong credentials")
    status, body = await post(
        http, authz + "/token", client.form(client.assertion(authz), grant_type="client_credentials")
    )
    assert status == 200, body
    status, body = await post(
        http,
        authz + "/token",
        {**client.form("x.y.z"), "client_assertion_type": "urn:other", "grant_type": "client_credentials"},
    )
    assert (status, body["error"]) == (400, "invalid_client")


@pytest.fixture
async def jwks_server() -> AsyncIterator[tuple[str, list[dict[str, Any]], list[int]]]:
    """A client's JWK Set served over real HTTP: (its URL, the keys it serves (change them at will), how many times
    it was fetched)."""
    served: list[dict[str, Any]] = []
    fetches: list[int] = [0]

    async def jwks(request: web.Request) -> web.Response:
        fetches[0] += 1
        return web.json_response({"keys": served}, headers={"Cache-Control": "max-age=300"})

    app = web.Application()
    app.router.add_get("/jwks.json", jwks)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/jwks.json", served, fetches
    finally:
        await runner.cleanup()


async def test_rfc7591_jwks_uri_keys_are_fetched_cached_and_refetched_for_a_new_kid(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, jwks_server: tuple[str, list[dict[str, Any]], list[int]]
) -> None:
    """RFC 7591 section 2 jwks_uri: the client's keys are fetched from its URL (once, then cached as its
    Cache-Control says); a key added later is picked up when an assertion names its kid (a rate-limited refetch),
    and one removed from the set stops working after that refetch."""
    url, served, fetches = jwks_server
    first, second = SigningKey.generate("ES256"), SigningKey.generate("EdDSA")
    served[:] = jwk_set(first)["keys"]
    client = await make_key_client(db, jwks_uri=url, keys=[first])

    async def token_with(key: SigningKey) -> int:
        form = client.form(client.assertion(authz, key=key), grant_type="client_credentials")
        return (await post(http, authz + "/token", form))[0]

    assert await token_with(first) == 200
    assert await token_with(first) == 200
    assert fetches[0] == 1
    served[:] = jwk_set(second)["keys"]  # rotated: the first key is withdrawn

    async def second_works() -> bool | None:
        return await token_with(second) == 200 or None

    await eventually(second_works, timeout=15, interval=0.5, message="the new key to be fetched")
    assert await token_with(first) == 400


async def test_rfc7591_a_key_withdrawn_from_the_jwks_uri_stops_working_once_the_client_changes(
    authz: str,
    http: aiohttp.ClientSession,
    db: asyncpg.Pool,
    environ: dict[str, str],
    jwks_server: tuple[str, list[dict[str, Any]], list[int]],
) -> None:
    """RFC 7591 section 2 jwks_uri: keys fetched are cached (Cache-Control: max-age=300 here), so a key taken out of
    the set still works until the cache expires, unless the client changes: every change is announced (a `client`
    event, as `client update` and the admin API send), and the next assertion is checked against keys fetched
    afresh."""
    url, served, fetches = jwks_server
    leaked, fresh = SigningKey.generate("ES256"), SigningKey.generate("ES256")
    served[:] = jwk_set(leaked, fresh)["keys"]
    client = await make_key_client(db, jwks_uri=url, keys=[leaked])

    async def status_with(key: SigningKey) -> int:
        form = client.form(client.assertion(authz, key=key), grant_type="client_credentials")
        return (await post(http, authz + "/token", form))[0]

    assert await status_with(leaked) == 200
    served[:] = jwk_set(fresh)["keys"]
    assert await status_with(leaked) == 200, "cached, as the JWK Set's Cache-Control allows"
    redis = create_redis(environ["REDIS_URL"])
    try:
        await announce_change(redis, RedisKeys(environ["AUTHORIUM_REDIS_PREFIX"]), client.client_id)
    finally:
        await redis.aclose()

    async def leaked_refused() -> bool | None:
        return await status_with(leaked) == 400 or None

    await eventually(leaked_refused, timeout=5, interval=0.1, message="the withdrawn key to be refused")
    assert await status_with(fresh) == 200
    assert fetches[0] == 2


async def test_rfc9126_section_2_a_private_key_jwt_client_pushes_and_signs_in_with_pkce(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    """RFC 9126 section 2 with RFC 7523: the client authenticates at the PAR endpoint with an assertion, the
    browser follows the request_uri, and the code is redeemed at the token endpoint with another assertion and the
    PKCE verifier."""
    client = await make_key_client(db)
    verifier, challenge = flows.pkce_pair()
    form = client.form(
        client.assertion(authz),
        response_type="code",
        redirect_uri=client.redirect_uri,
        scope="openid notes:read",
        state="st",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    status, pushed = await post(http, authz + "/par", form)
    assert status == 201, pushed
    url = f"{authz}/authorize?client_id={client.client_id}&request_uri={pushed['request_uri']}"
    outcome = await flows.follow_authorization(person.browser, authz, url, person.username)
    params = outcome.params
    assert params["state"] == "st"
    form = client.form(
        client.assertion(authz),
        grant_type="authorization_code",
        code=params["code"],
        redirect_uri=client.redirect_uri,
        code_verifier=verifier,
    )
    status, tokens = await post(http, authz + "/token", form)
    assert status == 200, tokens
    assert "id_token" in tokens


async def test_rfc7591_a_self_registered_private_key_jwt_client_authenticates_with_its_key(
    start_authz: AuthzFactory, http: aiohttp.ClientSession
) -> None:
    """RFC 7591 section 2 (token_endpoint_auth_method private_key_jwt, jwks) with RFC 7523 section 2.2: a client that
    registered itself with its public keys gets no client_secret and authenticates with an assertion; the same
    assertion signed by another key does not."""
    key = SigningKey.generate("EdDSA")
    async with start_authz(
        AUTHORIUM_REGISTRATION_TOKEN=REGISTRATION_TOKEN, AUTHORIUM_REGISTRATION_GRANT_TYPES=WITH_CLIENT_CREDENTIALS
    ) as authz:
        document = {
            "grant_types": ["client_credentials"],
            "scope": "notes:read",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": jwk_set(key),
        }
        status, answer, _ = await register(http, authz, document, token=REGISTRATION_TOKEN)
        assert status == 201, answer
        assert "client_secret" not in answer
        client = KeyClient(answer["client_id"], [key])
        form = client.form(client.assertion(authz), grant_type="client_credentials")
        status, token = await post(http, authz + "/token", form)
        assert (status, token["scope"]) == (200, "notes:read")
        stranger = client.assertion(authz, key=SigningKey.generate("EdDSA"))
        refused(await post(http, authz + "/token", client.form(stranger, grant_type="client_credentials")))


def test_rfc7591_section_2_a_private_key_jwt_clients_registered_keys_need_a_kid() -> None:
    """RFC 7515 section 4.1.4 / RFC 7517 section 4.5: the assertion's header names its key by kid, so each inline key
    of a private_key_jwt client must have one; a key without is refused at registration (invalid_client_metadata,
    naming jwks) rather than accepted and never usable."""
    jwk = SigningKey.generate("ES256").public_jwk()
    without = {name: value for name, value in jwk.items() if name != "kid"}
    for keys in ([without], [jwk, without], [{**jwk, "kid": "k" * 200}]):
        with pytest.raises(OAuthError) as caught:
            build_spec(
                name="kidless",
                grant_types=("client_credentials",),
                redirect_uris=(),
                scope="notes:read",
                public=False,
                token_endpoint_auth_method="private_key_jwt",
                jwks={"keys": keys},
            )
        assert (caught.value.error, caught.value.field) == ("invalid_client_metadata", "jwks")
