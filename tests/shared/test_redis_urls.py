"""What a REDIS_URL names, and the settings that spell a Sentinel deployment out (redis_urls, CommonSettings)."""

from __future__ import annotations

import pytest

from authorium_shared import redis_urls
from authorium_shared.settings import CommonSettings, ConfigError


def test_a_sentinel_url_names_the_sentinels_the_master_and_the_database() -> None:
    target = redis_urls.parse("redis+sentinel://:p%40ss@s1:26380,s2/mymaster/3?sentinel_password=sp")
    assert target.mode == "sentinel"
    assert target.hosts == (("s1", 26380), ("s2", 26379))
    assert (target.master_name, target.db, target.tls) == ("mymaster", 3, False)
    assert (target.username, target.password, target.sentinel_password) == (None, "p@ss", "sp")
    assert "p@ss" not in repr(target)


def test_a_cluster_url_names_its_starting_nodes() -> None:
    target = redis_urls.parse("rediss+cluster://user:pw@n1:7000,n2:7001,n3")
    assert (target.mode, target.tls, target.db) == ("cluster", True, 0)
    assert target.hosts == (("n1", 7000), ("n2", 7001), ("n3", 6379))
    assert (target.username, target.password) == ("user", "pw")


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://cache:6380/1", "unix:///run/redis.sock"])
def test_one_redis_is_left_to_redis_py(url: str) -> None:
    assert redis_urls.parse(url).mode == "single"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis+sentinel://s1:26379", "must name the master"),
        ("redis+sentinel://s1:26379/m/0/extra", "too many parts"),
        ("redis+sentinel://s1:26379/m/x", "database that is not a number"),
        ("redis+cluster://n1:7000/1", "only database 0"),
        ("redis+cluster://n1:70000", "port"),
        ("redis+cluster://n1:7000,,n2:7000", "HOST[:PORT]"),
        ("redis+cluster://n1:7000?sentinel_password=x", "option"),
        ("redis://cache:port/0", "not a valid URL"),
        ("memcached://cache", "must be a URL starting with"),
    ],
)
def test_a_malformed_url_says_what_is_wrong(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        redis_urls.parse(url)


def test_the_sentinel_variables_make_a_sentinel_url() -> None:
    settings = CommonSettings.from_env(
        {"AUTHORIUM_REDIS_SENTINELS": "s1:26379, s2:26379", "AUTHORIUM_REDIS_MASTER_NAME": "mymaster"}
    )
    target = redis_urls.parse(settings.redis_url)
    assert (target.mode, target.hosts, target.master_name) == ("sentinel", (("s1", 26379), ("s2", 26379)), "mymaster")


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"AUTHORIUM_REDIS_SENTINELS": "s1:26379"}, "AUTHORIUM_REDIS_MASTER_NAME"),
        ({"AUTHORIUM_REDIS_SENTINELS": "s1", "AUTHORIUM_REDIS_MASTER_NAME": "a/b"}, "AUTHORIUM_REDIS_MASTER_NAME"),
        ({"AUTHORIUM_REDIS_MASTER_NAME": "m"}, "AUTHORIUM_REDIS_SENTINELS"),
        ({"AUTHORIUM_REDIS_SENTINELS": "s1:x", "AUTHORIUM_REDIS_MASTER_NAME": "m"}, "AUTHORIUM_REDIS_SENTINELS"),
        (
            {"AUTHORIUM_REDIS_SENTINELS": "s1", "AUTHORIUM_REDIS_MASTER_NAME": "m", "REDIS_URL": "redis://r/0"},
            "REDIS_URL",
        ),
    ],
)
def test_sentinel_variables_that_do_not_fit_stop_start_up(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as raised:
        CommonSettings.from_env(environ)
    assert raised.value.name == named


def test_a_database_url_may_list_several_hosts() -> None:
    url = "postgresql://u:pw@pg1:5432,pg2/authorium?target_session_attrs=read-write"
    assert CommonSettings.from_env({"DATABASE_URL": url}).database_url == url
