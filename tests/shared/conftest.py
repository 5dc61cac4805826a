"""Signing keys shared by the tests in this folder (RSA generation is the slow part, so once per run)."""

from __future__ import annotations

import pytest

from authorium_shared.keys import ALGORITHMS, SigningKey


@pytest.fixture(scope="session")
def signing_keys() -> dict[str, SigningKey]:
    return {alg: SigningKey.generate(alg) for alg in ALGORITHMS}


@pytest.fixture(scope="session")
def rsa_key(signing_keys: dict[str, SigningKey]) -> SigningKey:
    return signing_keys["RS256"]
