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
    ],
)
def test_bad_settings_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({name: value})
    assert str(info.value).startswith(name + ":")
