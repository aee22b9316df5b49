"""The `feeds` command as a user runs it, a real process: its name, its exit status and stderr
when a setting is bad (a message, no traceback), and its progress bar in a terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.support import FEEDS_BIN, Content, Ran, article_text, clean_environment, new_database

# A bad value of each kind for `serve`; two for the commands whose every bad value is
# checked in process (tests/unit/test_cli.py).
BAD_SETTINGS = {
    "serve": [
        ("FEEDS_PAGE_SIZE", "lots"),
        ("FEEDS_DATABASE", "not a url"),
        ("FEEDS_DATABASE", "nosuchdb://x/y"),
        ("FEEDS_BASE_URL", "news.example.com"),
    ],
    "import": [("FEEDS_PAGE_SIZE", "lots"), ("FEEDS_DATABASE", "nosuchdb://x/y")],
    "render": [("FEEDS_BASE_URL", "news.example.com"), ("FEEDS_DATABASE", "not a url")],
}
Refusal = tuple[str, str, str]  # command, setting, bad value
REFUSALS: list[Refusal] = [
    (command, name, value) for command, bad in BAD_SETTINGS.items() for name, value in bad
]


def named(refusal: Refusal) -> str:
    return "-".join(refusal)


def run_together(runs: dict[str, tuple[list[str], dict[str, str]]], cwd: Path) -> dict[str, Ran]:
    """Each run's `feeds ARGS` with its environment: real processes started at once, each
    waited for at most 120 s."""
    with ExitStack() as running:
        started = {
            key: running.enter_context(
                subprocess.Popen(
                    [str(FEEDS_BIN), *args],
                    env=env,
                    cwd=cwd,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
            for key, (args, env) in runs.items()
        }
        done = {}
        try:
            for key, process in started.items():
                stdout, stderr = process.communicate(timeout=120)
                done[key] = Ran(process.returncode, stdout, stderr)
        finally:
            for process in started.values():
                if process.poll() is None:
                    process.kill()
    return done


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ran]:
    """`feeds --help`, `feeds serve` on a socket it does not have, and each refusal's
    command with its one bad setting among good ones."""
    folder = tmp_path_factory.mktemp("cli")
    good = clean_environment({"FEEDS_DATABASE": new_database(folder, "cli")})
    runs = {"--help": (["--help"], good), "fd://99": (["serve", "--bind", "fd://99"], good)}
    for command, name, value in REFUSALS:
        args = ["render", "--out", str(folder / "out")] if command == "render" else [command]
        runs[named((command, name, value))] = (args, good | {name: value})
    return run_together(runs, folder)


def test_the_installed_command_is_called_feeds(ran: dict[str, Ran]) -> None:
    result = ran["--help"]
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: feeds ")


@pytest.mark.parametrize("refusal", REFUSALS, ids=named)
def test_bad_setting_stops_with_its_name_and_no_traceback(
    ran: dict[str, Ran], refusal: Refusal
) -> None:
    _, name, _ = refusal
    result = ran[named(refusal)]
    assert result.returncode == 1
    assert name in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert result.stdout == ""


def test_serve_names_a_socket_it_cannot_use_without_a_traceback(ran: dict[str, Ran]) -> None:
    result = ran["fd://99"]  # no such file descriptor in the process
    assert result.returncode == 1
    assert "Error: cannot serve on fd://99: Bad file descriptor" in result.stderr
    assert "Traceback" not in result.stderr


def test_long_import_shows_progress_in_a_terminal(tmp_path: Path, content: Content) -> None:
    for number in range(201):  # a terminal shows the bar from 201 files on
        content.write(f"a{number:03d}.txt", article_text())
    env = clean_environment({"FEEDS_DATABASE": new_database(tmp_path, "tty")})
    deadline = time.monotonic() + 60
    leader, follower = pty.openpty()
    shown = b""
    try:
        with subprocess.Popen(
            [str(FEEDS_BIN), "import", str(content.root)],
            env=env,
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=follower,
        ) as process:
            os.close(follower)
            try:
                while True:  # until the terminal closes: the command has exited
                    ready, _, _ = select.select(
                        [leader], [], [], max(deadline - time.monotonic(), 0)
                    )
                    if not ready:
                        pytest.fail(f"the import still runs after 60 s; it showed {shown!r}")
                    try:
                        chunk = os.read(leader, 4096)
                    except OSError:  # EIO: no process holds the terminal any more
                        break
                    if not chunk:
                        break
                    shown += chunk
                summary, _ = process.communicate(timeout=max(deadline - time.monotonic(), 1))
            finally:
                if process.poll() is None:
                    process.kill()
    finally:
        os.close(leader)
    assert process.returncode == 0, shown
    assert b"Reading" in shown and b"100%" in shown
    assert summary.decode().strip() == "201 added, 0 updated, 0 unchanged, 0 rejected"
