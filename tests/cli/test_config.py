"""A bad or missing setting stops a service at start with one line naming the variable."""

from __future__ import annotations

import asyncio

import pytest

from tests.processes import authorium


@pytest.mark.parametrize(
    ("service", "variable", "value"),
    [
        ("authz", "AUTHORIUM_KEK", ""),
        ("authz", "AUTHORIUM_KEK", "not-base64-and-too-short"),
        ("authz", "AUTHORIUM_ISSUER", "ftp://auth.example"),
        ("authz", "AUTHORIUM_ACCESS_TOKEN_TTL", "ten"),
        ("resource", "DATABASE_URL", "mysql://db/x"),
        ("resource", "REDIS_URL", "http://cache"),
        ("client-demo", "AUTHORIUM_CLIENT_DEMO_URL", "not a url"),
        ("resource", "AUTHORIUM_REDIS_PREFIX", "spaces are bad"),
    ],
)
async def test_bad_setting_stops_start_up_with_one_line(
    environ: dict[str, str], service: str, variable: str, value: str
) -> None:
    env = {**environ, variable: value}
    result = await asyncio.to_thread(authorium, "serve", service, "--port", "0", env=env, timeout=20)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    if value and len(value) > 8 and variable == "AUTHORIUM_KEK":
        assert value not in lines[0], "a secret is never echoed"
