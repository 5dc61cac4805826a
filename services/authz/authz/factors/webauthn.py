"""WebAuthn Level 2 ceremonies for passkeys and security keys, done by the `webauthn` package (py_webauthn): the
options a browser passes to navigator.credentials.create/get, and the verification of what it returns
(sections 7.1 and 7.2). Challenges are single-use, short-lived and bound to the browser session in Redis."""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

import orjson
import webauthn
from redis.asyncio import Redis
from webauthn.helpers import parse_authentication_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from authorium_shared.redis_keys import RedisKeys
from authz.factors.passkeys import Passkey
from authz.settings import AuthzSettings

# How long a ceremony may take, from the page that starts it to the form that finishes it; also the `timeout` hint
# (WebAuthn L2 section 5.4: the recommended range is 5 to 10 minutes when user verification is needed).
CHALLENGE_TTL = 300
# Section 13.4.3: at least 16 random bytes.
CHALLENGE_BYTES = 32
# What a browser posts is a few hundred bytes (attestation "none"); anything far larger is not a credential.
MAX_RESPONSE_LENGTH = 16384
RP_NAME = "Authorium"
MAX_REASON_LENGTH = 200
TRANSPORTS = frozenset(t.value for t in AuthenticatorTransport)


class Purpose(StrEnum):
    """What a challenge was issued for: an answer to one is never accepted by another."""

    REGISTER = "register"
    SECOND_FACTOR = "second-factor"
    PASSWORDLESS = "passwordless"
    REMOVE = "remove"  # confirming the removal of one of the account's keys


class CeremonyFailed(Exception):
    """The browser's response does not verify. `reason` is for the audit trail (never shown, never a secret)."""

    def __init__(self, reason: str) -> None:
        # The library's messages quote what the browser sent (an origin, a type): kept short and printable, since
        # Postgres JSON holds no NUL and control characters have no business in an audit trail.
        reason = "".join(c if c.isprintable() else "\ufffd" for c in reason[:MAX_REASON_LENGTH])
        super().__init__(reason)
        self.reason = reason


class CounterNotIncreased(CeremonyFailed):
    """A valid signature whose counter is not above the stored one: possibly a cloned authenticator (section 6.1.1)."""

    def __init__(self, stored: int, presented: int) -> None:
        super().__init__("signature counter did not increase")
        self.stored = stored
        self.presented = presented


@dataclass(frozen=True)
class RelyingParty:
    """This server as a WebAuthn Relying Party (section 5.1.2): its RP ID is the issuer's host and the only origin it
    accepts is the issuer's, so a passkey made here works for no other site and no other site's page can use it."""

    rp_id: str
    origin: str
    name: str = RP_NAME

    @classmethod
    def of(cls, settings: AuthzSettings) -> RelyingParty | None:
        """None when the issuer is an IP address, which cannot be an RP ID."""
        rp_id = settings.webauthn_rp_id
        return cls(rp_id, settings.webauthn_origin) if rp_id is not None else None


@dataclass(frozen=True)
class Ceremony:
    """An issued challenge and what it is for: the user registering, or the parked authorization request."""

    challenge: bytes
    subject: str


