"""The authorization server's configuration, read once from the environment and validated at boot."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from authorium_shared.errors import InvalidScope
from authorium_shared.keys import ALGORITHMS, KeyEncryptionKeys, parse_kek
from authorium_shared.settings import (
    DEFAULT_AUTHZ_ADMIN_PORT,
    DEFAULT_RESOURCE_URL,
    CommonSettings,
    ConfigError,
    admin_port,
    env_bool,
    env_float,
    env_int,
    env_str,
    env_url,
    is_loopback,
)
from authz.scopes import DEFAULT_CLIENT_SCOPES, MAX_SCOPES, parse_scope

DEFAULT_ADMIN_URL = "http://127.0.0.1:8010"
_B64TOKEN = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")
# What a dynamically registered client may ask for unless the operator says otherwise: the default scopes and the
# notes API's scopes for a person's own notes; never `notes:admin`, which reads everyone's.
DEFAULT_REGISTRATION_SCOPES = (*DEFAULT_CLIENT_SCOPES, "notes:read", "notes:write")
# A service registering itself (client_credentials) is for the operator to allow.
DEFAULT_REGISTRATION_GRANT_TYPES = ("authorization_code", "refresh_token")
# The grant types a registration policy may name: those the token endpoint serves. They are authz.grants.GRANT_TYPES,
# which cannot be imported here (the grants import these settings); tests/authz/test_register.py keeps them equal.
REGISTRABLE_GRANT_TYPES = (
    "authorization_code",
    "client_credentials",
    "refresh_token",
    "urn:ietf:params:oauth:grant-type:token-exchange",
    "urn:ietf:params:oauth:grant-type:device_code",
)


@dataclass(frozen=True)
class BuiltInResources:
    """The identifiers of the two resources every server has (RFC 8707; docs/operations.md, "Resources"), for the
    commands that need only these: the notes API (AUTHORIUM_RESOURCE_URL) and the admin API (AUTHORIUM_ADMIN_URL)."""

    resource_url: str = DEFAULT_RESOURCE_URL
    admin_url: str = DEFAULT_ADMIN_URL

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> BuiltInResources:
        return cls(
            resource_url=env_url(environ, "AUTHORIUM_RESOURCE_URL", DEFAULT_RESOURCE_URL, schemes=("http", "https")),
            admin_url=env_url(environ, "AUTHORIUM_ADMIN_URL", DEFAULT_ADMIN_URL, schemes=("http", "https")),
        )


@dataclass(frozen=True)
class AuthzSettings:
    common: CommonSettings
    # AUTHORIUM_KEK, and AUTHORIUM_KEK_PREVIOUS while keys stored under it are re-encrypted.
    kek: KeyEncryptionKeys
    resource_url: str
    # The admin API's identifier (RFC 8707): the `aud` of tokens with scope `authorium:admin`.
    admin_url: str
    access_token_ttl: int
    id_token_ttl: int
    refresh_token_ttl: int
    code_ttl: int
    # The device authorization grant (RFC 8628 section 3.2): how long a device code and its user code live, and the
    # seconds a device waits between polls to begin with.
    device_code_ttl: int
    device_poll_interval: int
    jwks_max_age: int
    access_token_alg: str
    refresh_reuse_grace: int
    # A sign-in at this server ends after `session_idle_ttl` seconds without use, and `session_max_ttl` after it
    # began whatever happens (AUTHORIUM_SESSION_IDLE_TTL, AUTHORIUM_SESSION_MAX_TTL).
    session_idle_ttl: int
    session_max_ttl: int
    token_rate_limit: int
    registration_token: str | None
    # The registration policy (RFC 7591 section 3.2.2): what a dynamically registered client may ask for. The
    # operator's own tools (`authorium client create`, setup) are not bound by it.
    registration_scopes: tuple[str, ...]
    registration_grant_types: tuple[str, ...]
    # How long audit events are kept before pruning removes them.
    audit_retention_days: int
    # How long the revocation feed may be down before introspection and userinfo are refused (fail closed).
    revocation_max_staleness: float
    # The private listener's port (readiness, metrics, the admin API), AUTHORIUM_ADMIN_PORT.
    admin_port: int
    # AUTHORIUM_PASSWORDLESS: the login page also offers "Sign in with a passkey" (a discoverable credential).
    passwordless: bool = False
    # Every client must push its authorization requests (RFC 9126 section 5), AUTHORIUM_REQUIRE_PAR; otherwise only
    # the clients registered with `require_pushed_authorization_requests`.
    require_par: bool = False
    # How long a pushed authorization request's request_uri lasts (RFC 9126 section 2.2), AUTHORIUM_PAR_TTL.
    par_ttl: int = 60
    # RFC 9449 section 8: DPoP proofs at the token endpoint must carry a nonce this server gave
    # (AUTHORIUM_DPOP_NONCE_REQUIRED); the nonces' secret is derived from AUTHORIUM_KEK, so every replica agrees.
    dpop_nonce_required: bool = False

    @property
    def secure_cookies(self) -> bool:
        return self.issuer.startswith("https://")

    @property
    def built_in_resources(self) -> BuiltInResources:
        return BuiltInResources(resource_url=self.resource_url, admin_url=self.admin_url)

    @property
    def issuer(self) -> str:
        return self.common.issuer

    @property
    def webauthn_origin(self) -> str:
        """The origin WebAuthn ceremonies must come from (WebAuthn L2 section 7.1 step 9): the issuer's."""
        return self.issuer

    @property
    def webauthn_rp_id(self) -> str | None:
        """The WebAuthn Relying Party ID (WebAuthn L2 section 5.1.2, "RP ID"): the issuer's host name. None when the
        issuer is reached by an IP address, which cannot be an RP ID (a valid domain string is required), so passkeys
        are not offered."""
        host = urlsplit(self.issuer).hostname or ""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return host or None
        return None

    @property
    def longest_token_ttl(self) -> int:
        """How long a signature can still matter: a retired key stays published at least this long."""
        return max(self.access_token_ttl, self.id_token_ttl)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> AuthzSettings:
        common = CommonSettings.from_env(environ)
        if "/" in common.issuer.split("://", 1)[1]:
            raise ConfigError("AUTHORIUM_ISSUER", "must be an origin such as https://auth.example.com (no path)")
        issuer = urlsplit(common.issuer)
        # RFC 8414 section 2: the issuer "is a URL that uses the https scheme". Plain http is for trying it out on
        # this machine, or where the operator says so.
        insecure = issuer.scheme != "https" and not is_loopback(issuer.hostname or "")
        if insecure and not env_bool(environ, "AUTHORIUM_ALLOW_HTTP_ISSUER", False):
            raise ConfigError(
                "AUTHORIUM_ISSUER",
                "must use https outside loopback (RFC 8414 section 2); for development only, set"
                " AUTHORIUM_ALLOW_HTTP_ISSUER=true",
            )
        current_kek = _kek("AUTHORIUM_KEK", env_str(environ, "AUTHORIUM_KEK", None))
        previous_kek = env_str(environ, "AUTHORIUM_KEK_PREVIOUS", "")
        kek = KeyEncryptionKeys(
            current=current_kek, previous=_kek("AUTHORIUM_KEK_PREVIOUS", previous_kek) if previous_kek else None
        )
        # ES256 by measurement: signing is ~9x cheaper than RS256 (0.13 ms against 1.16 ms here) and tokens are
        # half the size, while verification costs about the same (0.26 ms against 0.18 ms).
        alg = env_str(environ, "AUTHORIUM_ACCESS_TOKEN_ALG", "ES256")
        if alg not in ALGORITHMS:
            raise ConfigError("AUTHORIUM_ACCESS_TOKEN_ALG", f"must be one of {', '.join(ALGORITHMS)}")
        built_in = BuiltInResources.from_env(environ)
        session_max_ttl, session_idle_ttl = _session_lifetimes(environ)
        return cls(
            common=common,
            kek=kek,
            resource_url=built_in.resource_url,
            admin_url=built_in.admin_url,
            access_token_ttl=env_int(environ, "AUTHORIUM_ACCESS_TOKEN_TTL", 600, minimum=30, maximum=86400),
            id_token_ttl=env_int(environ, "AUTHORIUM_ID_TOKEN_TTL", 600, minimum=30, maximum=86400),
            refresh_token_ttl=env_int(
                environ, "AUTHORIUM_REFRESH_TOKEN_TTL", 30 * 86400, minimum=60, maximum=365 * 86400
            ),
            code_ttl=env_int(environ, "AUTHORIUM_CODE_TTL", 60, minimum=5, maximum=60),
            device_code_ttl=env_int(environ, "AUTHORIUM_DEVICE_CODE_TTL", 600, minimum=5, maximum=1800),
            device_poll_interval=env_int(environ, "AUTHORIUM_DEVICE_POLL_INTERVAL", 5, minimum=1, maximum=60),
            jwks_max_age=env_int(environ, "AUTHORIUM_JWKS_MAX_AGE", 300, minimum=0, maximum=86400),
            access_token_alg=alg,
            refresh_reuse_grace=env_int(environ, "AUTHORIUM_REFRESH_REUSE_GRACE_SECONDS", 0, minimum=0, maximum=300),
            session_idle_ttl=session_idle_ttl,
            session_max_ttl=session_max_ttl,
            audit_retention_days=env_int(environ, "AUTHORIUM_AUDIT_RETENTION_DAYS", 90, minimum=1, maximum=3650),
            revocation_max_staleness=env_float(
                environ, "AUTHORIUM_REVOCATION_MAX_STALENESS", 5.0, minimum=0.5, maximum=300.0
            ),
            token_rate_limit=env_int(environ, "AUTHORIUM_TOKEN_RATE_LIMIT", 6000, minimum=1, maximum=10_000_000),
            registration_token=_registration_token(environ),
            registration_scopes=_scopes(environ, "AUTHORIUM_REGISTRATION_SCOPES", DEFAULT_REGISTRATION_SCOPES),
            registration_grant_types=_grant_types(
                environ, "AUTHORIUM_REGISTRATION_GRANT_TYPES", DEFAULT_REGISTRATION_GRANT_TYPES
            ),
            admin_port=admin_port(environ, DEFAULT_AUTHZ_ADMIN_PORT),
            passwordless=_passwordless(environ, issuer.hostname or ""),
            require_par=env_bool(environ, "AUTHORIUM_REQUIRE_PAR", False),
            par_ttl=env_int(environ, "AUTHORIUM_PAR_TTL", 60, minimum=5, maximum=600),
            dpop_nonce_required=env_bool(environ, "AUTHORIUM_DPOP_NONCE_REQUIRED", False),
        )


