"""`python -m bench` (`make bench`): the command line, the phases in order, and the results,
printed and written to bench/results.json and bench/results.md; the exit statuses are those
the package's docstring lists."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from . import nginx, wrk
from .plan import RESULTS_JSON, RESULTS_MD, ROOT, make_plan
from .results import machine, markdown, table
from .scenarios import ingest, push, scale, warm
from .scenarios.run import Bench, say
from .servers import Processes


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",  # not __main__.py, argparse's default for a package run with -m
        description="Benchmark feeds: ingest, warm and cold feeds, scale, memory.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and 3 s runs")
    parser.add_argument("--skip-million", action="store_true", help="no million-article store")
    parser.add_argument("--skip-push", action="store_true", help="no WebSub push figures")
    parser.add_argument("--nginx", action="store_true", help="also measure nginx in front")
    parser.add_argument("--duration", type=float, help="seconds per wrk run (default 10; 3 quick)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--ingest", type=int, help="articles in the ingest corpus (100,000)")
    parser.add_argument("--million", type=int, help="articles in the big store (1,000,000)")
    parser.add_argument(
        "--reuse-million",
        action="store_true",
        help="serve the big store an earlier run imported, when there is one (the import "
        "figures are then that run's)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        help="measure again, up to this many times, when other processes took more than 5%% "
        "of the CPU during a wrk run or one gunicorn worker took every connection; the least "
        "disturbed run counts (default 2; 0 with --quick)",
    )
    parser.add_argument("--cold-runs", type=int, help="edits for the cold render (15)")
    parser.add_argument(
        "--push-subscribers",
        metavar="N,N,...",
        help="subscriber counts of the push part (default 1,100,1000; 1,10,100 with --quick)",
    )
    parser.add_argument(
        "--push-changes",
        type=int,
        help="changes delivered at each subscriber count (default 20; 5 with --quick)",
    )
    parser.add_argument(
        "--stale-wait",
        type=float,
        help="how long to keep asking for the feed after an import when the server still "
        "answers the old ETag 1.5 s later (default 5 s)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = make_plan(args)
    wrk_bin = wrk.find()
    if wrk_bin is None:
        print(wrk.INSTALL_HINT, file=sys.stderr)
        return 2
    nginx_bin = nginx.find() if plan.with_nginx else None
    if plan.with_nginx and nginx_bin is None:
        print(nginx.INSTALL_HINT, file=sys.stderr)
        return 2
    load = wrk.Load(args.threads, args.connections, plan.seconds)
    info = machine(wrk_bin, nginx_bin)
    say(f"{info['cpu']}, {info['usable_cores']} cores, {info['ram_gb']} GB; {info['wrk']}")
    interrupted = False
    with Processes() as procs:
        bench = Bench(plan, load, wrk_bin, nginx_bin, procs)
        try:
            bench.phase(
                "1,000-article store: ceiling, warm feeds, cold render",
                lambda: warm.store_1k(bench),
            )
            if not plan.skip_push:
                counts = "/".join(f"{n:,}" for n in plan.push_subscribers)
                bench.phase(f"push to {counts} subscribers", lambda: push.push(bench))
            bench.phase(f"ingest of {plan.ingest:,} articles", lambda: ingest.ingest(bench))
            if not plan.skip_million:
                bench.phase(f"{plan.million:,}-article store", lambda: scale.million(bench))
        except KeyboardInterrupt:
            interrupted = True
            bench.errors.append("interrupted")
            say("interrupted: stopping the servers")
    missed = [row.name for row in bench.rows if row.ok is False]
    measured = {row.name for row in bench.rows if row.ok is not None}
    unmeasured = [name for name in bench.promised if name not in measured]
    results = {
        "machine": info,
        "settings": bench.settings,
        "rows": [row.to_json() for row in bench.rows],
        "measured": bench.measured,
        "missed_targets": missed,
        "unmeasured_targets": unmeasured,
        "notes": bench.notes,
        "errors": bench.errors,
        "skipped": [
            name
            for name, skipped in (("million", plan.skip_million), ("push", plan.skip_push))
            if skipped
        ],
    }
    RESULTS_JSON.write_text(json.dumps(results, indent=2, default=str) + "\n")
    md = markdown(bench.rows, info, load, plan)
    RESULTS_MD.write_text(md)
    print()
    print(table(bench.rows))
    print()
    print("Markdown, for the README's Performance section (also in bench/results.md):")
    print()
    print(md)
    for note in bench.notes:
        print(f"note: {note}")
    if missed:
        print(f"missed targets ({len(missed)}): " + "; ".join(missed))
    else:
        print("every target with a measurement was met")
    if unmeasured:
        print(f"targets not measured ({len(unmeasured)}): " + "; ".join(unmeasured))
    for error in bench.errors:
        print(f"error: {error}", file=sys.stderr)
    print(f"results: {RESULTS_JSON.relative_to(ROOT)}, {RESULTS_MD.relative_to(ROOT)}")
    if interrupted:
        return 130
    if bench.errors:
        return 1
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
