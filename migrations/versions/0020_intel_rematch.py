"""intel matches again what changed: a queue of details and watch areas to rematch, and items waiting to be matched

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 09:00:00

intel_rematch holds one row per detail or watch area whose exposures changed, until the matching
job has matched the stored, still-current items against it. feed_item.matched_at is when an item
was matched on arrival; a poll matches at most a set number of its new items and the rest wait
(matched_at NULL) for the job. Items stored before this were matched when they arrived: they get
their fetch time.
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "intel_rematch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("detail_id", sa.Integer(), nullable=True),
        sa.Column("watch_area_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(detail_id IS NULL) <> (watch_area_id IS NULL)", name=op.f("ck_intel_rematch_for_detail_or_watch_area")
        ),
        sa.ForeignKeyConstraint(
            ["detail_id"], ["detail.id"], name=op.f("fk_intel_rematch_detail_id_detail"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["watch_area_id"],
            ["watch_area.id"],
            name=op.f("fk_intel_rematch_watch_area_id_watch_area"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intel_rematch")),
        sa.UniqueConstraint("detail_id", name=op.f("uq_intel_rematch_detail_id")),
        sa.UniqueConstraint("watch_area_id", name=op.f("uq_intel_rematch_watch_area_id")),
    )
    with op.batch_alter_table("feed_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("matched_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_feed_item_unmatched",
            ["feed_id"],
            unique=False,
            sqlite_where=sa.text("matched_at IS NULL"),
            postgresql_where=sa.text("matched_at IS NULL"),
        )
    op.execute("UPDATE feed_item SET matched_at = fetched_at")


def downgrade():
    with op.batch_alter_table("feed_item", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_item_unmatched")
        batch_op.drop_column("matched_at")
    op.drop_table("intel_rematch")
