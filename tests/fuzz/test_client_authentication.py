"""Client authentication defects the fuzzing found (authz/client_auth.py, shared by /token, /revoke and
/introspect), kept as regression tests with the failing examples: two Authorization headers, and Basic
credentials that are not ASCII (they were a 500)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import replace

import aiohttp
import pytest
from hypothesis import example, given

from authz.app import create_app as create_authz
from authz.settings import AuthzSettings
from tests.authz.conftest import server_errors
from tests.fuzz import strategies as s
from tests.fuzz.conftest import FUZZ
from tests.fuzz.test_token import VALID, check_error
from tests.fuzz.wire import Request, Served, send
from tests.servers import run_service


@pytest.fixture(scope="module")
async def known_bugs_authz(fuzz_environ: dict[str, str], fuzz_clients: None) -> AsyncIterator[Served]:
    async with run_service(AuthzSettings.from_env, create_authz, fuzz_environ, "AUTHORIUM_ISSUER") as (url, app):
        yield Served(url, app)
        assert server_errors(app) == 0


@FUZZ
@given(second=s.header_text)
@example(second="Basic " + base64.b64encode(b"someone:else").decode())
async def test_two_authorization_headers_get_no_token(
    known_bugs_authz: Served, fuzz_http: aiohttp.ClientSession, second: str
) -> None:
    request = replace(VALID, headers=(*VALID.headers, ("Authorization", second)))
    answer = await send(fuzz_http, known_bugs_authz.url, request)
    check_error(answer)


# Client authentication (authz/client_auth.py, shared by /token, /revoke and /introspect) answers these with a 500.
CLIENT_AUTH_ENDPOINTS = ("/token", "/revoke", "/introspect")


@FUZZ
@given(credentials=s.header_text.filter(lambda text: not text.strip().isascii()))
@example(credentials="é")
async def test_basic_credentials_that_are_not_ascii_are_refused(
    known_bugs_authz: Served, fuzz_http: aiohttp.ClientSession, credentials: str
) -> None:
    for path in CLIENT_AUTH_ENDPOINTS:
        headers = (("Authorization", "Basic " + credentials), ("Content-Type", s.FORM))
        check_error(await send(fuzz_http, known_bugs_authz.url, Request("POST", path, "", headers, b"token=x")))
