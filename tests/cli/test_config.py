"""A bad or missing setting stops a service at start with one line naming the variable."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import DEMO_CLIENT_ENV
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
        ("authz", "REDIS_URL", "redis+sentinel://:hunter2-secret@s1:26379,s2:26379"),  # no master name
        ("resource", "REDIS_URL", "redis+cluster://:hunter2-secret@n1:7000,n2:7000/2"),  # a cluster has only db 0
        ("authz", "REDIS_URL", "redis+cluster://n1:7000,n2:port"),
        ("authz", "AUTHORIUM_REDIS_MASTER_NAME", "mymaster"),  # without AUTHORIUM_REDIS_SENTINELS
        ("authz", "DATABASE_URL", "postgresql://:hunter2-secret@h1:5432,h2:port/authorium"),
        ("client-demo", "AUTHORIUM_CLIENT_DEMO_URL", "not a url"),
        ("client-demo", "AUTHORIUM_CLIENT_DEMO_URL", "http://demo.example/app"),
        ("client-demo", "AUTHORIUM_CLIENT_DEMO_CLIENT_ID", ""),
        ("client-demo", "AUTHORIUM_CLIENT_DEMO_CLIENT_SECRET", ""),
        ("client-demo", "AUTHORIUM_CLIENT_DEMO_SCOPE", "profile notes:read"),
        ("resource", "AUTHORIUM_REDIS_PREFIX", "spaces are bad"),
    ],
)
async def test_bad_setting_stops_start_up_with_one_line(
    environ: dict[str, str], service: str, variable: str, value: str
) -> None:
    env = {**environ, **DEMO_CLIENT_ENV, variable: value}
    result = await asyncio.to_thread(authorium, "serve", service, "--port", "0", env=env, timeout=20)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    if value and len(value) > 8 and variable == "AUTHORIUM_KEK":
        assert value not in lines[0], "a secret is never echoed"
    assert "hunter2" not in lines[0], "a password in a URL is never echoed"
