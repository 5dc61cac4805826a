"""The authorization request's checks (RFC 6749 section 4.1.1, RFC 7636 section 4.3, OIDC Core 3.1.2.1-3.1.2.2),
run in order by the authorization endpoint. The first two decide whether errors may be sent back to the client at
all."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from authorium_shared.errors import InvalidRequest, InvalidScope, OAuthError, UnsupportedResponseType
from authorium_shared.jwt import TokenInvalid, verify_with_keyset
from authorium_shared.keys import ALGORITHMS, KeySet
from authz import scopes
from authz.authorization import pkce
from authz.clients.records import Client
from authz.factors.assurance import MAX_ACR_VALUES
from authz.users.accounts import check_username

# OIDC Core 3.1.2.1; discovery lists these as `prompt_values_supported`. `account_selection_required`
# (section 3.1.2.6) never arises: a browser holds one session, so there is never an account to choose silently.
PROMPTS = ("none", "login", "consent", "select_account")
MAX_STATE_LENGTH = 1024
MAX_NONCE_LENGTH = 255
MAX_AGE_LIMIT = 10 * 365 * 86400
# The `typ` header of the ID tokens the minter signs (access tokens are `at+jwt`, so they are no hint).
ID_TOKEN_TYP = "JWT"


class UntrustedRedirect(Exception):
    """The request cannot be answered by redirect: the client or redirect URI is unknown. The user sees
    an error page instead (RFC 6749 section 4.1.2.1), so the server is never an open redirector."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RequestNotSupported(OAuthError):
    error = "request_not_supported"


class RequestUriNotSupported(OAuthError):
    error = "request_uri_not_supported"


# RFC 8252 section 7.3: a loopback IP redirect URI, split into the part before the port and the part after it.
# The port, when present, is 1-65535 without leading zeros; what follows it must start the path, query or end.
_LOOPBACK = re.compile(r"(http://(?:127\.0\.0\.1|\[::1\]))(?::([1-9][0-9]{0,4}))?([/?#].*)?", re.DOTALL)


def _without_port(uri: str) -> tuple[str, str] | None:
    """A loopback IP redirect URI as (scheme and host, the rest), or None for any other URI."""
    match = _LOOPBACK.fullmatch(uri)
    if match is None or (match[2] is not None and int(match[2]) > 65535):
        return None
    return match[1], match[3] or ""


def redirect_uri_matches(registered: str, requested: str) -> bool:
    """An exact string match (RFC 9700 section 4.1.3), except that a registered loopback IP redirect URI
    (`http://127.0.0.1` or `http://[::1]`) matches a request for it on any port, or none: native apps listen on
    whatever port the operating system gives them (RFC 8252 section 7.3). `localhost` is matched exactly."""
    if requested == registered:
        return True
    loopback = _without_port(registered)
    return loopback is not None and loopback == _without_port(requested)


def check_redirect_uri(client: Client | None, redirect_uri: str | None, *, openid: bool = False) -> str:
    """The redirect URI to answer at: the request's, when it matches a registered one (`redirect_uri_matches`),
    so a code is bound to the URI actually used; or the only one registered when the request names none (RFC 6749
    section 3.1.2.3), unless it is an OpenID Connect request, which must name it (OIDC Core 3.1.2.1)."""
    if client is None:
        raise UntrustedRedirect("The application that sent you here is not registered.")
    if "authorization_code" not in client.grant_types or not client.redirect_uris:
        raise UntrustedRedirect("This application is not allowed to sign people in.")
    if redirect_uri is None:
        # RFC 6749 section 4.1.2.1: a request that fails for a missing redirection URI is reported to the person,
        # not redirected; that holds even with a sole registered URI, which we could reach but the client did not
        # ask for, and the client's developer learns of the mistake on the first try.
        if openid:
            raise UntrustedRedirect(
                "The application did not say where to send you back (redirect_uri), which an OpenID Connect "
                "sign-in must."
            )
        if len(client.redirect_uris) != 1:
            raise UntrustedRedirect("The application did not say where to send you back (redirect_uri).")
        return client.redirect_uris[0]
    if not any(redirect_uri_matches(registered, redirect_uri) for registered in client.redirect_uris):
        raise UntrustedRedirect("The application asked to send you to an address it has not registered.")
    return redirect_uri


