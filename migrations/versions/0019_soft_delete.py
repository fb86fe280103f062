"""what was removed from a detail, kept for a short undo: visits, movements, assignments

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-10 09:00:00

The rows themselves are deleted (every reader of a detail's plan stays as it is); this table keeps
their snapshot so that the coordinator who removed them can put them back within the undo window.
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "removal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("detail_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("summary", sa.String(length=300), nullable=False),
        sa.Column("rows", sa.JSON(), nullable=False),
        sa.Column("removed_by_id", sa.Integer(), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("restored_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('visit', 'movement', 'assignment')", name=op.f("ck_removal_kind_known")),
        sa.ForeignKeyConstraint(
            ["detail_id"], ["detail.id"], name=op.f("fk_removal_detail_id_detail"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["removed_by_id"], ["user.id"], name=op.f("fk_removal_removed_by_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_removal")),
    )
    with op.batch_alter_table("removal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_removal_detail_id"), ["detail_id"], unique=False)


def downgrade():
    with op.batch_alter_table("removal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_removal_detail_id"))
    op.drop_table("removal")
