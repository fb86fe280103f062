"""Staffing conflicts: overlapping shifts, venues that cannot be reached in the gap, leave and
training; refused unless a coordinator gives a reason, which is kept with who gave it and when."""

from datetime import timedelta

import sqlalchemy as sa

from detail.extensions import db
from detail.models import Assignment, Detail, Site, Unavailability, Visit
from detail.web.auth import issue_token

from .conftest import T0, sign_in


def _token(user):
    token = issue_token(user, "test")
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def _detail(world, name, start, hours, site):
    detail = Detail(client=world.client, name=name, starts_at=start, ends_at=start + timedelta(hours=hours))
    detail.visits.append(Visit(site=site, arrives_at=start, departs_at=start + timedelta(hours=hours)))
    db.session.add(detail)
    db.session.commit()
    return detail


def _assign(client, headers, world, detail, start, hours, **extra):
    body = {
        "detail_id": detail.id,
        "agent_id": world.agent.id,
        "report_at": start.isoformat(),
        "shift_starts_at": start.isoformat(),
        "shift_ends_at": (start + timedelta(hours=hours)).isoformat(),
        **extra,
    }
    return client.post("/api/v1/assignments", json=body, headers=headers)


def _count():
    return db.session.scalar(sa.select(sa.func.count()).select_from(Assignment))


def test_an_overlapping_shift_is_refused_and_says_with_what(client, world):
    # The agent works world.detail from 07:00 to 20:00.
    headers = _token(world.coordinator)
    other = _detail(world, "Northwind dinner", T0 + timedelta(hours=10), 4, world.hotel)
    before = _count()
    r = _assign(client, headers, world, other, T0 + timedelta(hours=10), 4)
    assert r.status_code == 422
    message = r.json["errors"]["json"]["agent_id"][0]
    assert "already on Northwind CEO London" in message and "reason" in message
    assert _count() == before


def test_a_coordinator_may_assign_anyway_with_a_reason_which_is_kept(client, world):
    headers = _token(world.coordinator)
    other = _detail(world, "Northwind dinner", T0 + timedelta(hours=10), 4, world.hotel)
    r = _assign(client, headers, world, other, T0 + timedelta(hours=10), 4, override_reason="  client asked for him  ")
    assert r.status_code == 201, r.json
    assert r.json["override_reason"] == "client asked for him"
    assert r.json["overridden_by_id"] == world.coordinator.id and r.json["overridden_at"]
    row = db.session.get(Assignment, r.json["id"])
    assert row.overridden_by_id == world.coordinator.id


def test_moving_an_overridden_assignment_needs_the_reason_again(client, world):
    # A reason given for one conflict does not cover the one a later PATCH makes.
    headers = _token(world.coordinator)
    other = _detail(world, "Northwind dinner", T0 + timedelta(hours=10), 6, world.hotel)
    r = _assign(client, headers, world, other, T0 + timedelta(hours=10), 4, override_reason="client asked for him")
    assert r.status_code == 201, r.json
    url = f"/api/v1/assignments/{r.json['id']}"

    later = (T0 + timedelta(hours=11)).isoformat()
    moved = client.patch(url, json={"shift_starts_at": later, "report_at": later}, headers=headers)
    assert moved.status_code == 422
    assert "reason" in moved.json["errors"]["json"]["agent_id"][0]
    row = db.session.get(Assignment, r.json["id"])
    db.session.refresh(row)
    assert (row.shift_starts_at, row.override_reason) == (T0 + timedelta(hours=10), "client asked for him")

    restated = {"shift_starts_at": later, "report_at": later, "override_reason": "still short-staffed"}
    r = client.patch(url, json=restated, headers=headers)
    assert r.status_code == 200, r.json
    assert r.json["override_reason"] == "still short-staffed"

    # A change that does not move the agent keeps the reason.
    r = client.patch(url, json={"role": "driver"}, headers=headers)
    assert r.status_code == 200, r.json
    assert r.json["override_reason"] == "still short-staffed"


