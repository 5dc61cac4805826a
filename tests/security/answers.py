"""What an attacker must see when the authorization server turns a request away: the error format of RFC 6749
section 5.2, and nothing issued."""

from __future__ import annotations

from typing import Any

import aiohttp

ISSUED = ("access_token", "refresh_token", "id_token", "code")


def assert_oauth_error(
    status: int,
    body: dict[str, Any],
    resp: aiohttp.ClientResponse,
    error: str | tuple[str, ...],
    *,
    http_status: int = 400,
) -> None:
    """A JSON error per RFC 6749 section 5.2 (or RFC 7009/7662, which defer to it): the status, the code, only
    the members the RFC defines, never cached, and no token in it."""
    errors = (error,) if isinstance(error, str) else error
    assert (status, body.get("error")) in {(http_status, e) for e in errors}, (status, body)
    assert resp.content_type == "application/json"
    assert set(body) <= {"error", "error_description", "error_uri"}, body
    assert resp.headers["Cache-Control"] == "no-store"
    assert_nothing_issued(body)


def assert_nothing_issued(body: dict[str, Any]) -> None:
    assert not set(body) & set(ISSUED), body
