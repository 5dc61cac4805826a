"""The demo client's forms for a signed-in person: the body limit (base_app's default, 64 KiB) holds exactly, and
hostile form posts (any Content-Type, charset, encoding, repeated or huge fields) never get a 5xx, never pass the
CSRF check without the session's token, and never end the session."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.authz.flows import browser, make_user
from tests.client_demo.conftest import HTML, Visitor
from tests.fuzz import strategies as s
from tests.fuzz.conftest import FUZZ
from tests.fuzz.invariants import no_server_error, note, refused_by_parser
from tests.fuzz.wire import BODY_LIMIT, Answer, Request
from tests.stack import Stack, running_stack


@pytest.fixture(scope="module")
async def stack(fuzz_environ: dict[str, str], module_db: asyncpg.Pool) -> AsyncIterator[Stack]:
    """The three services, the demo registered at the authorization server; each checked for 5xx at the end."""
    async with running_stack(fuzz_environ, module_db) as running:
        yield running


@pytest.fixture(scope="module")
async def signed_in(stack: Stack, module_db: asyncpg.Pool) -> AsyncIterator[Visitor]:
    """A browser signed in at the demo (once: it costs a password hash)."""
    async with browser() as session:
        visitor = Visitor(stack, session)
        await visitor.sign_in(await make_user(module_db))
        yield visitor


async def post(visitor: Visitor, request: Request) -> Answer:
    """Post through the visitor's own session (its cookie), the body exactly as the request has it."""
    async with visitor.http.request(
        request.method,
        visitor.stack.demo + request.path,
        data=request.payload(),
        headers=(*request.headers, *HTML.items()),
        skip_auto_headers=("Content-Type",),
        allow_redirects=False,
        timeout=aiohttp.ClientTimeout(total=5),
    ) as resp:
        return Answer(request, resp.status, resp.headers, await resp.read())


def padded(fields: dict[str, str], size: int) -> bytes:
    """The form with extra fields (ignored) making it exactly `size` bytes; each field within the demo's 10,000."""
    body = "&".join(f"{k}={v}" for k, v in fields.items()).encode()
    n = 0
    while len(body) < size:
        head = f"&pad{n}=".encode()
        body += head + b"a" * max(0, min(size - len(body) - len(head), 9000))
        n += 1
    assert len(body) == size
    return body


async def notes_shown(visitor: Visitor) -> str:
    status, page, _ = await visitor.get("/")
    assert status == 200
    return page


async def test_the_demo_takes_a_form_of_exactly_the_limit(signed_in: Visitor) -> None:
    csrf = await signed_in.csrf()
    headers = (("Content-Type", s.FORM),)
    at, over = (f"at the limit {uuid.uuid4().hex[:8]}", f"over the limit {uuid.uuid4().hex[:8]}")
    answer = await post(
        signed_in,
        Request("POST", "/notes", "", headers, padded({"csrf": csrf, "title": at.replace(" ", "+")}, BODY_LIMIT)),
    )
    assert answer.status == 303 and answer.headers["Location"] == "/?notice=note-added", answer
    answer = await post(
        signed_in,
        Request("POST", "/notes", "", headers, padded({"csrf": csrf, "title": over.replace(" ", "+")}, BODY_LIMIT + 1)),
    )
    assert answer.status == 413, answer
    assert answer.content_type == "text/html" and b"That is too much to send" in answer.body, answer
    page = await notes_shown(signed_in)
    assert at in page and over not in page
    # Signing out with a body over the limit does not sign out.
    answer = await post(signed_in, Request("POST", "/logout", "", headers, padded({"csrf": csrf}, BODY_LIMIT + 1)))
    assert answer.status == 413, answer
    assert "Sign out" in await notes_shown(signed_in)


form_fields = {
    "csrf": st.sampled_from(["", "x", "A" * 43]) | s.values,
    "title": s.values,
    "body": s.values,
}


@st.composite
def demo_posts(draw: st.DrawFn) -> Request:
    pairs = [
        (name, draw(v), draw(st.sampled_from(s.PAIR_ENCODINGS)))
        for name, v in form_fields.items()
        if draw(st.booleans())
    ]
    pairs += draw(s.form_pairs)
    if pairs and draw(st.booleans()):
        pairs.append(draw(st.sampled_from(pairs)))
    body = draw(st.sampled_from([None, None]) | s.bodies) or b"&".join(s.encode_pair(*pair) for pair in pairs)
    headers = tuple(("Content-Type", ct) for ct in draw(st.lists(s.content_types, min_size=0, max_size=2)))
    path = draw(st.sampled_from(["/notes", "/logout", f"/notes/{uuid.UUID(int=0)}/delete", "/notes/x/delete"]))
    return Request("POST", path, "", headers, body, pad_to=draw(st.sampled_from(s.SIZES)))


@FUZZ
@given(request=demo_posts())
async def test_hostile_forms_never_fail_or_pass_csrf(signed_in: Visitor, request: Request) -> None:
    answer = await post(signed_in, request)
    no_server_error(answer)
    if refused_by_parser(answer):
        return
    note(f"{request.path} {answer.status}")
    # Without the session's CSRF token nothing is done: no note added, no sign-out (a 303 is only ever a success).
    assert answer.status in (400, 403, 404, 413), answer
