"""Fuzzing the passkey forms (WebAuthn Level 2 sections 7.1 and 7.2) over HTTP: what a browser posts as `credential`,
mutated field by field from well-formed answers (wrong types, bad base64url, bad CBOR, flipped bytes, deep nesting,
huge values) or replaced outright. Assertions answer a fresh challenge with the registered credential's id but
another key, so the whole verification runs up to the signature. Never a 5xx, never
a sign-in, never a credential registered, never a counter moved."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from authz.appkeys import SESSIONS
from tests.authz import flows
from tests.authz.authenticator import SoftAuthenticator, page_options
from tests.authz.conftest import cheap_password_hashing  # noqa: F401 - fixture
from tests.authz.passkey_flows import (
    PasskeyServer,
    authorize_path,
    enrol,
    fetch,
    passkey_authz,
    password_step,
    sign_in_with_password,
)
from tests.fuzz import strategies as s
from tests.fuzz.conftest import FUZZ
from tests.fuzz.invariants import note

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@dataclass
class Ceremonies:
    """A user with one registered key, and three browsers: one signed in (the account's add page), one waiting at
    the second-factor step, one at the passwordless page."""

    server: PasskeyServer
    username: str
    key: SoftAuthenticator
    account: aiohttp.ClientSession
    second_factor: aiohttp.ClientSession
    second_factor_rid: str
    passwordless: aiohttp.ClientSession
    passwordless_rid: str
    registration: dict[str, Any]
    # The registered credential's id and user handle with another key: its answers get through every check up to the
    # signature (section 7.2 step 20), which they fail.
    impostor: SoftAuthenticator


@pytest.fixture(scope="module")
async def ceremonies(fuzz_environ: dict[str, str], module_db: asyncpg.Pool) -> AsyncIterator[Ceremonies]:
    async with (
        passkey_authz(fuzz_environ, AUTHORIUM_PASSWORDLESS="true") as server,
        flows.browser() as account,
        flows.browser() as second_factor,
        flows.browser() as passwordless,
    ):
        client = await flows.make_client(module_db, scope="openid")
        username = await flows.make_user(module_db)
        key = server.authenticator()
        await sign_in_with_password(account, server, client, username)
        await enrol(account, server, key)
        registration = server.authenticator().create(
            page_options((await fetch(account, server, "GET", "/account/security-keys/new")).body)
        )
        step = await password_step(second_factor, server, client, username)
        rid = flows.query_of(step.url)["rid"]  # a key-only person's step has no code form to read it from
        impostor = server.authenticator(credential_id=key.credential_id, user_handle=key.user_handle)
        login = await fetch(passwordless, server, "GET", authorize_path(client))
        yield Ceremonies(
            server,
            username,
            key,
            account,
            second_factor,
            rid,
            passwordless,
            login.fields["rid"],
            registration,
            impostor,
        )


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


HOSTILE = st.one_of(
    s.json_documents(s.names),
    st.binary(max_size=80).map(_b64),
    st.sampled_from(["", "====", "not base64!", "\x00", "A" * 20000, _b64(b"\xa1" * 40), _b64(b"\x9f" * 2)]),
)


@st.composite
def mutated(draw: st.DrawFn, genuine: dict[str, Any]) -> object:
    """The genuine answer with one field (top level or in `response`) replaced, removed, or its bytes flipped."""
    document = orjson.loads(orjson.dumps(genuine))
    target = document["response"] if draw(st.booleans()) else document
    field = draw(st.sampled_from(sorted(target)))
    action = draw(st.sampled_from(["replace", "remove", "flip"]))
    if action == "remove":
        del target[field]
    elif action == "flip" and isinstance(target[field], str) and target[field]:
        raw = bytearray(base64.urlsafe_b64decode(target[field] + "=" * (-len(target[field]) % 4)))
        if raw:
            raw[draw(st.integers(0, len(raw) - 1))] ^= 1 << draw(st.integers(0, 7))
        target[field] = _b64(bytes(raw))
    else:
        target[field] = draw(HOSTILE)
    return document


def credentials(genuine: dict[str, Any]) -> st.SearchStrategy[str]:
    """What a browser (or an attacker) might post as `credential`: mostly `genuine` as it is or mutated."""
    near = mutated(genuine).map(lambda d: orjson.dumps(d).decode())
    return st.one_of(
        st.just(orjson.dumps(genuine).decode()),
        near,
        near,
        s.json_documents(s.names).map(lambda d: orjson.dumps(d).decode()),
        st.sampled_from([raw.decode("utf-8", "replace") for raw in s.RAW_JSON]),
        s.values,
    )


async def no_sign_in(ceremonies: Ceremonies, headers: Any) -> None:
    for header in headers.getall("Set-Cookie", []):
        cookie = SimpleCookie()
        cookie.load(header)
        for morsel in cookie.values():
            session = await ceremonies.server.app[SESSIONS].get(morsel.value)
            assert session is None or session.user_id is None, header


async def unchanged(ceremonies: Ceremonies, db: asyncpg.Pool) -> None:
    """The user's key is still there with its counter at 0; the refusal's audited reason is counted."""
    reason = await db.fetchval(
        """SELECT a.details->>'reason' FROM audit_events a JOIN users u USING (user_id)
           WHERE u.username = $1 AND a.event = 'sign_in_failure' ORDER BY a.id DESC LIMIT 1""",
        ceremonies.username,
    )
    note(f"refused: {(reason or '')[:45]}")
    count = await db.fetchval("SELECT sign_count FROM passkeys WHERE credential_id = $1", ceremonies.key.credential_id)
    assert count == 0, count


async def post(
    browser: aiohttp.ClientSession,
    ceremonies: Ceremonies,
    page_path: str,
    action: str,
    answer: Callable[[dict[str, Any]], dict[str, str]],
) -> tuple[int, Any]:
    """A fresh challenge (the ceremony page), then the form posted with what `answer` makes of the page's options."""
    page = await fetch(browser, ceremonies.server, "GET", page_path)
    assert page.status == 200, page.body[:300]
    form = {**page.fields, **answer(page_options(page.body))}
    async with browser.post(ceremonies.server.url + action, data=form, allow_redirects=False) as resp:
        await resp.read()
        return resp.status, resp.headers


@FUZZ
@given(data=st.data())
@example(data=None)
async def test_second_factor_answers(
    ceremonies: Ceremonies, module_db: asyncpg.Pool, data: st.DataObject | None
) -> None:
    def answer(options: dict[str, Any]) -> dict[str, str]:
        genuine = ceremonies.impostor.get(options)
        return {"credential": data.draw(credentials(genuine)) if data else "[" * 5000 + "]" * 5000}

    status, headers = await post(
        ceremonies.second_factor,
        ceremonies,
        f"/authorize/security-key?rid={ceremonies.second_factor_rid}",
        "/authorize/security-key",
        answer,
    )
    assert 400 <= status < 500, status
    await no_sign_in(ceremonies, headers)
    await unchanged(ceremonies, module_db)


@FUZZ
@given(data=st.data())
async def test_passwordless_answers(ceremonies: Ceremonies, module_db: asyncpg.Pool, data: st.DataObject) -> None:
    status, headers = await post(
        ceremonies.passwordless,
        ceremonies,
        f"/authorize/passkey?rid={ceremonies.passwordless_rid}",
        "/authorize/passkey",
        lambda options: {"credential": data.draw(credentials(ceremonies.impostor.get(options)))},
    )
    assert 400 <= status < 500, status
    await no_sign_in(ceremonies, headers)
    await unchanged(ceremonies, module_db)


@FUZZ
@given(data=st.data(), name=st.one_of(st.just("key"), s.values))
async def test_registration_answers(
    ceremonies: Ceremonies, module_db: asyncpg.Pool, data: st.DataObject, name: str
) -> None:
    status, _ = await post(
        ceremonies.account,
        ceremonies,
        "/account/security-keys/new",
        "/account/security-keys",
        lambda _: {"credential": data.draw(credentials(ceremonies.registration)), "name": name},
    )
    assert status == 303 or 400 <= status < 500, status
    count = await module_db.fetchval(
        "SELECT count(*) FROM passkeys JOIN users USING (user_id) WHERE username = $1", ceremonies.username
    )
    # A mutation may leave a genuine registration intact (a field the verification does not read, like the
    # transports): it then registers once, and its credential id is taken ever after.
    assert count in (1, 2), count


@FUZZ
@given(data=st.data(), code=st.one_of(st.none(), s.values))
async def test_removal_confirmations(
    ceremonies: Ceremonies, module_db: asyncpg.Pool, data: st.DataObject, code: str | None
) -> None:
    passkey_id = await module_db.fetchval(
        "SELECT passkey_id FROM passkeys JOIN users USING (user_id) WHERE username = $1", ceremonies.username
    )

    def answer(options: dict[str, Any]) -> dict[str, str]:
        form = {"credential": data.draw(credentials(ceremonies.impostor.get(options)))}
        return form if code is None else {**form, "code": code}

    status, _ = await post(
        ceremonies.account,
        ceremonies,
        f"/account/security-keys/remove?passkey_id={passkey_id}",
        "/account/security-keys/remove",
        answer,
    )
    assert 400 <= status < 500, status
    await unchanged(ceremonies, module_db)
