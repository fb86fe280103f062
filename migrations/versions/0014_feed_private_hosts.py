"""an organisation's private hosts for feeds: the admin's exceptions to public addresses only

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 06:40:00

Feeds are fetched from public addresses only; an intranet feed needs its host or range named here.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("feed_private_hosts", sa.Text(), server_default="", nullable=False))


def downgrade():
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.drop_column("feed_private_hosts")