def test_a_reason_without_a_conflict_is_not_recorded_as_an_override(client, world):
    headers = _token(world.coordinator)
    later = _detail(world, "Next week", T0 + timedelta(days=7), 4, world.hotel)
    r = _assign(client, headers, world, later, T0 + timedelta(days=7), 4, override_reason="just in case")
    assert r.status_code == 201
    assert (r.json["override_reason"], r.json["overridden_at"]) == ("", None)


def test_venues_too_far_apart_for_the_gap_are_refused(client, world):
    # world.detail's shift ends at 20:00 at the hotel in London; Manchester is ~260 km away.
    headers = _token(world.coordinator)
    manchester = Site(organisation=world.org, name="Manchester Central", latitude=53.4764, longitude=-2.2473)
    db.session.add(manchester)
    db.session.commit()
    start = T0 + timedelta(hours=14)  # 22:00: two hours after the London shift
    far = _detail(world, "Manchester keynote", start, 3, manchester)
    r = _assign(client, headers, world, far, start, 3)
    assert r.status_code == 422
    message = r.json["errors"]["json"]["agent_id"][0]
    assert "cannot get from" in message and "Manchester Central" in message and "km at 50 km/h" in message
    # the next morning there is time
    morning = T0 + timedelta(days=1, hours=2)
    r = _assign(client, headers, world, _detail(world, "Manchester day 2", morning, 3, manchester), morning, 3)
    assert r.status_code == 201


def test_the_travel_speed_and_buffer_are_the_organisations(client, world):
    headers = _token(world.coordinator)
    world.org.travel_speed_kmh, world.org.travel_buffer_minutes = 200, 10
    manchester = Site(organisation=world.org, name="Manchester Central", latitude=53.4764, longitude=-2.2473)
    db.session.add(manchester)
    db.session.commit()
    start = T0 + timedelta(hours=14)
    r = _assign(client, headers, world, _detail(world, "Manchester keynote", start, 3, manchester), start, 3)
    assert r.status_code == 201  # 260 km at 200 km/h plus 10 min fits in two hours


def test_leave_and_training_are_respected(client, world):
    headers = _token(world.coordinator)
    start = T0 + timedelta(days=3)
    db.session.add(
        Unavailability(
            agent=world.agent,
            kind="training",
            starts_at=start - timedelta(hours=1),
            ends_at=start + timedelta(hours=8),
            note="advanced driving",
        )
    )
    db.session.commit()
    r = _assign(client, headers, world, _detail(world, "Offsite", start, 4, world.venue), start, 4)
    assert r.status_code == 422
    assert "unavailable (training: advanced driving)" in r.json["errors"]["json"]["agent_id"][0]


def test_the_coordinator_page_refuses_and_accepts_with_a_reason(client, world):
    sign_in(client, world.coordinator)
    other = _detail(world, "Northwind dinner", T0 + timedelta(hours=10), 4, world.hotel)
    form = {
        "assignment-agent_id": world.agent.id,
        "assignment-role": "agent",
        "assignment-site_id": "",
        "assignment-report_at": "2026-11-24T18:00",
        "assignment-shift_starts_at": "2026-11-24T18:00",
        "assignment-shift_ends_at": "2026-11-24T22:00",
        "assignment-override_reason": "",
    }
    r = client.post(f"/admin/details/{other.id}/assignments", data=form)
    assert r.status_code == 400 and "already on Northwind CEO London" in r.get_data(as_text=True)
    form["assignment-override_reason"] = "short-staffed"
    r = client.post(f"/admin/details/{other.id}/assignments", data=form)
    assert r.status_code == 302
    row = db.session.scalar(sa.select(Assignment).where(Assignment.detail_id == other.id))
    assert (row.override_reason, row.overridden_by_id) == ("short-staffed", world.coordinator.id)


