"""The demo organisation: a London trip by a client's CEO, with venues at real coordinates.

Every time in it is relative to the moment it is loaded. The story is told on a clock of its own
(`STORY_NOW`, 07:10 on the summit's morning) and each of its times is placed as far before or after
the load as it is from 07:10 in the story: the advance agent on station since "06:24", a client
request in the inbox since "07:05", the principal landing at "08:30". So nothing that should be
past is in the future, whatever the hour it is loaded at.

Loading again (`flask demo`; `make run` does it on every start) duplicates nothing and moves the
demo's day to the new moment: the organisation, its accounts, venues, devices, tokens and feeds
stay; the two details keep their ids and are planned again around now; what was recorded on them
(statuses, alerts, handoffs and their events) is cleared and the story's own statuses are sent
again; its client request is waiting again. Flushes; the command commits.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from detail import hooks
from detail.domain.statuses import record_status
from detail.extensions import db
from detail.models import (
    AfterAction,
    Agent,
    Alert,
    Assignment,
    Client,
    ClientRequest,
    Detail,
    Event,
    Handoff,
    Movement,
    Organisation,
    Principal,
    Site,
    StatusCode,
    StatusReport,
    Survey,
    User,
    Visit,
    seed_status_codes,
    utcnow,
)

DEMO_ORGANISATION = "Aegis Protective Services"
CLIENT = "Northwind Energy plc"
SUMMIT = "Northwind investor summit"
BOARD_DINNER = "Northwind board dinner"
REQUEST_SUBJECT = "Any protests expected near ExCeL during the keynote?"

# role, email, name, password, extra: demo sign-ins only; `flask demo` refuses to run in production.
SIGN_INS = (
    ("admin", "admin@aegis.example", "Alex Admin", "demo-admin-pass", {}),
    ("coordinator", "ops@aegis.example", "Morgan Reyes", "demo-ops-pass", {"title": "Operations coordinator"}),
    ("agent", "lead@aegis.example", "Dana Okafor", "demo-agent-pass", {"call_sign": "Lima 1"}),
    ("agent", "second@aegis.example", "Chris Lindqvist", "demo-agent-pass", {"call_sign": "Lima 2"}),
    ("agent", "advance@aegis.example", "Priya Natarajan", "demo-agent-pass", {"call_sign": "Alpha 1"}),
    ("agent", "driver@aegis.example", "Tom Becker", "demo-agent-pass", {"call_sign": "Delta 1"}),
    ("client", "security@northwind.example", "Helen Park", "demo-client-pass", {"title": "Head of Security"}),
    ("client", "events@northwind.example", "Luis Ortega", "demo-client-pass", {"title": "Event Manager"}),
)

VENUES = {
    "savoy": ("The Savoy", "Strand, London WC2R 0EZ", 51.51040, -0.12040, 120),
    "excel": ("ExCeL London", "1 Western Gateway, London E16 1XL", 51.50810, 0.02950, 250),
    "lcy": ("London City Airport", "Hartmann Rd, London E16 2PX", 51.50480, 0.04950, 300),
}

# The story's "now": the demo is loaded at 07:10 on the morning of the summit, as far as it knows.
STORY_NOW = timedelta(hours=7, minutes=10)


@dataclass(frozen=True)
class StoryClock:
    """Places the story's times around the moment of loading (to the 5 minutes below it, so times read tidily)."""

    loaded: datetime

    @classmethod
    def at_load(cls, now: datetime) -> "StoryClock":
        return cls(now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0))

    def at(self, hh: int, mm: int = 0, days: int = 0) -> datetime:
        """The story's hh:mm (on the summit's day, or `days` from it) as a time around the load."""
        return self.loaded + timedelta(days=days, hours=hh, minutes=mm) - STORY_NOW


# Other packages add their part of the demo (intel: sample feeds); each step must be idempotent.
def load_demo(now: datetime | None = None) -> list[tuple[str, str, str]]:
    """Create the demo organisation unless it exists, (re)plan its day around `now`, then the registered
    steps; return the sign-ins."""
    sign_ins = [(role, email, password) for role, email, _, password, _ in SIGN_INS]
    org = db.session.scalar(sa.select(Organisation).where(Organisation.name == DEMO_ORGANISATION))
    if org is None:
        org = _create_demo_organisation()
    _plan_the_day(org, StoryClock.at_load(now or utcnow()))
    for step in hooks.DEMO_STEPS:
        step(org)
    db.session.flush()
    return sign_ins


