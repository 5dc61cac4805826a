"""The resource server's configuration, read once from the environment and validated at boot."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from authorium_shared.settings import (
    DEFAULT_RESOURCE_ADMIN_PORT,
    DEFAULT_RESOURCE_URL,
    CommonSettings,
    ConfigError,
    admin_port,
    env_bool,
    env_float,
    env_str,
    env_url,
)

MIN_NONCE_SECRET_LENGTH = 32


@dataclass(frozen=True)
class ResourceSettings:
    common: CommonSettings
    # This server's identifier: the `aud` its access tokens must carry.
    resource_url: str
    # Where the issuer's keys are: AUTHORIUM_JWKS_URL, or None to use the `jwks_uri` its metadata names.
    jwks_url: str | None
    # Clock skew tolerated on exp and nbf, seconds.
    leeway: float
    # How long the revocation feed may be down before requests are refused (fail closed), seconds.
    revocation_max_staleness: float
    # The private listener's port (readiness, metrics), AUTHORIUM_ADMIN_PORT.
    admin_port: int
    # RFC 9449 section 9: the secret of the DPoP nonces this server requires (AUTHORIUM_DPOP_NONCE_REQUIRED), the
    # same on every replica (AUTHORIUM_DPOP_NONCE_SECRET); None when nonces are not required.
    dpop_nonce_secret: bytes | None = None

    @property
    def origin(self) -> str:
        """Where clients reach this server (the origin of AUTHORIUM_RESOURCE_URL): the base of a DPoP proof's `htu`."""
        parts = urlsplit(self.resource_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def issuer(self) -> str:
        return self.common.issuer

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ResourceSettings:
        common = CommonSettings.from_env(environ)
        return cls(
            common=common,
            resource_url=env_url(environ, "AUTHORIUM_RESOURCE_URL", DEFAULT_RESOURCE_URL, schemes=("http", "https")),
            jwks_url=(
                env_url(environ, "AUTHORIUM_JWKS_URL", None, schemes=("http", "https"))
                if environ.get("AUTHORIUM_JWKS_URL", "").strip()
                else None
            ),
            leeway=env_float(environ, "AUTHORIUM_TOKEN_LEEWAY", 5.0, minimum=0.0, maximum=120.0),
            revocation_max_staleness=env_float(
                environ, "AUTHORIUM_REVOCATION_MAX_STALENESS", 5.0, minimum=0.5, maximum=300.0
            ),
            admin_port=admin_port(environ, DEFAULT_RESOURCE_ADMIN_PORT),
            dpop_nonce_secret=_dpop_nonce_secret(environ),
        )


def _dpop_nonce_secret(environ: Mapping[str, str]) -> bytes | None:
    # Read even when nonces are off, so that a secret file that cannot be read stops the start as for any secret.
    secret = env_str(environ, "AUTHORIUM_DPOP_NONCE_SECRET", "")
    if not env_bool(environ, "AUTHORIUM_DPOP_NONCE_REQUIRED", False):
        return None
    if len(secret) < MIN_NONCE_SECRET_LENGTH:
        raise ConfigError(
            "AUTHORIUM_DPOP_NONCE_SECRET",
            f"must be at least {MIN_NONCE_SECRET_LENGTH} characters (the same on every replica) when"
            " AUTHORIUM_DPOP_NONCE_REQUIRED is true",
        )
    return secret.encode()
