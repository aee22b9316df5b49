"""Audit log: refused requests counted in shared rows, every value cut to a bounded length

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import feeds.store.schema

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

REFUSED = sa.text("status >= 400")
# The bounds of this release (feeds.store.accounts), as they were when it came out.
CUTS = (("article_id", 200), ("detail", 200))
REFUSED_KEPT = 10_000


def upgrade() -> None:
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("count", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("last_at", feeds.store.schema.UTCDateTime(), nullable=True))
    _count_refused_rows()
    for column, limit in CUTS:
        # The start of a longer value and the mark a cut value ends with: "…[N chars]".
        mark = f"'\u2026[' || CAST(LENGTH({column}) AS VARCHAR(12)) || ' chars]'"
        op.execute(
            f"UPDATE audit SET {column} = SUBSTR({column}, 1, {limit} - LENGTH({mark})) "
            f"|| {mark} WHERE LENGTH({column}) > {limit}"
        )
    op.create_index(
        "ix_audit_refused_at", "audit", ["at"], sqlite_where=REFUSED, postgresql_where=REFUSED
    )
    op.execute(
        "DELETE FROM audit WHERE status >= 400 AND at <= (SELECT at FROM audit "
        f"WHERE status >= 400 ORDER BY at DESC LIMIT 1 OFFSET {REFUSED_KEPT})"
    )


def _count_refused_rows() -> None:
    """The refused requests of each minute, status, method and token become the first one's
    row, counting them all, as the log keeps them from now on."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    minute = "SUBSTR(at, 1, 16)" if sqlite else "date_trunc('minute', at)"
    op.execute(
        "CREATE TEMPORARY TABLE audit_groups (head_seq INTEGER PRIMARY KEY, n INTEGER NOT NULL, "
        f"last_at {'TEXT' if sqlite else 'TIMESTAMP WITHOUT TIME ZONE'} NOT NULL)"
    )
    op.execute(
        "INSERT INTO audit_groups (head_seq, n, last_at) SELECT MIN(seq), COUNT(*), MAX(at) "
        f"FROM audit WHERE status >= 400 GROUP BY {minute}, status, method, token"
    )
    op.execute(
        "UPDATE audit SET count = (SELECT n FROM audit_groups WHERE head_seq = audit.seq), "
        "last_at = (SELECT g.last_at FROM audit_groups g WHERE g.head_seq = audit.seq) "
        "WHERE seq IN (SELECT head_seq FROM audit_groups)"
    )
    op.execute(
        "DELETE FROM audit WHERE status >= 400 AND seq NOT IN (SELECT head_seq FROM audit_groups)"
    )
    op.execute("DROP TABLE audit_groups")


def downgrade() -> None:
    op.drop_index("ix_audit_refused_at", table_name="audit")
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.drop_column("last_at")
        batch_op.drop_column("count")
