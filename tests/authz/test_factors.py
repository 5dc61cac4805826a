"""The second factors' rules and storage without HTTP: RFC 8176 methods and the levels they reach, `acr_values`
(OIDC Core 3.1.2.1), RFC 6238 time steps and drift, recovery codes, and the repository against the real Postgres
(secrets sealed under the KEK and re-encrypted with `keys reencrypt`; a time step used once; a recovery code spent
once)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pyotp
import pytest

from authorium_shared.errors import InvalidRequest
from authorium_shared.keys import KeyEncryptionKeys, WrongKeyEncryptionKey, generate_kek, parse_kek
from authorium_shared.resources import create_pg_pool
from authz.authorization.checks import check_acr_values
from authz.factors import assurance, recovery, totp
from authz.factors.repository import RecoveryCodes, TotpRepository, reseal_secrets, second_factors
from tests.authz import flows
from tests.conftest import DatabaseFactory


def test_methods_and_levels() -> None:
    """RFC 8176 section 2: `mfa` when methods of more than one kind were used; the level follows (OIDC Core 2)."""
    assert assurance.with_methods((), "pwd") == ("pwd",)
    assert assurance.with_methods(("pwd",), "otp") == ("pwd", "otp", "mfa")
    assert assurance.with_methods(("pwd", "otp", "mfa"), "otp") == ("pwd", "otp", "mfa")
    assert assurance.with_methods(("otp",), "hwk") == ("otp", "hwk", "mfa")
    assert assurance.acr_of(("pwd",)) == assurance.ACR_PWD
    assert assurance.acr_of(("pwd", "otp", "mfa")) == assurance.ACR_MFA


def test_acr_values_preference() -> None:
    """OIDC Core 3.1.2.1: acr_values in order of preference; unknown values are passed over, not refused."""
    assert assurance.wants_mfa((assurance.ACR_MFA,))
    assert assurance.wants_mfa(("urn:unknown", assurance.ACR_MFA, assurance.ACR_PWD))
    assert not assurance.wants_mfa((assurance.ACR_PWD, assurance.ACR_MFA))
    assert not assurance.wants_mfa(("urn:unknown",))
    assert check_acr_values({"acr_values": f"{assurance.ACR_MFA}  x {assurance.ACR_MFA}"}) == (assurance.ACR_MFA, "x")
    assert check_acr_values({}) == ()
    for bad in (" ".join(f"v{i}" for i in range(11)), "a\tb", "é"):
        with pytest.raises(InvalidRequest):
            check_acr_values({"acr_values": bad})


def test_time_steps_within_one_step_of_drift() -> None:
    """RFC 6238 section 5.2: the previous, current and next step's codes match (and say which step); no other."""
    secret = totp.new_secret()
    assert len(secret) == 32
    now = 1_700_000_015.0
    step = totp.current_step(now)
    app = pyotp.TOTP(secret)
    for offset in (-1, 0, 1):
        assert totp.matching_step(secret, app.at(now + 30 * offset), now) == step + offset
    for offset in (-3, -2, 2, 3):
        code = app.at(now + 30 * offset)
        if code not in {app.at(now + 30 * o) for o in (-1, 0, 1)}:
            assert totp.matching_step(secret, code, now) is None
    assert totp.matching_step(secret, " ".join([app.at(now)[:3], app.at(now)[3:]]), now) == step
    for bad in ("", "12345", "1234567", "١٢٣٤٥٦", "abcdef"):
        assert totp.matching_step(secret, bad, now) is None
    uri = totp.provisioning_uri(secret, "alice", "auth.example")
    assert uri.startswith("otpauth://totp/auth.example:alice?") and f"secret={secret}" in uri
    assert totp.qr_svg(uri).startswith("<svg") and "<script" not in totp.qr_svg(uri)


def test_recovery_codes() -> None:
    codes = recovery.generate()
    assert len(set(codes)) == recovery.COUNT == 10
    for code in codes:
        assert recovery.normalized(code.upper().replace("-", " ")) == code.replace("-", "")
    assert recovery.normalized("0000-0000-0000-0000") is None  # look-alikes are not in the alphabet
    assert recovery.normalized("abc") is None


async def _user(db: asyncpg.Pool) -> uuid.UUID:
    username = await flows.make_user(db)
    return uuid.UUID(str(await db.fetchval("SELECT user_id FROM users WHERE username = $1", username)))


async def test_a_time_step_is_used_once_and_an_enrolment_is_no_factor(db: asyncpg.Pool) -> None:
    kek = KeyEncryptionKeys(parse_kek(generate_kek()))
    repo = TotpRepository(db, kek)
    user_id = await _user(db)
    enrolment = await repo.start(user_id, totp.new_secret())
    assert enrolment is not None
    assert await second_factors(db, user_id) == []
    assert await repo.confirmed_secret(user_id) is None
    assert await repo.confirm(user_id, enrolment.factor_id, 100)
    assert await repo.start(user_id, totp.new_secret()) is None, "a confirmed app is removed before another"
    [factor] = await second_factors(db, user_id)
    assert factor.kind == "totp" and factor.factor_id == enrolment.factor_id
    assert not await repo.use_step(user_id, enrolment.factor_id, 100), "the confirming code's step is used"
    assert not await repo.use_step(user_id, enrolment.factor_id, 99)
    assert await repo.use_step(user_id, enrolment.factor_id, 101)
    assert not await repo.use_step(user_id, enrolment.factor_id, 101)


async def test_recovery_codes_are_spent_once(db: asyncpg.Pool) -> None:
    user_id, other = await _user(db), await _user(db)
    codes = recovery.generate()
    async with db.acquire() as conn:
        await RecoveryCodes.replace(conn, user_id, codes)
    store = RecoveryCodes(db)
    assert not await store.use(other, codes[0]), "another user's code"
    assert await store.use(user_id, codes[0].upper())
    assert not await store.use(user_id, codes[0])
    assert await store.left(user_id) == 9


@pytest.fixture
async def own_db(make_database: DatabaseFactory) -> AsyncIterator[asyncpg.Pool]:
    """A database of the test's own: re-encryption touches every secret in it, and refuses if any will not open."""
    pool = await create_pg_pool(await make_database(), max_size=2)
    yield pool
    await pool.close()


async def test_secrets_are_sealed_under_the_kek_and_resealed_under_a_new_one(own_db: asyncpg.Pool) -> None:
    """DESIGN.md (State): secrets at rest under the KEK; `keys reencrypt` moves them to a new KEK."""
    db = own_db
    old, new = parse_kek(generate_kek()), parse_kek(generate_kek())
    user_id = await _user(db)
    secret = totp.new_secret()
    enrolment = await TotpRepository(db, KeyEncryptionKeys(old)).start(user_id, secret)
    assert enrolment is not None
    assert await TotpRepository(db, KeyEncryptionKeys(new)).enrolment(user_id) is None, "fails closed"
    rotating = KeyEncryptionKeys(new, previous=old)
    assert (await TotpRepository(db, rotating).enrolment(user_id)) == enrolment
    async with db.acquire() as conn, conn.transaction():
        assert await reseal_secrets(conn, rotating) == 1
        assert await reseal_secrets(conn, rotating) == 0
    assert (await TotpRepository(db, KeyEncryptionKeys(new)).enrolment(user_id)) == enrolment
    # Bound to its row: a blob copied onto another factor does not open.
    sealed = await db.fetchval("SELECT secret FROM totp_factors WHERE user_id = $1", user_id)
    with pytest.raises(WrongKeyEncryptionKey):
        KeyEncryptionKeys(new).open(sealed, bound_to=f"totp:{uuid.uuid4()}")
