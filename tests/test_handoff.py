"""Lead handoff: a coordinator or the current lead hands a detail to another agent with notes; the new
lead gets the notes and the history, the client's contacts are told who leads now and the agent's record
with them (by email, a real SMTP server on loopback, and in the portal); the timeline records it."""

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from detail.domain import notices
from detail.domain.handoff import client_notice
from detail.extensions import db
from detail.models import Assignment, Detail, Event, Handoff, Unavailability

from .conftest import T0, sign_in


def _idle(world):
    return world.idle_agent_user.agent


def _past_detail_led(world, agent, starts_at: datetime, client=None) -> Detail:
    detail = Detail(
        client=client or world.client,
        name=f"Earlier {starts_at:%Y-%m}",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=6),
        state="complete",
    )
    db.session.add(detail)
    db.session.flush()
    db.session.add(
        Assignment(
            detail=detail,
            agent=agent,
            role="detail_lead",
            report_at=starts_at,
            shift_starts_at=starts_at,
            shift_ends_at=starts_at + timedelta(hours=6),
        )
    )
    db.session.commit()
    return detail


def test_a_coordinator_hands_the_lead_over_and_everyone_is_told(client, world, mailbox, time_machine):
    time_machine.move_to(T0 - timedelta(hours=2), tick=False)
    sign_in(client, world.coordinator)
    idle = _idle(world)
    old_post = world.assignment
    page = client.get(f"/admin/details/{world.detail.id}/handoff")
    assert page.status_code == 200 and "Bravo 9" in page.get_data(as_text=True)
    r = client.post(
        f"/admin/details/{world.detail.id}/handoff",
        data={
            "to_agent_id": idle.id,
            "notes": "Principal prefers the side entrance. Driver is Sam.",
            "override_reason": "",
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    db.session.expire_all()
    roles = {a.agent_id: a for a in world.detail.assignments}
    assert roles[world.agent.id].role == "agent"  # the previous lead stays on as an agent
    new = roles[idle.id]
    assert (new.role, new.site_id, new.report_at, new.shift_ends_at) == (
        "detail_lead",
        old_post.site_id,
        old_post.report_at,
        old_post.shift_ends_at,
    )
    handoff = db.session.scalar(sa.select(Handoff))
    assert (handoff.from_agent_id, handoff.to_agent_id, handoff.by_id) == (
        world.agent.id,
        idle.id,
        world.coordinator.id,
    )
    event = db.session.scalar(sa.select(Event).where(Event.kind == "handoff"))
    assert event.detail_id == world.detail.id and event.payload["to"] == "Bravo 9"

    assert notices.send_due() == 2
    by_address = {m["To"]: m for m in mailbox.messages}
    assert set(by_address) == {world.idle_agent_user.email, world.contact.email}  # not the other client's contact
    lead_mail = by_address[world.idle_agent_user.email].get_content()
    assert "Principal prefers the side entrance. Driver is Sam." in lead_mail
    assert "lead handed from" in lead_mail  # the detail's history, with this handoff in it
    client_mail = by_address[world.contact.email]
    assert client_mail["Subject"] == f"New detail lead for {world.detail.name}: Idle Agent"
    assert "Idle Agent now leads" in client_mail.get_content()
    assert "first detail they lead for you" in client_mail.get_content()
    assert "side entrance" not in client_mail.get_content()  # the team's notes are not the client's

    sign_in(client, world.contact)
    portal = client.get(f"/portal/details/{world.detail.id}").get_data(as_text=True)
    assert "Idle Agent now leads" in portal and "Detail lead: Idle Agent" in portal


def test_the_client_is_told_the_agents_record_with_them(world):
    idle = _idle(world)
    for month in (3, 6, 9):
        _past_detail_led(world, idle, datetime(2024, month, 10, 9, tzinfo=timezone.utc))
    _past_detail_led(world, idle, datetime(2023, 1, 10, 9, tzinfo=timezone.utc), client=world.other_client)
    assert client_notice(idle, world.detail) == (
        f"Idle Agent now leads {world.detail.name}. Idle Agent has led 3 details for you since March 2024."
    )


def test_handing_to_the_current_lead_or_to_nobody_is_refused_and_changes_nothing(client, world):
    sign_in(client, world.coordinator)
    r = client.post(f"/admin/details/{world.detail.id}/handoff", data={"to_agent_id": world.agent.id, "notes": "x"})
    assert r.status_code == 400
    r = client.post(f"/admin/details/{world.detail.id}/handoff", data={"to_agent_id": _idle(world).id, "notes": ""})
    assert r.status_code == 400 and "This field is required." in r.get_data(as_text=True)
    db.session.expire_all()
    assert world.detail.lead == world.agent
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Handoff)) == 0


def test_a_staffing_conflict_needs_a_reason(client, world):
    idle = _idle(world)
    db.session.add(
        Unavailability(
            agent=idle,
            kind="training",
            starts_at=world.detail.starts_at - timedelta(hours=3),
            ends_at=world.detail.ends_at,
        )
    )
    db.session.commit()
    sign_in(client, world.coordinator)
    url = f"/admin/details/{world.detail.id}/handoff"
    r = client.post(url, data={"to_agent_id": idle.id, "notes": "Over to you"})
    assert r.status_code == 400 and "staffing conflict" in r.get_data(as_text=True)
    db.session.expire_all()
    assert world.detail.lead == world.agent  # the old lead did not step down
    r = client.post(url, data={"to_agent_id": idle.id, "notes": "Over to you", "override_reason": "Course cancelled"})
    assert r.status_code == 302
    db.session.expire_all()
    lead = next(a for a in world.detail.assignments if a.role == "detail_lead")
    assert (lead.agent_id, lead.override_reason, lead.overridden_by_id) == (
        idle.id,
        "Course cancelled",
        world.coordinator.id,
    )


def test_the_lead_hands_off_from_the_phone_and_the_new_lead_sees_the_notes(client, world, time_machine):
    time_machine.move_to(T0 - timedelta(hours=2), tick=False)
    sign_in(client, world.agent_user)
    url = f"/phone/details/{world.detail.id}/handoff"
    state = client.get("/phone/state").json
    assert state["assignments"][0]["handoff_url"].endswith(url)
    assert client.get(url).status_code == 200
    r = client.post(url, data={"to_agent_id": _idle(world).id, "notes": "Car keys with the concierge."})
    assert r.status_code == 302
    assert client.get(url).status_code == 404  # no longer the lead
    sign_in(client, world.idle_agent_user)
    row = next(a for a in client.get("/phone/state").json["assignments"] if a["detail_id"] == world.detail.id)
    assert row["is_lead"] and row["handoff"]["notes"] == "Car keys with the concierge."
    assert row["handoff"]["from"] == world.agent_user.name


def test_an_agent_who_does_not_lead_cannot_hand_off(client, world):
    sign_in(client, world.idle_agent_user)
    assert client.get(f"/phone/details/{world.detail.id}/handoff").status_code == 404
    r = client.post(f"/phone/details/{world.detail.id}/handoff", data={"to_agent_id": _idle(world).id, "notes": "x"})
    assert r.status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Handoff)) == 0
