"""what a text is for (alarm, acknowledged, verification, team message): a verification code's words are never shown

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 12:17:08

Texts written before this are "other", except the verification codes, known by their fixed wording,
and the alarms, known by their acknowledge link.
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("text_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purpose", sa.String(length=16), server_default="other", nullable=False))
        batch_op.create_check_constraint(
            op.f("ck_text_message_purpose_known"), "purpose IN ('alarm', 'acknowledged', 'verification', 'team_message', 'other')"
        )
    op.execute("UPDATE text_message SET purpose = 'verification' WHERE body LIKE 'Oscar Mike code:%'")
    op.execute("UPDATE text_message SET purpose = 'alarm' WHERE purpose = 'other' AND body LIKE '%/ack/%'")


def downgrade():
    with op.batch_alter_table("text_message", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_text_message_purpose_known"), type_="check")
        batch_op.drop_column("purpose")
