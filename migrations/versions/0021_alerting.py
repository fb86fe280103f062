"""alarms that reach people off the board: on-call shifts, contact channels, push subscriptions, texts out, escalation policies, escalations and their notification attempts

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 11:30:00

"""

import sqlalchemy as sa
from alembic import op


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('escalation_policy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('duress', 'sos', 'late', 'silent', 'request', 'advisory')", name=op.f('ck_escalation_policy_kind_known')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_escalation_policy_organisation_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_policy')),
    sa.UniqueConstraint('organisation_id', 'kind', name=op.f('uq_escalation_policy_organisation_id_kind'))
    )
    with op.batch_alter_table('escalation_policy', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_policy_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('contact_channel',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('address', sa.String(length=254), nullable=False),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('code_hash', sa.String(length=64), nullable=True),
    sa.Column('code_sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('code_attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('email', 'sms')", name=op.f('ck_contact_channel_kind_known')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_contact_channel_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_channel')),
    sa.UniqueConstraint('user_id', 'kind', 'address', name=op.f('uq_contact_channel_user_id_kind_address'))
    )
    with op.batch_alter_table('contact_channel', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_channel_user_id'), ['user_id'], unique=False)

    op.create_table('escalation_step',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('policy_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('delay_seconds', sa.Integer(), nullable=False),
    sa.Column('target', sa.String(length=16), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('channels', sa.String(length=40), nullable=False),
    sa.CheckConstraint("(target = 'person') = (person_id IS NOT NULL)", name=op.f('ck_escalation_step_person_named_for_person')),
    sa.CheckConstraint("target IN ('primary', 'backup', 'coordinators', 'person')", name=op.f('ck_escalation_step_target_known')),
    sa.CheckConstraint('delay_seconds >= 0', name=op.f('ck_escalation_step_delay_not_negative')),
    sa.ForeignKeyConstraint(['person_id'], ['user.id'], name=op.f('fk_escalation_step_person_id_user'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['policy_id'], ['escalation_policy.id'], name=op.f('fk_escalation_step_policy_id_escalation_policy'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_step')),
    sa.UniqueConstraint('policy_id', 'position', name=op.f('uq_escalation_step_policy_id_position'))
    )
    op.create_table('on_call_shift',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('primary', 'backup')", name=op.f('ck_on_call_shift_role_known')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_on_call_shift_ends_after_start')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_on_call_shift_organisation_id_organisation')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_on_call_shift_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_on_call_shift'))
    )
    with op.batch_alter_table('on_call_shift', schema=None) as batch_op:
        batch_op.create_index('ix_on_call_shift_organisation_id_ends_at', ['organisation_id', 'ends_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_on_call_shift_user_id'), ['user_id'], unique=False)

    op.create_table('push_subscription',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('endpoint', sa.String(length=2048), nullable=False),
    sa.Column('p256dh', sa.String(length=200), nullable=False),
    sa.Column('auth', sa.String(length=100), nullable=False),
    sa.Column('user_agent', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_success_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_push_subscription_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_push_subscription')),
    sa.UniqueConstraint('endpoint', name=op.f('uq_push_subscription_endpoint'))
    )
    with op.batch_alter_table('push_subscription', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_push_subscription_user_id'), ['user_id'], unique=False)

    op.create_table('text_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('to_number', sa.String(length=40), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('provider_sid', sa.String(length=64), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'delivered', 'failed', 'undelivered', 'uncertain')", name=op.f('ck_text_message_status_known')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_text_message_organisation_id_organisation')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_text_message_user_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_text_message')),
    sa.UniqueConstraint('provider_sid', name=op.f('uq_text_message_provider_sid'))
    )
    with op.batch_alter_table('text_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_text_message_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index('ix_text_message_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_text_message_user_id'), ['user_id'], unique=False)

    op.create_table('escalation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.String(length=40), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=True),
    sa.Column('detail_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('link', sa.String(length=300), nullable=False),
    sa.Column('ack_code', sa.String(length=8), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_step', sa.Integer(), nullable=True),
    sa.Column('next_step_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by_id', sa.Integer(), nullable=True),
    sa.Column('acknowledged_via', sa.String(length=8), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=200), nullable=False),
    sa.CheckConstraint("kind IN ('duress', 'sos', 'late', 'silent', 'request', 'advisory')", name=op.f('ck_escalation_kind_known')),
    sa.ForeignKeyConstraint(['acknowledged_by_id'], ['user.id'], name=op.f('fk_escalation_acknowledged_by_id_user')),
    sa.ForeignKeyConstraint(['alert_id'], ['alert.id'], name=op.f('fk_escalation_alert_id_alert'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['detail_id'], ['detail.id'], name=op.f('fk_escalation_detail_id_detail'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_escalation_organisation_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation')),
    sa.UniqueConstraint('subject', name=op.f('uq_escalation_subject'))
    )
    with op.batch_alter_table('escalation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_alert_id'), ['alert_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_escalation_detail_id'), ['detail_id'], unique=False)
        batch_op.create_index('ix_escalation_open', ['organisation_id', 'next_step_at'], unique=False)

    op.create_table('notification_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('escalation_id', sa.Integer(), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('address', sa.String(length=254), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('error', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('text_message_id', sa.Integer(), nullable=True),
    sa.Column('notice_id', sa.Integer(), nullable=True),
    sa.Column('link_token_hash', sa.String(length=64), nullable=True),
    sa.Column('link_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('link_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("channel IN ('push', 'sms', 'email')", name=op.f('ck_notification_attempt_channel_known')),
    sa.CheckConstraint("status IN ('queued', 'sending', 'sent', 'delivered', 'failed', 'skipped')", name=op.f('ck_notification_attempt_status_known')),
    sa.ForeignKeyConstraint(['escalation_id'], ['escalation.id'], name=op.f('fk_notification_attempt_escalation_id_escalation'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['notice_id'], ['notice.id'], name=op.f('fk_notification_attempt_notice_id_notice'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['text_message_id'], ['text_message.id'], name=op.f('fk_notification_attempt_text_message_id_text_message'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_notification_attempt_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_attempt')),
    sa.UniqueConstraint('escalation_id', 'step', 'user_id', 'channel', name=op.f('uq_notification_attempt_escalation_id_step_user_id_channel')),
    sa.UniqueConstraint('link_token_hash', name=op.f('uq_notification_attempt_link_token_hash'))
    )
    with op.batch_alter_table('notification_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_attempt_notice_id'), ['notice_id'], unique=False)
        batch_op.create_index('ix_notification_attempt_status', ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_attempt_text_message_id'), ['text_message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_attempt_user_id'), ['user_id'], unique=False)



def downgrade():
    with op.batch_alter_table('notification_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_attempt_user_id'))
        batch_op.drop_index(batch_op.f('ix_notification_attempt_text_message_id'))
        batch_op.drop_index('ix_notification_attempt_status')
        batch_op.drop_index(batch_op.f('ix_notification_attempt_notice_id'))

    op.drop_table('notification_attempt')
    with op.batch_alter_table('escalation', schema=None) as batch_op:
        batch_op.drop_index('ix_escalation_open')
        batch_op.drop_index(batch_op.f('ix_escalation_detail_id'))
        batch_op.drop_index(batch_op.f('ix_escalation_alert_id'))

    op.drop_table('escalation')
    with op.batch_alter_table('text_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_text_message_user_id'))
        batch_op.drop_index('ix_text_message_status_next_attempt_at')
        batch_op.drop_index(batch_op.f('ix_text_message_organisation_id'))

    op.drop_table('text_message')
    with op.batch_alter_table('push_subscription', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_push_subscription_user_id'))

    op.drop_table('push_subscription')
    with op.batch_alter_table('on_call_shift', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_on_call_shift_user_id'))
        batch_op.drop_index('ix_on_call_shift_organisation_id_ends_at')

    op.drop_table('on_call_shift')
    op.drop_table('escalation_step')
    with op.batch_alter_table('contact_channel', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_channel_user_id'))

    op.drop_table('contact_channel')
    with op.batch_alter_table('escalation_policy', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_policy_organisation_id'))

    op.drop_table('escalation_policy')
