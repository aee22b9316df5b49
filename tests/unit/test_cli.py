"""The `feeds` command in this process: help texts, import reports and exit status, dry runs,
the default content folder, static rendering and bad settings named by their variable."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner

from feeds.cli import main
from feeds.text import shown
from tests.support import SEED, Content, InProcess, Ran, article_text

BAD_SETTINGS = [
    ("FEEDS_PAGE_SIZE", "lots"),
    ("FEEDS_DATABASE", "not a url"),
    ("FEEDS_DATABASE", "nosuchdb://x/y"),
    ("FEEDS_BASE_URL", "news.example.com"),
]


def feeds(env: Mapping[str, str | None], *args: str) -> Ran:
    """`feeds ARGS` in this process with the settings `env` (None unsets a variable); an
    exception the command lets escape fails the test."""
    result = CliRunner().invoke(main, list(args), env=env, prog_name="feeds")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


@pytest.mark.parametrize(
    "command",
    [[], ["import"], ["serve"], ["render"], ["migrate"], ["delete"], ["token"], ["partner"]],
)
def test_help_explains_each_command(command: list[str]) -> None:
    result = feeds({}, *command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith(" ".join(["Usage: feeds", *command]))
    if command:
        assert len(result.stdout.split("\n\n")[1].strip()) > 20  # a description, not a stub


def test_import_reports_rejects_and_keeps_the_rest(site: InProcess, content: Content) -> None:
    content.write(SEED.name, SEED.read_bytes())
    content.write(
        "world/late.txt",
        article_text(dateline="4 January 2020, 18:09 | Updated: 4 January 2020, 18:00"),
    )
    content.write("latin.txt", "A title\n4 January 2020, 18:09\nCaf\xe9\n".encode("latin-1"))
    result = site.feeds("import", str(content.root))
    assert result.returncode == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2
    assert any(str(content.root / "latin.txt") in e and "not UTF-8" in e for e in errors)
    assert any(str(content.root / "world" / "late.txt") + ": line 3:" in e for e in errors)
    assert result.stdout.strip() == "1 added, 0 updated, 0 unchanged, 2 rejected"
    again = site.feeds("import", str(content.root / SEED.name))
    assert again.returncode == 0
    assert again.stdout.strip() == "0 added, 0 updated, 1 unchanged, 0 rejected"


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/London", "Pacific/Kiritimati"])
def test_each_date_off_the_calendar_is_one_rejected_line(
    site_env: dict[str, str], content: Content, zone: str
) -> None:
    content.write("good.txt", article_text())
    far = {
        "far": "31 December 9999, 23:55",
        "far-update": "4 January 2020, 18:09 | Updated: 31 December 9999, 23:55",
        "far-both": "31 December 9999, 23:55 | Updated: 31 December 9999, 23:59",
        "first": "1 January 0001, 00:00",
        "first-update": "1 January 0001, 00:00 | Updated: 4 January 2020, 18:09",
    }
    for name, dateline in far.items():
        content.write(f"world/{name}.txt", article_text(dateline=dateline))
    result = feeds(site_env | {"FEEDS_TIMEZONE": zone}, "import")
    assert result.returncode == 1
    named = [line.partition(": line 3: ")[0] for line in result.stderr.splitlines()]
    assert sorted(named) == sorted(f"rejected: {content.root}/world/{n}.txt" for n in far)
    assert result.stdout.strip() == f"1 added, 0 updated, 0 unchanged, {len(far)} rejected"


def test_a_name_that_is_not_utf8_is_one_rejected_line_and_the_rest_is_imported(
    site: InProcess, content: Content
) -> None:
    content.write("world/ok.txt", article_text())
    root = os.fsencode(content.root)
    for named in (b"caf\xe9", b"world/caf\xe9"):  # a section, and a folder in one
        try:
            os.makedirs(root + b"/" + named + b"/inner")
        except OSError:  # macOS, for one, takes only UTF-8 names
            pytest.skip("this file system takes only UTF-8 names")
        for name in (b"/a.txt", b"/inner/b.txt"):
            Path(os.fsdecode(root + b"/" + named + name)).write_text(article_text())
    Path(os.fsdecode(root + b"/world/caf\xe9.txt")).write_text(article_text())
    folder = "the folder name is not UTF-8, so none of its files was read; rename it in UTF-8"
    file = "the file name is not UTF-8, so it was not read; rename it in UTF-8"
    below_world = [
        f"rejected: {content.root}/world/caf\\xe9.txt: {file}",
        f"rejected: {content.root}/world/caf\\xe9: {folder}",
    ]
    result = site.feeds("import")
    assert result.returncode == 1
    assert sorted(result.stderr.splitlines()) == [
        f"rejected: {content.root}/caf\\xe9: {folder}",
        *below_world,
    ]
    assert result.stdout == "1 added, 0 updated, 0 unchanged, 3 rejected\n"
    argument = os.fsdecode(root + b"/world/caf\xe9")  # named on the command line
    again = site.feeds("import", "--sync", argument, str(content.root / "world"))
    first, *rest = again.stderr.splitlines()
    assert first == (
        f"rejected: {content.root}/world/caf\\xe9: the path is not UTF-8, so it was not "
        "read; rename it in UTF-8"
    )
    assert sorted(rest) == below_world
    assert again.stdout == "0 added, 0 updated, 1 unchanged, 3 rejected, 0 withdrawn\n"


def test_dry_run_checks_without_storing(site: InProcess, content: Content) -> None:
    content.write("a.txt", article_text())
    result = site.feeds("import", "--dry-run", str(content.root))
    assert result.returncode == 0
    assert (
        result.stdout.strip()
        == "dry run, nothing stored: 1 added, 0 updated, 0 unchanged, 0 rejected"
    )
    assert site.feeds("import", str(content.root)).stdout.strip() == (
        "1 added, 0 updated, 0 unchanged, 0 rejected"
    )


def test_import_defaults_to_the_content_folder_of_the_working_directory(
    site_env: dict[str, str], content: Content, monkeypatch: pytest.MonkeyPatch
) -> None:
    content.write("a.txt", article_text())
    monkeypatch.chdir(content.root.parent)
    result = feeds(site_env | {"FEEDS_CONTENT": None}, "import")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1 added, 0 updated, 0 unchanged, 0 rejected"


def test_a_long_import_outside_a_terminal_shows_no_progress_bar(
    site: InProcess, content: Content
) -> None:
    for number in range(201):  # more than the 200 files from which a terminal shows one
        content.write(f"a{number:03d}.txt", article_text())
    result = site.feeds("import", "--dry-run", str(content.root))
    assert result.returncode == 0
    assert result.stdout.strip().endswith(": 201 added, 0 updated, 0 unchanged, 0 rejected")
    assert result.stderr == ""


@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS)
@pytest.mark.parametrize("command", ["import", "render"])
def test_bad_setting_stops_with_its_name(
    site_env: dict[str, str], tmp_path: Path, name: str, value: str, command: str
) -> None:
    args = ["render", "--out", str(tmp_path / "out")] if command == "render" else [command]
    result = feeds(site_env | {name: value}, *args)
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: bad setting {name}: "), result.stderr
    assert not (tmp_path / "out").exists()


def test_render_writes_static_files(
    site_env: dict[str, str], content: Content, tmp_path: Path
) -> None:
    content.write(SEED.name, SEED.read_bytes())
    content.write("world/w.txt", article_text(dateline="1 March 2019, 10:00"))
    env = site_env | {"FEEDS_PAGE_SIZE": "1"}
    assert feeds(env, "import").returncode == 0
    out = tmp_path / "site"
    result = feeds(env, "render", "--out", str(out))
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


def test_odd_arguments_and_odd_databases_get_a_message_not_a_traceback(
    site_env: dict[str, str], tmp_path: Path
) -> None:
    huge = feeds(site_env, "audit", "--limit", "99999999999999999999999")
    assert huge.returncode == 2 and "not in the range 1<=x<=1000000" in huge.stderr
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    unwritable = feeds(site_env, "render", "--out", str(a_file))
    assert unwritable.returncode == 1
    assert unwritable.stderr.startswith(f"Error: cannot write {a_file}/"), unwritable.stderr
    not_a_database = site_env | {"FEEDS_DATABASE": f"sqlite:///{a_file}x"}
    (tmp_path / "a-filex").write_text("this is not a database, only text")
    refused = feeds(not_a_database, "partner", "list")
    assert refused.returncode == 1 and "file is not a database" in refused.stderr


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("budget-2020", "budget-2020"),
        ("Zoë 日本 😀 «x»", "Zoë 日本 😀 «x»"),  # printable text stays as it is
        ("a\\nb", "a\\\\nb"),  # a backslash is escaped, so no text can pass for an escape
        ("a\nb\rc\td", "a\\nb\\rc\\td"),
        ("\x00\x1b[2J\x7f\x85", "\\x00\\x1b[2J\\x7f\\x85"),
        ("line\u2028para\u2029", "line\\u2028para\\u2029"),
        ("\u202eabc\u2066\u200f", "\\u202eabc\\u2066\\u200f"),  # bidirectional controls
        ("no\u00a0break\u200bzero", "no\\xa0break\\u200bzero"),  # spaces that hide
        ("bytes\udcff", "bytes\\xff"),  # a file name that was not UTF-8: its byte
        ("lone\ud800", "lone\\ud800"),  # a surrogate no file name holds
        ("\U000e0001\U0010ffff", "\\U000e0001\\U0010ffff"),
    ],
)
def test_shown_escapes_whatever_could_break_a_line_or_hide_text(value: str, expected: str) -> None:
    assert shown(value) == expected
