"""The resource server's configuration, read once from the environment and validated at boot."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from authorium_shared.settings import DEFAULT_RESOURCE_URL, CommonSettings, env_url


@dataclass(frozen=True)
class ResourceSettings:
    common: CommonSettings
    # This server's identifier: the `aud` its access tokens must carry.
    resource_url: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ResourceSettings:
        return cls(
            common=CommonSettings.from_env(environ),
            resource_url=env_url(environ, "AUTHORIUM_RESOURCE_URL", DEFAULT_RESOURCE_URL, schemes=("http", "https")),
        )