def is_openid_request(params: Mapping[str, str]) -> bool:
    """Whether the request asks for `openid`, making it an OpenID Connect request (OIDC Core 3.1.2.1)."""
    return scopes.OPENID in params.get("scope", "").split(" ")


def check_requested_scope(client: Client, params: Mapping[str, str]) -> tuple[str, ...]:
    """The scopes to grant.

    - No `scope`: the client's registered scopes without OpenID Connect's (RFC 6749 section 3.3's pre-defined
      default): a request that named no scope is plain OAuth, never a sign-in (`openid`) nor offline access
      nobody asked for; `profile` and `email` only say which claims a sign-in's ID token and userinfo carry, so
      without `openid` they mean nothing. A client registered for nothing else must name its scopes.
    - An OpenID Connect request (the client asks for `openid` and may have it): scopes the client may not have
      are dropped, not refused (OIDC Core 3.1.2.1: values not understood SHOULD be ignored); the token response
      says what was granted (RFC 6749 section 5.1).
    - Any other request: every scope must be the client's, else invalid_scope (RFC 6749 section 3.3)."""
    requested = scopes.parse_scope(params.get("scope"))
    if not requested:
        default = tuple(s for s in client.scopes if s not in scopes.USER_SCOPES)
        if not default:
            raise InvalidScope("scope is required: this client has no default scope outside OpenID Connect's")
        return default
    if scopes.OPENID in requested and scopes.OPENID in client.scopes:
        return tuple(s for s in requested if s in client.scopes)
    return scopes.check_scope(requested, client.scopes)


def check_response_type(params: Mapping[str, str]) -> None:
    response_type = params.get("response_type")
    if response_type is None:
        raise InvalidRequest("response_type is required")
    if response_type != "code":
        raise UnsupportedResponseType("only response_type=code is supported")


def check_unsupported_parameters(params: Mapping[str, str]) -> None:
    if "request" in params:
        raise RequestNotSupported("request objects are not supported")
    if "request_uri" in params:
        raise RequestUriNotSupported("request_uri is not supported")
    if "response_mode" in params and params["response_mode"] != "query":
        raise InvalidRequest("only response_mode=query is supported")


def check_pkce(client: Client, params: Mapping[str, str]) -> str | None:
    """The S256 code challenge, required of public clients and accepted from all."""
    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method")
    if challenge is None:
        if method is not None:
            raise InvalidRequest("code_challenge_method was sent without a code_challenge")
        if client.is_public:
            raise InvalidRequest("a public client must use PKCE: code_challenge with method S256 is required")
        return None
    if method != pkce.METHOD:
        raise InvalidRequest("code_challenge_method must be S256 (plain is not supported)")
    if not pkce.is_valid_challenge(challenge):
        raise InvalidRequest("code_challenge must be 43 base64url characters (the S256 of the verifier)")
    return challenge


# An RFC 7638 SHA-256 thumbprint: 32 bytes in base64url without padding.
_JKT = re.compile(r"[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]")


def check_dpop_jkt(params: Mapping[str, str]) -> str | None:
    """`dpop_jkt` (RFC 9449 section 10): the thumbprint of the DPoP key the code is to be bound to."""
    jkt = params.get("dpop_jkt")
    if jkt is not None and not _JKT.fullmatch(jkt):
        raise InvalidRequest("dpop_jkt must be the base64url SHA-256 JWK thumbprint (RFC 7638) of a DPoP key")
    return jkt


