"""Creating users: the rules a username and password must meet, shared by the CLI and the seeding code."""

from __future__ import annotations

import asyncio
import re

import asyncpg

from authz.passwords import check_strength, hash_password
from authz.repositories.users import User, UserRepository

_USERNAME = re.compile(r"^[A-Za-z0-9._@+-]{1,100}$")


def check_username(username: str) -> None:
    if not _USERNAME.fullmatch(username):
        raise ValueError("a username is 1 to 100 of: letters, digits, and . _ @ + -")


async def create_user(pool: asyncpg.Pool, username: str, password: str) -> User:
    """Raises ValueError for a bad username or password, UsernameTaken when it exists."""
    check_username(username)
    check_strength(password)
    password_hash = await asyncio.to_thread(hash_password, password)
    return await UserRepository(pool).create(username, password_hash)
