"""JWT signing and verification: round trips, and each way a token must be rejected, with its reason."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from authorium_shared.jwt import (
    MAX_TOKEN_BYTES,
    Header,
    TokenInvalid,
    encode,
    peek_header,
    verify,
    verify_with_keyset,
)
from authorium_shared.keys import ALGORITHMS, KeySet, KeyState, SigningKey, StoredKey

ISSUER = "https://auth.example.com"
AUDIENCE = "https://api.example.com"
RS256_ONLY = ("RS256",)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: object) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
        "jti": "j1",
        "client_id": "c1",
        "scope": "notes:read",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def signed(key: SigningKey, header: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    """A token with an arbitrary header and payload, properly signed by `key` (pyjwt does the signing)."""
    body = json.dumps(dict(payload)).encode()
    return pyjwt.PyJWS().encode(body, key.private_key, algorithm=key.alg, headers=dict(header))


def check(token: str, key: SigningKey, **kwargs: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "algorithms": (key.alg,),
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "typ": "at+jwt",
    }
    options.update(kwargs)
    return verify(token, key.to_pyjwk(), **options)


def rejected(token: str, key: SigningKey, **kwargs: Any) -> str:
    with pytest.raises(TokenInvalid) as excinfo:
        check(token, key, **kwargs)
    return excinfo.value.reason


@pytest.fixture(scope="module")
def keyset(signing_keys: dict[str, SigningKey]) -> KeySet:
    now = datetime.now(UTC)
    return KeySet(tuple(StoredKey(key, KeyState.CURRENT, now, now) for key in signing_keys.values()))


# --- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_round_trip(alg: str, signing_keys: dict[str, SigningKey]) -> None:
    key = signing_keys[alg]
    payload = claims()
    token = encode(payload, key, typ="at+jwt")
    assert pyjwt.get_unverified_header(token) == {"alg": alg, "kid": key.kid, "typ": "at+jwt"}
    assert check(token, key) == payload
    assert peek_header(token, algorithms=ALGORITHMS) == Header(alg=alg, kid=key.kid, typ="at+jwt")


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_round_trip_through_keyset(alg: str, signing_keys: dict[str, SigningKey], keyset: KeySet) -> None:
    token = encode(claims(), keyset.signing_key(alg), typ="at+jwt")
    result = verify_with_keyset(token, keyset, algorithms=ALGORITHMS, issuer=ISSUER, audience=AUDIENCE, typ="at+jwt")
    assert result["sub"] == "user-1"


@pytest.mark.parametrize(
    ("token_typ", "expected_typ"),
    [("at+jwt", "at+jwt"), ("application/at+jwt", "at+jwt"), ("AT+JWT", "at+jwt"), ("at+jwt", "Application/AT+JWT")],
)
def test_typ_compare_is_case_insensitive_and_accepts_media_type_prefix(
    token_typ: str, expected_typ: str, rsa_key: SigningKey
) -> None:
    check(encode(claims(), rsa_key, typ=token_typ), rsa_key, typ=expected_typ)


def test_typ_not_checked_when_not_asked(rsa_key: SigningKey) -> None:
    check(signed(rsa_key, {"kid": rsa_key.kid, "typ": None}, claims()), rsa_key, typ=None)


def test_aud_may_be_a_list(rsa_key: SigningKey) -> None:
    token = encode(claims(aud=[ISSUER, AUDIENCE]), rsa_key, typ="at+jwt")
    assert check(token, rsa_key)["aud"] == [ISSUER, AUDIENCE]


def test_aud_not_checked_without_an_audience(rsa_key: SigningKey) -> None:
    check(encode(claims(aud="someone-else"), rsa_key, typ="at+jwt"), rsa_key, audience=None)


def test_leeway_tolerates_small_clock_skew(rsa_key: SigningKey) -> None:
    now = int(time.time())
    token = encode(claims(exp=now - 5, iat=now - 600), rsa_key, typ="at+jwt")
    assert rejected(token, rsa_key) == "expired"
    check(token, rsa_key, leeway=30)


def test_unknown_header_members_pointing_at_keys_are_ignored(rsa_key: SigningKey) -> None:
    header = {"kid": rsa_key.kid, "typ": "at+jwt", "jku": "https://evil.example/jwks", "x5u": "https://evil.example"}
    check(signed(rsa_key, header, claims()), rsa_key)


# --- rejections -------------------------------------------------------------------------------


def test_tampered_payload(rsa_key: SigningKey) -> None:
    header, _, signature = encode(claims(), rsa_key, typ="at+jwt").split(".")
    forged = f"{header}.{b64json(claims(sub='admin'))}.{signature}"
    assert rejected(forged, rsa_key) == "bad signature"


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_tampered_signature(alg: str, signing_keys: dict[str, SigningKey]) -> None:
    key = signing_keys[alg]
    header, payload, signature = encode(claims(), key, typ="at+jwt").split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    assert rejected(f"{header}.{payload}.{b64(bytes(raw))}", key) == "bad signature"


def test_alg_none(rsa_key: SigningKey, keyset: KeySet) -> None:
    token = f"{b64json({'alg': 'none', 'kid': rsa_key.kid, 'typ': 'at+jwt'})}.{b64json(claims())}."
    assert rejected(token, rsa_key) == "algorithm not allowed"
    bare = f"{b64json({'alg': 'none'})}.{b64json(claims())}."
    assert rejected(bare, rsa_key) == "algorithm not allowed"
    with pytest.raises(TokenInvalid, match="algorithm not allowed"):
        verify_with_keyset(token, keyset, algorithms=ALGORITHMS, issuer=ISSUER, audience=AUDIENCE, typ="at+jwt")


def test_hs256_signed_with_the_rsa_public_key_pem(rsa_key: SigningKey) -> None:
    """The classic key-confusion attack: HMAC keyed with the verifier's own public key."""
    pem = rsa_key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{b64json({'alg': 'HS256', 'kid': rsa_key.kid, 'typ': 'at+jwt'})}.{b64json(claims())}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64(mac)}"
    assert rejected(token, rsa_key) == "algorithm not allowed"
    # Even past our allow-list, the PyJWK is pinned to RS256 and refuses to act as an HMAC secret.
    with pytest.raises(pyjwt.InvalidAlgorithmError):
        pyjwt.decode(token, rsa_key.to_pyjwk(), algorithms=["HS256"])


