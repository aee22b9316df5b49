"""`python -m bench.soak` (`make soak`): the command line, the run and its report; the exit
statuses are those the package's docstring lists."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..plan import DATA
from ..scenarios.run import say
from ..servers import Processes, ServerError
from . import report, serverlogs
from .memory import FLOOR_MB
from .record import Record
from .run import Run
from .stack import Options, StackError, start


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description="Run feeds under mixed load on loopback and check every answer.",
    )
    add = parser.add_argument
    add("--minutes", type=float, default=3.0, help="how long to run (default 3)")
    add("--seconds", type=float, help="how long to run, in seconds (instead of --minutes)")
    add("--clients", type=int, default=4, help="polling threads (default 4)")
    add("--workers", type=int, default=2, help="gunicorn workers, at least 2 (default 2)")
    add("--threads", type=int, default=4, help="threads per gunicorn worker (default 4)")
    add("--articles", type=int, default=300, help="generated articles imported first (300)")
    add("--no-nginx", action="store_true", help="only gunicorn, even where nginx is installed")
    add("--database", help="SQLAlchemy URL of an empty database (default: SQLite in --data)")
    add("--data", type=Path, default=DATA / "soak", help="folder for the run (emptied first)")
    add(
        "--visible-within",
        type=float,
        default=1.0,
        help="seconds a write may take to show on every worker (default 1)",
    )
    add(
        "--patience",
        type=float,
        default=10.0,
        help="seconds to wait for a write to show before giving up on it (default 10)",
    )
    add(
        "--rss-growth",
        type=float,
        default=0.5,
        help=f"share a process group's memory may grow after warm-up (0.5; at least "
        f"{FLOOR_MB:.0f} MB)",
    )
    add("--rss-interval", type=float, default=3.0, help="seconds between memory samples (3)")
    add("--write-interval", type=float, default=0.5, help="seconds between API writes (0.5)")
    add("--import-interval", type=float, default=10.0, help="seconds between imports (10)")
    add("--max-age", type=int, default=2, help="FEEDS_MAX_AGE, nginx's cache time (2)")
    add("--examples", type=int, default=5, help="failures listed per check (5)")
    add("--seed", type=int, default=1, help="seed of the random choices (1)")
    args = parser.parse_args(argv)
    if args.workers < 2:
        parser.error("--workers must be at least 2: the soak checks that every worker agrees")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return soak(parse_args(argv))
    except KeyboardInterrupt:  # before the load began: the servers are stopped, nothing ran
        print("soak: interrupted", file=sys.stderr)
        return 130


def soak(args: argparse.Namespace) -> int:
    duration = args.seconds if args.seconds is not None else args.minutes * 60
    options = Options(
        args.data.resolve(),
        args.database,
        args.articles,
        args.workers,
        args.threads,
        not args.no_nginx,
        args.max_age,
        page_size=20,
        archive_size=25,
        partner_interval=5,
    )
    record = Record(examples=args.examples)
    crashed: list[str] = []
    with Processes() as procs:
        try:
            stack = start(procs, options)
        except (StackError, ServerError, RuntimeError, OSError) as e:
            print(f"soak: could not set up the service: {e}", file=sys.stderr)
            return 2
        say(
            f"gunicorn on {stack.ports['direct']} (pid {stack.gunicorn.pid}), "
            + (f"nginx on {stack.ports['nginx']}" if stack.nginx else "no nginx")
            + f"; data in {options.data}"
        )
        run = Run(stack, record, args, crashed)
        elapsed, warm, groups = run.go(duration)
        serverlogs.scan(record, stack.logs / "gunicorn.log", serverlogs.GUNICORN)
        if stack.nginx is not None:
            for name in ("error.log", "site-error.log"):
                serverlogs.scan(record, options.data / "nginx" / name, serverlogs.NGINX)
        logs = [stack.logs / "gunicorn.log", *sorted((options.data / "nginx").glob("*.log"))]
        tokens = [stack.token, *(partner.token for partner in stack.partners)]
        serverlogs.secrets(record, logs, tokens)
        database = stack.env["FEEDS_DATABASE"]
        nginx_version = stack.nginx_version
    print()
    print(report.traffic_table(record, elapsed))
    print()
    print(report.checks_table(record))
    print()
    print(report.lag_table(record))
    print()
    print(report.memory_table(groups, warm, args.rss_growth, FLOOR_MB))
    inspector = run.inspector
    print(
        f"Last-Modified stayed in the same second across {inspector.history.same_second} ETag "
        f"changes; {inspector.undated} answers of a new ETag not yet recorded carried no "
        "Last-Modified; archives found: "
        f"{run.catalogue.archive_count()}"
    )
    print()
    print(report.machine(nginx_version, database))
    print()
    for note in record.notes[: args.examples * 4]:
        print(f"note: {note}")
    print(report.failures(record))
    for problem in crashed:
        print(f"soak error: {problem}", file=sys.stderr)
    if run.interrupted:
        return 130
    return 0 if record.ok and not crashed else 1


if __name__ == "__main__":
    sys.exit(main())
