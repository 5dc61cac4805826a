"""Signing keys: generation, RFC 7638 kids, public-only JWKs, encryption at rest and the key set."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from authorium_shared.keys import (
    ALGORITHMS,
    KeyDecryptionError,
    KeyEncryptionKeys,
    KeySet,
    KeyState,
    NoSigningKey,
    SigningKey,
    StoredKey,
    decrypt_private_key,
    encrypt_private_key,
    generate_kek,
    parse_kek,
    thumbprint,
)

PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
T0 = datetime(2025, 1, 1, tzinfo=UTC)

# RFC 7638 section 3.1.
RFC7638_JWK = {
    "kty": "RSA",
    "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWK"
        "RXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMic"
        "AtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3"
        "XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    ),
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}


@pytest.fixture(scope="module")
def kek() -> bytes:
    return parse_kek(generate_kek())


# --- thumbprint -------------------------------------------------------------------------------


def test_thumbprint_matches_rfc7638_example() -> None:
    assert thumbprint(RFC7638_JWK) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_thumbprint_matches_rfc8037_okp_example() -> None:
    jwk = {"crv": "Ed25519", "kty": "OKP", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_thumbprint_ignores_optional_members() -> None:
    required_only = {k: RFC7638_JWK[k] for k in ("kty", "n", "e")}
    assert thumbprint({**RFC7638_JWK, "use": "sig"}) == thumbprint(required_only)


@pytest.mark.parametrize(
    "jwk",
    [{"kty": "RSA", "n": "abc"}, {"kty": "EC", "crv": "P-256", "x": "a"}, {"kty": "nope"}, {}],
)
def test_thumbprint_rejects_incomplete_or_unknown_keys(jwk: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"thumbprint|missing"):
        thumbprint(jwk)


# --- generation and public JWK ----------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_generate_each_algorithm(alg: str, signing_keys: dict[str, SigningKey]) -> None:
    key = SigningKey.generate(alg)
    assert key.alg == alg
    assert key.kid == thumbprint(key.public_jwk())
    assert key.kid != signing_keys[alg].kid


def test_generated_key_types() -> None:
    rsa_key = SigningKey.generate("RS256").private_key
    assert isinstance(rsa_key, rsa.RSAPrivateKey)
    assert rsa_key.key_size == 2048
    ec_key = SigningKey.generate("ES256").private_key
    assert isinstance(ec_key, ec.EllipticCurvePrivateKey)
    assert isinstance(ec_key.curve, ec.SECP256R1)
    assert isinstance(SigningKey.generate("EdDSA").private_key, ed25519.Ed25519PrivateKey)


@pytest.mark.parametrize("alg", ["HS256", "none", "RS512", "PS256", "ES384", ""])
def test_generate_rejects_unsupported_algorithm(alg: str) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        SigningKey.generate(alg)


def test_signing_key_rejects_key_of_wrong_type(signing_keys: dict[str, SigningKey]) -> None:
    with pytest.raises(ValueError, match="cannot sign RS256"):
        SigningKey(kid="x", alg="RS256", private_key=signing_keys["ES256"].private_key)


def test_signing_key_rejects_short_rsa_key() -> None:
    short = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ValueError, match="cannot sign RS256"):
        SigningKey(kid="x", alg="RS256", private_key=short)


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_public_jwk_has_only_public_members(alg: str, signing_keys: dict[str, SigningKey]) -> None:
    jwk = signing_keys[alg].public_jwk()
    assert not set(PRIVATE_MEMBERS) & set(jwk)
    expected = {"RS256": {"kty", "n", "e"}, "ES256": {"kty", "crv", "x", "y"}, "EdDSA": {"kty", "crv", "x"}}
    assert set(jwk) == expected[alg] | {"kid", "alg", "use"}
    assert (jwk["alg"], jwk["use"], jwk["kid"]) == (alg, "sig", signing_keys[alg].kid)


def test_repr_does_not_show_the_private_key(rsa_key: SigningKey) -> None:
    assert "private" not in repr(rsa_key)
    assert rsa_key.kid in repr(rsa_key)


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_to_pyjwk_is_pinned_to_the_algorithm(alg: str, signing_keys: dict[str, SigningKey]) -> None:
    pyjwk = signing_keys[alg].to_pyjwk()
    assert pyjwk.algorithm_name == alg
    assert pyjwk.key_id == signing_keys[alg].kid
    assert not hasattr(pyjwk.key, "private_bytes")


# --- key-encryption key -----------------------------------------------------------------------


def test_generate_kek_round_trips() -> None:
    value = generate_kek()
    assert len(value) == 43 and "=" not in value
    assert len(parse_kek(value)) == 32
    assert generate_kek() != value


def test_parse_kek_accepts_padding_and_surrounding_whitespace() -> None:
    raw = bytes(range(32))
    padded = base64.urlsafe_b64encode(raw).decode()
    assert padded.endswith("=")
    assert parse_kek(padded) == raw
    assert parse_kek(padded.rstrip("=")) == raw
    assert parse_kek(f"  {padded}\n") == raw


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("not base64!" * 4, "base64url"),
        # Standard base64 alphabet, not base64url.
        (base64.b64encode(b"\xfb\xff" * 16).decode(), "base64url"),
        (base64.urlsafe_b64encode(b"k" * 16).decode(), "32 bytes, got 16"),
        (base64.urlsafe_b64encode(b"k" * 33).decode(), "32 bytes, got 33"),
        (generate_kek() + "===", "base64url"),
        ("A", "base64url"),
    ],
)
def test_parse_kek_errors_say_what_is_wrong_without_echoing(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as excinfo:
        parse_kek(value)
    if value.strip():
        assert value.strip() not in str(excinfo.value)


# --- encryption at rest -----------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_encrypt_decrypt_round_trip(alg: str, signing_keys: dict[str, SigningKey], kek: bytes) -> None:
    key = signing_keys[alg]
    blob = encrypt_private_key(key, kek)
    restored = decrypt_private_key(blob, kid=key.kid, alg=alg, kek=kek)
    assert restored == key
    assert restored.public_jwk() == key.public_jwk()


def test_blob_layout_and_fresh_nonce(rsa_key: SigningKey, kek: bytes) -> None:
    first, second = encrypt_private_key(rsa_key, kek), encrypt_private_key(rsa_key, kek)
    assert first[0] == second[0] == 1
    assert first[1:13] != second[1:13]
    assert first != second


def test_wrong_kek_is_rejected(rsa_key: SigningKey, kek: bytes) -> None:
    blob = encrypt_private_key(rsa_key, kek)
    with pytest.raises(KeyDecryptionError):
        decrypt_private_key(blob, kid=rsa_key.kid, alg="RS256", kek=parse_kek(generate_kek()))


@pytest.mark.parametrize("position", [0, 1, 12, 13, 100, -1])
def test_tampered_blob_is_rejected(position: int, rsa_key: SigningKey, kek: bytes) -> None:
    blob = bytearray(encrypt_private_key(rsa_key, kek))
    blob[position] ^= 0x01
    with pytest.raises(KeyDecryptionError):
        decrypt_private_key(bytes(blob), kid=rsa_key.kid, alg="RS256", kek=kek)


@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x01" + b"\x00" * 12, b"\x02" + b"\x00" * 64])
def test_truncated_or_unknown_blob_is_rejected(blob: bytes, kek: bytes) -> None:
    with pytest.raises(KeyDecryptionError):
        decrypt_private_key(blob, kid="kid", alg="RS256", kek=kek)


def test_blob_swapped_onto_another_kid_is_rejected(signing_keys: dict[str, SigningKey], kek: bytes) -> None:
    blob = encrypt_private_key(signing_keys["ES256"], kek)
    other = SigningKey.generate("ES256")
    with pytest.raises(KeyDecryptionError):
        decrypt_private_key(blob, kid=other.kid, alg="ES256", kek=kek)


def test_blob_swapped_onto_another_alg_is_rejected(signing_keys: dict[str, SigningKey], kek: bytes) -> None:
    key = signing_keys["ES256"]
    with pytest.raises(KeyDecryptionError):
        decrypt_private_key(encrypt_private_key(key, kek), kid=key.kid, alg="RS256", kek=kek)


def test_decrypted_key_must_match_its_kid(signing_keys: dict[str, SigningKey], kek: bytes) -> None:
    mislabelled = SigningKey(kid="not-the-thumbprint", alg="EdDSA", private_key=signing_keys["EdDSA"].private_key)
    blob = encrypt_private_key(mislabelled, kek)
    with pytest.raises(KeyDecryptionError, match="does not match its kid"):
        decrypt_private_key(blob, kid="not-the-thumbprint", alg="EdDSA", kek=kek)


def test_kek_of_wrong_length_is_a_value_error(rsa_key: SigningKey) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        encrypt_private_key(rsa_key, b"short")


# --- changing the KEK: the current one encrypts, the previous one still decrypts ---------------------


def test_the_current_kek_encrypts_and_the_previous_one_still_decrypts(
    signing_keys: dict[str, SigningKey], kek: bytes
) -> None:
    new = parse_kek(generate_kek())
    keks = KeyEncryptionKeys(current=new, previous=kek)
    key = signing_keys["ES256"]
    under_old = encrypt_private_key(key, kek)
    assert keks.decrypt(under_old, kid=key.kid, alg="ES256") == (key, False)
    under_new = keks.encrypt(key)
    assert keks.decrypt(under_new, kid=key.kid, alg="ES256") == (key, True)
    # What it encrypts needs no previous KEK: it is under the current one alone.
    assert decrypt_private_key(under_new, kid=key.kid, alg="ES256", kek=new) == key
    with pytest.raises(KeyDecryptionError):
        decrypt_private_key(under_new, kid=key.kid, alg="ES256", kek=kek)


def test_without_a_previous_kek_only_the_current_one_decrypts(rsa_key: SigningKey, kek: bytes) -> None:
    blob = encrypt_private_key(rsa_key, kek)
    with pytest.raises(KeyDecryptionError, match="wrong key-encryption key"):
        KeyEncryptionKeys(current=parse_kek(generate_kek())).decrypt(blob, kid=rsa_key.kid, alg="RS256")


def test_a_blob_neither_kek_opens_is_refused(rsa_key: SigningKey, kek: bytes) -> None:
    keks = KeyEncryptionKeys(current=parse_kek(generate_kek()), previous=parse_kek(generate_kek()))
    with pytest.raises(KeyDecryptionError, match="wrong key-encryption key"):
        keks.decrypt(encrypt_private_key(rsa_key, kek), kid=rsa_key.kid, alg="RS256")


def test_only_a_failed_tag_sends_a_blob_to_the_previous_kek(signing_keys: dict[str, SigningKey], kek: bytes) -> None:
    # The tag verifies under the current KEK, so the blob is the current KEK's, damaged as it is: the previous KEK
    # is not tried (and could not help).
    mislabelled = SigningKey(kid="not-the-thumbprint", alg="EdDSA", private_key=signing_keys["EdDSA"].private_key)
    keks = KeyEncryptionKeys(current=kek, previous=parse_kek(generate_kek()))
    with pytest.raises(KeyDecryptionError, match="does not match its kid"):
        keks.decrypt(encrypt_private_key(mislabelled, kek), kid="not-the-thumbprint", alg="EdDSA")


def test_keks_are_never_shown(kek: bytes) -> None:
    keks = KeyEncryptionKeys(current=kek, previous=kek)
    assert kek.hex() not in repr(keks) and str(kek) not in repr(keks)
    with pytest.raises(ValueError, match="32 bytes"):
        KeyEncryptionKeys(current=kek, previous=b"short")


# --- stored keys and the key set --------------------------------------------------------------


def stored(key: SigningKey, state: KeyState, created: timedelta = timedelta(0)) -> StoredKey:
    return StoredKey(key=key, state=state, created_at=T0 + created)


def test_stored_key_exposes_kid_and_alg(rsa_key: SigningKey) -> None:
    row = stored(rsa_key, KeyState.CURRENT)
    assert (row.kid, row.alg) == (rsa_key.kid, "RS256")


def test_stored_key_requires_aware_datetimes(rsa_key: SigningKey) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        StoredKey(key=rsa_key, state=KeyState.CURRENT, created_at=datetime(2025, 1, 1))


def test_key_state_values() -> None:
    assert [s.value for s in KeyState] == ["next", "current", "retired"]


def test_signing_key_is_the_current_key_per_alg(signing_keys: dict[str, SigningKey]) -> None:
    nxt, retired = SigningKey.generate("EdDSA"), SigningKey.generate("EdDSA")
    keyset = KeySet(
        (
            stored(nxt, KeyState.NEXT),
            stored(retired, KeyState.RETIRED),
            stored(signing_keys["EdDSA"], KeyState.CURRENT),
            stored(signing_keys["RS256"], KeyState.CURRENT),
        )
    )
    assert keyset.signing_key("EdDSA") == signing_keys["EdDSA"]
    assert keyset.signing_key("RS256") == signing_keys["RS256"]
    with pytest.raises(NoSigningKey, match="ES256"):
        keyset.signing_key("ES256")


def test_no_signing_key_without_a_current_key(signing_keys: dict[str, SigningKey]) -> None:
    keyset = KeySet((stored(signing_keys["RS256"], KeyState.NEXT),))
    with pytest.raises(LookupError):
        keyset.signing_key("RS256")


def test_jwks_lists_every_state_current_first_and_public_only(signing_keys: dict[str, SigningKey]) -> None:
    nxt, retired = SigningKey.generate("EdDSA"), SigningKey.generate("ES256")
    keyset = KeySet(
        (
            stored(nxt, KeyState.NEXT),
            stored(retired, KeyState.RETIRED),
            stored(signing_keys["RS256"], KeyState.CURRENT),
            stored(signing_keys["ES256"], KeyState.CURRENT),
        )
    )
    listed = keyset.jwks()["keys"]
    assert [k["kid"] for k in listed] == [
        signing_keys["RS256"].kid,
        signing_keys["ES256"].kid,
        nxt.kid,
        retired.kid,
    ]
    for jwk in listed:
        assert not set(PRIVATE_MEMBERS) & set(jwk)


def test_public_key_finds_every_published_key(signing_keys: dict[str, SigningKey]) -> None:
    rows = (
        stored(signing_keys["RS256"], KeyState.CURRENT),
        stored(signing_keys["ES256"], KeyState.NEXT),
        stored(signing_keys["EdDSA"], KeyState.RETIRED),
    )
    keyset = KeySet(rows)
    for row in rows:
        found = keyset.public_key(row.kid)
        assert found is not None and found.algorithm_name == row.alg
    assert keyset.public_key("unknown") is None
    assert KeySet(()).jwks() == {"keys": []}
