"""The indexes of visible articles also hold each article's revision and times

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CURRENT = sa.text("withdrawn IS NULL")
HEAD = ["revision", "updated", "modified"]


def _create(batch_op: BatchOperations, head: list[str]) -> None:
    batch_op.create_index(
        "ix_articles_visible",
        [sa.text("published DESC"), "id", *head],
        sqlite_where=CURRENT,
        postgresql_where=CURRENT,
    )
    batch_op.create_index(
        "ix_articles_section_visible",
        ["section", sa.text("published DESC"), "id", *head],
        sqlite_where=CURRENT,
        postgresql_where=CURRENT,
    )


def upgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_index("ix_articles_section_visible")
        batch_op.drop_index("ix_articles_visible")
        _create(batch_op, HEAD)


def downgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_index("ix_articles_section_visible")
        batch_op.drop_index("ix_articles_visible")
        _create(batch_op, [])
