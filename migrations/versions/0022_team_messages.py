"""team messages: a message to a detail, to agents or to the coordinators, and each recipient's receipts (delivered, read, acknowledged, texted)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 11:40:00

"""
import sqlalchemy as sa
from alembic import op


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('team_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('detail_id', sa.Integer(), nullable=True),
    sa.Column('sender_id', sa.Integer(), nullable=False),
    sa.Column('audience', sa.String(length=12), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('asks_ack', sa.Boolean(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("audience IN ('detail', 'agents', 'coordinators')", name=op.f('ck_team_message_audience_known')),
    sa.ForeignKeyConstraint(['detail_id'], ['detail.id'], name=op.f('fk_team_message_detail_id_detail'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_team_message_organisation_id_organisation')),
    sa.ForeignKeyConstraint(['sender_id'], ['user.id'], name=op.f('fk_team_message_sender_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team_message')),
    sa.UniqueConstraint('sender_id', 'client_id', name=op.f('uq_team_message_sender_id_client_id'))
    )
    with op.batch_alter_table('team_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_team_message_detail_id'), ['detail_id'], unique=False)
        batch_op.create_index('ix_team_message_organisation_id_created_at', ['organisation_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_team_message_sender_id'), ['sender_id'], unique=False)

    op.create_table('message_recipient',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_via', sa.String(length=8), nullable=True),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('texted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('text_message_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("delivered_via IN ('socket', 'push')", name=op.f('ck_message_recipient_delivered_via_known')),
    sa.CheckConstraint('(delivered_at IS NULL) = (delivered_via IS NULL)', name=op.f('ck_message_recipient_delivered_says_how')),
    sa.ForeignKeyConstraint(['message_id'], ['team_message.id'], name=op.f('fk_message_recipient_message_id_team_message'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['text_message_id'], ['text_message.id'], name=op.f('fk_message_recipient_text_message_id_text_message'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_message_recipient_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_recipient')),
    sa.UniqueConstraint('message_id', 'user_id', name=op.f('uq_message_recipient_message_id_user_id'))
    )
    with op.batch_alter_table('message_recipient', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_recipient_text_message_id'), ['text_message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_message_recipient_user_id'), ['user_id'], unique=False)



def downgrade():
    with op.batch_alter_table('message_recipient', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_recipient_user_id'))
        batch_op.drop_index(batch_op.f('ix_message_recipient_text_message_id'))

    op.drop_table('message_recipient')
    with op.batch_alter_table('team_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_team_message_sender_id'))
        batch_op.drop_index('ix_team_message_organisation_id_created_at')
        batch_op.drop_index(batch_op.f('ix_team_message_detail_id'))

    op.drop_table('team_message')
