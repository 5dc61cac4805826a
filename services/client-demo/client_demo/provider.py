"""The authorization server as this client sees it: its discovery document (OpenID Connect Discovery 1.0,
RFC 8414) and the back-channel calls to its token, revocation and userinfo endpoints, with DPoP proofs (RFC 9449)
when the session has a key."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import aiohttp
import orjson

from authorium_shared.jwks_cache import JWKSCache
from client_demo.proof_keys import ProofKey
from client_demo.settings import ClientDemoSettings

log = logging.getLogger("authorium.client_demo")

TIMEOUT = aiohttp.ClientTimeout(total=10)
MAX_RESPONSE_BYTES = 256 * 1024
REQUIRED_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint")
BACK_CHANNEL_ENDPOINTS = ("token_endpoint", "jwks_uri", "userinfo_endpoint", "revocation_endpoint")


class ProviderError(Exception):
    """The authorization server refused a request (`error` is its RFC 6749 code) or could not be used."""

    def __init__(self, error: str, description: str | None = None, *, status: int | None = None) -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description
        self.status = status


class ProviderUnavailable(ProviderError):
    """The authorization server could not be reached or answered something that is not OAuth."""

    def __init__(self, description: str) -> None:
        super().__init__("temporarily_unavailable", description)


@dataclass(frozen=True)
class Exchange:
    """One back-channel request and its answer, as the flow inspector shows them."""

    method: str
    url: str
    form: dict[str, str]
    status: int
    body: dict[str, Any]
    # The DPoP proof the request carried (RFC 9449 section 4), for the inspector to decode.
    proof: str | None = None


def basic_credentials(client_id: str, secret: str) -> str:
    """client_secret_basic: both parts form-urlencoded before base64 (RFC 6749 section 2.3.1)."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def _check_metadata(document: object, issuer: str) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise ProviderUnavailable("the discovery document is not a JSON object")
    # OpenID Connect Discovery section 4.3: the issuer must be exactly the one we asked, or we are talking to
    # someone else's metadata (mix-up).
    if document.get("issuer") != issuer:
        raise ProviderUnavailable("the discovery document names another issuer")
    for name in REQUIRED_ENDPOINTS:
        if not isinstance(document.get(name), str):
            raise ProviderUnavailable(f"the discovery document has no {name}")
    # Never downgrade: a server that does not list S256 gets no authorization request from us.
    if "S256" not in (document.get("code_challenge_methods_supported") or ()):
        raise ProviderUnavailable("the authorization server does not support PKCE with S256")
    return document