class Challenges:
    """One outstanding challenge per browser session and purpose, in Redis: taken with GETDEL, so each is answered
    at most once, and gone after CHALLENGE_TTL. Starting a ceremony again replaces the challenge."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys

    def _key(self, sid: str, purpose: Purpose) -> str:
        return self.keys("webauthn", purpose.value, sid)

    async def issue(self, sid: str, purpose: Purpose, subject: str) -> bytes:
        challenge = secrets.token_bytes(CHALLENGE_BYTES)
        value = orjson.dumps({"challenge": _b64url(challenge), "subject": subject})
        await self.redis.set(self._key(sid, purpose), value, ex=CHALLENGE_TTL)
        return challenge

    async def consume(self, sid: str, purpose: Purpose, subject: str) -> Ceremony | None:
        """The challenge issued to this session for `purpose` and `subject`, once; None otherwise."""
        raw = await self.redis.getdel(self._key(sid, purpose))
        if not raw:
            return None
        data = orjson.loads(raw)
        if not hmac.compare_digest(str(data["subject"]).encode(), subject.encode()):
            return None
        return Ceremony(_from_b64url(data["challenge"]), data["subject"])


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _from_b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def credential_id_from_text(text: str) -> bytes | None:
    """A credential id as the pages carry it (base64url); None if it is not one."""
    if not text or len(text) > 2048 or not text.isascii():
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def credential_id_text(credential_id: bytes) -> str:
    return _b64url(credential_id)


def _descriptor(passkey: Passkey) -> PublicKeyCredentialDescriptor:
    transports = [AuthenticatorTransport(t) for t in passkey.transports if t in TRANSPORTS]
    return PublicKeyCredentialDescriptor(id=passkey.credential_id, transports=transports or None)


# Registration (section 7.1)


def registration_options(
    rp: RelyingParty,
    challenge: bytes,
    *,
    user_handle: bytes,
    username: str,
    display_name: str,
    existing: list[Passkey],
) -> str:
    """The PublicKeyCredentialCreationOptions (section 5.4) as JSON. `user.id` is the opaque user handle, never the
    username (section 5.4.3); a discoverable credential is preferred so that it can sign in without a username; the
    user's credentials are excluded so one authenticator is not registered twice (section 5.4, excludeCredentials);
    no attestation is asked for (none is checked)."""
    options = webauthn.generate_registration_options(
        rp_id=rp.rp_id,
        rp_name=rp.name,
        user_name=username,
        user_id=user_handle,
        user_display_name=display_name,
        challenge=challenge,
        timeout=CHALLENGE_TTL * 1000,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[_descriptor(p) for p in existing],
    )
    return webauthn.options_to_json(options)


@dataclass(frozen=True)
class NewCredential:
    credential_id: bytes
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]
    backup_eligible: bool


def verify_registration(rp: RelyingParty, response: str, challenge: bytes) -> NewCredential:
    """Section 7.1 steps 5-21 (type, challenge, origin, RP ID hash, user presence, algorithm, attestation "none"),
    by py_webauthn; CeremonyFailed for anything that does not verify, whatever the response holds."""
    if len(response) > MAX_RESPONSE_LENGTH:
        raise CeremonyFailed("response too large")
    try:
        verified = webauthn.verify_registration_response(
            credential=response, expected_challenge=challenge, expected_rp_id=rp.rp_id, expected_origin=rp.origin
        )
        transports = _transports(response)
    except WebAuthnException as exc:
        raise CeremonyFailed(f"registration did not verify: {exc}") from None
    except Exception as exc:  # hostile input may trip any parser error inside the library
        raise CeremonyFailed(f"malformed registration response: {type(exc).__name__}") from None
    return NewCredential(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=transports,
        backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
    )


def _transports(response: str) -> tuple[str, ...]:
    """The transports the browser reported (section 5.2.1, getTransports()), those this server knows, as hints for
    later `allowCredentials`."""
    data = orjson.loads(response)
    inner = data.get("response") if isinstance(data, dict) else None
    found = inner.get("transports") if isinstance(inner, dict) else None
    if not isinstance(found, list):
        return ()
    return tuple(dict.fromkeys(t for t in found if isinstance(t, str) and t in TRANSPORTS))


# Authentication (section 7.2)


def authentication_options(rp: RelyingParty, challenge: bytes, *, allowed: list[Passkey] | None) -> str:
    """The PublicKeyCredentialRequestOptions (section 5.5) as JSON. With `allowed`, the user's credentials (a
    second factor: the password said who they are); without, any discoverable credential for this RP ID, and the
    authenticator must verify the user, since the passkey is then the only factor presented (passwordless)."""
    options = webauthn.generate_authentication_options(
        rp_id=rp.rp_id,
        challenge=challenge,
        timeout=CHALLENGE_TTL * 1000,
        allow_credentials=[_descriptor(p) for p in allowed] if allowed is not None else [],
        user_verification=(
            UserVerificationRequirement.DISCOURAGED if allowed is not None else UserVerificationRequirement.REQUIRED
        ),
    )
    return webauthn.options_to_json(options)


def parse_assertion(response: str) -> AuthenticationCredential:
    """The browser's PublicKeyCredential from navigator.credentials.get(); CeremonyFailed if it is not one."""
    if len(response) > MAX_RESPONSE_LENGTH:
        raise CeremonyFailed("response too large")
    try:
        return parse_authentication_credential_json(response)
    except WebAuthnException as exc:
        raise CeremonyFailed(f"malformed assertion: {exc}") from None
    except Exception as exc:  # hostile input may trip any parser error inside the library
        raise CeremonyFailed(f"malformed assertion: {type(exc).__name__}") from None


