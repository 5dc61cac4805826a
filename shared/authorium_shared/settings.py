"""Parsing of environment variables shared by every service: one clear line per bad or missing value.

A secret variable may instead be given as `NAME_FILE`, the path of a file holding it (a mounted Docker or
Kubernetes secret); every read of one goes through `env_raw`."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from authorium_shared import redis_urls

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/authorium"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_ISSUER = "http://127.0.0.1:8000"
DEFAULT_RESOURCE_URL = "http://127.0.0.1:8001"
DEFAULT_CLIENT_DEMO_URL = "http://127.0.0.1:8002"
# Each service's private listener (`listeners`: readiness, metrics, authz's admin API), AUTHORIUM_ADMIN_PORT.
ADMIN_PORT_VARIABLE: Final = "AUTHORIUM_ADMIN_PORT"
DEFAULT_AUTHZ_ADMIN_PORT: Final = 8010
DEFAULT_RESOURCE_ADMIN_PORT: Final = 8011
DEFAULT_CLIENT_DEMO_ADMIN_PORT: Final = 8012

_PREFIX_RE = re.compile(r"^[A-Za-z0-9_.:-]{0,64}$")
_MASTER_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")

# The variables that hold secrets (URLs because they may carry passwords): each may be given as NAME_FILE.
SECRET_VARIABLES: Final = (
    "DATABASE_URL",
    "REDIS_URL",
    "AUTHORIUM_KEK",
    "AUTHORIUM_KEK_PREVIOUS",
    "AUTHORIUM_CLIENT_DEMO_CLIENT_SECRET",
    "AUTHORIUM_REGISTRATION_TOKEN",
    "AUTHORIUM_DEMO_PASSWORD",
    "AUTHORIUM_ADMIN_CLIENT_SECRET",
    "AUTHORIUM_DPOP_NONCE_SECRET",
)
FILE_SUFFIX: Final = "_FILE"
# A secret is a line or two; anything much larger is the wrong file (a directory dump, /dev/zero).
_MAX_SECRET_FILE_BYTES: Final = 64 * 1024


class ConfigError(Exception):
    """A configuration value that cannot be used; str() is the one line shown at start-up."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"configuration error: {name} {problem}")
        self.name = name


