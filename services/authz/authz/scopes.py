"""Scope strings (RFC 6749 section 3.3): space-delimited scope-tokens of %x21 / %x23-5B / %x5D-7E."""

from __future__ import annotations

import re
from collections.abc import Collection

from authorium_shared.errors import InvalidScope

_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]{1,128}$")
MAX_SCOPES = 50
# Scopes about a signed-in person (OpenID Connect Core section 5.4 and 11); meaningless for a service token.
# Discovery's `scopes_supported` lists these, in this order, then the registered resources' scopes.
OPENID = "openid"
USER_SCOPES = (OPENID, "profile", "email", "offline_access")
# The admin API's scope (DESIGN.md, "Admin API"): a client-credentials token asking for it alone is for the admin API.
ADMIN_SCOPE = "authorium:admin"
# What a client registered without `scope` may ask for (RFC 7591 section 2 leaves the default to the server):
# everything about a signed-in person, nothing of any API.
DEFAULT_CLIENT_SCOPES = USER_SCOPES


def parse_scope(value: str | None) -> tuple[str, ...]:
    """The scope-tokens of `value`, in order, without repeats; InvalidScope when any token is malformed."""
    if not value:
        return ()
    tokens = value.split(" ")
    if len(tokens) > MAX_SCOPES:
        raise InvalidScope(f"at most {MAX_SCOPES} scopes may be requested")
    seen: dict[str, None] = {}
    for token in tokens:
        if not _SCOPE_TOKEN.fullmatch(token):
            raise InvalidScope("scope must be scope-tokens separated by single spaces (RFC 6749 section 3.3)")
        seen[token] = None
    return tuple(seen)


def check_scope(requested: tuple[str, ...], allowed: Collection[str]) -> tuple[str, ...]:
    """The scopes to grant: what was requested if the client may have all of it, else InvalidScope.
    Nothing requested means the client's registered scopes (RFC 6749 section 3.3's pre-defined default)."""
    if not requested:
        return tuple(allowed)
    refused = [s for s in requested if s not in allowed]
    if refused:
        raise InvalidScope(f"the client may not request {' '.join(refused)}")
    return requested


_DESCRIPTIONS = {
    "openid": "Confirm who you are",
    "profile": "See your username and name",
    "email": "See your email address",
    "offline_access": "Keep access while you are away",
    "notes:read": "Read your notes",
    "notes:write": "Create, change and delete your notes",
    "notes:admin": "Read every user's notes",
    ADMIN_SCOPE: "Manage this Authorium server",
}


def describe(scope: str) -> str:
    """A scope in plain words, for the consent page."""
    return _DESCRIPTIONS.get(scope, f"Use the permission “{scope}”")
