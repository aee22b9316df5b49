"""Archives by placement: where each article sits in each place's archives for good, and
subscription documents in order of change

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import feeds.store.schema

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

CURRENT = sa.text("withdrawn IS NULL")
LEFT = sa.text("left_at IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "placements",
        sa.Column("place", sa.String(260), nullable=False),
        sa.Column("entered", feeds.store.schema.UTCDateTime(), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("article_id", sa.String(255), nullable=False),
        sa.Column("left_at", feeds.store.schema.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("place", "entered", "seq"),
        sqlite_with_rowid=False,
    )
    # Stored articles enter their places at their published time, in published order: the
    # months their archives had before.
    op.execute(
        "INSERT INTO placements (place, seq, article_id, entered) "
        "SELECT '*', ROW_NUMBER() OVER (ORDER BY published, id), id, published FROM articles"
    )
    op.execute(
        "INSERT INTO placements (place, seq, article_id, entered) "
        "SELECT 's:' || a.section, p.seq, a.id, p.entered FROM articles a "
        "JOIN placements p ON p.article_id = a.id AND p.place = '*' "
        "WHERE a.section IS NOT NULL"
    )
    op.execute(
        "INSERT INTO placements (place, seq, article_id, entered) "
        "SELECT 'a:' || w.slug, p.seq, w.article_id, p.entered FROM article_authors w "
        "JOIN placements p ON p.article_id = w.article_id AND p.place = '*'"
    )
    op.create_index("ix_placements_article", "placements", ["article_id"])
    op.create_index(
        "ix_placements_left",
        "placements",
        ["place", "left_at"],
        sqlite_where=LEFT,
        postgresql_where=LEFT,
    )
    op.drop_index("ix_departures_published", table_name="departures")
    op.create_index("ix_departures_at", "departures", ["at"])
    op.create_index("ix_departures_section_at", "departures", ["section", "at"])
    op.create_index("ix_departures_article", "departures", ["article_id"])
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("change_seq", sa.Integer(), server_default="0", nullable=False)
        )
    # Stored changes are numbered in the order of their times; the sequence goes on after
    # them and after the placements.
    op.execute(
        "UPDATE articles SET change_seq = (SELECT n FROM (SELECT id, ROW_NUMBER() OVER "
        "(ORDER BY modified, id) AS n FROM articles) AS ranked WHERE ranked.id = articles.id)"
    )
    for counter in ("sequence", "changes"):
        op.execute(
            f"INSERT INTO meta (key, value) SELECT '{counter}', CAST(COUNT(*) AS VARCHAR(20)) "
            "FROM articles"
        )
    with op.batch_alter_table("articles", schema=None) as batch_op:
        # Nothing reads articles in order of publication any more but the next release.
        batch_op.drop_index("ix_articles_section_visible")
        batch_op.drop_index("ix_articles_visible")
        batch_op.create_index(
            "ix_articles_published",
            ["published"],
            sqlite_where=CURRENT,
            postgresql_where=CURRENT,
        )
        batch_op.create_index(
            "ix_articles_changed",
            [sa.text("modified DESC"), sa.text("change_seq DESC"), "id", "revision", "published"],
            sqlite_where=CURRENT,
            postgresql_where=CURRENT,
        )
        batch_op.create_index(
            "ix_articles_section_changed",
            [
                "section",
                sa.text("modified DESC"),
                sa.text("change_seq DESC"),
                "id",
                "revision",
                "published",
            ],
            sqlite_where=CURRENT,
            postgresql_where=CURRENT,
        )


def downgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_index("ix_articles_section_changed")
        batch_op.drop_index("ix_articles_changed")
        batch_op.drop_column("change_seq")
        batch_op.drop_index("ix_articles_published")
        head = ["revision", "updated", "modified"]
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
    op.execute("DELETE FROM meta WHERE key IN ('sequence', 'changes')")
    op.drop_index("ix_departures_article", table_name="departures")
    op.drop_index("ix_departures_section_at", table_name="departures")
    op.drop_index("ix_departures_at", table_name="departures")
    op.create_index("ix_departures_published", "departures", ["published"])
    op.drop_index("ix_placements_left", table_name="placements")
    op.drop_index("ix_placements_article", table_name="placements")
    op.drop_table("placements")