def test_symmetric_algorithms_cannot_be_allowed(rsa_key: SigningKey) -> None:
    token = encode(claims(), rsa_key, typ="at+jwt")
    for algorithms in (("HS256",), ("RS256", "none"), (), "RS256"):
        with pytest.raises(ValueError, match="algorithms"):
            check(token, rsa_key, algorithms=algorithms)


def test_kid_not_in_the_set(keyset: KeySet) -> None:
    stranger = SigningKey.generate("ES256")
    token = encode(claims(), stranger, typ="at+jwt")
    with pytest.raises(TokenInvalid) as excinfo:
        verify_with_keyset(token, keyset, algorithms=ALGORITHMS, issuer=ISSUER, audience=AUDIENCE, typ="at+jwt")
    assert excinfo.value.reason == "unknown kid"


def test_kid_must_match_the_key_given(signing_keys: dict[str, SigningKey]) -> None:
    token = encode(claims(), SigningKey.generate("ES256"), typ="at+jwt")
    assert rejected(token, signing_keys["ES256"]) == "unknown kid"


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_foreign_key_reusing_a_published_kid(alg: str, signing_keys: dict[str, SigningKey], keyset: KeySet) -> None:
    ours, forger = signing_keys[alg], SigningKey.generate(alg)
    # The attacker also embeds its own key, hoping the verifier uses it.
    header = {"kid": ours.kid, "typ": "at+jwt", "jwk": forger.public_jwk()}
    token = signed(forger, header, claims())
    assert rejected(token, ours) == "bad signature"
    with pytest.raises(TokenInvalid, match="bad signature"):
        verify_with_keyset(token, keyset, algorithms=ALGORITHMS, issuer=ISSUER, audience=AUDIENCE, typ="at+jwt")


def test_expired(rsa_key: SigningKey) -> None:
    now = int(time.time())
    assert rejected(encode(claims(iat=now - 700, exp=now - 100), rsa_key, typ="at+jwt"), rsa_key) == "expired"


def test_not_yet_valid_nbf(rsa_key: SigningKey) -> None:
    token = encode(claims(nbf=int(time.time()) + 300), rsa_key, typ="at+jwt")
    assert rejected(token, rsa_key) == "not yet valid"


def test_not_yet_valid_iat(rsa_key: SigningKey) -> None:
    token = encode(claims(iat=int(time.time()) + 300), rsa_key, typ="at+jwt")
    assert rejected(token, rsa_key) == "not yet valid"


@pytest.mark.parametrize("iss", ["https://evil.example.com", ISSUER + "/", ISSUER.upper(), 42])
def test_wrong_issuer(iss: object, rsa_key: SigningKey) -> None:
    assert rejected(signed(rsa_key, {"kid": rsa_key.kid, "typ": "at+jwt"}, claims(iss=iss)), rsa_key) == (
        "wrong issuer"
    )


