"""A real browser (Debian's headless Chromium) opens a feed URL of a real `feeds serve` and
is shown the feed's page; feedparser then reads the same URL and gets the feed."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import feedparser
import pytest

from tests.support import SEED, Content, Served, start_server

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",  # as root, as CI runs
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    found = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    chromium()  # skipped before a server starts
    root = tmp_path_factory.mktemp("browser")
    content = Content(root / "content")
    content.write(SEED.name, SEED.read_bytes())
    server = start_server(tmp_path_factory.mktemp("served"), {"FEEDS_CONTENT": str(content.root)})
    assert server.feeds("import", str(content.root)).returncode == 0
    yield server
    server.stop()


def browse(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *args, url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def test_a_browser_sees_the_page_and_feedparser_the_feed(seeded: Served, tmp_path: Path) -> None:
    url = seeded.url("/feeds/atom.xml")
    dom = browse(url, tmp_path / "profile-dom", "--dump-dom").stdout
    assert "<title>Newsroom (Atom feed)</title>" in dom
    assert 'id="feed-url"' in dom and f'value="{url}"' in dom
    assert "Multiple US bases in Iraq" in dom  # the newest entry, as a link
    assert seeded.url("/articles/" + SEED.stem) in dom
    assert 'id="copy-url"' in dom

    shot = tmp_path / "view.png"
    browse(url, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,1000")
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000
    if (keep := os.environ.get("TEST_SCREENSHOT")) is not None:
        shutil.copyfile(shot, keep)

    parsed = feedparser.parse(url)
    assert parsed.status == 200 and not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.entries[0].link == seeded.url("/articles/" + SEED.stem)
