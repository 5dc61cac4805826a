"""Where each endpoint is served; discovery publishes these, so clients never hard-code them."""

from __future__ import annotations

AUTHORIZE = "/authorize"
AUTHORIZE_LOGIN = "/authorize/login"
AUTHORIZE_CONSENT = "/authorize/consent"
AUTHORIZE_CONTINUE = "/authorize/continue"
AUTHORIZE_SECOND_FACTOR = "/authorize/second-factor"
# The account page (it signs in a person who opens it without a session) and its second factors' page.
ACCOUNT = "/account"
ACCOUNT_SECURITY = "/account/security"
ACCOUNT_TOTP = ACCOUNT_SECURITY + "/totp"
ACCOUNT_TOTP_CONFIRM = ACCOUNT_TOTP + "/confirm"
ACCOUNT_TOTP_REMOVE = ACCOUNT_TOTP + "/remove"
ACCOUNT_RECOVERY_CODES = ACCOUNT_SECURITY + "/recovery-codes"
# RFC 9126's pushed authorization request endpoint.
PAR = "/par"
TOKEN = "/token"
REVOKE = "/revoke"
INTROSPECT = "/introspect"
USERINFO = "/userinfo"
REGISTER = "/register"
# RFC 7592's client configuration endpoint: each registered client's `registration_client_uri`.
CLIENT_CONFIGURATION = "/register/{client_id}"
JWKS = "/jwks.json"
# OpenID Connect RP-Initiated Logout 1.0's end_session_endpoint, and where its confirmation page posts.
END_SESSION = "/logout"
END_SESSION_CONFIRM = "/logout/confirm"
# The person's own page: the apps that have access, sessions, password (and a link to security keys).
ACCOUNT_REMOVE_ACCESS = "/account/apps/remove"
ACCOUNT_END_SESSION = "/account/sessions/end"
ACCOUNT_PASSWORD = "/account/password"
# Passkeys and security keys (WebAuthn): the account's, and signing in with one.
ACCOUNT_SECURITY_KEYS = "/account/security-keys"
ACCOUNT_SECURITY_KEYS_NEW = "/account/security-keys/new"
ACCOUNT_SECURITY_KEYS_REMOVE = "/account/security-keys/remove"
AUTHORIZE_SECURITY_KEY = "/authorize/security-key"
AUTHORIZE_PASSKEY = "/authorize/passkey"
# RFC 8628: where a device asks for codes (section 3.1), and the verification URI people visit (section 3.3).
DEVICE_AUTHORIZATION = "/device_authorization"
DEVICE = "/device"