@pytest.mark.parametrize(
    ("aud", "reason"),
    [
        ("https://other.example.com", "wrong audience"),
        ([ISSUER, "https://other.example.com"], "wrong audience"),
        (7, "wrong audience"),
        ([], "missing aud"),
    ],
)
def test_wrong_audience(aud: object, reason: str, rsa_key: SigningKey) -> None:
    token = signed(rsa_key, {"kid": rsa_key.kid, "typ": "at+jwt"}, claims(aud=aud))
    assert rejected(token, rsa_key) == reason


def test_missing_audience_when_one_is_required(rsa_key: SigningKey) -> None:
    token = encode({k: v for k, v in claims().items() if k != "aud"}, rsa_key, typ="at+jwt")
    assert rejected(token, rsa_key) == "missing aud"


@pytest.mark.parametrize("claim", ["exp", "iat", "iss"])
def test_required_claims(claim: str, rsa_key: SigningKey) -> None:
    token = encode({k: v for k, v in claims().items() if k != claim}, rsa_key, typ="at+jwt")
    assert rejected(token, rsa_key) == f"missing {claim}"


def test_caller_can_require_more_claims(rsa_key: SigningKey) -> None:
    token = encode({k: v for k, v in claims().items() if k != "jti"}, rsa_key, typ="at+jwt")
    assert rejected(token, rsa_key, required=("exp", "iat", "iss", "jti")) == "missing jti"


@pytest.mark.parametrize("typ", ["JWT", "application/jwt", "at+jwt+", "id_token"])
def test_wrong_typ(typ: str, rsa_key: SigningKey) -> None:
    assert rejected(encode(claims(), rsa_key, typ=typ), rsa_key) == "wrong typ"


def test_missing_typ(rsa_key: SigningKey) -> None:
    token = signed(rsa_key, {"kid": rsa_key.kid, "typ": None}, claims())
    assert "typ" not in pyjwt.get_unverified_header(token)
    assert rejected(token, rsa_key) == "wrong typ"


def test_es256_token_where_only_rs256_is_allowed(signing_keys: dict[str, SigningKey], keyset: KeySet) -> None:
    es_key = signing_keys["ES256"]
    token = encode(claims(), es_key, typ="at+jwt")
    assert rejected(token, es_key, algorithms=RS256_ONLY) == "algorithm not allowed"
    assert rejected(token, signing_keys["RS256"], algorithms=RS256_ONLY) == "algorithm not allowed"
    with pytest.raises(TokenInvalid, match="algorithm not allowed"):
        verify_with_keyset(token, keyset, algorithms=RS256_ONLY, issuer=ISSUER, audience=AUDIENCE, typ="at+jwt")


def test_header_alg_must_match_the_keys_algorithm(signing_keys: dict[str, SigningKey]) -> None:
    es_key = signing_keys["ES256"]
    token = signed(es_key, {"kid": signing_keys["RS256"].kid, "typ": "at+jwt"}, claims())
    assert rejected(token, signing_keys["RS256"], algorithms=ALGORITHMS) == "algorithm mismatch"


@pytest.mark.parametrize("crit", [["exp"], ["b64"], [], "exp"])
def test_crit_header(crit: object, rsa_key: SigningKey) -> None:
    token = signed(rsa_key, {"kid": rsa_key.kid, "typ": "at+jwt", "crit": crit, "exp": 1}, claims())
    assert rejected(token, rsa_key) == "unsupported crit"


def test_oversized_token(rsa_key: SigningKey) -> None:
    token = encode(claims(padding="x" * MAX_TOKEN_BYTES), rsa_key, typ="at+jwt")
    assert rejected(token, rsa_key) == "too large"
    with pytest.raises(TokenInvalid, match="too large"):
        peek_header("a" * (MAX_TOKEN_BYTES + 1), algorithms=ALGORITHMS)


def test_token_of_exactly_the_maximum_size_is_accepted(signing_keys: dict[str, SigningKey]) -> None:
    key = signing_keys["EdDSA"]
    base = len(encode(claims(padding=""), key, typ="at+jwt"))
    # Each payload character costs 4/3 token characters once base64url-encoded.
    guess = (MAX_TOKEN_BYTES - base) * 3 // 4
    for extra in range(guess - 8, guess + 8):
        token = encode(claims(padding="x" * extra), key, typ="at+jwt")
        if len(token) == MAX_TOKEN_BYTES:
            check(token, key)
            return
    pytest.fail("could not build a token of exactly MAX_TOKEN_BYTES")


def test_numeric_dates_must_be_numbers(rsa_key: SigningKey) -> None:
    token = encode(claims(exp=str(int(time.time()) + 600)), rsa_key, typ="at+jwt")
    assert rejected(token, rsa_key) == "malformed"


