"""The resource server's configuration, read once from the environment and validated at boot."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from authorium_shared.settings import (
    DEFAULT_RESOURCE_ADMIN_PORT,
    DEFAULT_RESOURCE_URL,
    CommonSettings,
    admin_port,
    env_float,
    env_url,
)


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
        )
