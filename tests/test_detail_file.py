"""The detail file: one page per detail for its coordinators, and the same file on its lead's phone
without what only coordinators see.

* Every section is on the page, under its heading and in the table of contents, with what the world
  holds for it: the itinerary in time order, the team's report times and countdowns, each agent's code
  and position age with a late row flagged in the row, the advisories, requests, risks and BOLOs,
  surveys, handoffs and timeline; the live board one link away.
* Who may read it: another organisation's coordinator finds nothing, a client contact and an agent
  who does not lead the detail are refused, the lead reads it on the phone.
* The lead's file carries no field only coordinators read (tests/test_internal_fields.py's markers),
  and does carry what the team needs (the controls).
"""

import html
import re
from datetime import timedelta

import pytest
import time_machine

from detail.domain import handoff
from detail.domain import requests as requests_inbox
from detail.domain.detail_file import age_text, until_text
from detail.domain.statuses import find_code, record_status
from detail.extensions import db
from detail.models import Agent, Assignment, PersonOfInterest, Risk, Survey, User
from intel.models import Advisory

from .conftest import PASSWORD_HASH, T0, sign_in
from .test_internal_fields import NOW, _internal_world, fill_internal_fields, leaks, marker_text

SECTIONS = (
    "Itinerary",
    "Team",
    "Live state",
    "Client requests",
    "Risks and BOLOs",
    "Site surveys",
    "Handoff notes",
    "Timeline",
)


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def section(page: str, anchor: str) -> str:
    """The HTML of the page's section with that id, up to the next section."""
    start = page.index(f'id="{anchor}"')
    end = page.find("<section", start)
    return page[start : end if end > 0 else len(page)]


def _second_agent(world, call_sign="Bravo 2", name="Alex Moss") -> tuple[User, Agent]:
    user = User(organisation=world.org, email=f"{call_sign.replace(' ', '').lower()}@aegis.example", name=name)
    user.role, user.password_hash = "agent", PASSWORD_HASH
    agent = Agent(organisation=world.org, user=user, call_sign=call_sign)
    db.session.add_all([user, agent])
    return user, agent


@pytest.fixture
def full_world(world):
    """The world's detail with something in every section, read at NOW (08:00 UTC is 08:00 GMT)."""
    detail = world.detail
    with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
        bravo2_user, bravo2 = _second_agent(world)
        # Bravo 2 was due at the venue at 07:50 and has sent nothing: late. Bravo 1 is on station.
        db.session.add(
            Assignment(
                detail=detail,
                agent=bravo2,
                role="agent",
                site=world.venue,
                report_at=T0 - timedelta(minutes=10),
                shift_starts_at=T0 - timedelta(hours=1),
                shift_ends_at=T0 + timedelta(hours=10),
            )
        )
        _, bravo3 = _second_agent(world, "Bravo 3", "Kim Lee")
        db.session.add(
            Assignment(
                detail=detail,
                agent=bravo3,
                role="agent",
                site=world.venue,
                report_at=T0 + timedelta(hours=1, minutes=30),
                shift_starts_at=T0 + timedelta(hours=1),
                shift_ends_at=T0 + timedelta(hours=10),
            )
        )
        db.session.flush()
        record_status(
            world.agent,
            find_code(world.org.id, "OS"),
            client_id="os-1",
            latitude=51.5101,
            longitude=-0.1340,
            note="lobby covered",
        )
        requests_inbox.log_request(
            client=world.client, subject="Can we leave by the rear door?", detail=detail, contact=world.contact
        )
        db.session.add_all(
            [
                Risk(
                    client=world.client,
                    detail=detail,
                    title="Crowd at the venue entrance",
                    likelihood=3,
                    impact=4,
                    mitigation="Use the loading bay",
                    review_on=T0.date(),
                ),
                Risk(client=world.client, title="Paparazzi", likelihood=2, impact=2, review_on=T0.date()),
                PersonOfInterest(
                    client=world.client,
                    detail=detail,
                    name="John Roe",
                    work_up="Wrote twice to the CEO",
                    bolo="Tall man, grey coat, asks for the CEO",
                    bolo_shared=True,
                ),
                Survey(detail=detail, site=world.hotel, status="approved", safe_room="Suite 12"),
                Advisory(
                    organisation_id=world.org.id,
                    detail_id=detail.id,
                    site_id=world.hotel.id,
                    title="Candidate: march near the hotel",
                    category="protest",
                    severity="high",
                    reason="within 400 m of the Grand Hotel",
                    starts_at=T0,
                    ends_at=T0 + timedelta(hours=3),
                    status="candidate",
                ),
                Advisory(
                    organisation_id=world.org.id,
                    detail_id=detail.id,
                    site_id=world.venue.id,
                    title="Published: road closure at the venue",
                    category="transport",
                    severity="moderate",
                    reason="on the way to ExCeL London",
                    summary="The eastern approach is closed",
                    recommendation="Arrive from the west",
                    starts_at=T0,
                    ends_at=T0 + timedelta(hours=6),
                    status="published",
                    published_at=T0,
                ),
            ]
        )
        world.assignment.role = "agent"  # so that the handoff makes Bravo 1 the lead again, with notes
        db.session.flush()
        handoff.hand_off(detail, world.agent, "Principal walks fast; keep the car close.", world.admin)
        db.session.commit()
    return world


