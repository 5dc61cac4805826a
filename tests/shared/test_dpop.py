"""The pure parts of DPoP (RFC 9449), without HTTP: the RFC's own examples for `ath` and the key thumbprint, `htu`
normalisation (section 4.3 check 9 with RFC 3986 sections 6.2.2 and 6.2.3), stateless nonces (sections 8 and 9),
and `check_proof` against the clock."""

from __future__ import annotations

import time

import pytest

from authorium_shared import dpop
from authorium_shared.errors import InvalidDPoPProof, UseDPoPNonce
from authorium_shared.keys import thumbprint
from tests.dpop import DPoPKey

URL = "https://server.example.com/token"


def test_section_7_1_ath_is_the_rfcs_example() -> None:
    """Section 7.1's example access token and its `ath`."""
    assert dpop.access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU") == (
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    )


def test_section_6_1_jkt_is_the_rfcs_example() -> None:
    """Section 4.1's example key and section 6.1's `cnf.jkt` for it (RFC 7638)."""
    jwk = {
        "kty": "EC",
        "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
        "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
        "crv": "P-256",
    }
    assert thumbprint(jwk) == "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"


@pytest.mark.parametrize(
    ("presented", "normalised"),
    [
        ("https://server.example.com/token", URL),
        ("HTTPS://Server.Example.COM/token", URL),
        ("https://server.example.com:443/token", URL),
        ("https://server.example.com/token?x=1#y", URL),
        ("https://server.example.com/a/../token", URL),
        ("https://server.example.com/./token", URL),
        ("https://server.example.com/%74oken", URL),
        ("https://server.example.com", "https://server.example.com/"),
        ("http://server.example.com:80/", "http://server.example.com/"),
        ("http://server.example.com:8080/x", "http://server.example.com:8080/x"),
        ("https://server.example.com/a%2fb", "https://server.example.com/a%2Fb"),
        ("http://[::1]:8000/token", "http://[::1]:8000/token"),
    ],
)
def test_section_4_3_htu_normalisation(presented: str, normalised: str) -> None:
    assert dpop.normalise_htu(presented) == normalised


@pytest.mark.parametrize(
    "presented",
    [
        "/token",
        "token",
        "ftp://server.example.com/token",
        "https://user@server.example.com/token",
        "http://[::1/x",
        "https://server.example.com:99999/",
        "https:///token",
        "",
    ],
)
def test_section_4_3_an_htu_that_is_no_http_uri_matches_nothing(presented: str) -> None:
    assert dpop.normalise_htu(presented) is None


def test_sections_8_and_9_nonces_are_good_for_their_window_and_the_next() -> None:
    now = [1_000_000.0]
    nonces = dpop.Nonces(b"s" * 32, window=300, clock=lambda: now[0])
    nonce = nonces.current()
    assert nonces.valid(nonce)
    now[0] += 300
    assert nonces.valid(nonce) and nonces.current() != nonce
    now[0] += 300
    assert not nonces.valid(nonce)
    # Another secret (another deployment, or the resource server's against the authorization server's) never agrees.
    assert not dpop.Nonces(b"t" * 32, window=300, clock=lambda: now[0]).valid(nonces.current())
    for odd in (None, 5, "", "x" * 10_000, "\ud800"):
        assert not nonces.valid(odd)


def test_section_8_a_missing_nonce_is_use_dpop_nonce_with_a_fresh_one() -> None:
    nonces, key = dpop.Nonces(b"s" * 32), DPoPKey()
    with pytest.raises(UseDPoPNonce) as refused:
        dpop.check_proof(key.proof("POST", URL), method="POST", uri=URL, now=time.time(), nonces=nonces)
    assert refused.value.headers == {dpop.NONCE_HEADER: nonces.current()}
    checked = dpop.check_proof(
        key.proof("POST", URL, nonce=nonces.current()), method="POST", uri=URL, now=time.time(), nonces=nonces
    )
    assert checked.jkt == key.jkt


@pytest.mark.parametrize(("age", "accepted"), [(0, True), (60, True), (70, False), (-5, True), (-10, False)])
def test_section_4_3_iat_window(age: int, accepted: bool) -> None:
    """Check 11: a proof up to MAX_AGE (and the clock skew) old, or the skew ahead, is accepted."""
    key, now = DPoPKey(), time.time()
    proof = key.proof("POST", URL, iat=int(now) - age)
    if accepted:
        assert dpop.check_proof(proof, method="POST", uri=URL, now=now).jkt == key.jkt
    else:
        with pytest.raises(InvalidDPoPProof, match="iat"):
            dpop.check_proof(proof, method="POST", uri=URL, now=now)


def test_section_4_3_ath_is_checked_only_with_an_access_token() -> None:
    key = DPoPKey()
    proof = key.proof("GET", URL, access_token="token-a")
    assert dpop.check_proof(proof, method="GET", uri=URL, now=time.time(), access_token="token-a")
    with pytest.raises(InvalidDPoPProof, match="ath"):
        dpop.check_proof(proof, method="GET", uri=URL, now=time.time(), access_token="token-b")
    # At the token endpoint no token is presented: ath means nothing there.
    assert dpop.check_proof(proof, method="GET", uri=URL, now=time.time())
