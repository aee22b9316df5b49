"""Stores for the benchmark: generated corpora imported with the feeds CLI into fresh SQLite
databases, and the feeds server over them, its environment and its workers' memory."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from .. import corpus, servers
from ..corpus import Spec
from ..plan import DATA, LOGS, ROOT
from ..results import rate
from ..servers import Running
from .run import Bench, BenchError, say

RSS_REFERENCE_MB = 150.0  # what a worker's resident memory is measured against


def feeds_command() -> list[str]:
    script = Path(sys.executable).parent / "feeds"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from feeds.cli import main; main()"]


def feeds_env(database: Path, content: Path, port: int, workers: int) -> dict[str, str]:
    """The environment of every feeds process: this one's without FEEDS_*, plus the bench's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    env |= {
        "FEEDS_DATABASE": f"sqlite:///{database}",
        "FEEDS_BASE_URL": f"http://127.0.0.1:{port}",
        "FEEDS_CONTENT": str(content),
        "FEEDS_WORKERS": str(workers),
    }
    return env


def fresh_database(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


_SUMMARY = re.compile(r"(\d+) added, (\d+) updated, (\d+) unchanged, (\d+) rejected")


@dataclass(frozen=True)
class ImportRun:
    seconds: float
    added: int
    updated: int
    unchanged: int
    rejected: int
    peak_rss_mb: float
    log: str


def run_import(env: dict[str, str], paths: Sequence[Path], log: Path) -> ImportRun:
    """`feeds import PATHS` in a subprocess: its wall time, summary and peak memory."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        start = time.perf_counter()
        process = subprocess.Popen(
            [*feeds_command(), "import", *map(str, paths)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            process.kill()
            process.wait()
            raise
        seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(errors="replace")
    found = _SUMMARY.search(text)
    if found is None:
        tail = "\n".join(text.splitlines()[-20:])
        raise BenchError(f"feeds import exited with {process.returncode}, no summary:\n{tail}")
    added, updated, unchanged, rejected = map(int, found.groups())
    if rejected:
        raise BenchError(f"feeds import rejected {rejected} generated files; see {log}")
    return ImportRun(
        seconds, added, updated, unchanged, rejected, usage.ru_maxrss * 1024 / 1e6, str(log)
    )


def corpus_root(spec: Spec) -> Path:
    kind = "full" if spec.full >= spec.count else f"mixed{spec.full}"
    return DATA / "corpus" / f"{kind}-{spec.count}{'-nested' if spec.nested else ''}"


def make_corpus(spec: Spec) -> Path:
    root = corpus_root(spec)
    start = time.perf_counter()
    if corpus.write_corpus(root, spec, workers=os.cpu_count() or 1):
        say(f"generated {spec.count:,} articles in {root} ({time.perf_counter() - start:.0f} s)")
    else:
        say(f"reusing {root} ({spec.count:,} articles)")
    return root


def serve_feeds(
    bench: Bench, label: str, database: Path, content: Path, port: int, env: dict[str, str]
) -> Running:
    bind = f"127.0.0.1:{port}"
    server = bench.procs.start(
        f"feeds serve ({label})",
        [*feeds_command(), "serve", "--no-hub", "--bind", bind],
        env=env,
        port=port,
        log=LOGS / f"serve-{label}.log",
        ready_path="/healthz",
        cwd=ROOT,
    )
    say(f"feeds serve ({label}) on {bind}, master pid {server.pid}")
    return server


def import_store(
    bench: Bench, label: str, spec: Spec, port: int, reuse: bool = False
) -> tuple[Path, Path, dict[str, str]]:
    """A fresh store of the corpus `spec`, imported with the CLI, for a server on `port`;
    with `reuse`, the store an earlier run imported, if it is there (and that run's
    import figures)."""
    root = make_corpus(spec)
    database = DATA / "db" / f"{label}.sqlite"
    marker = database.with_suffix(".json")
    env = feeds_env(database, root, port, bench.plan.workers)
    if reuse and database.exists():
        try:
            earlier = json.loads(marker.read_text())
        except (OSError, ValueError):
            earlier = None
        if isinstance(earlier, dict) and earlier.get("spec") == asdict(spec):
            say(f"reusing the store {database} imported {earlier['import']['date']}")
            bench.measured.setdefault("imports", {})[label] = earlier["import"] | {"reused": True}
            return root, database, env
    marker.unlink(missing_ok=True)
    fresh_database(database)
    os.sync()  # what earlier phases wrote is not this import's to flush
    run = run_import(env, [root], LOGS / f"import-{label}.log")
    if run.added != spec.count:
        raise BenchError(f"feeds import of {root} added {run.added} of {spec.count} articles")
    per_second = spec.count / run.seconds
    say(f"imported {spec.count:,} articles in {run.seconds:.1f} s ({rate(per_second)}/s)")
    record = asdict(run) | {
        "articles": spec.count,
        "articles_per_s": per_second,
        "corpus": str(root),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    bench.measured.setdefault("imports", {})[label] = record
    marker.write_text(json.dumps({"spec": asdict(spec), "import": record}, indent=2) + "\n")
    return root, database, env


def worker_memory(bench: Bench, label: str, server: Running) -> float:
    workers = servers.workers_resident_mb(server.pid)
    if not workers:
        raise BenchError(f"no gunicorn workers found below pid {server.pid}")
    largest = max(workers.values())
    bench.measured.setdefault("worker_rss_mb", {})[label] = {
        "workers": {str(pid): rss for pid, rss in workers.items()},
        "master": servers.resident_mb(server.pid),
        "largest": largest,
    }
    sizes = ", ".join(f"{rss:.1f}" for rss in workers.values())
    say(f"worker resident memory ({label}): {sizes} MB")
    return largest
