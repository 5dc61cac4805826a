"""The demo client's configuration, read once from the environment and validated at boot."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from authorium_shared.settings import (
    DEFAULT_CLIENT_DEMO_ADMIN_PORT,
    DEFAULT_CLIENT_DEMO_URL,
    DEFAULT_RESOURCE_URL,
    CommonSettings,
    ConfigError,
    admin_port,
    env_int,
    env_str,
    env_url,
)

# Where the demo answers logout tokens (client_demo.backchannel) and where the browser comes back after signing out.
BACKCHANNEL_LOGOUT_PATH = "/backchannel-logout"
POST_LOGOUT_PATH = "/signed-out"
DEFAULT_SCOPE = "openid profile email offline_access notes:read notes:write"


@dataclass(frozen=True)
class ClientDemoSettings:
    common: CommonSettings
    # Where a browser reaches this app; the redirect URI registered for it is built from this.
    public_url: str
    resource_url: str
    # The demo's registration at the authorization server (`authorium run` makes one).
    client_id: str
    client_secret: str
    scope: str
    # How long a signed-in browser session lives, seconds.
    session_ttl: int
    # Where this server reaches the authorization server server-to-server (discovery, token, revocation,
    # userinfo, JWKS), when that differs from the public issuer, as inside compose or a cluster.
    authz_url: str
    # The private listener's port (readiness, metrics), AUTHORIUM_ADMIN_PORT.
    admin_port: int
    # Where the authorization server posts logout tokens (Back-Channel Logout 1.0 section 2.2): this app's
    # /backchannel-logout as the authorization server reaches it, which inside compose or a cluster is not the public
    # URL. Registered by `authorium setup` / `run`.
    backchannel_logout_uri: str

    @property
    def issuer(self) -> str:
        return self.common.issuer

    @property
    def redirect_uri(self) -> str:
        return self.public_url + "/callback"

    @property
    def post_logout_redirect_uri(self) -> str:
        """Where the authorization server sends the browser after signing out (RP-Initiated Logout 1.0 section 3)."""
        return self.public_url + POST_LOGOUT_PATH

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ClientDemoSettings:
        common = CommonSettings.from_env(environ)
        scope = env_str(environ, "AUTHORIUM_CLIENT_DEMO_SCOPE", DEFAULT_SCOPE)
        if "openid" not in scope.split():
            raise ConfigError("AUTHORIUM_CLIENT_DEMO_SCOPE", "must include openid: the demo signs people in")
        public_url = env_url(
            environ, "AUTHORIUM_CLIENT_DEMO_URL", DEFAULT_CLIENT_DEMO_URL, schemes=("http", "https"), path_allowed=False
        )
        return cls(
            common=common,
            public_url=public_url,
            resource_url=env_url(environ, "AUTHORIUM_RESOURCE_URL", DEFAULT_RESOURCE_URL, schemes=("http", "https")),
            client_id=env_str(environ, "AUTHORIUM_CLIENT_DEMO_CLIENT_ID", None),
            client_secret=env_str(environ, "AUTHORIUM_CLIENT_DEMO_CLIENT_SECRET", None),
            scope=" ".join(scope.split()),
            session_ttl=env_int(environ, "AUTHORIUM_CLIENT_DEMO_SESSION_TTL", 8 * 3600, minimum=60, maximum=30 * 86400),
            authz_url=env_url(
                environ, "AUTHORIUM_CLIENT_DEMO_AUTHZ_URL", common.issuer, schemes=("http", "https"), path_allowed=False
            ),
            admin_port=admin_port(environ, DEFAULT_CLIENT_DEMO_ADMIN_PORT),
            backchannel_logout_uri=env_url(
                environ,
                "AUTHORIUM_CLIENT_DEMO_BACKCHANNEL_LOGOUT_URI",
                public_url + BACKCHANNEL_LOGOUT_PATH,
                schemes=("http", "https"),
            ),
        )