def _session_lifetimes(environ: Mapping[str, str]) -> tuple[int, int]:
    """(absolute, idle) lifetimes of a sign-in. AUTHORIUM_SESSION_TTL, the one lifetime of earlier releases, is still
    read as the absolute one when AUTHORIUM_SESSION_MAX_TTL is not set."""
    if environ.get("AUTHORIUM_SESSION_MAX_TTL", "").strip():
        longest = env_int(environ, "AUTHORIUM_SESSION_MAX_TTL", 0, minimum=60, maximum=30 * 86400)
    else:
        longest = env_int(environ, "AUTHORIUM_SESSION_TTL", 8 * 3600, minimum=60, maximum=30 * 86400)
    idle = env_int(environ, "AUTHORIUM_SESSION_IDLE_TTL", min(2 * 3600, longest), minimum=60, maximum=30 * 86400)
    if idle > longest:
        raise ConfigError("AUTHORIUM_SESSION_IDLE_TTL", f"must be at most the session's absolute lifetime ({longest})")
    return longest, idle


def _kek(name: str, value: str) -> bytes:
    try:
        return parse_kek(value)
    except ValueError as exc:
        raise ConfigError(name, str(exc)) from None


def _passwordless(environ: Mapping[str, str], host: str) -> bool:
    """AUTHORIUM_PASSWORDLESS: sign-in with a passkey alone. A passkey is bound to its RP ID, the issuer's host name,
    which cannot be an IP address (WebAuthn L2 section 5.1.2)."""
    enabled = env_bool(environ, "AUTHORIUM_PASSWORDLESS", False)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return enabled
    if enabled:
        raise ConfigError(
            "AUTHORIUM_PASSWORDLESS",
            "passkeys need AUTHORIUM_ISSUER to name a host (e.g. http://localhost:8000), not an IP address",
        )
    return False


