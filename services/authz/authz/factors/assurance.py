"""Authentication methods and assurance levels (OIDC Core 2: `amr`, `acr`; RFC 8176 method values): what a sign-in
used, and the level an ID token states.

The levels are this server's own URNs, published as `acr_values_supported`: `urn:authorium:acr:pwd` (a password),
`urn:authorium:acr:mfa` (a password and a second factor of another kind). A client that asks for the MFA level with
`acr_values` gets a second-factor step when the person has a factor (OIDC Core 3.1.2.1: the request is voluntary)."""

from __future__ import annotations

from collections.abc import Iterable

# RFC 8176 section 2.
PWD = "pwd"
OTP = "otp"  # an authenticator app's code, or a one-time recovery code
HWK = "hwk"  # proof of a hardware-bound key (a security key)
SWK = "swk"  # proof of a software-bound key (a platform passkey)
MFA = "mfa"  # more than one kind of method

ACR_PWD = "urn:authorium:acr:pwd"
ACR_MFA = "urn:authorium:acr:mfa"
# Weakest first; discovery publishes them in this order.
ACR_VALUES = (ACR_PWD, ACR_MFA)
MAX_ACR_VALUES = 10

_SECOND_FACTORS = frozenset({OTP, HWK, SWK})


def with_methods(before: Iterable[str], *added: str) -> tuple[str, ...]:
    """The methods of a sign-in that used `before` and now `added`, with `mfa` once a password and a second factor
    (or two second factors of different kinds) were both used (RFC 8176 section 2)."""
    methods = [m for m in dict.fromkeys((*before, *added)) if m != MFA]
    kinds = {m for m in methods if m in _SECOND_FACTORS} | ({PWD} & set(methods))
    return (*methods, MFA) if len(kinds) >= 2 else tuple(methods)


def acr_of(amr: Iterable[str]) -> str:
    """The level a sign-in with methods `amr` reached."""
    return ACR_MFA if MFA in amr else ACR_PWD


def wants_mfa(acr_values: Iterable[str]) -> bool:
    """Whether a request's `acr_values` (most preferred first, OIDC Core 3.1.2.1) prefers the MFA level: the first
    value this server knows is it. Values it does not know are passed over (the request is voluntary)."""
    known = [value for value in acr_values if value in ACR_VALUES]
    return bool(known) and known[0] == ACR_MFA
