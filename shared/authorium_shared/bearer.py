"""Bearer tokens on requests (RFC 6750): reading them from the Authorization header, and the errors that
refuse them, with the `WWW-Authenticate` challenge section 3 defines."""

from __future__ import annotations

import re

from aiohttp import web

from authorium_shared.errors import InvalidRequest, InvalidToken, OAuthError

# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")
_QUOTED_SAFE = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


def _quoted(value: str) -> str:
    return '"' + _QUOTED_SAFE.sub("", value) + '"'


def challenge(realm: str, error: OAuthError | None = None, *, scope: str | None = None) -> str:
    parts = [f"realm={_quoted(realm)}"]
    if error is not None:
        parts.append(f"error={_quoted(error.error)}")
        if error.description:
            parts.append(f"error_description={_quoted(error.description)}")
    if scope is not None:
        parts.append(f"scope={_quoted(scope)}")
    return "Bearer " + ", ".join(parts)


def refuse(error: OAuthError, realm: str, *, scope: str | None = None) -> OAuthError:
    """`error` with its challenge attached (RFC 6750 section 3: every refusal carries one)."""
    error.headers["WWW-Authenticate"] = challenge(realm, error, scope=scope)
    return error


def missing_token(realm: str) -> web.HTTPUnauthorized:
    """No credentials at all: 401 with a bare challenge and no error code (RFC 6750 section 3.1)."""
    return web.HTTPUnauthorized(
        headers={"WWW-Authenticate": challenge(realm), "Cache-Control": "no-store"},
        text='{"error_description": "a bearer token is required"}',
        content_type="application/json",
    )


def bearer_token(request: web.Request, realm: str) -> str:
    """The token from `Authorization: Bearer ...`; never from the query string (RFC 9700 section 4.3.2)."""
    headers = request.headers.getall("Authorization", [])
    if not headers:
        if "access_token" in request.query:
            raise refuse(InvalidRequest("send the token in the Authorization header, not the URL"), realm)
        raise missing_token(realm)
    if len(headers) > 1:
        raise refuse(InvalidRequest("more than one Authorization header"), realm)
    scheme, _, token = headers[0].partition(" ")
    if scheme.lower() != "bearer":
        raise missing_token(realm)
    return well_formed(token.strip(), realm)


def well_formed(token: str, realm: str) -> str:
    """`token` if it is an RFC 6750 b64token (section 2.1), else the refusal."""
    if not token or not _B64TOKEN.fullmatch(token):
        raise refuse(InvalidToken("the bearer token is malformed"), realm)
    return token
