"""Partial indexes: visible articles in order, withdrawn ones by time

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CURRENT = sa.text("withdrawn IS NULL")
GONE = sa.text("withdrawn IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_index("ix_articles_newest")
        batch_op.drop_index("ix_articles_section_newest")
        batch_op.drop_index("ix_articles_withdrawn")
        batch_op.create_index(
            "ix_articles_visible",
            [sa.text("published DESC"), "id"],
            sqlite_where=CURRENT,
            postgresql_where=CURRENT,
        )
        batch_op.create_index(
            "ix_articles_section_visible",
            ["section", sa.text("published DESC"), "id"],
            sqlite_where=CURRENT,
            postgresql_where=CURRENT,
        )
        batch_op.create_index(
            "ix_articles_withdrawn", ["withdrawn"], sqlite_where=GONE, postgresql_where=GONE
        )


def downgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_index("ix_articles_withdrawn")
        batch_op.drop_index("ix_articles_section_visible")
        batch_op.drop_index("ix_articles_visible")
        batch_op.create_index("ix_articles_withdrawn", ["withdrawn"])
        batch_op.create_index(
            "ix_articles_section_newest", ["section", sa.text("published DESC"), "id"]
        )
        batch_op.create_index("ix_articles_newest", [sa.text("published DESC"), "id"])