def _as(client, user):
    sign_in(client, user)
    return client


def test_the_coordinators_file_has_every_section_with_its_contents(client, full_world):
    w = full_world
    with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
        page = text(_as(client, w.coordinator).get(f"/admin/details/{w.detail.id}"))
    contents = section(page, "toc-heading")
    for title in (*SECTIONS, "Intel and advisories"):
        assert re.search(rf'<h2 id="[a-z]+-heading">{title}</h2>', page), title
        assert f">{title}</a>" in contents, title
    # The live board is one click away.
    assert f'href="/board/details/{w.detail.id}"' in page

    itinerary = section(page, "itinerary")
    # Visit (08:00) then the movement (10:00), in the venue's zone with its label.
    assert itinerary.index("Tue 24 Nov 08:00 GMT") < itinerary.index("Tue 24 Nov 10:00 GMT")
    assert itinerary.index("Grand Hotel</td>") < itinerary.index("Grand Hotel → ExCeL London")
    assert "/visits/" in itinerary and "/movements/" in itinerary  # edit and remove per row

    team = section(page, "assignments")
    assert team.index("Bravo 1") < team.index("Bravo 2") < team.index("Bravo 3")  # by report time
    assert "Tue 24 Nov 09:30 GMT" in team  # Bravo 3's report time
    assert 'class="countdown" role="timer"' in team and "in 1 h 20 min" in team
    assert "on station" in team  # Bravo 1's punctuality

    live_state = section(page, "live")
    row_start = r'<tr class="agent-row( late)?" data-agent="\d+">\s*<td class="live-agent">(Bravo \d)'
    rows = re.findall(row_start, live_state)
    assert (" late", "Bravo 2") in rows and ("", "Bravo 1") in rows and ("", "Bravo 3") in rows
    assert "Late 20 min" in live_state  # said in the late row itself
    assert ">OS</span>" in live_state and "lobby covered" in live_state
    assert "08:10 GMT" in live_state and "0 s ago" in live_state  # the code's time, the position's age

    intel = section(page, "intel")
    assert "Candidate: march near the hotel" in intel and "Published: road closure at the venue" in intel
    assert "1 to review" in intel and f"/intel/advisories?detail={w.detail.id}" in intel

    assert "Can we leave by the rear door?" in section(page, "requests")
    risks = section(page, "risks")
    assert "Crowd at the venue entrance" in risks and "Paparazzi" in risks and "3×4 = 12" in risks
    assert "John Roe" in risks and "Tall man, grey coat" in risks and "/admin/persons/" in risks
    surveys = section(page, "surveys")
    assert "Grand Hotel" in surveys and "approved" in surveys and "Suite 12" in surveys
    assert "ExCeL London" in surveys and "not started" in surveys
    assert "Principal walks fast" in section(page, "handoffs")
    timeline = section(page, "timeline")
    assert "Bravo 1 OS lobby covered" in timeline and "lead handed from nobody to Bravo 1" in timeline
    assert "client request: Can we leave by the rear door?" in timeline


