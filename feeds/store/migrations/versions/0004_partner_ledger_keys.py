"""Partner feeds' Last-Modified ledger rows under the keys the render cache now gives them

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A partner's feed read with a Bearer or Basic token is kept as "partner:" + its path; it
    # was recorded under the path alone, so it keeps the Last-Modified it was served with.
    op.execute(
        "UPDATE served SET document = 'partner:' || document WHERE document LIKE '/partners/%'"
    )


def downgrade() -> None:
    op.execute("UPDATE served SET document = substr(document, 9) WHERE document LIKE 'partner:/%'")
