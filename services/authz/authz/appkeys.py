"""The authorization server's application keys: the one way a handler reaches each object it works with.
The objects are made by the cleanup contexts in `authz.contexts`; the Postgres pool, Redis and this replica's copy
of the revocation lists have the keys every service shares (`authorium_shared.appkeys`)."""

from __future__ import annotations

from aiohttp import web

from authorium_shared.dpop import ProofChecker
from authz.audit import AuditLog
from authz.authorization.codes import CodeStore
from authz.authorization.consents import ConsentRepository
from authz.authorization.pending import PendingRequests
from authz.authorization.pushed import PushedRequests
from authz.clients.assertions import ClientAssertions
from authz.clients.cache import ClientCache
from authz.device.store import DeviceCodeStore
from authz.factors.passkeys import PasskeyRepository
from authz.factors.repository import RecoveryCodes, TotpRepository
from authz.factors.webauthn import Challenges
from authz.ratelimit import Counter, LoginThrottle, SecondFactorThrottle
from authz.resources.registry import ResourceCache
from authz.revocation.revoker import Revoker
from authz.sessions.backchannel import BackchannelSender
from authz.sessions.store import SessionStore
from authz.settings import AuthzSettings
from authz.signing.ring import KeyRing
from authz.tokens.families import GrantRepository
from authz.tokens.minter import TokenMinter
from authz.tokens.reader import AccessTokenReader
from authz.users.passwords import Passwords
from authz.users.repository import UserRepository

SETTINGS = web.AppKey("authz_settings", AuthzSettings)
AUDIT = web.AppKey("audit_log", AuditLog)
# Clients
CLIENTS = web.AppKey("clients", ClientCache)
TOKEN_RATE_LIMIT = web.AppKey("token_rate_limit", Counter)
# private_key_jwt: the clients' registered keys and the assertions already used (RFC 7523)
CLIENT_ASSERTIONS = web.AppKey("client_assertions", ClientAssertions)
# The APIs tokens are issued for (RFC 8707)
RESOURCES = web.AppKey("resources", ResourceCache)
# People
USERS = web.AppKey("users", UserRepository)
PASSWORDS = web.AppKey("passwords", Passwords)
LOGIN_THROTTLE = web.AppKey("login_throttle", LoginThrottle)
SESSIONS = web.AppKey("sessions", SessionStore)
# Logout tokens to clients (OpenID Connect Back-Channel Logout 1.0)
BACKCHANNEL = web.AppKey("backchannel_sender", BackchannelSender)
# Second factors (authz.factors)
TOTP_FACTORS = web.AppKey("totp_factors", TotpRepository)
RECOVERY_CODES = web.AppKey("recovery_codes", RecoveryCodes)
FACTOR_THROTTLE = web.AppKey("second_factor_throttle", SecondFactorThrottle)
# Passkeys and security keys (WebAuthn), and their ceremonies' challenges
PASSKEYS = web.AppKey("passkeys", PasskeyRepository)
WEBAUTHN_CHALLENGES = web.AppKey("webauthn_challenges", Challenges)
# Authorization requests, consent and codes
PENDING = web.AppKey("pending_requests", PendingRequests)
PUSHED = web.AppKey("pushed_requests", PushedRequests)
CONSENTS = web.AppKey("consents", ConsentRepository)
CODES = web.AppKey("codes", CodeStore)
# The device authorization grant (RFC 8628): device requests, and failed user-code entries per address
DEVICE_CODES = web.AppKey("device_codes", DeviceCodeStore)
USER_CODE_THROTTLE = web.AppKey("user_code_throttle", Counter)
# Keys and tokens
KEY_RING = web.AppKey("key_ring", KeyRing)
MINTER = web.AppKey("token_minter", TokenMinter)
ACCESS_TOKENS = web.AppKey("access_tokens", AccessTokenReader)
GRANT_STORE = web.AppKey("grant_store", GrantRepository)
REVOKER = web.AppKey("revoker", Revoker)
# DPoP proofs (RFC 9449) at the token endpoint
DPOP = web.AppKey("dpop_proofs", ProofChecker)