def test_the_lead_reads_the_file_on_the_phone_without_what_only_coordinators_see(client, full_world):
    w = full_world
    w.detail.notes = "Coordinators only: the client's invoice is late"
    db.session.commit()
    with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
        state = _as(client, w.agent_user).get("/phone/state").get_json()
        page = text(client.get(f"/phone/details/{w.detail.id}"))
    assert state["assignments"][0]["file_url"] == f"/phone/details/{w.detail.id}"
    for title in SECTIONS:
        assert re.search(rf'<h2 id="[a-z]+-heading">{title}</h2>', page), title
    assert "Published: road closure at the venue" in page and "Arrive from the west" in page
    assert "Late 20 min" in page and "in 1 h 20 min" in page and "Grand Hotel → ExCeL London" in page
    assert "Tall man, grey coat" in page and "Crowd at the venue entrance" in page and "Suite 12" in page
    assert "Principal walks fast" in page and "Can we leave by the rear door?" in page
    # Not: the candidate, the persons' files, the client-wide register, the detail's internal notes.
    for hidden in ("Candidate: march", "John Roe", "Wrote twice", "Paparazzi", "invoice is late", "/admin/"):
        assert hidden not in page, hidden


def test_a_duress_reads_as_the_cover_code_on_the_leads_file(client, full_world):
    w = full_world
    bravo2 = db.session.scalars(db.select(Agent).where(Agent.call_sign == "Bravo 2")).one()
    with time_machine.travel(T0 + timedelta(minutes=12), tick=False):
        record_status(bravo2, find_code(w.org.id, "DUR"), client_id="d-1", note="they have a knife")
        db.session.commit()
        lead = text(_as(client, w.agent_user).get(f"/phone/details/{w.detail.id}"))
        coordinator = text(_as(client, w.coordinator).get(f"/admin/details/{w.detail.id}"))
    assert ">DUR</span>" in section(coordinator, "live") and "they have a knife" in coordinator
    assert ">DUR<" not in lead and "Duress" not in lead and "knife" not in lead
    row = re.search(r'<td class="live-agent">Bravo 2.*?</tr>', section(lead, "live"), re.S).group(0)
    assert ">CLR</span>" in row or "Clear" in row


@pytest.mark.parametrize(
    "who, path, status",
    [
        ("other_org", "/admin/details/{id}", 404),
        ("client", "/admin/details/{id}", 403),
        ("agent", "/admin/details/{id}", 403),
        ("coordinator", "/phone/details/{id}", 403),
        ("client", "/phone/details/{id}", 403),
        ("bravo2", "/phone/details/{id}", 403),  # on the detail, not its lead
        ("idle_agent", "/phone/details/{id}", 404),  # not on it: to him the detail is not there
        ("agent", "/phone/details/{other_client}", 404),  # his organisation's, not one of his
        ("agent", "/phone/details/{other_org}", 404),  # another organisation's
        ("agent", "/phone/details/{id}", 200),
        ("coordinator", "/admin/details/{id}", 200),
    ],
)
def test_who_may_read_the_file(client, full_world, who, path, status):
    w = full_world
    users = {
        "other_org": w.other_org_coordinator,
        "client": w.contact,
        "agent": w.agent_user,
        "coordinator": w.coordinator,
        "idle_agent": w.idle_agent_user,
        "bravo2": db.session.scalars(db.select(User).where(User.name == "Alex Moss")).one(),
    }
    url = path.format(id=w.detail.id, other_org=w.other_org_detail.id, other_client=w.other_client_detail.id)
    response = _as(client, users[who]).get(url)
    assert response.status_code == status, (who, url)
    if status != 200:
        assert "Principal walks fast" not in text(response)


def test_a_lead_who_hands_over_loses_the_file(client, full_world):
    w = full_world
    handoff.hand_off(w.detail, w.idle_agent_user.agent, "Over to you", w.coordinator)
    db.session.commit()
    assert _as(client, w.agent_user).get(f"/phone/details/{w.detail.id}").status_code == 403
    assert _as(client, w.idle_agent_user).get(f"/phone/details/{w.detail.id}").status_code == 200


# Of the internal fields (hidden from clients), what the detail's lead does read: the team's own
# itinerary notes and reports, the handoff notes written for the lead, the detail's risks, the shared
# BOLO summary, an approved survey's key points. Everything else marked internal is coordinators' only.
TEAM_FIELDS = {
    "Movement.notes",
    "StatusReport.note",
    "Handoff.notes",
    "Risk.title",
    "Risk.mitigation",
    "PersonOfInterest.bolo",
    "Survey.safe_room",
    "Survey.hospital_name",
    "Survey.radio_channel",
    "Alert.message",
}


