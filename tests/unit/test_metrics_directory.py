"""The start-up wipe of FEEDS_METRICS_DIR removes prometheus_client's files of an earlier
run and nothing else: an operator may point it at the folder that holds the store; a folder
that cannot be made or written stops the server with a reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from feeds.config import load_settings
from feeds.errors import ConfigError
from feeds.server import MULTIPROC_ENV, metrics_directory


def test_the_wipe_keeps_a_store_in_the_same_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, "")  # restored after the test: the setting sets it
    figures = ("counter_12.db", "gauge_livesum_12.db", "gauge_all_7.db", "histogram_12.db")
    kept = ("feeds.db", "feeds.db-wal", "counter.db", "notes_12.txt")
    for name in figures + kept:
        (tmp_path / name).write_bytes(b"x")
    settings = load_settings(
        {}, {"base_url": "https://news.example.com", "metrics_dir": str(tmp_path)}
    )
    directory, _ = metrics_directory(settings)
    assert directory == str(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)


@pytest.mark.parametrize("where", ["/proc/1", "/proc/1/made-up"])
def test_a_folder_that_cannot_be_made_or_written_is_a_bad_setting(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, "")
    settings = load_settings({}, {"base_url": "https://news.example.com", "metrics_dir": where})
    with pytest.raises(ConfigError, match=f"^FEEDS_METRICS_DIR: .*'{where}'"):
        metrics_directory(settings)
    assert os.environ[MULTIPROC_ENV] == ""  # no process is told to use it
