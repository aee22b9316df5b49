"""Audience figures: polls per feed and day, aggregators' reported subscribers, other
clients' salted hashes per day, and each day's salt; and the running totals of imports

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from feeds.store.schema import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audience_polls",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("feed", sa.String(512), primary_key=True),
        sa.Column("polls", sa.Integer, nullable=False),
        sa.Column("not_modified", sa.Integer, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "audience_reporters",
        sa.Column("feed", sa.String(512), primary_key=True),
        sa.Column("reader", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("subscribers", sa.Integer, nullable=False),
        sa.Column("last_seen", UTCDateTime, nullable=False),
    )
    op.create_index("ix_audience_reporters_last_seen", "audience_reporters", ["last_seen"])
    op.create_table(
        "audience_visitors",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("feed", sa.String(512), primary_key=True),
        sa.Column("reader", sa.String(64), primary_key=True),
        sa.Column("hash", sa.String(64), primary_key=True),
    )
    op.create_table(
        "audience_salts",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("salt", sa.String(64), nullable=False),
    )
    # The running totals of imports (feeds.metrics reads them at each scrape).
    op.create_table(
        "import_figures",
        sa.Column("figure", sa.String(64), primary_key=True),
        sa.Column("label", sa.String(64), primary_key=True),
        sa.Column("value", sa.Double, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "import_figures",
        "audience_salts",
        "audience_visitors",
        "audience_reporters",
        "audience_polls",
    ):
        op.drop_table(table)
