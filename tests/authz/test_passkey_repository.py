"""The passkey repository against the real Postgres, and the pure checks of the ceremonies: user handles (WebAuthn
L2 section 5.4.3), registration limits (section 7.1 step 22), the signature counter (section 6.1.1) under races,
removal of one's own keys only, and the `amr` an assertion earns (RFC 8176 section 2)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from authz.endpoints.security_keys import check_name
from authz.factors import webauthn
from authz.factors.passkeys import MAX_PER_USER, CredentialTaken, Passkey, PasskeyRepository, TooMany
from tests.authz import flows


async def new_user(db: asyncpg.Pool) -> uuid.UUID:
    username = await flows.make_user(db)
    user_id: uuid.UUID = await db.fetchval("SELECT user_id FROM users WHERE username = $1", username)
    return user_id


async def add(keys: PasskeyRepository, user_id: uuid.UUID, name: str = "key", **kw: object) -> Passkey:
    fields: dict[str, object] = {
        "credential_id": secrets.token_bytes(32),
        "public_key": b"cose",
        "sign_count": 0,
        "transports": ("usb",),
        "backup_eligible": False,
        **kw,
    }
    return await keys.add(user_id=user_id, name=name, **fields)


async def test_a_user_handle_is_random_and_stable(db: asyncpg.Pool) -> None:
    """Section 5.4.3: at most 64 bytes, random, no personal information; the same for every credential of the user."""
    keys = PasskeyRepository(db)
    first, second = await new_user(db), await new_user(db)
    handle = await keys.user_handle(first)
    assert len(handle) == 32 and handle == await keys.user_handle(first)
    assert handle != await keys.user_handle(second)
    assert (await add(keys, first)).user_handle == handle


async def test_a_credential_id_is_registered_once(db: asyncpg.Pool) -> None:
    """Section 7.1 step 22: a credential id already registered (to anyone) is refused."""
    keys = PasskeyRepository(db)
    first, second = await new_user(db), await new_user(db)
    await keys.user_handle(first)
    await keys.user_handle(second)
    taken = await add(keys, first)
    with pytest.raises(CredentialTaken):
        await add(keys, second, credential_id=taken.credential_id)
    assert [p.passkey_id for p in await keys.for_user(second)] == []


async def test_a_user_has_at_most_max_per_user(db: asyncpg.Pool) -> None:
    keys = PasskeyRepository(db)
    user_id = await new_user(db)
    await keys.user_handle(user_id)
    for i in range(MAX_PER_USER):
        await add(keys, user_id, name=f"k{i}")
    with pytest.raises(TooMany):
        await add(keys, user_id)
    assert len(await keys.for_user(user_id)) == MAX_PER_USER


async def test_the_counter_only_goes_up_even_when_assertions_race(db: asyncpg.Pool) -> None:
    """Section 6.1.1: of several verified assertions carrying the same counter, one is accepted; a lower or equal
    counter never is; two zeros (an authenticator without a counter) always are."""
    keys = PasskeyRepository(db)
    user_id = await new_user(db)
    await keys.user_handle(user_id)
    counted, uncounted = await add(keys, user_id), await add(keys, user_id)
    results = await asyncio.gather(*(keys.record_use(counted.credential_id, 5) for _ in range(4)))
    assert sorted(results) == [False, False, False, True]
    assert not await keys.record_use(counted.credential_id, 5)
    assert not await keys.record_use(counted.credential_id, 4)
    assert await keys.record_use(counted.credential_id, 6)
    assert await keys.record_use(uncounted.credential_id, 0)
    assert await keys.record_use(uncounted.credential_id, 0)
    found = await keys.find(counted.credential_id)
    assert found is not None and found.sign_count == 6 and found.last_used_at is not None


async def test_only_ones_own_keys_are_removed(db: asyncpg.Pool) -> None:
    keys = PasskeyRepository(db)
    owner, other = await new_user(db), await new_user(db)
    await keys.user_handle(owner)
    key = await add(keys, owner)
    assert await keys.remove(other, key.passkey_id) is None
    assert await keys.remove(owner, uuid.uuid4()) is None
    removed = await keys.remove(owner, key.passkey_id)
    assert removed is not None and removed.credential_id == key.credential_id
    await add(keys, owner)
    await add(keys, owner)
    assert await keys.remove_all(owner) == 2
    assert await keys.for_user(owner) == []


@pytest.mark.parametrize(
    ("stored", "presented", "accepted"),
    [(0, 0, True), (0, 1, True), (5, 6, True), (5, 5, False), (5, 4, False), (5, 0, False), (0, 2**32 - 1, True)],
)
def test_check_sign_count(stored: int, presented: int, accepted: bool) -> None:
    """Section 6.1.1 and 7.2 step 21: larger, unless both are 0."""
    if accepted:
        webauthn.check_sign_count(stored, presented)
    else:
        with pytest.raises(webauthn.CounterNotIncreased):
            webauthn.check_sign_count(stored, presented)


def _passkey(*, backup_eligible: bool) -> Passkey:
    now = datetime.now(UTC)
    return Passkey(uuid.uuid4(), b"id", uuid.uuid4(), b"h" * 32, b"k", 0, (), backup_eligible, "k", now, None)


def test_amr_of_an_assertion() -> None:
    """RFC 8176 section 2: `hwk` for a device-bound key, `swk` for a synced one; passwordless adds `user` and `mfa`
    and needs user verification."""
    device, synced = _passkey(backup_eligible=False), _passkey(backup_eligible=True)
    assert webauthn.key_method(device) == "hwk" and webauthn.key_method(synced) == "swk"
    assert webauthn.passwordless_methods(webauthn.Assertion(device, 1, True)) == ("hwk", "user", "mfa")
    assert webauthn.passwordless_methods(webauthn.Assertion(synced, 0, True)) == ("swk", "user", "mfa")
    with pytest.raises(webauthn.CeremonyFailed):
        webauthn.passwordless_methods(webauthn.Assertion(device, 1, False))


@pytest.mark.parametrize(
    ("typed", "name"), [("Desk key", "Desk key"), ("  two   spaces ", "two spaces"), ("é" * 64, "é" * 64)]
)
def test_check_name_accepts(typed: str, name: str) -> None:
    assert check_name(typed) == name


@pytest.mark.parametrize("typed", ["", "   ", "a" * 65, "tab\tinside\x00", "bell\x07"])
def test_check_name_refuses(typed: str) -> None:
    with pytest.raises(ValueError, match="name"):
        check_name(typed)


def test_refusal_reasons_are_printable_and_short() -> None:
    """What the audit trail stores of a refusal: no NUL or control characters (Postgres JSON holds no NUL)."""
    reason = webauthn.CeremonyFailed('Unexpected client data origin "http://x\x00\n\x1b[31m"' + "y" * 500).reason
    assert reason.isprintable() and len(reason) == webauthn.MAX_REASON_LENGTH
