"""Statements of the import figures: running totals that each import adds to in its own
transaction (runs by result, articles by outcome, durations per histogram bucket), which
feeds.metrics reads at each scrape, so that every server shows the same totals and an
import leaves nothing behind but rows.

Adds run in the writers' turn (Store.write), one at a time, so adding to a row that may not
exist yet is an update and, when it touched nothing, an insert.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .schema import import_figures

Figures = Mapping[tuple[str, str], float]  # (figure, label) -> value


class FigureReads:
    conn: Connection

    def import_figures(self) -> dict[tuple[str, str], float]:
        """Every running total of the imports, by (figure, label)."""
        t = import_figures
        rows = self.conn.execute(sa.select(t.c.figure, t.c.label, t.c.value))
        return {(figure, label): float(value) for figure, label, value in rows}


class FigureWrites:
    conn: Connection

    def add_import_figures(self, added: Figures) -> None:
        """Add each value to its running total (a new total starts at 0)."""
        t = import_figures
        for (figure, label), value in sorted(added.items()):
            if not value:
                continue
            key = (t.c.figure == figure) & (t.c.label == label)
            if not self.conn.execute(
                t.update().where(key).values(value=t.c.value + value)
            ).rowcount:
                self.conn.execute(t.insert().values(figure=figure, label=label, value=value))
