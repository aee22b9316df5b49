"""The ingest: `feeds import` of full-size articles into a fresh SQLite store, a few times,
against a fixed rate of articles per second."""

from __future__ import annotations

from .. import servers
from ..corpus import Spec
from ..plan import DATA
from ..results import Row, Target, median, rate
from .run import Bench
from .store import import_store

INGEST_REFERENCE = 5000.0  # articles/s


# The row that carries a target, by name.
def ingest_name(count: int) -> str:
    return f"ingest: feeds import of {count:,} full articles"


def ingest(bench: Bench) -> None:
    """Bulk imports of the same corpus, each into a fresh store; the median counts (one
    import is at the mercy of whatever else the machine does meanwhile)."""
    spec = Spec(bench.plan.ingest, bench.plan.ingest)
    bench.promised.append(ingest_name(spec.count))
    label = f"ingest-{spec.count}"
    runs = []
    for _ in range(bench.plan.ingest_runs):
        import_store(bench, label, spec, servers.free_port())
        runs.append(bench.measured["imports"][label])
        for name in (f"{label}.sqlite", f"{label}.json"):
            DATA.joinpath("db", name).unlink(missing_ok=True)  # only the figures are kept
    bench.measured["imports"][label] = {"runs": runs}
    per_second = median([run["articles_per_s"] for run in runs])
    bench.measured["imports"][label]["articles_per_s"] = per_second
    every = ", ".join(rate(run["articles_per_s"]) for run in runs)
    bench.rows.append(
        Row(
            ingest_name(spec.count),
            f"{rate(per_second)} articles/s" + (f" (median of {every})" if len(runs) > 1 else ""),
            ratio=per_second / INGEST_REFERENCE,
            reference=f"{rate(INGEST_REFERENCE)} articles/s",
            target=Target(">=", 1),
        )
    )
