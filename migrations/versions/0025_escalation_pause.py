"""an escalation paused while its alarm is muted: since when, and how long it was paused before

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 12:20:00

"""

import sqlalchemy as sa
from alembic import op


revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('escalation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paused_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('paused_seconds', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('escalation', schema=None) as batch_op:
        batch_op.drop_column('paused_seconds')
        batch_op.drop_column('paused_at')