def test_coordinators_mark_an_agent_unavailable_and_it_counts(client, world):
    sign_in(client, world.coordinator)
    page = f"/admin/agents/{world.agent.id}/availability"
    assert client.get(page).status_code == 200
    r = client.post(
        page,
        data={"kind": "leave", "starts_at": "2026-11-27T00:00", "ends_at": "2026-11-29T00:00", "note": "wedding"},
    )
    assert r.status_code == 302
    [period] = db.session.scalars(sa.select(Unavailability)).all()
    assert (period.kind, period.note, period.agent_id) == ("leave", "wedding", world.agent.id)
    bad = client.post(page, data={"kind": "leave", "starts_at": "2026-11-29T00:00", "ends_at": "2026-11-27T00:00"})
    assert bad.status_code == 400 and "after the start" in bad.get_data(as_text=True)
    headers = _token(world.coordinator)
    start = T0 + timedelta(days=4)
    r = _assign(client, headers, world, _detail(world, "Weekend", start, 4, world.hotel), start, 4)
    assert r.status_code == 422 and "unavailable (leave: wedding)" in r.json["message"]
    sign_in(client, world.coordinator)
    assert (
        client.post(
            f"/admin/agents/{world.agent.id}/availability/{period.id}/delete", data={"confirmed": "1"}
        ).status_code
        == 302
    )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Unavailability)) == 0


def _past_detail(world, name, days_ago, client=None):
    start = T0 - timedelta(days=days_ago)
    detail = Detail(client=client or world.client, name=name, starts_at=start, ends_at=start + timedelta(hours=6))
    detail.visits.append(Visit(site=world.hotel, arrives_at=start, departs_at=start + timedelta(hours=6)))
    db.session.add(detail)
    return detail


def _worked(world, agent, detail, role, minutes_after_report):
    from detail.models import StatusCode, StatusReport

    report_at = detail.starts_at - timedelta(minutes=30)
    db.session.add(
        Assignment(
            detail=detail,
            agent=agent,
            role=role,
            site=world.hotel,
            report_at=report_at,
            shift_starts_at=report_at - timedelta(minutes=30),
            shift_ends_at=detail.ends_at,
        )
    )
    if minutes_after_report is not None:
        code = db.session.scalar(
            sa.select(StatusCode).where(StatusCode.organisation_id == world.org.id, StatusCode.code == "OS")
        )
        db.session.add(
            StatusReport(
                agent=agent,
                detail=detail,
                status_code=code,
                client_id=f"h-{detail.name}-{agent.id}",
                reported_at=report_at + timedelta(minutes=minutes_after_report),
                received_at=report_at + timedelta(minutes=minutes_after_report),
            )
        )


def test_history_lists_clients_details_roles_and_punctuality(client, world, time_machine):
    time_machine.move_to(T0 - timedelta(hours=2), tick=False)
    _worked(world, world.agent, _past_detail(world, "Spring AGM", 200), "detail_lead", -20)
    _worked(world, world.agent, _past_detail(world, "Summer gala", 100), "agent", 5)
    _worked(world, world.agent, _past_detail(world, "Autumn board", 30), "detail_lead", -10)
    _worked(world, world.agent, _past_detail(world, "Contoso visit", 10, client=world.other_client), "driver", None)
    db.session.commit()
    from detail.domain import history

    records = history.by_client(history.worked(world.agent.id, before=T0 - timedelta(hours=2)))
    northwind, contoso = records
    assert (northwind.client.name, northwind.details, northwind.led) == ("Northwind plc", 3, 2)
    assert northwind.median_minutes_late == -10 and round(northwind.on_time_share, 2) == 0.67
    assert (contoso.details, contoso.median_minutes_late, contoso.on_time_share) == (1, None, None)
    sign_in(client, world.coordinator)
    page = client.get(f"/admin/agents/{world.agent.id}/history").get_data(as_text=True)
    assert "Spring AGM" in page and "20 min early" in page and "5 min late" in page and "no report" in page
    assert "Northwind CEO London" not in page  # tomorrow's detail is not history yet


def test_staffing_a_detail_suggests_the_agents_who_know_its_client_first(client, world, time_machine):
    time_machine.move_to(T0 - timedelta(hours=2), tick=False)
    idle = world.idle_agent_user.agent
    for days in (60, 30):
        _worked(world, idle, _past_detail(world, f"Past {days}", days), "agent", 0)
    db.session.commit()
    sign_in(client, world.coordinator)
    page = client.get(f"/admin/details/{world.detail.id}").get_data(as_text=True)
    options = page[page.index('name="assignment-agent_id"') :].split("</select>")[0]
    assert options.index("Bravo 9") < options.index("Bravo 1")  # Bravo 9 knows Northwind
    assert "2 details for Northwind plc" in options
