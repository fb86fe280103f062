"""The demo organisation: a London trip by a client's CEO, with venues at real coordinates.

Loading is idempotent: the organisation's name is the key, and a second run changes nothing.
Report times are relative to the day the demo is first loaded, in the venue's time zone.
"""

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from detail import hooks
from detail.extensions import db
from detail.models import (
    AfterAction,
    Agent,
    Assignment,
    Client,
    ClientRequest,
    Detail,
    Movement,
    Organisation,
    Principal,
    Site,
    Survey,
    User,
    Visit,
    seed_status_codes,
)

DEMO_ORGANISATION = "Aegis Protective Services"
LONDON = ZoneInfo("Europe/London")

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


def _at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=LONDON).astimezone(timezone.utc)


# Other packages add their part of the demo (intel: sample feeds); each step must be idempotent.
def load_demo(today: date | None = None) -> list[tuple[str, str, str]]:
    """Create the demo organisation unless it exists, then the registered steps; return the sign-ins."""
    sign_ins = [(role, email, password) for role, email, _, password, _ in SIGN_INS]
    org = db.session.scalar(sa.select(Organisation).where(Organisation.name == DEMO_ORGANISATION))
    if org is None:
        org = _create_demo_organisation(today or datetime.now(LONDON).date())
    for step in hooks.DEMO_STEPS:
        step(org)
    db.session.flush()
    return sign_ins


def _create_demo_organisation(today: date) -> Organisation:

    org = Organisation(name=DEMO_ORGANISATION, timezone="Europe/London")
    db.session.add(org)
    seed_status_codes(org)
    client = Client(organisation=org, name="Northwind Energy plc", notes="Annual investor summit, London.")
    principal = Principal(
        client=client, name="Eleanor Marsh", code_name="KESTREL", notes="CEO. Prefers rear entrances."
    )
    db.session.add_all([client, principal])

    agents: dict[str, Agent] = {}
    for role, email, name, password, extra in SIGN_INS:
        user = User(organisation=org, email=email, name=name, role=role, title=extra.get("title", ""))
        if role == "client":
            user.client = client
        user.set_password(password)
        db.session.add(user)
        if role == "agent":
            agents[email] = Agent(organisation=org, user=user, call_sign=extra["call_sign"])
            db.session.add(agents[email])

    sites = {
        key: Site(
            organisation=org,
            name=name,
            address=address,
            latitude=lat,
            longitude=lon,
            arrival_radius_m=radius,
            timezone="Europe/London",
        )
        for key, (name, address, lat, lon, radius) in VENUES.items()
    }
    db.session.add_all(sites.values())

    detail = Detail(
        client=client,
        principal=principal,
        name="Northwind investor summit",
        starts_at=_at(today, 6, 0),
        ends_at=_at(today, 22, 0),
        notes="Principal arrives LCY 08:30 from Frankfurt. Hostile emails reported last week.",
    )
    db.session.add(detail)
    detail.visits.extend(
        [
            Visit(site=sites["lcy"], arrives_at=_at(today, 8, 30), departs_at=_at(today, 9, 0), purpose="Arrival"),
            Visit(
                site=sites["excel"],
                arrives_at=_at(today, 9, 20),
                departs_at=_at(today, 17, 30),
                purpose="Summit keynote",
            ),
            Visit(
                site=sites["savoy"],
                arrives_at=_at(today, 18, 15),
                departs_at=_at(today, 22, 0),
                purpose="Dinner, overnight",
            ),
        ]
    )
    detail.movements.extend(
        [
            Movement(
                from_site=sites["lcy"],
                to_site=sites["excel"],
                departs_at=_at(today, 9, 0),
                arrives_at=_at(today, 9, 20),
            ),
            Movement(
                from_site=sites["excel"],
                to_site=sites["savoy"],
                departs_at=_at(today, 17, 30),
                arrives_at=_at(today, 18, 15),
            ),
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
                agent=agents[email],
                role=role,
                site=sites[site_key],
                report_at=_at(today, *report),
                shift_starts_at=_at(today, *shift_start),
                shift_ends_at=_at(today, 22, 0),
            )
        )
    _add_client_service(today, detail, sites, agents)
    db.session.flush()
    return org


def _add_client_service(today: date, detail: Detail, sites: dict, agents: dict) -> None:
    """An earlier detail with its after-action lessons, today's advance survey, and a request waiting."""
    client, principal = detail.client, detail.principal
    earlier_day = today - timedelta(days=42)
    earlier = Detail(
        client=client,
        principal=principal,
        name="Northwind board dinner",
        starts_at=_at(earlier_day, 17, 0),
        ends_at=_at(earlier_day, 23, 0),
        state="complete",
    )
    earlier.visits.append(
        Visit(site=sites["excel"], arrives_at=_at(earlier_day, 18, 0), departs_at=_at(earlier_day, 22, 30))
    )
    earlier.assignments.append(
        Assignment(
            agent=agents["lead@aegis.example"],
            role="detail_lead",
            site=sites["excel"],
            report_at=_at(earlier_day, 17, 30),
            shift_starts_at=_at(earlier_day, 17, 0),
            shift_ends_at=_at(earlier_day, 23, 0),
        )
    )
    db.session.add(earlier)
    db.session.add(
        AfterAction(
            detail=earlier,
            went_well="Arrival through the east service entrance went unnoticed.",
            difficulties="The ExCeL loading bay was locked at 22:00; departure waited 12 minutes.",
            lessons="Ask ExCeL security to keep the loading bay open until the principal has left.",
        )
    )
    advance = agents["advance@aegis.example"]
    db.session.add(
        Survey(
            detail=detail,
            site=sites["excel"],
            author=advance.user,
            status="submitted",
            submitted_at=_at(today, 6, 50),
            venue_contact="Duty manager, ExCeL events office",
            arrival_primary="East service entrance, Western Gateway",
            arrival_alternate="North car park lift lobby",
            safe_room="Room S12 behind the main stage",
            hospital_name="Royal London Hospital",
            hospital_minutes=14,
            radio_channel="Ch 3",
        )
    )
    contact = db.session.scalar(sa.select(User).where(User.client_id == client.id, User.role == "client"))
    db.session.add(
        ClientRequest(
            client=client,
            contact=contact,
            logged_by=contact,
            channel="portal",
            priority="normal",
            subject="Any protests expected near ExCeL during the keynote?",
            received_at=_at(today, 7, 5),
        )
    )
