"""A detail's file: what is known of one detail, read in one go for one page, in sections: the
itinerary in time order, the team and its report times, the live state of each agent, the client's
requests, risks and BOLOs, site surveys, handoffs and the timeline. Intel's section comes in through
detail.hooks (the pages add it). Reads only.

Two readers: the organisation's coordinators read all of it; the detail's lead reads it on the phone
without what only coordinators see (for_lead). What the lead is not given, and why, is in
docs/agents.md ("The detail file"); each leave-out is marked where it is made.
"""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from detail.domain import board_state, statuses, surveys, timeline
from detail.domain.schedule import Stop, in_time_order
from detail.domain.timefmt import CLOCK, DEFAULT_FORMAT, assignment_zone, detail_zone, local_time
from detail.extensions import db
from detail.models import (
    Assignment,
    ClientRequest,
    Detail,
    Handoff,
    PersonOfInterest,
    Risk,
    Site,
    Survey,
    User,
    utcnow,
)


def until_text(seconds: float) -> str:
    """How long until a moment, as the board's countdown says it (static/js/board.js untilText)."""
    s = max(0, int(-(-seconds // 1)))
    if s < 60:
        return f"in {s} s"
    if s < 3600:
        return f"in {s // 60} min {s % 60:02d} s"
    return f"in {s // 3600} h {(s % 3600) // 60:02d} min"


def age_text(seconds: int) -> str:
    """How old a position is: "40 s ago", "12 min ago", "2 h 05 min ago"."""
    if seconds < 60:
        return f"{seconds} s ago"
    minutes = seconds // 60
    if minutes < 90:
        return f"{minutes} min ago"
    return f"{minutes // 60} h {minutes % 60:02d} min ago"


@dataclass
class TeamRow:
    """One agent on the detail: the post and report time, and where the agent stands now."""

    assignment: Assignment
    zone: str
    report_local: str
    shift_local: str
    seconds_to_report: int  # negative once the report time has passed
    countdown: str  # "in 1 h 20 min" before the report time, "" after
    punctuality: str  # "on station 3 min before report time", once on station
    late: str  # "Late 12 min" while late (the row is flagged), else ""
    code: dict | None  # the current code (StatusCode.as_dict) or None before the first report
    code_since: str
    note: str
    position_age: str  # "" without a position
    next_site: str
    eta: str


@dataclass
class SurveyRow:
    site: Site
    survey: Survey | None


@dataclass
class DetailFile:
    detail: Detail
    for_lead: bool
    zone: str
    now: datetime
    schedule: list[Stop]
    team: list[TeamRow]
    requests: list[ClientRequest]
    risks: list[Risk]
    client_risks: list[Risk]
    persons: list[PersonOfInterest]
    bolos: list[str]
    surveys: list[SurveyRow]
    handoffs: list[Handoff]
    timeline: list[timeline.Line]

    @property
    def late_count(self) -> int:
        return sum(1 for row in self.team if row.late)


def _shift(assignment: Assignment, tz: str) -> str:
    """ "07:00 GMT – 22:00 GMT", naming the end's day when the shift ends on another."""
    start, end = assignment.shift_starts_at, assignment.shift_ends_at
    same_day = local_time(start, tz, "%Y-%m-%d") == local_time(end, tz, "%Y-%m-%d")
    return f"{local_time(start, tz, CLOCK)} – {local_time(end, tz, CLOCK if same_day else '%a %H:%M %Z')}"


def _team(detail: Detail, now: datetime, for_lead: bool) -> list[TeamRow]:
    known = board_state.AgentsOfDetail.read(detail)
    cover = None
    if for_lead:
        # A duress reads as the organisation's cover code, as on the phone that sent it: the alarm is
        # the coordinators' to answer, and the lead's screen may be seen by the same people.
        cover = statuses.cover_code(statuses.organisation_codes(detail.client.organisation_id))
    rows = []
    for a in sorted(detail.assignments, key=lambda a: (a.report_at, a.agent.call_sign)):
        tz = assignment_zone(a)
        row = board_state.agent_row(a, now, known)
        status, position, estimate = row["status"], row["position"], row["next_site"]
        code, note = (status["code"], status["note"]) if status else (None, "")
        if for_lead and code is not None and code["kind"] == "emergency":
            code, note = cover.as_dict(), ""
        seconds = int((a.report_at - now).total_seconds())
        ended = detail.state == "complete"
        rows.append(
            TeamRow(
                assignment=a,
                zone=tz,
                report_local=local_time(a.report_at, tz, DEFAULT_FORMAT),
                shift_local=_shift(a, tz),
                seconds_to_report=seconds,
                countdown=until_text(seconds) if seconds > 0 and not ended and not row["punctuality"] else "",
                punctuality=row["punctuality"]["text"] if row["punctuality"] else "",
                late=row["late"]["text"] if row["late"] else "",
                code=code,
                code_since=local_time(datetime.fromisoformat(status["reported_at"]), tz, CLOCK) if status else "",
                note=note,
                position_age=age_text(position["age_s"]) if position else "",
                next_site=estimate["name"] if estimate else "",
                eta=(
                    local_time(datetime.fromisoformat(estimate["eta"]), tz, CLOCK)
                    if estimate and estimate.get("eta")
                    else ""
                ),
            )
        )
    return rows


def _risks(detail: Detail, for_lead: bool) -> tuple[list[Risk], list[Risk]]:
    """The detail's own risks (not closed), and for coordinators the client's register beside them."""
    query = sa.select(Risk).where(Risk.client_id == detail.client_id, Risk.status != "closed")
    own = db.session.scalars(query.where(Risk.detail_id == detail.id)).all()
    # The client-wide register is the coordinators' (it covers the client's other details too).
    client_wide = [] if for_lead else db.session.scalars(query.where(Risk.detail_id.is_(None))).all()
    order = lambda r: (-r.score, r.review_on)  # noqa: E731
    return sorted(own, key=order), sorted(client_wide, key=order)


def _persons(detail: Detail) -> list[PersonOfInterest]:
    return list(
        db.session.scalars(
            sa.select(PersonOfInterest)
            .where(
                PersonOfInterest.client_id == detail.client_id,
                sa.or_(PersonOfInterest.detail_id == detail.id, PersonOfInterest.detail_id.is_(None)),
            )
            .order_by(PersonOfInterest.detail_id.is_(None), PersonOfInterest.id)
        )
    )


def read(detail: Detail, for_lead: bool = False, now: datetime | None = None) -> DetailFile:
    """The detail's file for its coordinators, or (for_lead) for its lead."""
    now = now or utcnow()
    persons = [] if for_lead else _persons(detail)
    # Both read the BOLO summaries shared to the detail; only coordinators the persons' files.
    bolos = list(
        db.session.scalars(
            sa.select(PersonOfInterest.bolo)
            .where(PersonOfInterest.detail_id == detail.id, PersonOfInterest.bolo_shared.is_(True))
            .order_by(PersonOfInterest.id)
        )
    )
    found = {s.site_id: s for s in surveys.for_detail(detail)}
    own_risks, client_risks = _risks(detail, for_lead)
    tz = detail_zone(detail)
    return DetailFile(
        detail=detail,
        for_lead=for_lead,
        zone=tz,
        now=now,
        schedule=in_time_order(detail),
        team=_team(detail, now, for_lead),
        requests=list(
            db.session.scalars(
                sa.select(ClientRequest)
                .where(ClientRequest.detail_id == detail.id)
                .order_by(ClientRequest.received_at.desc(), ClientRequest.id.desc())
            )
        ),
        risks=own_risks,
        client_risks=client_risks,
        persons=persons,
        bolos=bolos,
        surveys=[SurveyRow(site, found.get(site.id)) for site in detail.sites],
        handoffs=list(
            db.session.scalars(sa.select(Handoff).where(Handoff.detail_id == detail.id).order_by(Handoff.at.desc()))
        ),
        timeline=timeline.lines(detail.client.organisation_id, detail.id, tz, for_team=for_lead),
    )


def plugged_sections(detail: Detail, registry: list) -> dict:
    """What other packages add for the detail (detail.hooks: DETAIL_SECTIONS for coordinators,
    ASSIGNMENT_SECTIONS for the detail's agents), merged."""
    found: dict = {}
    for section in registry:
        found.update(section(detail))
    return found


def advisory_rows(items: list[dict], tz: str) -> list[dict]:
    """Advisories as intel's sections give them, each with its window in the detail's zone ("when")."""
    rows = []
    for a in items:
        starts, ends = datetime.fromisoformat(a["starts_at"]), datetime.fromisoformat(a["ends_at"])
        rows.append({**a, "when": f"{local_time(starts, tz, DEFAULT_FORMAT)} – {local_time(ends, tz, DEFAULT_FORMAT)}"})
    return rows


def is_lead(user: User, detail: Detail) -> bool:
    """Whether the user is the agent who leads the detail now."""
    agent = user.agent if user.role == "agent" else None
    lead = detail.lead
    return agent is not None and lead is not None and lead.id == agent.id