def _registration_token(environ: Mapping[str, str]) -> str | None:
    """The operator's initial access token for RFC 7591 registration; unset means registration is off."""
    value = env_str(environ, "AUTHORIUM_REGISTRATION_TOKEN", "")
    if not value:
        return None
    # It is sent as a Bearer token, so it must fit RFC 6750 section 2.1's b64token.
    if len(value) < 32 or not _B64TOKEN.fullmatch(value):
        raise ConfigError(
            "AUTHORIUM_REGISTRATION_TOKEN", "must be at least 32 characters of A-Z a-z 0-9 - . _ ~ + / (then = padding)"
        )
    return value


def _scopes(environ: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """Scope names separated by any whitespace (so a YAML block can wrap them)."""
    raw = " ".join(environ.get(name, "").split())
    if not raw:
        return default
    try:
        return parse_scope(raw)
    except InvalidScope:
        raise ConfigError(
            name,
            f"must be at most {MAX_SCOPES} scope names separated by spaces, of ASCII without quotes or backslashes",
        ) from None


def _grant_types(environ: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(environ.get(name, "").split()))
    if not names:
        return default
    unknown = [g for g in names if g not in REGISTRABLE_GRANT_TYPES]
    if unknown:
        raise ConfigError(
            name,
            f"names {', '.join(unknown)}, which this server does not serve (it serves"
            f" {', '.join(REGISTRABLE_GRANT_TYPES)})",
        )
    return names
