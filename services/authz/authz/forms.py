"""Reading OAuth request parameters: form-encoded bodies and query strings, each parameter at most once
(RFC 6749 section 3.1 and 3.2)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from authorium_shared.errors import InvalidRequest

MAX_VALUE_LENGTH = 4096
# Parameters a request may send more than once (RFC 8707 section 2: `resource`; RFC 8693 section 2.1: `audience`);
# read with `repeated`.
REPEATABLE = frozenset({"resource", "audience"})


def single_values(params: MultiMapping[str], *, unchecked: Collection[str] = ()) -> dict[str, str]:
    """Parameters as a plain dict; an empty value counts as absent (RFC 6749 section 3.1). Values of `unchecked`
    parameters skip the length and NUL checks, for callers that only look such a value up, never store it."""
    values: dict[str, str] = {}
    for name in params:
        if name in values or name in REPEATABLE:
            continue
        found = params.getall(name)
        if len(found) > 1:
            raise InvalidRequest(f"parameter {name!r} was sent more than once")
        value = found[0]
        if name not in unchecked and len(value) > MAX_VALUE_LENGTH:
            raise InvalidRequest(f"parameter {name!r} is too long")
        if name not in unchecked and isinstance(value, str) and "\x00" in value:
            # No OAuth parameter has a NUL, and Postgres text cannot hold one.
            raise InvalidRequest(f"parameter {name!r} contains a NUL character")
        if value:
            values[name] = value
    return values


def repeated(params: MultiMapping[Any], name: str) -> tuple[str, ...]:
    """Every non-empty value of a REPEATABLE parameter, in order, with the checks `single_values` makes."""
    assert name in REPEATABLE
    found = [value for value in params.getall(name, []) if isinstance(value, str) and value]
    for value in found:
        if len(value) > MAX_VALUE_LENGTH:
            raise InvalidRequest(f"parameter {name!r} is too long")
        if "\x00" in value:
            raise InvalidRequest(f"parameter {name!r} contains a NUL character")
    return tuple(found)


async def read_form(request: web.Request, *, unchecked: Collection[str] = ()) -> dict[str, str]:
    if request.content_type != "application/x-www-form-urlencoded":
        raise InvalidRequest("the body must be application/x-www-form-urlencoded")
    try:
        form = await request.post()
    except (ValueError, UnicodeDecodeError, LookupError):
        # LookupError: a charset parameter naming no codec Python knows.
        raise InvalidRequest("the body is not valid form encoding") from None
    except web.HTTPRequestEntityTooLarge:
        # Section 5.2's JSON error rather than aiohttp's plain text, with the status that says what is wrong.
        raise InvalidRequest("the body is too large", status=413) from None
    values = single_values(form, unchecked=unchecked)  # type: ignore[arg-type]
    return {k: v for k, v in values.items() if isinstance(v, str)}


def require(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if value is None:
        raise InvalidRequest(f"parameter {name!r} is required")
    return value
