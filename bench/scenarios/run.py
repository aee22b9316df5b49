"""One run of the benchmark (Bench): the rows, figures, notes and errors it gathers, its
phases, and wrk driving a server, again when other processes or idle workers disturbed it."""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .. import servers, wrk
from ..corpus import Spec
from ..plan import LOGS, Plan
from ..results import Row, Target, ms, rate
from ..servers import Processes, Running

OTHERS_NOTED = 0.05  # a share of the machine's CPU that other processes may take unremarked
RETRY_PAUSE = 5.0  # seconds between a disturbed wrk run and the next attempt
UNEVEN = 0.25  # unevenly loaded: a worker did less than this share of the busiest one's work


def _own_cpu() -> float:
    """CPU time of this process and of its waited-for children (wrk, imports)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    waited = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + waited.ru_utime + waited.ru_stime


def _uneven(shares: dict[str, Any]) -> bool:
    """Whether one worker did (nearly) all the work while another idled."""
    workers: list[float] = shares.get("workers_of_one_cpu", [])
    return len(workers) > 1 and min(workers) < UNEVEN * max(workers)


def _disturbance(shares: dict[str, Any]) -> str:
    """What made a wrk run unrepresentative, or ''."""
    found = []
    if shares["other_processes"] > OTHERS_NOTED:
        found.append(f"other processes took {shares['other_processes']:.0%} of the CPU")
    if _uneven(shares):
        loads = "/".join(f"{share:.0%}" for share in shares["workers_of_one_cpu"])
        found.append(f"the workers were unevenly loaded ({loads} of a CPU)")
    return "; ".join(found)


class BenchError(RuntimeError):
    """A measurement could not be made, or the server answered something unexpected."""


_STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - _STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


class Bench:
    """One run: its plan, load and servers, and what it measured so far. The scenarios are
    functions of it; the phases it runs record their failures and let the run go on."""

    def __init__(
        self, plan: Plan, load: wrk.Load, wrk_bin: str, nginx_bin: str | None, procs: Processes
    ) -> None:
        self.plan = plan
        self.load = load
        self.wrk_bin = wrk_bin
        self.nginx_bin = nginx_bin
        self.procs = procs
        self.rows: list[Row] = []
        self.promised: list[str] = []  # rows with a target that this run set out to measure
        self.errors: list[str] = []
        self.notes: list[str] = []
        self.measured: dict[str, Any] = {}
        self.settings: dict[str, Any] = {}
        self.store_spec = Spec(plan.store, plan.store)

    def phase(self, name: str, action: Callable[[], None]) -> None:
        """Run one phase; a failure is recorded and the run goes on with the next phase."""
        say(f"== {name}")
        try:
            action()
        except (BenchError, servers.ServerError, wrk.WrkError, OSError, RuntimeError) as e:
            message = f"{name}: {e}"
            self.errors.append(message)
            say(f"FAILED {message}")

    def drive(
        self,
        key: str,
        server: Running,
        path: str,
        headers: dict[str, str] | None = None,
        port: int | None = None,
        beside: Sequence[int] = (),
        script: Path | None = None,
    ) -> wrk.WrkResult:
        """Warm up, then measure `path` on `server` (at `port`, default its own) with wrk
        (and its Lua `script`); keeps the report under bench/data/logs/. The processes
        `beside` (a hub worker, subscribers) are meant to run meanwhile: their CPU is
        counted apart, not as a disturbance.

        A run is disturbed when other processes of the machine took CPU meanwhile, or when
        the server's workers did not share the load (one worker took every connection); such
        a run is made again, up to `retries` times, and the least disturbed one counts. Every
        attempt is kept in the results, and what disturbed the kept one is noted."""
        url = f"http://127.0.0.1:{port or server.port}{path}"
        if self.plan.warmup > 0:
            wrk.run(self.wrk_bin, url, self.load, headers, self.plan.warmup, script)
        say(f"wrk {key}: {url} {headers or ''}")
        pids = servers.tree(server.pid)
        runs = [self._wrk_once(url, headers, pids, beside, script)]
        while _disturbance(runs[-1][2]) and len(runs) <= self.plan.retries:
            say(f"   again: {_disturbance(runs[-1][2])} (req/s {rate(runs[-1][0].rps)})")
            time.sleep(RETRY_PAUSE)
            runs.append(self._wrk_once(url, headers, pids, beside, script))
        result, report, shares = min(
            runs, key=lambda run: (_uneven(run[2]), run[2]["other_processes"])
        )
        LOGS.mkdir(parents=True, exist_ok=True)
        (LOGS / f"wrk-{key}.txt").write_text(report)
        self.measured.setdefault("wrk", {})[key] = result.to_json() | {
            "url": url,
            "headers": headers or {},
            "cpu_share": shares,
            "attempts": [
                {"rps": run[0].rps, "p50_ms": run[0].p50, "cpu_share": run[2]} for run in runs
            ],
        }
        say(
            f"   {rate(result.rps)} req/s, p50 {ms(result.p50)}, p99 {ms(result.p99)}, "
            f"{result.errors} errors; CPU: server {shares['server']:.0%}, "
            f"wrk {shares['wrk_and_bench']:.0%}, "
            + (f"beside {shares['beside']:.0%}, " if beside else "")
            + "other processes "
            f"{shares['other_processes']:.0%}; workers "
            + "/".join(f"{share:.0%}" for share in shares["workers_of_one_cpu"])
            + " of a CPU"
        )
        if result.errors:
            self.notes.append(f"{key}: wrk counted {result.errors} errors")
        uneven = sum(_uneven(run[2]) for run in runs)
        if uneven:
            self.notes.append(
                f"{key}: in {uneven} of {len(runs)} wrk runs one gunicorn worker took (nearly) "
                "every connection while another idled"
            )
        disturbance = _disturbance(shares)
        if disturbance:
            self.notes.append(f"{key}: the figures kept are of a disturbed run: {disturbance}")
        return result

    def _wrk_once(
        self,
        url: str,
        headers: dict[str, str] | None,
        pids: list[int],
        beside: Sequence[int] = (),
        script: Path | None = None,
    ) -> tuple[wrk.WrkResult, str, dict[str, Any]]:
        """One wrk run, and the shares of the machine's CPU that the server, wrk (with this
        process), the processes `beside` and every other process took meanwhile."""
        busy, each, own, start = (
            servers.busy_seconds(),
            servers.cpu_seconds([*pids, *beside]),
            _own_cpu(),
            time.monotonic(),
        )
        result, report = wrk.run(self.wrk_bin, url, self.load, headers, script=script)
        wall = time.monotonic() - start
        own = _own_cpu() - own
        busy = servers.busy_seconds() - busy
        used = {
            pid: seconds - each.get(pid, 0.0)
            for pid, seconds in servers.cpu_seconds([*pids, *beside]).items()
        }
        ours = sum(used.get(pid, 0.0) for pid in pids)
        theirs = sum(used.get(pid, 0.0) for pid in beside)
        capacity = max(wall * len(os.sched_getaffinity(0)), 1e-9)
        shares = {
            "server": ours / capacity,
            "wrk_and_bench": own / capacity,
            "beside": theirs / capacity,
            "other_processes": max(0.0, busy - ours - theirs - own) / capacity,
            # Each worker's share of one CPU: uneven shares mean the connections were not
            # spread evenly over the workers.
            "workers_of_one_cpu": [used[pid] / wall for pid in pids[1:] if pid in used],
        }
        return result, report, shares

    def wrk_row(
        self,
        name: str,
        result: wrk.WrkResult,
        reference: wrk.WrkResult | None,
        reference_name: str,
        target: Target | None = None,
    ) -> Row:
        ratio = result.rps / reference.rps if reference and reference.rps else None
        row = Row.of_run(
            name,
            f"{rate(result.rps)} req/s",
            result,
            ratio=ratio,
            reference=f"{reference_name} {rate(reference.rps)} req/s" if reference else "",
            target=target,
        )
        self.rows.append(row)
        return row
