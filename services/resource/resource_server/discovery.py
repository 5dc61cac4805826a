"""Where the trusted issuer publishes its signing keys: the `jwks_uri` of its authorization server metadata
(RFC 8414 section 3), read from `{issuer}/.well-known/openid-configuration` (OpenID Connect Discovery 1.0
section 4; RFC 8414 section 5 on that suffix being appended to the issuer rather than inserted)."""

from __future__ import annotations

import json
from typing import Final
from urllib.parse import urlsplit

import aiohttp

from authorium_shared.jwks_cache import JWKSFetchError, read_bounded

WELL_KNOWN_PATH: Final = "/.well-known/openid-configuration"
MAX_METADATA_BYTES: Final = 256 * 1024
TIMEOUT: Final = aiohttp.ClientTimeout(total=10)


class DiscoveryError(JWKSFetchError):
    """The metadata could not be fetched or must not be used; the key set stays unknown until a retry."""


def metadata_url(issuer: str) -> str:
    return issuer + WELL_KNOWN_PATH


def check_metadata(document: object, issuer: str) -> str:
    """The `jwks_uri` of a metadata document (RFC 8414 section 3.2), once the document is shown to be the
    issuer's own: its `issuer` must be identical to the one it was fetched for, or none of it may be used
    (RFC 8414 section 3.3), which stops a server from pointing verifiers at keys of its choosing."""
    if not isinstance(document, dict):
        raise DiscoveryError("the metadata is not a JSON object")
    if document.get("issuer") != issuer:
        raise DiscoveryError(f"the metadata names issuer {document.get('issuer')!r}, not {issuer!r}")
    jwks_uri = document.get("jwks_uri")
    if not isinstance(jwks_uri, str):
        raise DiscoveryError("the metadata has no jwks_uri")
    try:
        parts = urlsplit(jwks_uri)
    except ValueError:
        raise DiscoveryError("the metadata's jwks_uri is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DiscoveryError("the metadata's jwks_uri is not an http(s) URL")
    return jwks_uri


async def discover_jwks_uri(session: aiohttp.ClientSession, issuer: str) -> str:
    """Fetch the issuer's metadata (RFC 8414 section 3.1) and return its checked `jwks_uri`. Redirects are not
    followed, as for the key set itself."""
    url = metadata_url(issuer)
    async with session.get(url, timeout=TIMEOUT, headers={"Accept": "application/json"}, allow_redirects=False) as resp:
        if resp.status != 200:
            raise DiscoveryError(f"{url} answered HTTP {resp.status}")
        body = await read_bounded(resp, MAX_METADATA_BYTES)
        if body is None:
            raise DiscoveryError(f"{url} answered more than {MAX_METADATA_BYTES} bytes")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise DiscoveryError(f"{url} did not answer JSON") from None
    return check_metadata(document, issuer)
