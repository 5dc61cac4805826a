"""The notes API: create, list with pagination, read, update, delete; one user's notes never reach another;
service tokens with notes:admin read any user's notes; bad input is a 400 that says what is wrong, never a 500."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest

from tests.resource.conftest import Caller, expect_refusal, service_token, user_token


@pytest.fixture(scope="module")
async def alice(module_http: aiohttp.ClientSession, authz: str, module_db: asyncpg.Pool) -> Caller:
    return await user_token(module_http, authz, module_db)


@pytest.fixture(scope="module")
async def bob(module_http: aiohttp.ClientSession, authz: str, module_db: asyncpg.Pool) -> Caller:
    return await user_token(module_http, authz, module_db)


async def _call(http: aiohttp.ClientSession, method: str, url: str, caller: Caller, **kwargs: Any) -> tuple[int, Any]:
    async with http.request(method, url, headers=caller.headers, **kwargs) as resp:
        assert resp.status < 500 or resp.status == 503, await resp.text()
        if resp.status == 204:
            return resp.status, None
        if resp.content_type != "application/json":
            return resp.status, await resp.text()
        return resp.status, await resp.json()


async def _create(http: aiohttp.ClientSession, api: str, caller: Caller, title: str, body: str = "") -> dict[str, Any]:
    status, note = await _call(http, "POST", api + "/api/notes", caller, json={"title": title, "body": body})
    assert status == 201, note
    return dict(note)


async def _all_ids(http: aiohttp.ClientSession, api: str, caller: Caller, query: str = "") -> list[str]:
    status, page = await _call(http, "GET", f"{api}/api/notes?limit=100{query}", caller)
    assert status == 200, page
    return [n["id"] for n in page["notes"]]


async def test_create_read_update_delete(api: str, http: aiohttp.ClientSession, alice: Caller) -> None:
    async with http.post(api + "/api/notes", headers=alice.headers, json={"title": "Groceries", "body": "eggs"}) as r:
        assert r.status == 201
        assert r.headers["Cache-Control"] == "no-store"
        note = await r.json()
        assert r.headers["Location"] == f"/api/notes/{note['id']}"
    assert note["owner"] == alice.sub
    assert (note["title"], note["body"]) == ("Groceries", "eggs")
    assert note["created_at"] == note["updated_at"]
    url = f"{api}/api/notes/{note['id']}"

    assert await _call(http, "GET", url, alice) == (200, note)
    assert note["id"] in await _all_ids(http, api, alice)

    status, changed = await _call(http, "PATCH", url, alice, json={"title": "Shopping"})
    assert status == 200, changed
    assert (changed["title"], changed["body"]) == ("Shopping", "eggs")
    assert datetime.fromisoformat(changed["updated_at"]) > datetime.fromisoformat(note["updated_at"])
    status, changed = await _call(http, "PATCH", url, alice, json={"body": ""})
    assert (status, changed["title"], changed["body"]) == (200, "Shopping", "")
    assert await _call(http, "GET", url, alice) == (200, changed)

    assert await _call(http, "DELETE", url, alice) == (204, None)
    assert (await _call(http, "GET", url, alice))[0] == 404
    assert (await _call(http, "DELETE", url, alice))[0] == 404
    assert (await _call(http, "PATCH", url, alice, json={"title": "again"}))[0] == 404
    assert note["id"] not in await _all_ids(http, api, alice)


async def test_a_note_without_body_has_an_empty_one(api: str, http: aiohttp.ClientSession, alice: Caller) -> None:
    status, note = await _call(http, "POST", api + "/api/notes", alice, json={"title": "t"})
    assert (status, note["body"]) == (201, "")


async def test_unicode_round_trips_and_limits_count_characters(
    api: str, http: aiohttp.ClientSession, alice: Caller
) -> None:
    title, body = "é" * 200, "日本語" * 3333 + "ü"
    async with http.post(
        api + "/api/notes",
        data=orjson.dumps({"title": title, "body": body}),
        headers={**alice.headers, "Content-Type": "application/json; charset=utf-8"},
    ) as resp:
        assert resp.status == 201, await resp.text()
        note = await resp.json()
    assert (note["title"], note["body"]) == (title, body)


async def test_pages_have_no_duplicates_or_gaps(
    api: str, authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    # A service's own notes are a fresh, private list (its subject is its client id), and cheap to make.
    owner = await service_token(http, authz, db, scope="notes:read notes:write")
    created = [(await _create(http, api, owner, f"note {i}"))["id"] for i in range(7)]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = f"?limit=3&cursor={cursor}" if cursor else "?limit=3"
        status, page = await _call(http, "GET", api + "/api/notes" + query, owner)
        assert status == 200, page
        pages += 1
        assert len(page["notes"]) == (3 if page["next_cursor"] else len(page["notes"]))
        seen += [n["id"] for n in page["notes"]]
        if pages == 1:
            # Changes between pages neither repeat nor skip what was listed: keyset pagination.
            await _create(http, api, owner, "newer than the first page")
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == created[::-1], "newest first, each exactly once"

    # A page size that divides the list exactly ends with next_cursor null, not an empty page.
    assert len(await _all_ids(http, api, owner)) == 8
    status, page = await _call(http, "GET", api + "/api/notes?limit=8", owner)
    assert (len(page["notes"]), page["next_cursor"]) == (8, None)
    status, page = await _call(http, "GET", api + "/api/notes", owner)
    assert (status, len(page["notes"])) == (200, 8)


async def test_notes_of_equal_time_page_by_id(
    api: str, authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    owner = await service_token(http, authz, db, scope="notes:read notes:write")
    ids = [(await _create(http, api, owner, f"n{i}"))["id"] for i in range(5)]
    await db.execute("UPDATE notes SET created_at = '2024-01-01T00:00:00Z' WHERE owner = $1", owner.sub)
    seen: list[str] = []
    cursor = ""
    while cursor is not None:
        status, page = await _call(http, "GET", f"{api}/api/notes?limit=2&cursor={cursor}", owner)
        assert status == 200, page
        seen += [n["id"] for n in page["notes"]]
        cursor = page["next_cursor"]
    assert sorted(seen) == sorted(ids) and len(seen) == 5


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", " 3", "", "²", "1e2", "9" * 30])
async def test_a_bad_limit_is_400(api: str, http: aiohttp.ClientSession, alice: Caller, limit: str) -> None:
    status, body = await _call(http, "GET", api + "/api/notes", alice, params={"limit": limit})
    assert status == 400, body
    assert body["error"] == "invalid_request"
    assert "limit" in body["error_description"]


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "é",
        _b64("no separator"),
        _b64("a|b|c"),
        _b64(f"yesterday|{uuid.uuid4()}"),
        _b64("2024-01-01T00:00:00+00:00|not-a-uuid"),
        _b64(f"2024-01-01T00:00:00|{uuid.uuid4()}"),
        _b64(f"9999-12-31T23:59:59.999999-23:59|{uuid.uuid4()}"),
        _b64(f"0001-01-01T00:00:00+14:00|{uuid.uuid4()}"),
        base64.urlsafe_b64encode(b"\xff\xfe|x").decode(),
    ],
)
async def test_a_bad_cursor_is_400(api: str, http: aiohttp.ClientSession, alice: Caller, cursor: str) -> None:
    status, body = await _call(http, "GET", api + "/api/notes", alice, params={"cursor": cursor})
    assert status == 400, body
    assert body == {"error": "invalid_request", "error_description": "cursor is not one this API returned"}


async def test_one_users_notes_are_invisible_to_another(
    api: str, http: aiohttp.ClientSession, alice: Caller, bob: Caller
) -> None:
    note = await _create(http, api, alice, "alice's secret", "diary")
    url = f"{api}/api/notes/{note['id']}"
    assert note["id"] not in await _all_ids(http, api, bob)
    for method, kwargs in (("GET", {}), ("PATCH", {"json": {"title": "pwned"}}), ("DELETE", {})):
        status, body = await _call(http, method, url, bob, **kwargs)
        # 404, not 403: bob does not even learn the note exists.
        assert (status, body) == (404, {"error": "not_found"}), method
    status, body = await _call(http, "GET", api + "/api/notes", bob, params={"owner": alice.sub})
    assert status == 400 and body["error"] == "invalid_request"
    # Naming oneself as owner is the same as naming no one.
    assert note["id"] in await _all_ids(http, api, alice, f"&owner={alice.sub}")
    # Untouched by any of it.
    assert await _call(http, "GET", url, alice) == (200, note)


async def test_a_service_with_notes_admin_reads_any_users_notes(
    api: str, authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, alice: Caller
) -> None:
    note = await _create(http, api, alice, "read by the admin service")
    admin = await service_token(http, authz, db, scope="notes:read notes:write notes:admin")
    status, me = await _call(http, "GET", api + "/api/me", admin)
    assert (status, me["kind"], me["sub"]) == (200, "service", admin.client_id)

    assert note["id"] in await _all_ids(http, api, admin, f"&owner={alice.sub}")
    assert await _call(http, "GET", f"{api}/api/notes/{note['id']}", admin) == (200, note)
    # Reading is all notes:admin allows: the note stays its owner's to change.
    for method, kwargs in (("PATCH", {"json": {"title": "x"}}), ("DELETE", {})):
        assert (await _call(http, method, f"{api}/api/notes/{note['id']}", admin, **kwargs))[0] == 404
    # Nobody's notes: an empty page, not an error.
    status, page = await _call(http, "GET", api + "/api/notes", admin, params={"owner": "nobody-" + uuid.uuid4().hex})
    assert (status, page) == (200, {"notes": [], "next_cursor": None})
    for owner in ("a\x00b", "", "x" * 256):
        status, body = await _call(http, "GET", api + "/api/notes", admin, params={"owner": owner})
        assert (status, body["error"]) == (400, "invalid_request"), owner
        assert "owner" in body["error_description"]


async def test_a_service_without_notes_admin_cannot(
    api: str, authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, alice: Caller
) -> None:
    note = await _create(http, api, alice, "not for plain services")
    service = await service_token(http, authz, db, scope="notes:read notes:write")
    params = await expect_refusal(
        http,
        "GET",
        api + "/api/notes",
        status=403,
        error="insufficient_scope",
        headers=service.headers,
        params={"owner": alice.sub},
    )
    assert params["scope"] == "notes:admin"
    assert (await _call(http, "GET", f"{api}/api/notes/{note['id']}", service))[0] == 404
    assert note["id"] not in await _all_ids(http, api, service)


async def test_a_user_token_with_notes_admin_is_still_just_a_user(
    api: str, authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, alice: Caller
) -> None:
    note = await _create(http, api, alice, "admin scope on a user token")
    mallory = await user_token(http, authz, db, scope="notes:read notes:admin")
    status, body = await _call(http, "GET", api + "/api/notes", mallory, params={"owner": alice.sub})
    assert status == 400, body
    assert (await _call(http, "GET", f"{api}/api/notes/{note['id']}", mallory))[0] == 404


@pytest.mark.parametrize("path", ["not-a-uuid", str(uuid.uuid4()), "00000000-0000-0000-0000-000000000000"])
async def test_unknown_notes_are_404(api: str, http: aiohttp.ClientSession, alice: Caller, path: str) -> None:
    for method, kwargs in (("GET", {}), ("PATCH", {"json": {"title": "x"}}), ("DELETE", {})):
        status, body = await _call(http, method, f"{api}/api/notes/{path}", alice, **kwargs)
        assert (status, body) == (404, {"error": "not_found"}), method


BAD_BODIES: list[tuple[str, bytes, str | None, str]] = [
    ("not json", b"{", "application/json", "not valid JSON"),
    ("empty", b"", "application/json", "not valid JSON"),
    ("invalid utf-8", b'{"title": "\xff"}', "application/json", "not valid JSON"),
    ("lone surrogate", b'{"title": "\\ud800"}', "application/json", "not valid JSON"),
    ("deep nesting", b'{"title": ' + b"[" * 5000 + b"]" * 5000 + b"}", "application/json", "not valid JSON"),
    ("text/plain", b'{"title": "t"}', "text/plain", "Content-Type"),
    ("form", b"title=t", "application/x-www-form-urlencoded", "Content-Type"),
    ("no content type", b'{"title": "t"}', None, "Content-Type"),
    ("array", b'[{"title": "t"}]', "application/json", "JSON object"),
    ("string", b'"title"', "application/json", "JSON object"),
    ("null", b"null", "application/json", "JSON object"),
    ("missing title", b'{"body": "b"}', "application/json", "title"),
    ("empty title", b'{"title": ""}', "application/json", "title"),
    ("blank title", b'{"title": "   "}', "application/json", "title"),
    ("long title", orjson.dumps({"title": "x" * 201}), "application/json", "title"),
    ("long body", orjson.dumps({"title": "t", "body": "x" * 10_001}), "application/json", "body"),
    ("number title", b'{"title": 5}', "application/json", "title"),
    ("null title", b'{"title": null}', "application/json", "title"),
    ("object title", b'{"title": {"a": 1}}', "application/json", "title"),
    ("number body", b'{"title": "t", "body": 5}', "application/json", "body"),
    ("null body", b'{"title": "t", "body": null}', "application/json", "body"),
    ("list body", b'{"title": "t", "body": ["b"]}', "application/json", "body"),
    ("unknown field", b'{"title": "t", "owner": "someone-else"}', "application/json", "unknown field 'owner'"),
    ("id field", b'{"title": "t", "id": "x"}', "application/json", "unknown field 'id'"),
    ("NUL in title", b'{"title": "a\\u0000b"}', "application/json", "NUL"),
    ("NUL in body", b'{"title": "t", "body": "\\u0000"}', "application/json", "NUL"),
]


@pytest.mark.parametrize(
    ("raw", "content_type", "problem"), [b[1:] for b in BAD_BODIES], ids=[b[0] for b in BAD_BODIES]
)
async def test_a_bad_body_is_400_saying_why(
    api: str, http: aiohttp.ClientSession, alice: Caller, raw: bytes, content_type: str | None, problem: str
) -> None:
    note = await _create(http, api, alice, "target of bad patches")
    headers = {**alice.headers, **({"Content-Type": content_type} if content_type else {})}
    for method, url in (("POST", api + "/api/notes"), ("PATCH", f"{api}/api/notes/{note['id']}")):
        if method == "PATCH" and problem in ("title",) and b"title" not in raw:
            continue  # a partial update need not name the title
        async with http.request(method, url, data=raw, headers=headers, skip_auto_headers=["Content-Type"]) as resp:
            body = await resp.json()
            assert resp.status == 400, (method, body)
        assert body["error"] == "invalid_request"
        assert problem in body["error_description"], (method, body)
    assert await _call(http, "GET", f"{api}/api/notes/{note['id']}", alice) == (200, note)


async def test_an_empty_patch_is_400(api: str, http: aiohttp.ClientSession, alice: Caller) -> None:
    note = await _create(http, api, alice, "unchanged")
    status, body = await _call(http, "PATCH", f"{api}/api/notes/{note['id']}", alice, json={})
    assert (status, body["error"]) == (400, "invalid_request")
    assert "nothing to change" in body["error_description"]


async def test_limits_are_inclusive(api: str, http: aiohttp.ClientSession, alice: Caller) -> None:
    status, note = await _call(http, "POST", api + "/api/notes", alice, json={"title": "t" * 200, "body": "b" * 10_000})
    assert status == 201, note


async def test_an_oversized_body_is_413(api: str, http: aiohttp.ClientSession, alice: Caller) -> None:
    note = await _create(http, api, alice, "target of a huge patch")
    huge = orjson.dumps({"title": "t", "body": "x" * (64 * 1024)})
    for method, url in (("POST", api + "/api/notes"), ("PATCH", f"{api}/api/notes/{note['id']}")):
        async with http.request(
            method, url, data=huge, headers={**alice.headers, "Content-Type": "application/json"}
        ) as resp:
            assert resp.status == 413, method
    assert await _call(http, "GET", f"{api}/api/notes/{note['id']}", alice) == (200, note)


async def test_me_describes_the_token(api: str, http: aiohttp.ClientSession, alice: Caller) -> None:
    status, me = await _call(http, "GET", api + "/api/me", alice)
    assert (status, me) == (
        200,
        {
            "sub": alice.sub,
            "client_id": alice.client_id,
            "scope": "notes:read notes:write",
            "kind": "user",
            "token_type": "Bearer",
        },
    )


async def test_other_methods_are_405(api: str, http: aiohttp.ClientSession, alice: Caller) -> None:
    note = await _create(http, api, alice, "put is not supported")
    assert (await _call(http, "PUT", f"{api}/api/notes/{note['id']}", alice, json={"title": "x"}))[0] == 405
    assert (await _call(http, "DELETE", api + "/api/notes", alice))[0] == 405


async def test_a_listed_note_reads_as_it_does_alone(
    api: str, authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """Listing renders notes in Postgres: the same JSON, to the character of each time, as reading one does."""
    owner = await service_token(http, authz, db, scope="notes:read notes:write")
    made = [await _create(http, api, owner, f"n{i}", 'quotes " \\ and \u00e9\u20ac\n') for i in range(3)]
    times = ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00.12Z", "2024-01-01T00:00:00.000001Z"]
    for note, at in zip(made, times, strict=True):
        await db.execute(
            "UPDATE notes SET created_at = $2::text::timestamptz WHERE note_id = $1", uuid.UUID(note["id"]), at
        )
    status, page = await _call(http, "GET", f"{api}/api/notes?limit=100", owner)
    assert status == 200, page
    for listed in page["notes"]:
        assert await _call(http, "GET", f"{api}/api/notes/{listed['id']}", owner) == (200, listed)
    assert {n["created_at"] for n in page["notes"]} == {
        "2024-01-01T00:00:00+00:00",
        "2024-01-01T00:00:00.120000+00:00",
        "2024-01-01T00:00:00.000001+00:00",
    }