def env_raw(environ: Mapping[str, str], name: str) -> str:
    """The value of `name` as given ("" when unset); for a secret variable, the content of the file that
    `NAME_FILE` names instead, less one trailing newline. The content never appears in an error."""
    value = environ.get(name, "")
    if name not in SECRET_VARIABLES:
        return value
    file_variable = name + FILE_SUFFIX
    path = environ.get(file_variable, "").strip()
    if not path:
        return value
    if value.strip():
        raise ConfigError(name, f"and {file_variable} are both set; set only one of them")
    try:
        with Path(path).open("rb") as f:
            data = f.read(_MAX_SECRET_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(file_variable, f"names {path!r}, which cannot be read ({exc.strerror or exc})") from None
    if len(data) > _MAX_SECRET_FILE_BYTES:
        raise ConfigError(file_variable, f"names {path!r}, which is larger than {_MAX_SECRET_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(file_variable, f"names {path!r}, which is not UTF-8 text") from None
    # Editors and `echo` end the file with a newline; only that one is not part of the secret.
    text = text.removesuffix("\r\n") if text.endswith("\r\n") else text.removesuffix("\n")
    if not text.strip():
        # An empty mounted secret is a deployment mistake, not a wish for the default.
        raise ConfigError(file_variable, f"names {path!r}, which is empty")
    return text


def secrets_read_from_files(environ: Mapping[str, str]) -> dict[str, str]:
    """A copy of `environ` with every secret given as NAME_FILE read into NAME, and no NAME_FILE left: for code
    that passes the environment on, or reads it without these helpers (`authorium run`'s development stack)."""
    resolved = dict(environ)
    for name in SECRET_VARIABLES:
        if environ.get(name + FILE_SUFFIX, "").strip():
            resolved[name] = env_raw(environ, name)
        resolved.pop(name + FILE_SUFFIX, None)
    return resolved


def env_str(environ: Mapping[str, str], name: str, default: str | None) -> str:
    value = env_raw(environ, name).strip()
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


DEFAULT_PG_POOL_SIZE = 10


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
    # Redis's maxmemory-policy as the operator states it, for a Redis that refuses CONFIG GET; None: ask Redis.
    redis_maxmemory_policy: str | None = None
    # Postgres connections each worker (each process that serves) may hold. Every hot statement is one round trip
    # outside a transaction or a short transaction, so a few per worker keep Postgres's CPUs busy; more only queue
    # inside Postgres, costing its memory and context switches (docs/capacity.md).
    pg_pool_size: int = DEFAULT_PG_POOL_SIZE

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> CommonSettings:
        prefix = environ.get("AUTHORIUM_REDIS_PREFIX", "authorium:")
        if not _PREFIX_RE.fullmatch(prefix):
            raise ConfigError("AUTHORIUM_REDIS_PREFIX", "must be at most 64 of A-Z a-z 0-9 _ . : -")
        log_level = env_str(environ, "AUTHORIUM_LOG_LEVEL", "INFO").upper()
        if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError("AUTHORIUM_LOG_LEVEL", "must be DEBUG, INFO, WARNING or ERROR")
        return cls(
            database_url=_database_url(environ),
            redis_url=_redis_url(environ),
            redis_prefix=prefix,
            issuer=env_url(environ, "AUTHORIUM_ISSUER", DEFAULT_ISSUER, schemes=("http", "https")),
            log_level=log_level,
            trusted_proxy_hops=env_int(environ, "AUTHORIUM_TRUSTED_PROXY_HOPS", 0, minimum=0, maximum=10),
            redis_maxmemory_policy=_maxmemory_policy(environ),
            pg_pool_size=env_int(environ, "AUTHORIUM_PG_POOL_SIZE", DEFAULT_PG_POOL_SIZE, minimum=1, maximum=200),
        )


def _database_url(environ: Mapping[str, str]) -> str:
    """DATABASE_URL, which may list several hosts (`postgresql://h1:5432,h2:5432/db?target_session_attrs=read-write`):
    asyncpg tries them in order and keeps the first that has what `target_session_attrs` asks for."""
    value = env_str(environ, "DATABASE_URL", DEFAULT_DATABASE_URL)
    scheme, sep, rest = value.partition("://")
    if not sep or scheme not in ("postgresql", "postgres"):
        raise ConfigError("DATABASE_URL", "must be a URL starting with postgresql:// or postgres://")
    netloc = urlsplit("x://" + rest).netloc.rpartition("@")[2]
    for host in netloc.split(",") if netloc else ():
        try:
            urlsplit("x://" + host).port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError:
            raise ConfigError("DATABASE_URL", "has a host with a port that is not a number from 1 to 65535") from None
    return value


def _redis_url(environ: Mapping[str, str]) -> str:
    """REDIS_URL (one Redis, a Sentinel-watched master or a Cluster: see `redis_urls`), or the sentinels and master
    name given as AUTHORIUM_REDIS_SENTINELS and AUTHORIUM_REDIS_MASTER_NAME instead."""
    sentinels = environ.get("AUTHORIUM_REDIS_SENTINELS", "").strip()
    master_name = environ.get("AUTHORIUM_REDIS_MASTER_NAME", "").strip()
    if sentinels or master_name:
        if not sentinels:
            raise ConfigError("AUTHORIUM_REDIS_SENTINELS", "is not set, but AUTHORIUM_REDIS_MASTER_NAME is")
        if not _MASTER_NAME_RE.fullmatch(master_name):
            raise ConfigError("AUTHORIUM_REDIS_MASTER_NAME", "must be set to the master's name (A-Z a-z 0-9 _ . -)")
        if env_raw(environ, "REDIS_URL").strip():
            raise ConfigError("REDIS_URL", "and AUTHORIUM_REDIS_SENTINELS are both set; set only one of them")
        url, name = redis_urls.sentinel_url(sentinels, master_name), "AUTHORIUM_REDIS_SENTINELS"
    else:
        url, name = env_str(environ, "REDIS_URL", DEFAULT_REDIS_URL), "REDIS_URL"
    try:
        redis_urls.parse(url)
    except ValueError as exc:
        raise ConfigError(name, str(exc)) from None
    return url


# Redis 7's policies; only `noeviction` is safe for Authorium (`redis_eviction` says why), but the others are
# accepted here so that the readiness reason, not a refusal to start, tells the operator what to change.
MAXMEMORY_POLICIES: Final = (
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
)


def _maxmemory_policy(environ: Mapping[str, str]) -> str | None:
    value = env_str(environ, "AUTHORIUM_REDIS_MAXMEMORY_POLICY", "").lower()
    if value and value not in MAXMEMORY_POLICIES:
        raise ConfigError("AUTHORIUM_REDIS_MAXMEMORY_POLICY", f"must be one of {', '.join(MAXMEMORY_POLICIES)}")
    return value or None


def listen_port(environ: Mapping[str, str], name: str, default: int) -> int:
    return env_int(environ, name, default, minimum=0, maximum=65535)


def admin_port(environ: Mapping[str, str], default: int) -> int:
    """The private listener's port, AUTHORIUM_ADMIN_PORT."""
    return listen_port(environ, ADMIN_PORT_VARIABLE, default)
