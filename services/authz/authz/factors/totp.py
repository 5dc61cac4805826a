"""Authenticator apps (TOTP, RFC 6238, with pyotp): the shared secret, the `otpauth://` URI and QR code that give it to
the app, and which time step a code belongs to. Codes of the previous, current and next step are accepted (RFC 6238
section 5.2 allows one step of drift either way); that a step is used once is the repository's job."""

from __future__ import annotations

import time

import pyotp
import segno
from pyotp.utils import strings_equal

DIGITS = 6
INTERVAL = 30  # seconds per time step (RFC 6238 section 4.1's default, what every app assumes)
DRIFT_STEPS = 1
_SECRET_BYTES = 20  # RFC 4226 section 4: at least 128 bits; 160 matches the HMAC-SHA1 block


def new_secret() -> str:
    """A fresh shared secret, base32 as apps take it."""
    return pyotp.random_base32(length=_SECRET_BYTES * 8 // 5)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The `otpauth://totp/...` URI an app reads from the QR code: the account as `issuer:account`."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The QR code of `uri` as inline SVG markup, made here on the server (no script, no image request)."""
    return str(segno.make(uri, error="m").svg_inline(scale=4, dark="#000", light="#fff", border=4))


def normalized(code: str) -> str | None:
    """The code as typed, without spaces; None unless it is DIGITS ASCII digits."""
    digits = "".join(code.split())
    return digits if len(digits) == DIGITS and digits.isascii() and digits.isdigit() else None


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // INTERVAL)


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step whose code `code` is (within DRIFT_STEPS of now), or None. Every candidate is compared in
    constant time, so the time taken says nothing about which was close."""
    digits = normalized(code)
    if digits is None:
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL)
    step = current_step(now)
    found = None
    for candidate in range(step - DRIFT_STEPS, step + DRIFT_STEPS + 1):
        if strings_equal(totp.at(candidate * INTERVAL), digits) and found is None:
            found = candidate
    return found