def _create_demo_organisation() -> Organisation:
    """The parts of the demo that have no time: organisation, codes, client, accounts, venues."""
    org = Organisation(name=DEMO_ORGANISATION, timezone="Europe/London")
    db.session.add(org)
    seed_status_codes(org)
    client = Client(organisation=org, name=CLIENT, notes="Annual investor summit, London.")
    principal = Principal(
        client=client, name="Eleanor Marsh", code_name="KESTREL", notes="CEO. Prefers rear entrances."
    )
    db.session.add_all([client, principal])
    for role, email, name, password, extra in SIGN_INS:
        user = User(organisation=org, email=email, name=name, role=role, title=extra.get("title", ""))
        if role == "client":
            user.client = client
        user.set_password(password)
        db.session.add(user)
        if role == "agent":
            db.session.add(Agent(organisation=org, user=user, call_sign=extra["call_sign"]))
    db.session.add_all(
        Site(
            organisation=org,
            name=name,
            address=address,
            latitude=lat,
            longitude=lon,
            arrival_radius_m=radius,
            timezone="Europe/London",
        )
        for name, address, lat, lon, radius in VENUES.values()
    )
    db.session.flush()
    return org


@dataclass
class _Cast:
    """The demo's rows with no time, found by their names."""

    org: Organisation
    client: Client
    principal: Principal
    sites: dict[str, Site]
    agents: dict[str, Agent]
    contact: User

    @classmethod
    def find(cls, org: Organisation) -> "_Cast":
        client = db.session.scalar(sa.select(Client).where(Client.organisation_id == org.id, Client.name == CLIENT))
        principal = db.session.scalar(
            sa.select(Principal).where(Principal.client_id == client.id, Principal.code_name == "KESTREL")
        )
        by_name = {s.name: s for s in db.session.scalars(sa.select(Site).where(Site.organisation_id == org.id))}
        agents = {a.user.email: a for a in db.session.scalars(sa.select(Agent).where(Agent.organisation_id == org.id))}
        contact = db.session.scalar(
            sa.select(User).where(User.email == "security@northwind.example", User.organisation_id == org.id)
        )
        return cls(org, client, principal, {k: by_name[v[0]] for k, v in VENUES.items()}, agents, contact)


def _plan_the_day(org: Organisation, clock: StoryClock) -> None:
    cast = _Cast.find(org)
    summit, earlier = _detail(cast, SUMMIT), _detail(cast, BOARD_DINNER)
    _clear_the_record([d for d in (summit, earlier) if d.id is not None])
    _plan_summit(summit, cast, clock)
    _plan_board_dinner(earlier, cast, clock)
    db.session.add_all([summit, earlier])
    db.session.flush()
    _add_client_service(summit, earlier, cast, clock)
    _send_the_storys_statuses(summit, cast, clock)


def _detail(cast: _Cast, name: str) -> Detail:
    """The demo's detail of that name, or a new one (added once it is planned)."""
    found = db.session.scalar(sa.select(Detail).where(Detail.client_id == cast.client.id, Detail.name == name))
    return found or Detail(client=cast.client, name=name)


def _clear_the_record(details: list[Detail]) -> None:
    """What happened on the demo's details at an earlier load: it belongs to that day, not this one.
    The plan's own rows go too (re-made below); a detail's rows keep their detail, and it its id."""
    ids = [d.id for d in details]
    for model in (Alert, StatusReport, Handoff, Event):  # alerts first: they name status reports
        db.session.execute(sa.delete(model).where(model.detail_id.in_(ids)))
    for detail in details:
        detail.visits.clear()
        detail.movements.clear()
        detail.assignments.clear()
    # Before the new plan is added: an agent's one assignment a detail, and one lead.
    db.session.flush()


def _plan_summit(detail: Detail, cast: _Cast, clock: StoryClock) -> None:
    at, sites = clock.at, cast.sites
    detail.principal, detail.state = cast.principal, "planned"
    detail.starts_at, detail.ends_at = at(6, 0), at(22, 0)
    detail.notes = "Principal arrives LCY 08:30 from Frankfurt. Hostile emails reported last week."
    detail.visits.extend(
        [
            Visit(site=sites["lcy"], arrives_at=at(8, 30), departs_at=at(9, 0), purpose="Arrival"),
            Visit(site=sites["excel"], arrives_at=at(9, 20), departs_at=at(17, 30), purpose="Summit keynote"),
            Visit(site=sites["savoy"], arrives_at=at(18, 15), departs_at=at(22, 0), purpose="Dinner, overnight"),
        ]
    )
    detail.movements.extend(
        [
            Movement(from_site=sites["lcy"], to_site=sites["excel"], departs_at=at(9, 0), arrives_at=at(9, 20)),
            Movement(from_site=sites["excel"], to_site=sites["savoy"], departs_at=at(17, 30), arrives_at=at(18, 15)),
        ]
    )
    team = (
        ("lead@aegis.example", "detail_lead", "lcy", (7, 45), (7, 0)),
        ("second@aegis.example", "agent", "lcy", (7, 45), (7, 0)),
        ("advance@aegis.example", "advance", "excel", (6, 30), (6, 0)),
        ("driver@aegis.example", "driver", "lcy", (7, 30), (7, 0)),
    )
    for email, role, site_key, report, shift_start in team:
        detail.assignments.append(
            Assignment(
                agent=cast.agents[email],
                role=role,
                site=sites[site_key],
                report_at=at(*report),
                shift_starts_at=at(*shift_start),
                shift_ends_at=at(22, 0),
            )
        )


