"""The control plane's pure checks, without HTTP: request members and their JSON types, keyset cursors, and the
versions that `If-Match` (RFC 9110 section 13.1.1) compares."""

from __future__ import annotations

import pytest

from authz.clients.management import CHANGEABLE, check_members
from authz.control import BadInput, Stale, check_limit, check_version, decode_cursor, encode_cursor, version


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ([], None),
        ({"colour": "red"}, "colour"),
        ({"name": 1}, "name"),
        ({"disabled": 1}, "disabled"),
        ({"access_token_ttl": True}, "access_token_ttl"),  # JSON true is no number
        ({"access_token_ttl": 1.5}, "access_token_ttl"),
        ({"scopes": "notes:read"}, "scopes"),
        ({"scopes": ["notes:read", 2]}, "scopes"),
    ],
)
def test_members_of_the_wrong_name_or_type_are_named(document: object, field: str | None) -> None:
    with pytest.raises(BadInput) as refused:
        check_members(document, CHANGEABLE)
    assert refused.value.field == field


def test_good_members_pass_and_lifetimes_may_be_null() -> None:
    document = {"name": "n", "scopes": ["a"], "access_token_ttl": None, "refresh_token_ttl": 60, "disabled": False}
    assert check_members(document, CHANGEABLE) == document


def test_cursors_round_trip_and_others_are_refused() -> None:
    assert decode_cursor(encode_cursor(["abc", 7]), 2) == ["abc", 7]
    assert decode_cursor(None, 1) is None
    for bad in ("", "!!!", encode_cursor(["a"]), encode_cursor([["nested"], 1]), "eyJ4IjoxfQ"):
        with pytest.raises(BadInput) as refused:
            decode_cursor(bad, 2)
        assert refused.value.field == "cursor"


def test_limits() -> None:
    assert check_limit(None) == 50
    assert check_limit(200) == 200
    for bad in (0, 201, -1):
        with pytest.raises(BadInput):
            check_limit(bad)


def test_a_version_changes_with_what_is_shown_and_guards_changes() -> None:
    view = {"name": "a", "scopes": ["x"]}
    assert version(view) == version({"scopes": ["x"], "name": "a"})  # member order does not matter
    assert version(view) != version({**view, "name": "b"})
    check_version(view, None)
    check_version(view, "*")
    check_version(view, version(view))
    with pytest.raises(Stale):
        check_version(view, version({**view, "name": "b"}))
