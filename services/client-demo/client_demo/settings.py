"""The demo client's configuration, read once from the environment and validated at boot."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from authorium_shared.settings import (
    DEFAULT_CLIENT_DEMO_URL,
    DEFAULT_RESOURCE_URL,
    CommonSettings,
    env_url,
)


@dataclass(frozen=True)
class ClientDemoSettings:
    common: CommonSettings
    # Where a browser reaches this app; the redirect URI registered for it is built from this.
    public_url: str
    resource_url: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ClientDemoSettings:
        return cls(
            common=CommonSettings.from_env(environ),
            public_url=env_url(
                environ, "AUTHORIUM_CLIENT_DEMO_URL", DEFAULT_CLIENT_DEMO_URL, schemes=("http", "https")
            ),
            resource_url=env_url(environ, "AUTHORIUM_RESOURCE_URL", DEFAULT_RESOURCE_URL, schemes=("http", "https")),
        )
