"""The authorization server's configuration, read once from the environment and validated at boot."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from authorium_shared.keys import ALGORITHMS, parse_kek
from authorium_shared.settings import (
    DEFAULT_RESOURCE_URL,
    CommonSettings,
    ConfigError,
    env_int,
    env_str,
    env_url,
)


@dataclass(frozen=True)
class AuthzSettings:
    common: CommonSettings
    kek: bytes
    resource_url: str
    access_token_ttl: int
    id_token_ttl: int
    refresh_token_ttl: int
    code_ttl: int
    jwks_max_age: int
    access_token_alg: str

    @property
    def issuer(self) -> str:
        return self.common.issuer

    @property
    def longest_token_ttl(self) -> int:
        """How long a signature can still matter: a retired key stays published at least this long."""
        return max(self.access_token_ttl, self.id_token_ttl)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> AuthzSettings:
        common = CommonSettings.from_env(environ)
        if "/" in common.issuer.split("://", 1)[1]:
            raise ConfigError("AUTHORIUM_ISSUER", "must be an origin such as https://auth.example.com (no path)")
        try:
            kek = parse_kek(env_str(environ, "AUTHORIUM_KEK", None))
        except ValueError as exc:
            raise ConfigError("AUTHORIUM_KEK", str(exc)) from None
        alg = env_str(environ, "AUTHORIUM_ACCESS_TOKEN_ALG", "RS256")
        if alg not in ALGORITHMS:
            raise ConfigError("AUTHORIUM_ACCESS_TOKEN_ALG", f"must be one of {', '.join(ALGORITHMS)}")
        return cls(
            common=common,
            kek=kek,
            resource_url=env_url(environ, "AUTHORIUM_RESOURCE_URL", DEFAULT_RESOURCE_URL, schemes=("http", "https")),
            access_token_ttl=env_int(environ, "AUTHORIUM_ACCESS_TOKEN_TTL", 600, minimum=30, maximum=86400),
            id_token_ttl=env_int(environ, "AUTHORIUM_ID_TOKEN_TTL", 600, minimum=30, maximum=86400),
            refresh_token_ttl=env_int(
                environ, "AUTHORIUM_REFRESH_TOKEN_TTL", 30 * 86400, minimum=60, maximum=365 * 86400
            ),
            code_ttl=env_int(environ, "AUTHORIUM_CODE_TTL", 60, minimum=5, maximum=60),
            jwks_max_age=env_int(environ, "AUTHORIUM_JWKS_MAX_AGE", 300, minimum=0, maximum=86400),
            access_token_alg=alg,
        )
