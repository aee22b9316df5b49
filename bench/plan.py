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
    skip_million: bool = False
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
    plan = replace(
        plan,
        skip_million=args.skip_million,
        with_nginx=args.nginx,
        reuse_million=args.reuse_million,
    )
    if plan.million <= plan.store:
        raise SystemExit(
            f"--million must be more than the {plan.store} articles of the small store"
        )
    return plan