class Provider:
    def __init__(self, settings: ClientDemoSettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.http = http
        self._metadata: dict[str, Any] | None = None
        self._keys: JWKSCache | None = None
        self._lock = asyncio.Lock()

    async def metadata(self) -> dict[str, Any]:
        """The discovery document, fetched on first use (the authorization server may start after us)."""
        if self._metadata is None:
            async with self._lock:
                if self._metadata is None:
                    url = self.settings.authz_url + "/.well-known/openid-configuration"
                    status, document = await self._request("GET", url)
                    if status != 200:
                        raise ProviderUnavailable(f"discovery answered HTTP {status}")
                    self._metadata = self._back_channel(_check_metadata(document, self.settings.issuer))
        return self._metadata

    def _back_channel(self, metadata: dict[str, Any]) -> dict[str, Any]:
        """The metadata with the endpoints this server calls itself moved to `authz_url`; the authorization
        endpoint, which the browser visits, keeps the public issuer's."""
        issuer, internal = self.settings.issuer, self.settings.authz_url
        if internal == issuer:
            return metadata
        moved = dict(metadata)
        for name in BACK_CHANNEL_ENDPOINTS:
            url = metadata.get(name)
            if isinstance(url, str) and url.startswith(issuer + "/"):
                moved[name] = internal + url.removeprefix(issuer)
        return moved

    async def keys(self) -> JWKSCache:
        if self._keys is None:
            self._keys = JWKSCache(self.http, (await self.metadata())["jwks_uri"])
        return self._keys

    def _public(self, url: str) -> str:
        """The URL a back-channel request is for, as the authorization server names it: a DPoP proof's `htu`."""
        internal = self.settings.authz_url
        return self.settings.issuer + url.removeprefix(internal) if url.startswith(internal + "/") else url

    async def _request(
        self, method: str, url: str, *, form: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, Any]:
        status, body, _ = await self._request_with_nonce(method, url, form=form, headers=headers)
        return status, body

    async def _request_with_nonce(
        self, method: str, url: str, *, form: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, Any, str | None]:
        """`_request`, with the answer's DPoP-Nonce header (RFC 9449 sections 8 and 9)."""
        try:
            async with self.http.request(
                method,
                url,
                data=dict(form) if form is not None else None,
                headers={"Accept": "application/json", **(headers or {})},
                timeout=TIMEOUT,
                allow_redirects=False,
            ) as response:
                raw = await response.content.read(MAX_RESPONSE_BYTES + 1)
                status = response.status
                nonce = response.headers.get("DPoP-Nonce")
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("authorization server unreachable", extra={"url": url, "error": repr(exc)})
            raise ProviderUnavailable("the authorization server could not be reached") from None
        if len(raw) > MAX_RESPONSE_BYTES:
            raise ProviderUnavailable("the authorization server's answer is too large")
        if not raw:
            return status, {}, nonce
        try:
            return status, orjson.loads(raw), nonce
        except orjson.JSONDecodeError:
            raise ProviderUnavailable(f"the authorization server answered HTTP {status} without JSON") from None

    async def _client_post(self, endpoint: str, form: dict[str, str], key: ProofKey | None = None) -> Exchange:
        """A client-authenticated POST (client_secret_basic), with a DPoP proof by `key` if given (retried once with
        the server's nonce when it asks for one, RFC 9449 section 8); an OAuth error answer raises ProviderError."""
        url = (await self.metadata())[endpoint]
        auth = basic_credentials(self.settings.client_id, self.settings.client_secret)
        proof = key.proof("POST", self._public(url)) if key is not None else None
        headers = {"Authorization": auth, **({"DPoP": proof} if proof else {})}
        status, body, nonce = await self._request_with_nonce("POST", url, form=form, headers=headers)
        if key is not None and nonce and isinstance(body, dict) and body.get("error") == "use_dpop_nonce":
            proof = key.proof("POST", self._public(url), nonce=nonce)
            status, body, _ = await self._request_with_nonce("POST", url, form=form, headers={**headers, "DPoP": proof})
        if status != 200:
            if isinstance(body, dict) and isinstance(body.get("error"), str):
                description = body.get("error_description")
                raise ProviderError(body["error"], description if isinstance(description, str) else None, status=status)
            raise ProviderUnavailable(f"the authorization server answered HTTP {status}")
        if not isinstance(body, dict):
            raise ProviderUnavailable("the authorization server's answer is not a JSON object")
        return Exchange("POST", url, form, status, body, proof)

    async def token(self, form: dict[str, str], key: ProofKey | None = None) -> Exchange:
        """RFC 6749 section 4.1.3 / 6: a token request; the answer is checked to be a Bearer token response, or
        with `key` a DPoP-bound one (RFC 9449 section 5): a client that asked for a bound token takes no other."""
        exchange = await self._client_post("token_endpoint", form, key)
        body = exchange.body
        expected = "bearer" if key is None else "dpop"
        if not isinstance(body.get("access_token"), str) or str(body.get("token_type", "")).lower() != expected:
            raise ProviderUnavailable(f"the token response holds no {'Bearer' if key is None else 'DPoP'} access token")
        expires_in = body.get("expires_in")
        if expires_in is not None and (isinstance(expires_in, bool) or not isinstance(expires_in, int)):
            raise ProviderUnavailable("the token response's expires_in is not a number of seconds")
        for name in ("refresh_token", "id_token", "scope"):
            if name in body and not isinstance(body[name], str):
                raise ProviderUnavailable(f"the token response's {name} is not a string")
        return exchange

    async def revoke(self, token: str, hint: str) -> bool:
        """RFC 7009; True when the authorization server confirmed it."""
        metadata = await self.metadata()
        if "revocation_endpoint" not in metadata:
            return False
        try:
            await self._client_post("revocation_endpoint", {"token": token, "token_type_hint": hint})
        except ProviderError as exc:
            log.warning("token revocation failed", extra={"error": exc.error})
            return False
        return True

    async def userinfo(self, access_token: str, key: ProofKey | None = None) -> Exchange:
        """OpenID Connect Core section 5.3; a DPoP-bound token with the DPoP scheme and a proof (RFC 9449 7.1)."""
        url = (await self.metadata())["userinfo_endpoint"]
        headers = {"Authorization": "Bearer " + access_token}
        proof = None
        if key is not None:
            proof = key.proof("GET", self._public(url), access_token=access_token)
            headers = {"Authorization": "DPoP " + access_token, "DPoP": proof}
        status, body = await self._request("GET", url, headers=headers)
        if status != 200 or not isinstance(body, dict):
            raise ProviderError("userinfo_failed", f"the userinfo endpoint answered HTTP {status}", status=status)
        return Exchange("GET", url, {}, status, body, proof)
