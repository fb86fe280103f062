"""feed items say why their window is what it is: a time stated in the text, CAP or GDACS fields, or none

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 08:40:00

Items stored before this have an empty basis (their window came from CAP, GDACS or publication + 6 h).
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("feed_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("time_basis", sa.String(length=120), server_default="", nullable=False))


def downgrade():
    with op.batch_alter_table("feed_item", schema=None) as batch_op:
        batch_op.drop_column("time_basis")
