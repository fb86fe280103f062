"""positions are stored once per device time, also from a clock that runs ahead

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 16:40:00

A point from a device far ahead of our clock is stored at our time (reported_at), which differs
on each retry; the time the device sent is what repeats, so the unique key moves to it.
"""

from datetime import timedelta

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("position", schema=None) as batch_op:
        batch_op.add_column(sa.Column("device_time", sa.DateTime(timezone=True), nullable=True))

    op.execute("UPDATE position SET device_time = reported_at")
    # Points stored at our time: the device's time is ours plus the offset kept (to 0.1 s), and the
    # apps send whole seconds, so copies of one point round to the same second.
    position = sa.table(
        "position",
        sa.column("id", sa.Integer),
        sa.column("reported_at", sa.DateTime(timezone=True)),
        sa.column("clock_offset_s", sa.Double),
        sa.column("device_time", sa.DateTime(timezone=True)),
    )
    connection = op.get_bind()
    ahead = connection.execute(
        sa.select(position.c.id, position.c.reported_at, position.c.clock_offset_s).where(
            position.c.clock_offset_s.is_not(None)
        )
    ).all()
    for row_id, reported_at, offset in ahead:
        sent = reported_at + timedelta(seconds=offset)
        sent = (sent + timedelta(microseconds=500_000)).replace(microsecond=0)
        connection.execute(position.update().where(position.c.id == row_id).values(device_time=sent))
    # The copies stored before this rule would block the new key: keep the first.
    op.execute(
        "DELETE FROM position WHERE id NOT IN (SELECT MIN(id) FROM position GROUP BY agent_id, source, device_time)"
    )

    with op.batch_alter_table("position", schema=None) as batch_op:
        batch_op.alter_column("device_time", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.drop_constraint(batch_op.f("uq_position_agent_id_source_reported_at"), type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_position_agent_id_source_device_time"), ["agent_id", "source", "device_time"]
        )


def downgrade():
    op.execute(
        "DELETE FROM position WHERE id NOT IN (SELECT MIN(id) FROM position GROUP BY agent_id, source, reported_at)"
    )
    with op.batch_alter_table("position", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_position_agent_id_source_device_time"), type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_position_agent_id_source_reported_at"), ["agent_id", "source", "reported_at"]
        )
        batch_op.drop_column("device_time")
