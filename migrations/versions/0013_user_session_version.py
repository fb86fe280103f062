"""each account has a session version, part of every session's and remember cookie's id

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 06:30:00

Sessions made before this carry a bare user id, which no longer signs anyone in: everyone signs
in once more after the upgrade.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_version", sa.String(length=32), server_default="0", nullable=False))


def downgrade():
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("session_version")
