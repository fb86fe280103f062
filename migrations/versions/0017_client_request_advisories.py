"""advisories attached to the answer to a client's request

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08 09:00:00

One row per (request, advisory): the pair is the primary key, so an advisory is attached to an
answer once however often the form is sent. Both sides cascade: a request or an advisory that goes
takes its attachments with it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "client_request_advisory",
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("advisory_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["advisory_id"],
            ["advisory.id"],
            name=op.f("fk_client_request_advisory_advisory_id_advisory"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["client_request.id"],
            name=op.f("fk_client_request_advisory_request_id_client_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", "advisory_id", name=op.f("pk_client_request_advisory")),
    )
    with op.batch_alter_table("client_request_advisory", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_client_request_advisory_advisory_id"), ["advisory_id"], unique=False)


def downgrade():
    with op.batch_alter_table("client_request_advisory", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_request_advisory_advisory_id"))
    op.drop_table("client_request_advisory")
