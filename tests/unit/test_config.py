"""Settings: defaults, FEEDS_* variables, and a clear error naming a bad one."""

from __future__ import annotations

import pytest

from feeds.config import load_settings
from feeds.errors import ConfigError


def test_defaults() -> None:
    settings = load_settings({})
    assert settings.database == "sqlite:///var/feeds.db"
    assert settings.base_url == "http://127.0.0.1:8000"
    assert settings.timezone == "Europe/London"
    assert settings.language == "en-GB"
    assert (settings.page_size, settings.max_age) == (50, 300)
    assert settings.tag_authority == "127.0.0.1"


def test_environment_variables_are_read() -> None:
    settings = load_settings(
        {
            "FEEDS_BASE_URL": "https://News.Example.com/",
            "FEEDS_PAGE_SIZE": "20",
            "FEEDS_TITLE": "Daily",
            "FEEDS_TIMEZONE": "America/New_York",
            "FEEDS_TAG_AUTHORITY": "example.org",
        }
    )
    assert settings.base_url == "https://News.Example.com"
    assert settings.page_size == 20 and settings.title == "Daily"
    assert settings.tag_authority == "example.org"
    assert load_settings({"FEEDS_BASE_URL": "https://News.Example.com/"}).tag_authority == (
        "news.example.com"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FEEDS_BASE_URL", "news.example.com"),
        ("FEEDS_BASE_URL", "ftp://news.example.com"),
        ("FEEDS_BASE_URL", "https://news.example.com/?x=1"),
        ("FEEDS_PAGE_SIZE", "many"),
        ("FEEDS_PAGE_SIZE", "0"),
        ("FEEDS_MAX_AGE", "-1"),
        ("FEEDS_TIMEZONE", "Mars/Olympus"),
        ("FEEDS_LANGUAGE", "english please"),
        ("FEEDS_TAG_AUTHORITY", "not a host"),
        ("FEEDS_TITLE", "  "),
        ("FEEDS_HUBS", "https://hub.example.net/ hub.example.org"),
        ("FEEDS_HUBS", "https://bücher.example/hub"),
        ("FEEDS_HUBS", "https://hub.example.net/<x>"),
        ("FEEDS_HUBS", 'https://hub.example.net/"x"'),
        ("FEEDS_TRUSTED_PROXIES", "127.0.0.1 proxy.example.net"),
        ("FEEDS_METRICS_FROM", "10.0.0.0/33"),
        ("FEEDS_STATS_FLUSH", "0"),
    ],
)
def test_bad_settings_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({name: value})
    assert str(info.value).startswith(name + ":")


def test_address_settings_take_addresses_and_networks() -> None:
    settings = load_settings(
        {"FEEDS_TRUSTED_PROXIES": "10.1.2.3, 192.168.0.0/16 fd00::/8", "FEEDS_METRICS_FROM": ""}
    )
    assert [str(n) for n in settings.trusted_proxy_networks] == [
        "10.1.2.3/32",
        "192.168.0.0/16",
        "fd00::/8",
    ]
    assert settings.metrics_networks == ()
    assert [str(n) for n in load_settings({}).metrics_networks] == ["127.0.0.1/32", "::1/128"]