def check_prompt(params: Mapping[str, str]) -> tuple[str, ...]:
    values = tuple(dict.fromkeys(params.get("prompt", "").split()))
    unknown = [v for v in values if v not in PROMPTS]
    if unknown:
        raise InvalidRequest(f"prompt value {unknown[0]!r} is not supported; use {', '.join(PROMPTS)}")
    if "none" in values and len(values) > 1:
        raise InvalidRequest("prompt=none cannot be combined with other values")
    return values


def check_max_age(params: Mapping[str, str]) -> int | None:
    value = params.get("max_age")
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or int(value) > MAX_AGE_LIMIT:
        raise InvalidRequest("max_age must be a non-negative number of seconds")
    return int(value)


def check_state_and_nonce(params: Mapping[str, str]) -> tuple[str | None, str | None]:
    state, nonce = params.get("state"), params.get("nonce")
    if state is not None and len(state) > MAX_STATE_LENGTH:
        raise InvalidRequest(f"state must be at most {MAX_STATE_LENGTH} characters")
    if nonce is not None and len(nonce) > MAX_NONCE_LENGTH:
        raise InvalidRequest(f"nonce must be at most {MAX_NONCE_LENGTH} characters")
    return state, nonce


def check_id_token_hint(params: Mapping[str, str], keyset: KeySet, *, issuer: str, client_id: str) -> str | None:
    """The subject `id_token_hint` names (OIDC Core 3.1.2.1), once it is known to be an ID token this server
    issued (signed by a key of ours, `typ` JWT, our `iss`) to this client (`aud`); InvalidRequest otherwise
    (section 3.1.2.2: the request MUST be validated).

    Its expiry is not checked, on purpose: section 3.1.2.1 calls it a hint about a current *or past* session, and
    an RP's last ID token has usually expired by the time it asks again (node-oidc-provider, and RP-Initiated
    Logout section 2 for the same parameter, accept expired ones too). The hint is never a credential: it can
    only make the server ask for a sign-in or refuse with login_required, never skip one. What bounds its age is
    the key ring: once the key that signed it is removed (after every token it signed has expired), the
    signature cannot be checked and the hint is refused like a forged one."""
    hint = params.get("id_token_hint")
    if hint is None:
        return None
    try:
        claims = verify_with_keyset(
            hint,
            keyset,
            algorithms=ALGORITHMS,
            issuer=issuer,
            audience=client_id,
            typ=ID_TOKEN_TYP,
            # exp, iat and nbf may be anything our own signature vouched for; see above.
            leeway=math.inf,
            required=("iss", "sub", "aud"),
        )
    except TokenInvalid as exc:
        raise InvalidRequest(
            f"id_token_hint is not an ID token this server issued to this client ({exc.reason})"
        ) from None
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject:
        raise InvalidRequest("id_token_hint has no subject")
    return subject


def check_login_hint(params: Mapping[str, str]) -> str | None:
    """`login_hint` (OIDC Core 3.1.2.1), to prefill the login page's username, when it could be a username at all.
    Any other hint (too long, characters no username has) is left unused rather than refused: the parameter is
    advice the server MAY use, and a username field holding something no account can have helps nobody."""
    hint = params.get("login_hint")
    if hint is None:
        return None
    try:
        check_username(hint)
    except ValueError:
        return None
    return hint


def check_acr_values(params: Mapping[str, str]) -> tuple[str, ...]:
    """`acr_values` (OIDC Core 3.1.2.1): the levels the client would like, most preferred first. Values this server
    does not know are kept (and passed over when deciding, `assurance.wants_mfa`): the request is voluntary, so an
    unknown level is no error. Only a list no client would send is refused."""
    values = tuple(dict.fromkeys(params.get("acr_values", "").split(" ")))
    values = tuple(v for v in values if v)
    if len(values) > MAX_ACR_VALUES or not all(v.isascii() and v.isprintable() for v in values):
        raise InvalidRequest(f"acr_values must be at most {MAX_ACR_VALUES} printable ASCII values")
    return values