def test_payload_must_be_a_json_object(rsa_key: SigningKey) -> None:
    token = pyjwt.PyJWS().encode(
        b"[1,2]", rsa_key.private_key, algorithm="RS256", headers={"kid": rsa_key.kid, "typ": "at+jwt"}
    )
    assert rejected(token, rsa_key) == "malformed"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({"alg": "RS256", "typ": "at+jwt"}, "bad kid"),
        ({"alg": "RS256", "kid": 5}, "bad kid"),
        ({"alg": "RS256", "kid": ""}, "bad kid"),
        ({"alg": "RS256", "kid": "k" * 129}, "bad kid"),
        ({"alg": "RS256", "kid": ["a"]}, "bad kid"),
        ({"kid": "a"}, "algorithm not allowed"),
        ({"alg": ["RS256"], "kid": "a"}, "algorithm not allowed"),
        ({"alg": "RS256", "kid": "a", "typ": 1}, "malformed"),
    ],
)
def test_bad_headers(header: dict[str, Any], reason: str) -> None:
    token = f"{b64json(header)}.{b64json(claims())}.{b64(b'sig')}"
    with pytest.raises(TokenInvalid) as excinfo:
        peek_header(token, algorithms=RS256_ONLY)
    assert excinfo.value.reason == reason


def test_longest_allowed_kid_passes_the_header_check() -> None:
    token = f"{b64json({'alg': 'RS256', 'kid': 'k' * 128})}.{b64json(claims())}.{b64(b'sig')}"
    assert peek_header(token, algorithms=RS256_ONLY).kid == "k" * 128


GARBAGE = [
    "",
    ".",
    "..",
    "a.b.c",
    "abc",
    "a.b",
    "a.b.c.d.e",
    "eyJ.eyJ.eyJ",
    "é.é.é",
    "\x00.\x00.\x00",
    f"{b64json([1])}.{b64json({})}.",
    f"{b64json('x')}.{b64json({})}.",
    f"{b64(b'{not json')}.{b64json({})}.",
    f"{b64json({'alg': 'RS256', 'kid': 'a'})}.{b64(b'not json')}.{b64(b'x')}",
    f"{b64json({'alg': 'RS256', 'kid': 'a'})}.!!!!.{b64(b'x')}",
    f"{b64json({'alg': 'RS256', 'kid': 'a'})}.{b64json({})}.@@",
    "Bearer " + "x" * 20,
]


@pytest.mark.parametrize("token", GARBAGE)
def test_garbage_strings(token: str, rsa_key: SigningKey, keyset: KeySet) -> None:
    reason = rejected(token, rsa_key)
    assert reason in {"malformed", "bad signature", "unknown kid", "algorithm not allowed"}
    with pytest.raises(TokenInvalid):
        verify_with_keyset(token, keyset, algorithms=ALGORITHMS, issuer=ISSUER, audience=AUDIENCE, typ="at+jwt")


def test_non_string_token_is_malformed(rsa_key: SigningKey) -> None:
    for value in (None, b"a.b.c", 12):
        with pytest.raises(TokenInvalid, match="malformed"):
            peek_header(value, algorithms=ALGORITHMS)  # type: ignore[arg-type]


def test_reason_is_the_exception_message() -> None:
    exc = TokenInvalid("expired")
    assert (exc.reason, str(exc)) == ("expired", "expired")


# --- property tests ---------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
HEADER_VALUES = {
    "alg": st.sampled_from([*ALGORITHMS, "none", "HS256", "PS256", ""]) | JSON,
    "kid": st.text(max_size=140) | JSON,
    "typ": st.sampled_from(["at+jwt", "JWT", "application/at+jwt"]) | JSON,
    "crit": JSON,
    "b64": st.booleans(),
    "jwk": JSON,
}


@st.composite
def jwt_shaped(draw: st.DrawFn) -> str:
    header = draw(st.fixed_dictionaries({}, optional=HEADER_VALUES))
    payload = draw(st.dictionaries(st.sampled_from(["iss", "aud", "exp", "nbf", "iat", "sub"]), JSON) | JSON)
    signature = draw(st.binary(max_size=300))
    return f"{b64json(header)}.{b64json(payload)}.{b64(signature)}"


@settings(max_examples=300, deadline=None)
@given(token=st.text(max_size=400) | jwt_shaped())
def test_arbitrary_input_raises_only_token_invalid(token: str, rsa_key: SigningKey) -> None:
    # A well-formed header may pass peek_header; nothing random gets past the signature.
    with contextlib.suppress(TokenInvalid):
        assert isinstance(peek_header(token, algorithms=ALGORITHMS), Header)
    with pytest.raises(TokenInvalid):
        check(token, rsa_key)
