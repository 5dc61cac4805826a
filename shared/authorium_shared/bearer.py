"""Bearer tokens on requests (RFC 6750): reading them from the Authorization header, and the errors that
refuse them, with the `WWW-Authenticate` challenge section 3 defines. A protected resource that also accepts
DPoP-bound tokens (RFC 9449 section 7) reads either scheme and offers both challenges (`dpop_algs`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from authorium_shared.errors import InvalidRequest, InvalidToken, OAuthError

# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")
_QUOTED_SAFE = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


def _quoted(value: str) -> str:
    return '"' + _QUOTED_SAFE.sub("", value) + '"'


BEARER = "Bearer"
# RFC 9449 section 7.1: the authentication scheme of DPoP-bound access tokens.
DPOP = "DPoP"


@dataclass(frozen=True)
class Presented:
    """An access token as the request presented it: under which scheme (BEARER or DPOP)."""

    scheme: str
    token: str


def challenge(
    realm: str,
    error: OAuthError | None = None,
    *,
    scope: str | None = None,
    scheme: str = BEARER,
    algs: Sequence[str] = (),
) -> str:
    parts = [f"realm={_quoted(realm)}"]
    if error is not None:
        parts.append(f"error={_quoted(error.error)}")
        if error.description:
            parts.append(f"error_description={_quoted(error.description)}")
    if scope is not None:
        parts.append(f"scope={_quoted(scope)}")
    if algs:
        # RFC 9449 section 7.1: the DPoP challenge names the proof algorithms the resource accepts.
        parts.append(f"algs={_quoted(' '.join(algs))}")
    return f"{scheme} " + ", ".join(parts)


def challenges(
    realm: str,
    error: OAuthError | None = None,
    *,
    scope: str | None = None,
    scheme: str = BEARER,
    dpop_algs: Sequence[str] = (),
) -> str:
    """The `WWW-Authenticate` value: the Bearer challenge alone, or, where DPoP is accepted too (`dpop_algs`), both
    (RFC 9449 section 7.2, RFC 9110 section 11.6.1), the scheme the refused request used first and alone carrying
    the error."""
    if not dpop_algs:
        return challenge(realm, error, scope=scope)
    other = BEARER if scheme == DPOP else DPOP
    used = challenge(realm, error, scope=scope, scheme=scheme, algs=dpop_algs if scheme == DPOP else ())
    return used + ", " + challenge(realm, scheme=other, algs=dpop_algs if other == DPOP else ())


def refuse(
    error: OAuthError,
    realm: str,
    *,
    scope: str | None = None,
    scheme: str = BEARER,
    dpop_algs: Sequence[str] = (),
) -> OAuthError:
    """`error` with its challenge attached (RFC 6750 section 3: every refusal carries one)."""
    error.headers["WWW-Authenticate"] = challenges(realm, error, scope=scope, scheme=scheme, dpop_algs=dpop_algs)
    return error


def missing_token(realm: str, *, dpop_algs: Sequence[str] = ()) -> web.HTTPUnauthorized:
    """No credentials at all: 401 with a bare challenge and no error code (RFC 6750 section 3.1; RFC 9449
    section 7.1 with `dpop_algs`)."""
    return web.HTTPUnauthorized(
        headers={"WWW-Authenticate": challenges(realm, dpop_algs=dpop_algs), "Cache-Control": "no-store"},
        text='{"error_description": "a bearer token is required"}',
        content_type="application/json",
    )


def bearer_token(request: web.Request, realm: str) -> str:
    """The token from `Authorization: Bearer ...`; never from the query string (RFC 9700 section 4.3.2)."""
    return presented_token(request, realm).token


def presented_token(request: web.Request, realm: str, *, dpop_algs: Sequence[str] = ()) -> Presented:
    """The token from `Authorization: Bearer ...`, or with `dpop_algs` also `Authorization: DPoP ...` (RFC 9449
    section 7.1); never from the query string (RFC 9700 section 4.3.2)."""
    headers = request.headers.getall("Authorization", [])
    if not headers:
        if "access_token" in request.query:
            raise refuse(
                InvalidRequest("send the token in the Authorization header, not the URL"), realm, dpop_algs=dpop_algs
            )
        raise missing_token(realm, dpop_algs=dpop_algs)
    if len(headers) > 1:
        raise refuse(InvalidRequest("more than one Authorization header"), realm, dpop_algs=dpop_algs)
    scheme, _, token = headers[0].partition(" ")
    # RFC 9110 section 11.1: scheme names are case-insensitive.
    if scheme.lower() == BEARER.lower():
        return Presented(BEARER, well_formed(token.strip(), realm, dpop_algs=dpop_algs))
    if dpop_algs and scheme.lower() == DPOP.lower():
        return Presented(DPOP, well_formed(token.strip(), realm, scheme=DPOP, dpop_algs=dpop_algs))
    raise missing_token(realm, dpop_algs=dpop_algs)


def well_formed(token: str, realm: str, *, scheme: str = BEARER, dpop_algs: Sequence[str] = ()) -> str:
    """`token` if it is an RFC 6750 b64token (section 2.1; RFC 9449 section 7.1's token68 is the same), else the
    refusal."""
    if not token or not _B64TOKEN.fullmatch(token):
        what = "bearer token" if scheme == BEARER else "access token"
        raise refuse(InvalidToken(f"the {what} is malformed"), realm, scheme=scheme, dpop_algs=dpop_algs)
    return token
