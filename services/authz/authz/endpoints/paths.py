"""Where each endpoint is served; discovery publishes these, so clients never hard-code them."""

from __future__ import annotations

AUTHORIZE = "/authorize"
AUTHORIZE_LOGIN = "/authorize/login"
AUTHORIZE_CONSENT = "/authorize/consent"
AUTHORIZE_CONTINUE = "/authorize/continue"
TOKEN = "/token"
REVOKE = "/revoke"
INTROSPECT = "/introspect"
USERINFO = "/userinfo"
REGISTER = "/register"
# RFC 7592's client configuration endpoint: each registered client's `registration_client_uri`.
CLIENT_CONFIGURATION = "/register/{client_id}"
JWKS = "/jwks.json"
# RFC 8628: where a device asks for codes (section 3.1), and the verification URI people visit (section 3.3).
DEVICE_AUTHORIZATION = "/device_authorization"
DEVICE = "/device"
