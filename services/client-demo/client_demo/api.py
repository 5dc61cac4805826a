"""Calls to the notes API (the resource server) with a Bearer access token (RFC 6750 section 2.1), or a DPoP-bound
one with a proof of the session's key (RFC 9449 section 7.1)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from client_demo.proof_keys import ProofKey

log = logging.getLogger("authorium.client_demo")

TIMEOUT = aiohttp.ClientTimeout(total=10)
MAX_RESPONSE_BYTES = 1024 * 1024


class ApiUnavailable(Exception):
    """The notes API could not be reached or answered something that is not JSON."""


@dataclass(frozen=True)
class ApiResponse:
    method: str
    url: str
    status: int
    body: Any
    # The RFC 6750 (or RFC 9449 section 7.1) error code from WWW-Authenticate, such as invalid_token.
    bearer_error: str | None
    # The DPoP proof the request carried, for the inspector to decode.
    proof: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def bearer_error(challenge: str) -> str | None:
    """The error of the first challenge (the API puts the one for the scheme used first, RFC 9449 section 7.2)."""
    scheme, _, rest = challenge.partition(" ")
    if scheme.lower() not in ("bearer", "dpop"):
        return None
    for part in rest.split(","):
        name, _, value = part.strip().partition("=")
        if " " in name:
            return None  # the next challenge began
        if name == "error":
            return value.strip('"')
    return None


class NotesApi:
    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self.http = http
        self.base_url = base_url

    async def call(
        self, method: str, path: str, token: str, *, json: Any = None, key: ProofKey | None = None
    ) -> ApiResponse:
        """One call; with `key`, a DPoP proof for it, and once more with the API's nonce if it asks (section 9)."""
        response, nonce = await self._call(method, path, token, json=json, key=key)
        if key is not None and nonce and response.status == 401 and response.bearer_error == "use_dpop_nonce":
            response, _ = await self._call(method, path, token, json=json, key=key, nonce=nonce)
        return response

    async def _call(
        self, method: str, path: str, token: str, *, json: Any, key: ProofKey | None, nonce: str | None = None
    ) -> tuple[ApiResponse, str | None]:
        url = self.base_url + path
        headers = {"Authorization": "Bearer " + token, "Accept": "application/json"}
        proof = None
        if key is not None:
            proof = key.proof(method, url, access_token=token, nonce=nonce)
            headers.update({"Authorization": "DPoP " + token, "DPoP": proof})
        if json is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self.http.request(
                method,
                url,
                data=orjson.dumps(json) if json is not None else None,
                headers=headers,
                timeout=TIMEOUT,
                allow_redirects=False,
            ) as response:
                raw = await response.content.read(MAX_RESPONSE_BYTES + 1)
                status = response.status
                challenge = response.headers.get("WWW-Authenticate", "")
                answered_nonce = response.headers.get("DPoP-Nonce")
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("notes API unreachable", extra={"url": url, "error": repr(exc)})
            raise ApiUnavailable("the notes API could not be reached") from None
        if len(raw) > MAX_RESPONSE_BYTES:
            raise ApiUnavailable("the notes API's answer is too large")
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            raise ApiUnavailable(f"the notes API answered HTTP {status} without JSON") from None
        return ApiResponse(method, url, status, body, bearer_error(challenge), proof), answered_nonce