@dataclass(frozen=True)
class Assertion:
    """A verified assertion: which credential, its new counter, and whether the user was verified (the UV flag)."""

    passkey: Passkey
    sign_count: int
    user_verified: bool


def verify_assertion(
    rp: RelyingParty,
    credential: AuthenticationCredential,
    challenge: bytes,
    passkey: Passkey,
    *,
    require_user_verification: bool,
) -> Assertion:
    """Section 7.2 steps 7-21 by py_webauthn (type, challenge, origin, RP ID hash, user presence, user verification
    when required, signature over authenticatorData and the hash of clientDataJSON), then step 21's signature counter
    here, only once the signature is known good, so that a forged response can never raise a clone alarm.
    `passkey` must be the stored credential whose id the response names (step 5/6: the caller looks it up)."""
    try:
        verified = webauthn.verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origin,
            credential_public_key=passkey.public_key,
            # 0 leaves the counter to `check_sign_count` below (the library would refuse before the signature check).
            credential_current_sign_count=0,
            require_user_verification=require_user_verification,
        )
    except WebAuthnException as exc:
        raise CeremonyFailed(f"assertion did not verify: {exc}") from None
    except Exception as exc:  # hostile input may trip any parser error inside the library
        raise CeremonyFailed(f"malformed assertion: {type(exc).__name__}") from None
    if not hmac.compare_digest(verified.credential_id, passkey.credential_id):
        raise CeremonyFailed("assertion is for another credential")
    check_sign_count(passkey.sign_count, verified.new_sign_count)
    return Assertion(passkey, verified.new_sign_count, verified.user_verified)


def check_sign_count(stored: int, presented: int) -> None:
    """Section 6.1.1 and 7.2 step 21: when either counter is non-zero, the presented one must exceed the stored one;
    otherwise the authenticator may have been cloned, and the assertion is refused (CounterNotIncreased)."""
    if (stored != 0 or presented != 0) and presented <= stored:
        raise CounterNotIncreased(stored, presented)


def user_handle_matches(credential: AuthenticationCredential, passkey: Passkey) -> bool:
    """Section 7.2 step 6: for a discoverable credential the response's userHandle must be the credential owner's."""
    handle = credential.response.user_handle
    return handle is not None and hmac.compare_digest(bytes(handle), passkey.user_handle)


# Authentication methods (RFC 8176 section 2)


def key_method(passkey: Passkey) -> str:
    """`hwk` for a device-bound credential, `swk` for a synced one (backup eligible, the BE flag): a device-bound
    key's private part never leaves the authenticator's hardware, while a synced passkey's is copied, under
    encryption, by software between the person's devices. No attestation is asked for, so this rests on the
    authenticator's word, as every method here does."""
    return "swk" if passkey.backup_eligible else "hwk"


def passwordless_methods(assertion: Assertion) -> tuple[str, ...]:
    """The `amr` of a sign-in with a passkey alone: the key (`hwk`/`swk`), `user` for the authenticator's own test
    of the person (user presence, and the user verification passwordless requires), and `mfa`, since user
    verification is a knowledge or inherence factor on top of possession (WebAuthn L2 section 6.2.3, "multi-factor
    capable"). Which method the authenticator used (`pin`, `fpt`, `face`) is not reported to the RP, so none of
    those is claimed."""
    if not assertion.user_verified:
        raise CeremonyFailed("user not verified")
    return (key_method(assertion.passkey), "user", "mfa")
