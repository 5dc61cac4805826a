"""Scope strings (RFC 6749 section 3.3): space-delimited scope-tokens of %x21 / %x23-5B / %x5D-7E."""

from __future__ import annotations

import re

from authorium_shared.errors import InvalidScope

_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]{1,128}$")
MAX_SCOPES = 50


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


def format_scope(scopes: tuple[str, ...] | list[str]) -> str:
    return " ".join(scopes)
