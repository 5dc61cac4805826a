"""What every answer to a fuzzed request must be, whatever the request was."""

from __future__ import annotations

import re

import orjson
from hypothesis import currently_in_test_context, event

from tests.fuzz.wire import BODY_LIMIT, Answer

# RFC 6749 section 5.2, RFC 8707 section 2 (`invalid_target`), and the two the server adds for load (429, 503).
TOKEN_ERRORS = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "invalid_target",
        "temporarily_unavailable",
        # RFC 9449 sections 5 and 8.
        "invalid_dpop_proof",
        "use_dpop_nonce",
    }
)
# RFC 7009 section 2.2.1 adds `unsupported_token_type`; RFC 7662 section 2.3 uses section 5.2's codes.
REVOCATION_ERRORS = TOKEN_ERRORS | {"unsupported_token_type"}
INTROSPECTION_ERRORS = TOKEN_ERRORS
# RFC 6750 section 3.1, and RFC 9449 section 7.1 for the DPoP scheme.
BEARER_ERRORS = frozenset(
    {"invalid_request", "invalid_token", "insufficient_scope", "invalid_dpop_proof", "use_dpop_nonce"}
)
# RFC 7591 section 3.2.2, and RFC 6750's for the initial access token (section 3 of RFC 7591).
REGISTRATION_ERRORS = frozenset(
    {"invalid_redirect_uri", "invalid_client_metadata", "invalid_software_statement", "unapproved_software_statement"}
)
# RFC 6749 section 4.1.2.1 and OpenID Connect Core 3.1.2.6.
AUTHORIZATION_ERRORS = frozenset(
    {
        "invalid_request",
        "unauthorized_client",
        "access_denied",
        "unsupported_response_type",
        "invalid_scope",
        "server_error",
        "temporarily_unavailable",
        "interaction_required",
        "login_required",
        "account_selection_required",
        "consent_required",
        "invalid_request_uri",
        "invalid_request_object",
        "request_not_supported",
        "request_uri_not_supported",
        "registration_not_supported",
    }
)
# RFC 6749 section 5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
_DESCRIPTION = re.compile(r"^[\x20\x21\x23-\x5b\x5d-\x7e]*$")
_AUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')


def note(text: str) -> None:
    """Count an outcome in Hypothesis's statistics (`--hypothesis-show-statistics`), from a property or not."""
    if currently_in_test_context():
        event(text)


def no_server_error(answer: Answer) -> None:
    """Never a 5xx other than 503 (a deliberate answer: a backing store is away)."""
    assert answer.status < 500 or answer.status == 503, answer


def refused_by_parser(answer: Answer) -> bool:
    """aiohttp's HTTP parser refused the request before the application saw it (a header it cannot parse):
    a plain 4xx, which is fine, and nothing else to check."""
    if answer.from_app:
        return False
    assert 400 <= answer.status < 500, answer
    return True


def method_not_allowed(answer: Answer, allowed: str) -> bool:
    if answer.request.method.upper() == allowed:
        return False
    if answer.request.method.upper() == "OPTIONS":
        # The endpoints browsers may call answer OPTIONS as a CORS preflight (authz.browser_origins); one that is not
        # a valid preflight (no Origin, no Access-Control-Request-Method) is refused with a 4xx, never served.
        assert 400 <= answer.status < 500, answer
        return True
    assert answer.status == 405, answer
    assert allowed in answer.headers.get("Allow", ""), answer
    return True


def oauth_error(answer: Answer, codes: frozenset[str]) -> dict[str, object]:
    """An RFC 6749 section 5.2 error response: JSON with a known `error`, an optional `error_description` in the
    allowed characters, nothing cacheable; a 401 carries a challenge."""
    assert 400 <= answer.status < 500 or answer.status == 503, answer
    assert answer.content_type == "application/json", answer
    body = orjson.loads(answer.body)
    assert isinstance(body, dict), answer
    assert set(body) <= {"error", "error_description", "error_uri"}, answer
    assert body.get("error") in codes, answer
    description = body.get("error_description", "")
    assert isinstance(description, str) and _DESCRIPTION.fullmatch(description), answer
    assert "no-store" in answer.headers.get("Cache-Control", ""), answer
    if answer.status == 401:
        assert answer.headers.get("WWW-Authenticate"), answer
    return body


def bearer_challenge(answer: Answer, realm: str, *, dpop: bool = False) -> dict[str, str]:
    """RFC 6750 section 3: one `WWW-Authenticate: Bearer` challenge naming the realm, its `error` (if any) one of
    section 3.1's and the same as the JSON body's. With `dpop`, a DPoP challenge (RFC 9449 section 7.1) may come
    first, carrying the error, and the other follows."""
    values = answer.headers.getall("WWW-Authenticate", [])
    assert len(values) == 1, answer
    scheme, _, rest = values[0].partition(" ")
    assert scheme in (("Bearer", "DPoP") if dpop else ("Bearer",)), answer
    if dpop:
        assert ("DPoP " if scheme == "Bearer" else "Bearer ") in rest, answer
    params = dict(_AUTH_PARAM.findall(rest))
    assert params.get("realm") == realm, answer
    head = answer.request.method.upper() == "HEAD"  # no body to compare with
    body = {} if head else orjson.loads(answer.body)
    if "error" in params:
        assert params["error"] in BEARER_ERRORS, answer
        assert head or body.get("error") == params["error"], answer
    else:
        assert "error" not in body, answer
        assert answer.status == 401, answer
    return params


def over_limit(answer: Answer) -> bool:
    return len(answer.request.payload() or b"") > BODY_LIMIT


def no_token_issued(answer: Answer) -> None:
    assert not (answer.status == 200 and b"access_token" in answer.body), answer
