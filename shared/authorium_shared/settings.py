"""Parsing of environment variables shared by every service: one clear line per bad or missing value."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/authorium"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_ISSUER = "http://127.0.0.1:8000"
DEFAULT_RESOURCE_URL = "http://127.0.0.1:8001"
DEFAULT_CLIENT_DEMO_URL = "http://127.0.0.1:8002"

_PREFIX_RE = re.compile(r"^[A-Za-z0-9_.:-]{0,64}$")


class ConfigError(Exception):
    """A configuration value that cannot be used; str() is the one line shown at start-up."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"configuration error: {name} {problem}")
        self.name = name


def env_str(environ: Mapping[str, str], name: str, default: str | None) -> str:
    value = environ.get(name, "").strip()
    if value:
        return value
    if default is None:
        raise ConfigError(name, "is not set")
    return default


def env_url(
    environ: Mapping[str, str],
    name: str,
    default: str | None,
    *,
    schemes: tuple[str, ...],
    path_allowed: bool = True,
) -> str:
    """A URL with one of `schemes`; an http(s) URL is returned without a trailing slash."""
    value = env_str(environ, name, default)
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise ConfigError(name, "is not a valid URL") from None
    if parts.scheme not in schemes:
        raise ConfigError(name, f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}")
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise ConfigError(name, "must name a host")
        if parts.query or parts.fragment:
            raise ConfigError(name, "must not have a query or fragment")
        if not path_allowed and parts.path not in ("", "/"):
            raise ConfigError(name, "must not have a path")
        return value.rstrip("/")
    return value


def env_int(environ: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"must be a whole number, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ConfigError(name, f"must be between {minimum} and {maximum}, got {value}")
    return value


def env_float(environ: Mapping[str, str], name: str, default: float, *, minimum: float, maximum: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, f"must be a number, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ConfigError(name, f"must be between {minimum} and {maximum}, got {value}")
    return value


def env_bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(name, f"must be true or false, got {raw!r}")


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class CommonSettings:
    """What every service needs: where state lives, who the issuer is, and how to log."""

    database_url: str
    redis_url: str
    redis_prefix: str
    issuer: str
    log_level: str
    # Reverse proxies in front of the service that append to X-Forwarded-For (an ingress: 1). 0 trusts none.
    trusted_proxy_hops: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> CommonSettings:
        prefix = environ.get("AUTHORIUM_REDIS_PREFIX", "authorium:")
        if not _PREFIX_RE.fullmatch(prefix):
            raise ConfigError("AUTHORIUM_REDIS_PREFIX", "must be at most 64 of A-Z a-z 0-9 _ . : -")
        log_level = env_str(environ, "AUTHORIUM_LOG_LEVEL", "INFO").upper()
        if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError("AUTHORIUM_LOG_LEVEL", "must be DEBUG, INFO, WARNING or ERROR")
        return cls(
            database_url=env_url(environ, "DATABASE_URL", DEFAULT_DATABASE_URL, schemes=("postgresql", "postgres")),
            redis_url=env_url(environ, "REDIS_URL", DEFAULT_REDIS_URL, schemes=("redis", "rediss", "unix")),
            redis_prefix=prefix,
            issuer=env_url(environ, "AUTHORIUM_ISSUER", DEFAULT_ISSUER, schemes=("http", "https")),
            log_level=log_level,
            trusted_proxy_hops=env_int(environ, "AUTHORIUM_TRUSTED_PROXY_HOPS", 0, minimum=0, maximum=10),
        )


def listen_port(environ: Mapping[str, str], name: str, default: int) -> int:
    return env_int(environ, name, default, minimum=0, maximum=65535)
