"""`authorium user create --password-stdin`: Argon2id hashes, usernames unique regardless of case."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from authz.users.passwords import Passwords
from tests.processes import authorium


async def test_user_is_created_with_an_argon2id_hash(environ: dict[str, str], db: asyncpg.Pool) -> None:
    name = f"alice-{uuid.uuid4().hex[:8]}"
    result = await asyncio.to_thread(
        authorium, "user", "create", "--username", name, "--password-stdin", env=environ, stdin="correct horse\n"
    )
    assert result.returncode == 0, result.stderr
    assert "correct horse" not in result.stdout + result.stderr
    stored = await db.fetchval("SELECT password_hash FROM users WHERE username = $1", name)
    assert stored.startswith("$argon2id$")
    with Passwords(workers=1) as passwords:
        assert await passwords.verify(stored, "correct horse")
        assert not await passwords.verify(stored, "wrong horse")

    again = await asyncio.to_thread(
        authorium, "user", "create", "--username", name.upper(), "--password-stdin", env=environ, stdin="another pw\n"
    )
    assert again.returncode == 2
    assert "exists already" in again.stderr


async def test_short_password_and_bad_username_are_refused(environ: dict[str, str], db: asyncpg.Pool) -> None:
    short = await asyncio.to_thread(
        authorium, "user", "create", "--username", "bob", "--password-stdin", env=environ, stdin="short\n"
    )
    assert short.returncode == 2
    assert "8 to 1024 characters" in short.stderr
    bad = await asyncio.to_thread(
        authorium, "user", "create", "--username", "bob smith", "--password-stdin", env=environ, stdin="long enough\n"
    )
    assert bad.returncode == 2
    assert await db.fetchval("SELECT count(*) FROM users WHERE username IN ('bob', 'bob smith')") == 0


async def test_the_password_is_never_taken_from_the_command_line(environ: dict[str, str]) -> None:
    result = await asyncio.to_thread(authorium, "user", "create", "--username", "carol", env=environ)
    assert result.returncode == 2
    assert "--password-stdin" in result.stderr
