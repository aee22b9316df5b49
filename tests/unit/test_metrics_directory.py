"""The start-up wipe of FEEDS_METRICS_DIR removes prometheus_client's files of an earlier
run and nothing else: an operator may point it at the folder that holds the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from feeds.config import load_settings
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
