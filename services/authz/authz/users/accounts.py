"""Creating users: the rules a username and password must meet, shared by the CLI, set-up and the tests."""

from __future__ import annotations

import re

from authz.users.passwords import Passwords
from authz.users.repository import User, UserRepository

_USERNAME = re.compile(r"^[A-Za-z0-9._@+-]{1,100}$")


def check_username(username: str) -> None:
    if not _USERNAME.fullmatch(username):
        raise ValueError("a username is 1 to 100 of: letters, digits, and . _ @ + -")


async def create_user(users: UserRepository, passwords: Passwords, username: str, password: str) -> User:
    """Raises ValueError for a bad username or password, UsernameTaken when it exists."""
    check_username(username)
    return await users.create(username, await passwords.hash(password))
