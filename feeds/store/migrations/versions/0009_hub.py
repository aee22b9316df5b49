"""The built-in WebSub hub: subscriptions, requests, topics, the outbox, deliveries, pings

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from feeds.store.schema import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_subscriptions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(512), nullable=False),
        sa.Column("callback", sa.String(2048), nullable=False),
        sa.Column("secret", sa.String(255)),
        sa.Column("lease_seconds", sa.Integer, nullable=False),
        sa.Column("expires", UTCDateTime, nullable=False),
        sa.Column("partner", sa.String(128)),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.Column("renewed", UTCDateTime, nullable=False),
        sa.UniqueConstraint("topic", "callback", name="uq_hub_subscriptions_topic_callback"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_hub_subscriptions_expires", "hub_subscriptions", ["expires"])
    op.create_index("ix_hub_subscriptions_partner", "hub_subscriptions", ["partner"])
    op.create_table(
        "hub_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("topic", sa.String(2048), nullable=False),
        sa.Column("callback", sa.String(2048), nullable=False),
        sa.Column("secret", sa.String(255)),
        sa.Column("lease_seconds", sa.Integer, nullable=False),
        sa.Column("partner", sa.String(128)),
        sa.Column("reason", sa.Text),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("due", UTCDateTime, nullable=False),
        sa.Column("claimed_until", UTCDateTime),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_hub_requests_due", "hub_requests", ["due"])
    op.create_table(
        "hub_topics",
        sa.Column("topic", sa.String(512), primary_key=True),
        sa.Column("etag", sa.String(64), nullable=False),
        sa.Column("media_type", sa.String(128), nullable=False),
        sa.Column("links", sa.Text, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("changed", UTCDateTime, nullable=False),
        sa.Column("recheck", UTCDateTime),
    )
    op.create_index("ix_hub_topics_recheck", "hub_topics", ["recheck"])
    op.create_table(
        "hub_changes",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("articles", sa.Text),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "hub_deliveries",
        sa.Column("subscription_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("etag", sa.String(64), nullable=False),
        sa.Column("due", UTCDateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("claimed_until", UTCDateTime),
        sa.Column("made", UTCDateTime, nullable=False),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_hub_deliveries_due", "hub_deliveries", ["due"])
    op.create_table(
        "hub_pings",
        sa.Column("hub", sa.String(2048), primary_key=True),
        sa.Column("topic", sa.String(512), primary_key=True),
        sa.Column("due", UTCDateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("claimed_until", UTCDateTime),
    )
    op.create_index("ix_hub_pings_due", "hub_pings", ["due"])


def downgrade() -> None:
    for table in (
        "hub_pings",
        "hub_deliveries",
        "hub_changes",
        "hub_topics",
        "hub_requests",
        "hub_subscriptions",
    ):
        op.drop_table(table)
