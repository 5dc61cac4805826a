"""Token exchange's checks (authz.grants.token_exchange) as pure functions, without HTTP: the parts of RFC 8693 a
request over HTTP cannot reach without this server's signing key (a malformed `act` or `may_act` in a token it
signed) or that are easiest to state exactly here."""

from __future__ import annotations

from typing import Any

import pytest

from authorium_shared.errors import InvalidRequest, InvalidScope
from authz.grants.token_exchange import (
    ACCESS_TOKEN_TYPE,
    MAX_CHAIN,
    check_may_act,
    check_token_types,
    choose_scopes,
    nested_act,
)
from authz.resources.records import Resource

INVENTORY = Resource("r1", "https://inventory.example/", "Inventory", ("inv:read", "inv:write"), None)


def chain(depth: int) -> dict[str, Any] | None:
    act: dict[str, Any] | None = None
    for n in range(depth):
        act = {"sub": f"s{n}", **({"act": act} if act else {})}
    return act


def test_section_4_1_the_caller_is_the_outermost_actor() -> None:
    assert nested_act("b", None) == {"sub": "b"}
    assert nested_act("b", {"sub": "a"}) == {"sub": "b", "act": {"sub": "a"}}
    assert nested_act("c", {"sub": "b", "act": {"sub": "a"}}) == {"sub": "c", "act": {"sub": "b", "act": {"sub": "a"}}}


@pytest.mark.parametrize(
    "previous", ["a", ["a"], {"name": "a"}, {"sub": 1}, {"sub": "b", "act": "a"}, {"sub": "b", "act": {"sub": None}}]
)
def test_section_4_1_a_malformed_act_is_invalid_request(previous: object) -> None:
    """Section 4.1: `act` is a JSON object whose `sub` names the actor, an earlier actor nested the same way."""
    with pytest.raises(InvalidRequest, match="act claim is malformed"):
        nested_act("c", previous)


def test_a_chain_stops_at_max_chain_actors() -> None:
    assert nested_act("x", chain(MAX_CHAIN - 1))["act"] == chain(MAX_CHAIN - 1)
    with pytest.raises(InvalidRequest, match="chain"):
        nested_act("x", chain(MAX_CHAIN))


@pytest.mark.parametrize("may_act", [{"sub": "other"}, "svc", ["svc"], {"client_id": "svc"}, None, {}])
def test_section_4_4_may_act_must_name_the_caller(may_act: object) -> None:
    with pytest.raises(InvalidRequest, match="may_act"):
        check_may_act({"may_act": may_act}, "svc")
    check_may_act({"may_act": {"sub": "svc"}}, "svc")
    check_may_act({}, "svc")


def test_section_2_1_token_types() -> None:
    check_token_types({"subject_token_type": ACCESS_TOKEN_TYPE, "requested_token_type": ACCESS_TOKEN_TYPE})
    for params in (
        {},
        {"subject_token_type": "urn:ietf:params:oauth:token-type:jwt"},
        {"subject_token_type": ACCESS_TOKEN_TYPE, "requested_token_type": "urn:ietf:params:oauth:token-type:jwt"},
        {"subject_token_type": ACCESS_TOKEN_TYPE, "actor_token": "t", "actor_token_type": ACCESS_TOKEN_TYPE},
        {"subject_token_type": ACCESS_TOKEN_TYPE, "actor_token_type": ACCESS_TOKEN_TYPE},
    ):
        with pytest.raises(InvalidRequest):
            check_token_types(params)


def test_scopes_are_the_subjects_that_the_target_declares() -> None:
    """The same or fewer: without `scope`, what the subject token holds that the target accepts, in its order."""
    held = ("notes:read", "inv:write", "inv:read")
    assert choose_scopes((), held, (INVENTORY,)) == ("inv:write", "inv:read")
    assert choose_scopes(("inv:read",), held, (INVENTORY,)) == ("inv:read",)
    with pytest.raises(InvalidScope, match="beyond"):
        choose_scopes(("inv:read",), ("notes:read",), (INVENTORY,))
    with pytest.raises(InvalidScope, match="not a scope of the target"):
        choose_scopes(("notes:read",), held, (INVENTORY,))
    with pytest.raises(InvalidScope, match="holds no scope"):
        choose_scopes((), ("notes:read",), (INVENTORY,))
