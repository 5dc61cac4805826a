"""What a `REDIS_URL` names: one Redis (`redis://`, `rediss://`, `unix://`), a master that Redis Sentinel watches
(`redis+sentinel://`), or a Redis Cluster (`redis+cluster://`); the `rediss+` forms use TLS."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal
from urllib.parse import parse_qs, unquote, urlsplit

Mode = Literal["single", "sentinel", "cluster"]

SCHEMES: Final[dict[str, tuple[Mode, bool]]] = {
    "redis": ("single", False),
    "rediss": ("single", True),
    "unix": ("single", False),
    "redis+sentinel": ("sentinel", False),
    "rediss+sentinel": ("sentinel", True),
    "redis+cluster": ("cluster", False),
    "rediss+cluster": ("cluster", True),
}
SENTINEL_PORT: Final = 26379
REDIS_PORT: Final = 6379
# The one option the multi-host forms take: the sentinels' own password, when they require one (`requirepass` in
# sentinel.conf); the URL's user and password are the master's.
SENTINEL_PASSWORD: Final = "sentinel_password"


@dataclass(frozen=True)
class RedisTarget:
    url: str
    mode: Mode
    tls: bool = False
    hosts: tuple[tuple[str, int], ...] = ()
    master_name: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_password: str | None = field(default=None, repr=False)


def parse(url: str) -> RedisTarget:
    """The target `url` names; ValueError saying what is wrong (never repeating the URL, which may hold a password)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in SCHEMES:
        raise ValueError("must be a URL starting with " + ", ".join(s + "://" for s in SCHEMES))
    mode, tls = SCHEMES[scheme.lower()]
    if mode == "single":
        try:
            urlsplit(url).port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError:
            raise ValueError("is not a valid URL") from None
        return RedisTarget(url=url, mode=mode, tls=tls)
    parts = urlsplit("x://" + rest)
    userinfo, at, hostlist = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":") if at else ("", "", "")
    hosts = tuple(_host(h, SENTINEL_PORT if mode == "sentinel" else REDIS_PORT) for h in hostlist.split(","))
    path = [unquote(p) for p in parts.path.split("/") if p]
    master_name = None
    if mode == "sentinel":
        if not path:
            raise ValueError("must name the master after the hosts: redis+sentinel://HOST:PORT,.../MASTER_NAME[/DB]")
        master_name, path = path[0], path[1:]
    if len(path) > 1:
        raise ValueError("has a path with too many parts")
    db = _db(path[0]) if path else 0
    if mode == "cluster" and db != 0:
        raise ValueError("must not name a database other than 0: a Redis Cluster has only database 0")
    options = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(options) - ({SENTINEL_PASSWORD} if mode == "sentinel" else set()))
    if unknown:
        raise ValueError(f"has an option this form does not take: {unknown[0]}")
    sentinel_password = options.get(SENTINEL_PASSWORD, [""])[-1] or None
    return RedisTarget(
        url=url,
        mode=mode,
        tls=tls,
        hosts=hosts,
        master_name=master_name,
        db=db,
        username=unquote(username) or None,
        password=unquote(password) or None,
        sentinel_password=sentinel_password,
    )


def _host(text: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit("x://" + text)
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has a port that is not a number from 1 to 65535") from None
    if not parts.hostname or parts.path or parts.username is not None:
        raise ValueError("must list hosts as HOST[:PORT], separated by commas")
    return parts.hostname, port or default_port


def _db(text: str) -> int:
    if not text.isdigit():
        raise ValueError("has a database that is not a number")
    return int(text)


def sentinel_url(sentinels: str, master_name: str) -> str:
    """The `redis+sentinel://` URL that AUTHORIUM_REDIS_SENTINELS and AUTHORIUM_REDIS_MASTER_NAME spell out."""
    return f"redis+sentinel://{sentinels.replace(' ', '')}/{master_name}"
