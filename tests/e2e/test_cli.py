"""The `feeds` command as a user runs it: a real process, a real database file."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import feedparser
import pytest

from tests.support import FEEDS_BIN, SEED, Content, article_text, new_database

DATABASES: dict[Path, str] = {}  # one database per test's folder


def feeds(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    environ["FEEDS_DATABASE"] = DATABASES.setdefault(tmp_path, new_database(tmp_path, "cli"))
    environ.update(env or {})
    return subprocess.run(
        [str(FEEDS_BIN), *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


@pytest.mark.parametrize("command", [[], ["import"], ["serve"], ["render"]])
def test_help_explains_each_command(tmp_path: Path, command: list[str]) -> None:
    result = feeds(tmp_path, *command, "--help")
    assert result.returncode == 0
    assert "Usage: feeds" in result.stdout
    if command:
        assert len(result.stdout.split("\n\n")[1].strip()) > 20  # a description, not a stub


def test_import_reports_rejects_and_keeps_the_rest(tmp_path: Path, content: Content) -> None:
    content.write(SEED.name, SEED.read_bytes())
    content.write(
        "world/late.txt",
        article_text(dateline="4 January 2020, 18:09 | Updated: 4 January 2020, 18:00"),
    )
    content.write("latin.txt", "A title\n4 January 2020, 18:09\nCaf\xe9\n".encode("latin-1"))
    result = feeds(tmp_path, "import", str(content.root))
    assert result.returncode == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2
    assert any(str(content.root / "latin.txt") in e and "not UTF-8" in e for e in errors)
    assert any(str(content.root / "world" / "late.txt") + ": line 3:" in e for e in errors)
    assert result.stdout.strip() == "1 added, 0 updated, 0 unchanged, 2 rejected"
    again = feeds(tmp_path, "import", str(content.root / SEED.name))
    assert again.returncode == 0
    assert again.stdout.strip() == "0 added, 0 updated, 1 unchanged, 0 rejected"


def test_dry_run_checks_without_storing(tmp_path: Path, content: Content) -> None:
    content.write("a.txt", article_text())
    result = feeds(tmp_path, "import", "--dry-run", str(content.root))
    assert result.returncode == 0
    assert "1 added" in result.stdout and "nothing stored" in result.stdout
    assert "1 added" in feeds(tmp_path, "import", str(content.root)).stdout


def test_import_defaults_to_the_content_folder(tmp_path: Path) -> None:
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "a.txt").write_text(article_text())
    assert "1 added" in feeds(tmp_path, "import").stdout


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FEEDS_PAGE_SIZE", "lots"),
        ("FEEDS_DATABASE", "not a url"),
        ("FEEDS_DATABASE", "nosuchdb://x/y"),
        ("FEEDS_BASE_URL", "news.example.com"),
    ],
)
@pytest.mark.parametrize("command", ["import", "serve", "render"])
def test_bad_setting_stops_with_its_name(
    tmp_path: Path, name: str, value: str, command: str
) -> None:
    args = ["render", "--out", str(tmp_path / "out")] if command == "render" else [command]
    result = feeds(tmp_path, *args, env={name: value})
    assert result.returncode != 0
    assert name in result.stderr and "Traceback" not in result.stderr


def test_render_writes_static_files(tmp_path: Path, content: Content) -> None:
    content.write(SEED.name, SEED.read_bytes())
    content.write("world/w.txt", article_text(dateline="1 March 2019, 10:00"))
    env = {
        "FEEDS_BASE_URL": "https://news.example.com",
        "FEEDS_PAGE_SIZE": "1",
        "FEEDS_CONTENT": str(content.root),
    }
    assert feeds(tmp_path, "import", env=env).returncode == 0
    out = tmp_path / "site"
    result = feeds(tmp_path, "render", "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    for name in (
        "feeds/rss.xml",
        "feeds/atom.xml",
        "feeds/feed.json",
        "index.html",
        f"articles/{SEED.stem}.html",
        "articles/w.html",
        "feeds/world/atom.xml",
        "feeds/archive/2019/03/1/rss.xml",
        "sections/world.html",
        "feeds.opml",
    ):
        assert (out / name).stat().st_size > 0, name
    parsed = feedparser.parse((out / "feeds/atom.xml").read_bytes())
    assert not parsed.bozo and parsed.entries[0].link == (
        f"https://news.example.com/articles/{SEED.stem}"
    )
    assert not (out / "feeds/atom.xml").read_bytes().startswith(b"\x1f\x8b")  # not gzipped


def test_long_import_shows_progress_in_a_terminal(tmp_path: Path, content: Content) -> None:
    import pty

    for number in range(250):
        content.write(f"a{number:03d}.txt", article_text())
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    environ["FEEDS_DATABASE"] = new_database(tmp_path, "tty")
    leader, follower = pty.openpty()
    with subprocess.Popen(
        [str(FEEDS_BIN), "import", str(content.root)],
        env=environ,
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=follower,
    ) as process:
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
        assert process.stdout is not None
        summary = process.stdout.read().decode()
        assert process.wait(timeout=60) == 0
    os.close(leader)
    assert b"Reading" in shown and b"100%" in shown
    assert "250 added" in summary
    # Not a terminal: no progress bar.
    quiet = feeds(tmp_path, "import", "--dry-run", str(content.root))
    assert quiet.stderr == ""
