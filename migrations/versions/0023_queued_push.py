"""web push notifications waiting for the push job; a push subscription's sign-in session

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 11:40:00

"""

import sqlalchemy as sa
from alembic import op


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('queued_push',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.String(length=1000), nullable=False),
    sa.Column('url', sa.String(length=300), nullable=False),
    sa.Column('tag', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed', 'skipped', 'expired')", name=op.f('ck_queued_push_status_known')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_queued_push_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_queued_push'))
    )
    with op.batch_alter_table('queued_push', schema=None) as batch_op:
        batch_op.create_index('ix_queued_push_status_created_at', ['status', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_queued_push_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('push_subscription', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_push_subscription_session_id'), ['session_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_push_subscription_session_id_user_sessions'), 'user_sessions', ['session_id'], ['id'], ondelete='CASCADE')


def downgrade():
    with op.batch_alter_table('push_subscription', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_push_subscription_session_id_user_sessions'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_push_subscription_session_id'))
        batch_op.drop_column('session_id')

    with op.batch_alter_table('queued_push', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_queued_push_user_id'))
        batch_op.drop_index('ix_queued_push_status_created_at')

    op.drop_table('queued_push')
