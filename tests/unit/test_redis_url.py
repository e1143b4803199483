"""``REDIS_URL`` through Sentinel: how the address is read, and the settings error a mistake in it
gives at start (never a failure at the first Redis call). The failover itself is an e2e test
(tests/e2e/test_redis_failover.py) on real servers and Sentinels."""

from __future__ import annotations

import pytest

from infrastructure.redis import RedisUrlError, SentinelAddress, is_sentinel_url, parse_sentinel_url
from infrastructure.settings import SettingsError, load_settings


def test_a_sentinel_url_names_its_sentinels_service_and_database() -> None:
    address = parse_sentinel_url("redis+sentinel://:s3cr%40to@10.0.0.1:26379,[::1]:26380,sentinel-c/rural24/2")
    assert address == SentinelAddress(
        sentinels=(("10.0.0.1", 26379), ("::1", 26380), ("sentinel-c", 26379)),  # port defaults to 26379
        service="rural24",
        db=2,
        username=None,
        password="s3cr@to",  # percent-decoded, as in redis-py's own URLs
    )


def test_tls_user_and_the_sentinels_own_password() -> None:
    address = parse_sentinel_url("rediss+sentinel://app:pw@h:26379/mymaster?sentinel_password=other")
    assert (address.ssl, address.username, address.password, address.sentinel_password, address.db) == (
        True,
        "app",
        "pw",
        "other",
        0,
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+sentinel://h:26379", "ends in /<service>"),
        ("redis+sentinel://h:26379/a/b/c", "ends in /<service>"),
        ("redis+sentinel://h:26379/rural24/zero", "database 'zero' is not a number"),
        ("redis+sentinel://h:port/rural24", "'h:port' is not host:port"),
        ("redis+sentinel://h:26379,/rural24", "'' is not host:port"),
        ("redis+sentinel://h:26379/rural24?master=x", "unknown Sentinel option(s) master"),
    ],
)
def test_a_malformed_sentinel_url_says_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(RedisUrlError) as error:
        parse_sentinel_url(url)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("url", "sentinel"),
    [
        ("redis+sentinel://h/s", True),
        ("REDISS+SENTINEL://h/s", True),
        ("redis://127.0.0.1:6379/0", False),
        ("unix:///run/redis.sock", False),
    ],
)
def test_which_urls_go_through_sentinel(url: str, sentinel: bool) -> None:
    assert is_sentinel_url(url) is sentinel


def test_settings_accept_a_sentinel_url_for_redis_and_the_queue() -> None:
    url = "redis+sentinel://s1:26379,s2:26379,s3:26379/rural24/0"
    settings = load_settings({"REDIS_ENABLED": "true", "REDIS_URL": url, "QUEUE_URL": url})
    assert settings.redis.url == url
    assert settings.queue.url == url


@pytest.mark.parametrize("name", ["REDIS_URL", "QUEUE_URL"])
def test_settings_refuse_a_malformed_sentinel_url_in_one_line_naming_the_variable(name: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings({name: "redis+sentinel://:hunter2@s1:26379"})
    message = str(error.value)
    assert message.startswith(f"{name}:")
    assert "/<service>" in message
    assert "hunter2" not in message
    assert "\n" not in message