@pytest.fixture
def marked_world(world):
    """tests/test_internal_fields.py's world of rows with internal fields, each holding its marker, and
    the detail handed to Bravo 9 with marked notes."""
    with time_machine.travel(NOW, tick=False):
        _internal_world(world)
        markers = fill_internal_fields(every_model=False)
        handoff.hand_off(world.detail, world.idle_agent_user.agent, marker_text(markers, "Handoff.notes"), world.admin)
        markers = fill_internal_fields(every_model=False)
        db.session.commit()
    return markers


def test_the_leads_file_shows_no_field_only_coordinators_read(client, world, marked_world):
    markers = marked_world
    lead = world.idle_agent_user
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        lead_page = _as(client, lead).get(f"/phone/details/{world.detail.id}")
        coordinator_page = _as(client, world.coordinator).get(f"/admin/details/{world.detail.id}")
    assert lead_page.status_code == 200 and coordinator_page.status_code == 200
    shown = set(leaks(markers, lead_page.get_data(as_text=True)))
    assert shown <= TEAM_FIELDS, f"the lead's file shows {sorted(shown - TEAM_FIELDS)}"
    # Controls: what the team needs is there, and the coordinators' file shows the rest.
    assert {"Movement.notes", "Handoff.notes", "PersonOfInterest.bolo", "Risk.title", "Survey.safe_room"} <= shown
    on_coordinators = set(leaks(markers, coordinator_page.get_data(as_text=True)))
    assert {"Detail.notes", "PersonOfInterest.name"} <= on_coordinators


def test_the_timeline_of_the_team_leaves_out_duress_and_unpublished_intel(world):
    from detail.domain.timeline import describe

    duress = {"call_sign": "Bravo 1", "code": {"code": "DURESS", "kind": "emergency"}}
    assert describe("status", duress) == "Bravo 1 DURESS"
    assert describe("status", duress, for_team=True) is None
    assert describe("alert", {"kind": "duress", "message": "Bravo 1: DURESS"}, for_team=True) is None
    assert describe("alert", {"kind": "late_om", "message": "no OM"}, for_team=True) == "alert: no OM"
    assert describe("advisory_candidate", {"severity": "high", "title": "t"}, for_team=True) is None
    assert describe("advisory_published", {"severity": "high", "title": "t"}, for_team=True) == "advisory (high): t"


def test_countdown_and_age_texts_read_as_the_board_does():
    assert until_text(58.5) == "in 59 s" and until_text(59.2) == "in 1 min 00 s"
    assert until_text(125) == "in 2 min 05 s"
    assert until_text(4800) == "in 1 h 20 min"
    assert age_text(40) == "40 s ago" and age_text(720) == "12 min ago" and age_text(7500) == "2 h 05 min ago"


def test_the_new_leads_mail_tells_the_detail_so_far_without_a_duress(world):
    from detail.models import Notice

    with time_machine.travel(T0 - timedelta(minutes=20), tick=False):
        record_status(world.agent, find_code(world.org.id, "OS"), client_id="os-1", note="in the lobby")
        record_status(world.agent, find_code(world.org.id, "DUR"), client_id="d-1", note="held at the door")
        db.session.commit()
        handoff.hand_off(world.detail, world.idle_agent_user.agent, "Over to you", world.coordinator)
        db.session.commit()
    mail = db.session.scalars(db.select(Notice).where(Notice.user_id == world.idle_agent_user.id)).one().body
    assert "Bravo 1 OS in the lobby" in mail and "lead handed from Bravo 1 to Bravo 9" in mail
    assert "DUR" not in mail and "held at the door" not in mail


def test_a_shift_past_midnight_names_the_day_it_ends(client, world):
    world.assignment.shift_ends_at = T0 + timedelta(hours=18)  # 02:00 GMT the next day
    db.session.commit()
    page = text(_as(client, world.coordinator).get(f"/admin/details/{world.detail.id}"))
    assert "07:00 GMT – Wed 02:00 GMT" in section(page, "assignments")
