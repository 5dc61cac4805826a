"""OAuth error types (RFC 6749 section 5.2, RFC 6750 section 3.1, RFC 7591): one class per code."""

from __future__ import annotations

import re


class OAuthError(Exception):
    """An error the client is told about, with the RFC's code; rendered in one place (middleware)."""

    error = "server_error"
    status = 400
    # The request member at fault, where one is (the admin API names it in its problem details).
    field: str | None = None

    def __init__(
        self,
        description: str | None = None,
        *,
        status: int | None = None,
        state: str | None = None,
        redirect_uri: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description or self.error)
        self.description = description
        if status is not None:
            self.status = status
        self.state = state
        self.redirect_uri = redirect_uri
        self.headers = headers or {}
        # Extra parameters for an error redirect, such as RFC 9207's `iss`.
        self.redirect_params: dict[str, str] = {}
        # Extension parameters of the JSON error response (RFC 6749 section 8.2), such as a slow_down's `interval`.
        self.json_params: dict[str, object] = {}

    def body(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = _description_safe(self.description)
        return body


# RFC 6749 sections 4.1.2.1 and 5.2: error_description is %x20-21 / %x23-5B / %x5D-7E. Descriptions quote what the
# client sent (a parameter's name, a grant type), which may hold anything.
_UNSAFE = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


def _description_safe(description: str) -> str:
    return _UNSAFE.sub("?", description.replace('"', "'"))


class InvalidRequest(OAuthError):
    error = "invalid_request"


class InvalidClient(OAuthError):
    error = "invalid_client"
    status = 401


class InvalidGrant(OAuthError):
    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class UnsupportedResponseType(OAuthError):
    error = "unsupported_response_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class InvalidTarget(OAuthError):
    """RFC 8707 section 2: a `resource` that is malformed, unknown, or not one the grant covers."""

    error = "invalid_target"


class AccessDenied(OAuthError):
    error = "access_denied"
    status = 403


class LoginRequired(OAuthError):
    error = "login_required"


class ConsentRequired(OAuthError):
    error = "consent_required"


class InvalidToken(OAuthError):
    error = "invalid_token"
    status = 401


class InsufficientScope(OAuthError):
    error = "insufficient_scope"
    status = 403


class InvalidClientMetadata(OAuthError):
    error = "invalid_client_metadata"


class InvalidRedirectUri(OAuthError):
    error = "invalid_redirect_uri"


class InvalidDPoPProof(OAuthError):
    """RFC 9449 sections 5 and 7.1: the DPoP proof is missing, malformed or does not hold for this request."""

    error = "invalid_dpop_proof"


class UseDPoPNonce(OAuthError):
    """RFC 9449 sections 8 and 9: the proof must carry the nonce the `DPoP-Nonce` header of this answer gives."""

    error = "use_dpop_nonce"


class TemporarilyUnavailable(OAuthError):
    error = "temporarily_unavailable"
    status = 503


class AuthorizationPending(OAuthError):
    """RFC 8628 section 3.5: the person has not yet approved or denied the device's request."""

    error = "authorization_pending"


class SlowDown(OAuthError):
    """RFC 8628 section 3.5: still pending, and the device polls too fast; `interval` is its new minimum wait, in
    seconds, also sent in the body (an extension parameter, RFC 6749 section 8.2) so the device need not guess it."""

    error = "slow_down"

    def __init__(self, description: str, *, interval: int) -> None:
        super().__init__(description)
        self.interval = interval
        self.json_params["interval"] = interval


class ExpiredToken(OAuthError):
    """RFC 8628 section 3.5: the device code expired; the device must start again."""

    error = "expired_token"
