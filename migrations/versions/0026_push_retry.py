"""a notification attempt's push tried again: how many tries, and when the next one is due

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 15:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("notification_attempt", schema=None) as batch_op:
        batch_op.add_column(sa.Column("push_tries", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("notification_attempt", schema=None) as batch_op:
        batch_op.drop_column("retry_at")
        batch_op.drop_column("push_tries")
