"""A run's plan: the sizes and durations the command line asks for, and where the run keeps
its corpora, stores, logs and results."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
LOGS = DATA / "logs"
RESULTS_JSON = HERE / "results.json"
RESULTS_MD = HERE / "results.md"


@dataclass(frozen=True)
class Plan:
    """Sizes and durations of one run."""

    store: int = 1000
    ingest: int = 100_000
    million: int = 1_000_000
    seconds: float = 10.0
    warmup: float = 2.0
    cold_runs: int = 15
    ingest_runs: int = 3  # the ingest's median counts
    feedgen_runs: int = 15
    settle: float = 1.5  # workers notice a change in the store within one second
    stale_wait: float = 5.0  # then how long to keep asking a server that has not noticed
    retries: int = 2  # more wrk runs when a run is disturbed (see Bench.drive)
    workers: int = 2
    push_subscribers: tuple[int, ...] = (1, 100, 1000)  # subscriber counts, in this order
    push_changes: int = 20  # changes delivered at each subscriber count
    skip_million: bool = False
    skip_push: bool = False
    reuse_million: bool = False
    with_nginx: bool = False


def make_plan(args: argparse.Namespace) -> Plan:
    plan = Plan()
    if args.quick:
        plan = replace(
            plan,
            ingest=2000,
            million=20_000,
            seconds=3,
            warmup=1,
            cold_runs=5,
            feedgen_runs=5,
            ingest_runs=1,
            retries=0,
            push_subscribers=(1, 10, 100),
            push_changes=5,
        )
    if args.duration is not None:
        plan = replace(plan, seconds=args.duration, warmup=min(plan.warmup, args.duration))
    if args.ingest is not None:
        plan = replace(plan, ingest=args.ingest)
    if args.million is not None:
        plan = replace(plan, million=args.million)
    if args.cold_runs is not None:
        plan = replace(plan, cold_runs=args.cold_runs)
    if args.retries is not None:
        plan = replace(plan, retries=args.retries)
    if args.stale_wait is not None:
        plan = replace(plan, stale_wait=args.stale_wait)
    if args.push_changes is not None:
        plan = replace(plan, push_changes=args.push_changes)
    if args.push_subscribers is not None:
        plan = replace(plan, push_subscribers=subscriber_counts(args.push_subscribers))
    plan = replace(
        plan,
        skip_million=args.skip_million,
        skip_push=args.skip_push,
        with_nginx=args.nginx,
        reuse_million=args.reuse_million,
    )
    if plan.push_changes < 1:
        raise SystemExit("--push-changes must be 1 or more")
    if plan.million <= plan.store:
        raise SystemExit(
            f"--million must be more than the {plan.store} articles of the small store"
        )
    return plan


def subscriber_counts(text: str) -> tuple[int, ...]:
    """--push-subscribers: counts such as '1,100,1000', each 1 to 10,000, rising."""
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        counts = ()
    if not counts or any(not 1 <= count <= 10_000 for count in counts):
        raise SystemExit(
            f"--push-subscribers {text!r}: give subscriber counts from 1 to 10000 separated "
            "by commas, e.g. 1,100,1000"
        )
    if list(counts) != sorted(set(counts)):
        raise SystemExit(f"--push-subscribers {text!r}: give each count once, rising")
    return counts
