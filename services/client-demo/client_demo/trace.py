"""The flow inspector's record: each step of a sign-in as it happened, with one line saying why, and every
secret redacted before it is stored. Steps are plain JSON so a session can hold them."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import jwt

from client_demo.provider import Exchange

REDACTED = "[redacted]"
# Parameters and response members that carry a credential: shown as a short prefix or not at all.
_SECRET_MEMBERS = frozenset({"access_token", "refresh_token", "id_token", "code_verifier", "token"})
_PREFIX = 8


def redact(value: str) -> str:
    """Enough of a token to recognise it, never enough to use it."""
    return f"{value[:_PREFIX]}… ({len(value)} characters, redacted)"


def redact_members(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name == "code":
            out[name] = REDACTED
        elif name in _SECRET_MEMBERS and isinstance(value, str):
            out[name] = redact(value)
        else:
            out[name] = value
    return out


def step(title: str, why: str, *blocks: tuple[str, Any]) -> dict[str, Any]:
    return {"title": title, "why": why, "at": time.time(), "blocks": [{"label": lbl, "data": d} for lbl, d in blocks]}


def decoded(token: str) -> dict[str, Any]:
    """Header and claims, for display only: whoever uses them must have verified the token first."""
    try:
        return {
            "header": jwt.get_unverified_header(token),
            "claims": jwt.decode(token, options={"verify_signature": False}),
        }
    except jwt.PyJWTError:
        return {"error": "not a JWT this page can decode"}


def authorization_request(endpoint: str, params: Mapping[str, str]) -> dict[str, Any]:
    return step(
        "1. Authorization request",
        "The demo sent your browser to the authorization server with what it asks for (scope), where to come "
        "back (redirect_uri), and three one-time values: state ties the answer to this browser, nonce ties the "
        "ID token to this sign-in, and the PKCE code_challenge lets only the demo redeem the code "
        "(RFC 6749 4.1.1, RFC 7636, OpenID Connect Core 3.1.2.1).",
        (f"GET {endpoint}", {"query": dict(params)}),
    )


def redirect_back(url: str, params: Mapping[str, str]) -> dict[str, Any]:
    return step(
        "2. Redirect back with a code",
        "After you signed in and consented, the authorization server sent your browser back here with a "
        "one-time code. The demo checked that state is the one it stored for this browser (CSRF) and that iss "
        "names the server it sent you to (RFC 9207, against mix-up attacks), and used the code once.",
        (f"GET {url}", {"query": redact_members(params)}),
    )


def _proof(proof: str | None) -> dict[str, Any]:
    """A DPoP proof header (RFC 9449 section 4.2), decoded: it is single-use and names its request, so it is shown."""
    return {"DPoP": decoded(proof)} if proof is not None else {}


def _authorization(token: str, proof: str | None) -> dict[str, Any]:
    return {"Authorization": ("DPoP " if proof is not None else "Bearer ") + redact(token), **_proof(proof)}


def token_exchange(title: str, why: str, exchange: Exchange) -> dict[str, Any]:
    if exchange.proof is not None:
        why += (
            " The request carried a DPoP proof signed with this session's key, so the access token is bound to it "
            "(token_type DPoP, cnf.jkt; RFC 9449 section 5): a copy of the token is useless without the key."
        )
    return step(
        title,
        why,
        (
            f"{exchange.method} {exchange.url}",
            {
                "headers": {
                    "Authorization": f"Basic {REDACTED} (client_id and client_secret)",
                    **_proof(exchange.proof),
                },
                "form": redact_members(exchange.form),
            },
        ),
        (f"HTTP {exchange.status}", redact_members(exchange.body)),
    )


def code_exchange(exchange: Exchange) -> dict[str, Any]:
    return token_exchange(
        "3. Token request and response",
        "Server to server, the demo redeemed the code, authenticating with its client secret and proving with "
        "the PKCE code_verifier that it started this sign-in. The tokens it got never reach your browser: they "
        "stay in the demo's server-side session (RFC 6749 4.1.3, RFC 7636 4.5).",
        exchange,
    )


def id_token(token: str) -> dict[str, Any]:
    return step(
        "4. ID token",
        "Who you are, signed by the authorization server. The demo checked the signature with the server's "
        "published keys (JWKS), that iss is the server, aud is this client, exp is in the future, and nonce is "
        "the one it sent in step 1 (OpenID Connect Core 3.1.3.7).",
        ("Decoded", decoded(token)),
    )


def access_token(token: str) -> dict[str, Any]:
    return step(
        "5. Access token",
        "A client treats the access token as opaque; it is decoded here only to show what the notes API "
        "checks: the signature, iss, aud (the API's own URL), exp and scope (RFC 9068).",
        ("Decoded", decoded(token)),
    )


def userinfo(exchange: Exchange, token: str) -> dict[str, Any]:
    return step(
        "6. UserInfo request",
        "The demo asked the authorization server for your profile, presenting the access token "
        "(OpenID Connect Core 5.3). Its sub must match the ID token's.",
        (f"GET {exchange.url}", {"headers": _authorization(token, exchange.proof)}),
        (f"HTTP {exchange.status}", exchange.body),
    )


def api_call(method: str, url: str, token: str, status: int, body: Any, proof: str | None = None) -> dict[str, Any]:
    why = (
        "The demo called the notes API with the access token in the Authorization header (RFC 6750). The API "
        "verifies the token itself, with the authorization server's keys, and checks it is not revoked."
    )
    if proof is not None:
        why += (
            " The token is DPoP-bound, so it goes with the DPoP scheme and a fresh proof for this very request "
            "(method, URL, the token's hash ath), signed with the key the token's cnf.jkt names (RFC 9449 7.1)."
        )
    return step(
        "7. API call (the latest)",
        why,
        (f"{method} {url}", {"headers": _authorization(token, proof)}),
        (f"HTTP {status}", body),
    )


def refresh(exchange: Exchange) -> dict[str, Any]:
    return token_exchange(
        "Silent refresh",
        "The access token had expired (or the API refused it), so the demo traded its refresh token for new "
        "tokens, without involving you. Refresh tokens rotate: the old one is now spent, and presenting it "
        "again would revoke the whole grant (RFC 6749 6, RFC 9700 4.14.2).",
        exchange,
    )
