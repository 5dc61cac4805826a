"""Resource indicators (RFC 8707) at the authorization and token endpoints: which registered resources a token is
for (its `aud`), and which of the requested scopes it carries.

- `resource` given: each must be the identifier of a registered resource (else invalid_target, section 2); the
  token carries only scopes those resources declare, plus OpenID Connect's, and a scope the client named that
  belongs to no resource asked for is invalid_scope.
- No `resource`: the scopes choose: each resource declaring a requested scope is an audience; with no such scope,
  the default resource (AUTHORIUM_RESOURCE_URL) is.
- After the authorization request (code redemption, refresh), `resource` may only narrow what the grant covers
  (section 2.2)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from authorium_shared.errors import InvalidRequest, InvalidScope, InvalidTarget
from authz.resources.records import InvalidResource, Resource, check_identifier
from authz.resources.registry import Registry
from authz.scopes import OPENID, USER_SCOPES

PARAMETER = "resource"
MAX_RESOURCES = 10


@dataclass(frozen=True)
class Target:
    """The resources a token is for, and the scopes it carries."""

    resources: tuple[Resource, ...]
    scopes: tuple[str, ...]

    @property
    def identifiers(self) -> tuple[str, ...]:
        return tuple(r.identifier for r in self.resources)

    def audience(self, issuer: str) -> tuple[str, ...]:
        """The access token's `aud`: the resources, and the issuer when `openid` lets the token call userinfo."""
        return (*self.identifiers, issuer) if OPENID in self.scopes else self.identifiers


def requested(values: Sequence[str]) -> tuple[str, ...]:
    """The `resource` parameters, in order without repeats, each an absolute URI without a fragment (section 2:
    otherwise invalid_target)."""
    if len(values) > MAX_RESOURCES:
        raise InvalidRequest(f"at most {MAX_RESOURCES} resource parameters")
    for value in values:
        try:
            check_identifier(value)
        except InvalidResource as exc:
            raise InvalidTarget(f"resource {value[:100]!r} is not usable: {exc.message}") from None
    return tuple(dict.fromkeys(values))


def choose(registry: Registry, asked: Sequence[str], scopes: Sequence[str], *, named: bool) -> Target:
    """The target of an authorization or client credentials request. `named`: the client named `scopes` (so a
    scope outside the resources is its mistake, invalid_scope) rather than getting its registered default (which
    is then cut down to what the resources declare)."""
    if not asked:
        owners: list[Resource] = []
        kept: list[str] = []
        for scope in scopes:
            owner = registry.owner(scope)
            if owner is None and scope not in USER_SCOPES:
                if named:
                    raise InvalidScope(f"no registered resource declares the scope {scope}")
                continue
            if owner is not None:
                owners.append(owner)
            kept.append(scope)
        return Target(tuple(dict.fromkeys(owners)) or (registry.default,), tuple(kept))
    resources: list[Resource] = []
    for identifier in asked:
        found = registry.find(identifier)
        if found is None:
            raise InvalidTarget(f"resource {identifier[:100]} is not registered at this server")
        resources.append(found)
    declared = {scope for r in resources for scope in r.scopes}
    foreign = [s for s in scopes if s not in USER_SCOPES and s not in declared]
    if foreign and named:
        raise InvalidScope(f"{' '.join(foreign)} is not a scope of the resource(s) asked for")
    return Target(tuple(resources), tuple(s for s in scopes if s in USER_SCOPES or s in declared))


def narrow(
    registry: Registry, granted: Sequence[str], asked: Sequence[str], scopes: Sequence[str], *, named: bool
) -> Target:
    """The target of a token request that follows a grant to the resources `granted` (section 2.2): each resource
    asked for must be one of them (else invalid_target)."""
    outside = [a for a in asked if a not in granted]
    if outside:
        raise InvalidTarget(f"resource {outside[0][:100]} is not one this grant was authorized for")
    return choose(registry, asked, scopes, named=named)
