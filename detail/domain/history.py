"""What an agent has done: the clients and details worked, in which roles, and punctuality (when he
was first on station against the report time). Used on the agent's history page and to suggest,
when staffing a detail, the agents who already know its client."""

import statistics
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from detail.extensions import db
from detail.models import Assignment, Client, Detail, StatusCode, StatusReport


@dataclass(frozen=True)
class Worked:
    assignment: Assignment
    on_station_at: datetime | None

    @property
    def minutes_late(self) -> int | None:
        """Minutes after the report time he was first on station (negative: early); None if never."""
        if self.on_station_at is None:
            return None
        return round((self.on_station_at - self.assignment.report_at).total_seconds() / 60)


@dataclass(frozen=True)
class ClientRecord:
    client: Client
    details: int
    led: int
    since: datetime
    median_minutes_late: float | None
    on_time_share: float | None  # of the details with an on-station report


def worked(agent_id: int, before: datetime | None = None) -> list[Worked]:
    """The agent's assignments (those started before `before`, if given), newest first, with the
    first on-station report of each."""
    first_on_station = (
        sa.select(sa.func.min(StatusReport.reported_at))
        .join(StatusCode)
        .where(
            StatusReport.agent_id == Assignment.agent_id,
            StatusReport.detail_id == Assignment.detail_id,
            StatusCode.signal.in_(("on_station", "hot")),
        )
        .correlate(Assignment)
        .scalar_subquery()
    )
    query = sa.select(Assignment, first_on_station).where(Assignment.agent_id == agent_id)
    if before is not None:
        query = query.where(Assignment.shift_starts_at < before)
    rows = db.session.execute(query.order_by(Assignment.report_at.desc())).all()
    return [Worked(assignment, on_station) for assignment, on_station in rows]


def by_client(history: list[Worked]) -> list[ClientRecord]:
    """The agent's record with each client, the most worked for first."""
    groups: dict[int, list[Worked]] = {}
    for item in history:
        groups.setdefault(item.assignment.detail.client_id, []).append(item)
    records = []
    for items in groups.values():
        lateness = [i.minutes_late for i in items if i.minutes_late is not None]
        records.append(
            ClientRecord(
                client=items[0].assignment.detail.client,
                details=len({i.assignment.detail_id for i in items}),
                led=sum(1 for i in items if i.assignment.role == "detail_lead"),
                since=min(i.assignment.report_at for i in items),
                median_minutes_late=statistics.median(lateness) if lateness else None,
                on_time_share=sum(1 for m in lateness if m <= 0) / len(lateness) if lateness else None,
            )
        )
    return sorted(records, key=lambda r: (-r.details, r.client.name))


def details_for_client(client_id: int, before: datetime) -> dict[int, int]:
    """Per agent, how many of the client's details he has worked that started before `before`."""
    rows = db.session.execute(
        sa.select(Assignment.agent_id, sa.func.count(sa.distinct(Assignment.detail_id)))
        .join(Detail, Assignment.detail_id == Detail.id)
        .where(Detail.client_id == client_id, Detail.starts_at < before)
        .group_by(Assignment.agent_id)
    ).all()
    return dict(rows)
