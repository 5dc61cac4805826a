"""User codes (RFC 8628 section 6.1), without HTTP: the character set, the length, the grouping, and reading what a
person typed."""

from __future__ import annotations

import re

import pytest

from authz.device.user_codes import ALPHABET, LENGTH, display, new_user_code, normalize


def test_6_1_user_codes_are_eight_of_twenty_consonants() -> None:
    assert ALPHABET == "BCDFGHJKLMNPQRSTVWXZ" and LENGTH == 8
    drawn = {new_user_code() for _ in range(200)}
    assert len(drawn) == 200
    assert all(re.fullmatch(r"[BCDFGHJKLMNPQRSTVWXZ]{8}", code) for code in drawn)
    # Every character turns up: the draw covers the whole set.
    assert set("".join(drawn)) == set(ALPHABET)


def test_6_1_user_codes_are_shown_in_two_groups_of_four() -> None:
    assert display("BCDFGHJK") == "BCDF-GHJK"


@pytest.mark.parametrize(
    "typed", ["BCDF-GHJK", "bcdf-ghjk", "bcdfghjk", " BCDF GHJK ", "bCdF - gHjK", "B-C-D-F-G-H-J-K"]
)
def test_6_1_entry_ignores_case_dashes_and_spaces(typed: str) -> None:
    assert normalize(typed) == "BCDFGHJK"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "BCDF-GHJ",  # too short
        "BCDF-GHJKL",  # too long
        "BCDF-GHJA",  # a vowel: not in the set
        "BCDF-GHJ1",  # a digit
        "BCDF_GHJK",  # other punctuation is not ignored
        "BCDF-GHJ\u212a",  # KELVIN SIGN: upper-cases to nothing in the set
        "ẞCDF-GHJK",
        "BCDF\x00GHJK",
        "B" * 10_000,
    ],
)
def test_6_1_anything_else_is_not_a_user_code(typed: str) -> None:
    assert normalize(typed) is None