def _plan_board_dinner(detail: Detail, cast: _Cast, clock: StoryClock) -> None:
    """An earlier detail, six weeks before, complete, with its after-action lessons."""

    def at(hh: int, mm: int = 0):
        return clock.at(hh, mm, days=-42)

    detail.principal, detail.state = cast.principal, "complete"
    detail.starts_at, detail.ends_at = at(17, 0), at(23, 0)
    detail.visits.append(Visit(site=cast.sites["excel"], arrives_at=at(18, 0), departs_at=at(22, 30)))
    detail.assignments.append(
        Assignment(
            agent=cast.agents["lead@aegis.example"],
            role="detail_lead",
            site=cast.sites["excel"],
            report_at=at(17, 30),
            shift_starts_at=at(17, 0),
            shift_ends_at=at(23, 0),
        )
    )


def _add_client_service(summit: Detail, earlier: Detail, cast: _Cast, clock: StoryClock) -> None:
    """The earlier detail's lessons, today's advance survey, and a request waiting in the inbox."""
    if db.session.scalar(sa.select(AfterAction).where(AfterAction.detail_id == earlier.id)) is None:
        db.session.add(
            AfterAction(
                detail=earlier,
                went_well="Arrival through the east service entrance went unnoticed.",
                difficulties="The ExCeL loading bay was locked at 22:00; departure waited 12 minutes.",
                lessons="Ask ExCeL security to keep the loading bay open until the principal has left.",
            )
        )
    excel, advance = cast.sites["excel"], cast.agents["advance@aegis.example"]
    survey = db.session.scalar(sa.select(Survey).where(Survey.detail_id == summit.id, Survey.site_id == excel.id))
    if survey is None:
        survey = Survey(
            detail=summit,
            site=excel,
            author=advance.user,
            venue_contact="Duty manager, ExCeL events office",
            arrival_primary="East service entrance, Western Gateway",
            arrival_alternate="North car park lift lobby",
            safe_room="Room S12 behind the main stage",
            hospital_name="Royal London Hospital",
            hospital_minutes=14,
            radio_channel="Ch 3",
        )
        db.session.add(survey)
    survey.status, survey.submitted_at = "submitted", clock.at(6, 50)
    survey.reviewed_by, survey.reviewed_at, survey.review_note = None, None, ""

    of_client = ClientRequest.client_id == cast.client.id
    request = db.session.scalar(sa.select(ClientRequest).where(of_client, ClientRequest.subject == REQUEST_SUBJECT))
    if request is None:
        request = ClientRequest(client=cast.client, contact=cast.contact, logged_by=cast.contact, channel="portal")
        request.subject, request.priority = REQUEST_SUBJECT, "normal"
        db.session.add(request)
    # Waiting again, received five minutes before the load.
    request.received_at = clock.at(7, 5)
    request.acknowledged_at = request.acknowledged_by_id = request.answered_at = request.answered_by_id = None
    request.acknowledgement = request.answer = ""
    request.overdue_alerted_at = None


def _send_the_storys_statuses(summit: Detail, cast: _Cast, clock: StoryClock) -> None:
    """The advance agent has been on station at ExCeL since 06:24; the driver is on the way to the
    airport, due there by 07:25. Sent as the phones would have (events included), at those times."""
    codes: dict[str, StatusCode] = {}
    for code in db.session.scalars(
        sa.select(StatusCode).where(StatusCode.organisation_id == cast.org.id).order_by(StatusCode.sort_order)
    ):
        codes.setdefault(code.signal, code)  # by meaning: the organisation may have renamed its codes
    excel = cast.sites["excel"]
    story = (
        ("advance@aegis.example", "moving", (6, 5), (6, 25), (51.5155, -0.0590)),
        ("advance@aegis.example", "on_station", (6, 24), None, (excel.latitude, excel.longitude)),
        ("driver@aegis.example", "moving", (7, 5), (7, 25), (51.5138, 0.0081)),
    )
    for email, signal, (hh, mm), eta, (lat, lon) in story:
        if signal not in codes:  # no code means it any more: send nothing rather than guess
            continue
        record_status(
            cast.agents[email],
            codes[signal],
            client_id=f"demo-{email.split('@')[0]}-{signal}-{hh:02d}{mm:02d}",
            detail_id=summit.id,
            latitude=lat,
            longitude=lon,
            eta=clock.at(*eta) if eta else None,
            now=clock.at(hh, mm),
        )
