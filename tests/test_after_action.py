"""After-action reports: drafted from the record (statuses, alerts and acknowledgments, requests,
handoffs), punctuality per agent, the team's account and action items; a printable page with charts,
a PDF (read back with pypdf), and lessons that are searchable and shown when staffing the next detail."""

import io
from datetime import timedelta

import pypdf
import sqlalchemy as sa

from detail.domain import alerts
from detail.domain import requests as inbox
from detail.domain.statuses import record_status
from detail.extensions import db
from detail.models import ActionItem, AfterAction, Detail, StatusCode, Visit

from .conftest import T0, sign_in


def _code(world, letters):
    return db.session.scalar(
        sa.select(StatusCode).where(StatusCode.organisation_id == world.org.id, StatusCode.code == letters)
    )


def _record(world):
    """Our lead: OM at 07:10, on station 07:20 (report time 07:30, so 10 min early); a silent alert
    acknowledged after 3 min; a client request answered after 25 min."""
    record_status(world.agent, _code(world, "OM"), client_id="a1", now=T0 - timedelta(minutes=50))
    record_status(world.agent, _code(world, "OS"), client_id="a2", now=T0 - timedelta(minutes=40))
    alert_event = alerts.raise_alert(
        kind="silent",
        agent=world.agent,
        detail_id=world.detail.id,
        message="Alpha 1 silent for 10 min",
        raised_at=T0 + timedelta(minutes=30),
    )
    db.session.flush()
    alert = alerts.open_alert(world.agent.id, world.detail.id, "silent")
    alerts.acknowledge(alert, world.coordinator, "Radio check done", now=T0 + timedelta(minutes=33))
    req, _ = inbox.log_request(
        client=world.client,
        detail=world.detail,
        contact=world.contact,
        subject="Is the side door open?",
        received_at=T0 + timedelta(minutes=5),
    )
    inbox.answer(req, world.coordinator, "Yes, until 10:00", now=T0 + timedelta(minutes=30))
    db.session.commit()
    return alert_event


def test_the_report_is_drafted_from_the_record(client, world, time_machine):
    time_machine.move_to(T0 + timedelta(hours=13), tick=False)
    _record(world)
    sign_in(client, world.coordinator)
    r = client.get(f"/admin/details/{world.detail.id}/after-action")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "10 min early" in page
    assert "Alpha 1 silent for 10 min" in page and "after 3 min by" in page and "Radio check done" in page
    assert "Is the side door open?" in page and "after 25 min" in page
    assert 'aria-label="Timeline of the detail"' in page and 'aria-label="Punctuality per agent"' in page
    assert "Bravo 1: OS (On station)" in page  # the record, in order
    assert page.index("Bravo 1: OM") < page.index("Bravo 1: OS")


def test_the_teams_account_and_action_items(client, world):
    sign_in(client, world.coordinator)
    url = f"/admin/details/{world.detail.id}/after-action"
    r = client.post(
        url,
        data={
            "went_well": "Smooth arrival",
            "difficulties": "Loading bay locked",
            "lessons": "Call the loading bay the day before",
        },
    )
    assert r.status_code == 302
    after = db.session.scalar(sa.select(AfterAction))
    assert (after.lessons, after.written_by_id) == ("Call the loading bay the day before", world.coordinator.id)
    r = client.post(
        f"{url}/items",
        data={
            "item-text": "Add loading bay to the survey",
            "item-owner_id": world.coordinator.id,
            "item-due_on": "2026-12-10",
        },
    )
    assert r.status_code == 302
    r = client.post(f"{url}/items", data={"item-text": "", "item-owner_id": "", "item-due_on": "2026-12-10"})
    assert r.status_code == 400 and "This field is required." in r.get_data(as_text=True)
    item = db.session.scalar(sa.select(ActionItem))
    assert (item.text, item.owner_id, item.done) == ("Add loading bay to the survey", world.coordinator.id, False)
    assert client.post(f"/admin/after-action/items/{item.id}/toggle").status_code == 302
    db.session.expire_all()
    assert item.done
    assert client.post(f"/admin/after-action/items/{item.id}/delete", data={"confirmed": "1"}).status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ActionItem)) == 0
    # Saving the account again keeps one report per detail.
    client.post(url, data={"went_well": "", "difficulties": "", "lessons": "Second thoughts"})
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AfterAction)) == 1


def test_the_pdf_carries_the_record_and_the_account_in_any_script(client, world, time_machine):
    time_machine.move_to(T0 + timedelta(hours=13), tick=False)
    _record(world)
    db.session.add(AfterAction(detail=world.detail, lessons="Łódź team: brief the driver in Polish – dziękuję"))
    db.session.commit()
    sign_in(client, world.coordinator)
    r = client.get(f"/admin/details/{world.detail.id}/after-action.pdf")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/pdf"
    assert "attachment" in r.headers["Content-Disposition"]
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(r.data)).pages)
    assert world.detail.name in text
    assert "Łódź team: brief the driver in Polish – dziękuję" in text
    assert "10 min early" in text and "Is the side door open?" in text and "after 3 min" in text


def test_user_text_in_the_charts_is_escaped(client, world):
    world.agent.call_sign = "<b>A&1</b>"
    db.session.commit()
    sign_in(client, world.coordinator)
    page = client.get(f"/admin/details/{world.detail.id}/after-action").get_data(as_text=True)
    assert "<b>A&1</b>" not in page and "&lt;b&gt;A&amp;1&lt;/b&gt;" in page


def _later_detail(world, client=None, site=None) -> Detail:
    detail = Detail(
        client=client or world.client,
        name="Next visit",
        starts_at=T0 + timedelta(days=30),
        ends_at=T0 + timedelta(days=30, hours=8),
    )
    db.session.add(detail)
    if site is not None:
        db.session.add(Visit(detail=detail, site=site, arrives_at=detail.starts_at, departs_at=detail.ends_at))
    db.session.commit()
    return detail


def test_lessons_show_when_staffing_the_next_detail_for_the_client_or_venue(client, world):
    db.session.add(AfterAction(detail=world.detail, lessons="The hotel's loading bay is locked after 22:00"))
    db.session.commit()
    same_client = _later_detail(world)
    same_venue = _later_detail(world, client=world.other_client, site=world.hotel)
    unrelated = _later_detail(world, client=world.other_client)
    sign_in(client, world.coordinator)
    for detail, shown in ((same_client, True), (same_venue, True), (unrelated, False)):
        page = client.get(f"/admin/details/{detail.id}").get_data(as_text=True)
        assert ("loading bay is locked after 22:00" in page) is shown, detail.name


def test_lessons_are_searchable_within_the_organisation(client, world):
    db.session.add_all(
        [
            AfterAction(detail=world.detail, lessons="Loading BAY locked; 100% of doors checked"),
            AfterAction(detail=world.other_org_detail, lessons="Rival loading bay story"),
        ]
    )
    db.session.commit()
    sign_in(client, world.coordinator)
    page = client.get("/admin/lessons?q=loading+bay").get_data(as_text=True)
    assert "Loading BAY locked" in page and "Rival loading bay" not in page
    assert "Loading BAY locked" in client.get("/admin/lessons?q=100%25").get_data(as_text=True)
    assert "Loading BAY locked" not in client.get("/admin/lessons?q=10_%25").get_data(as_text=True)
    assert "No lessons mention" in client.get("/admin/lessons?q=helicopter").get_data(as_text=True)


def _pdf_text(response) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(response.data)).pages)


def test_before_the_detail_starts_the_report_says_what_it_is(client, world, time_machine):
    """Not "never on station" for everyone under an empty Record heading: the detail has not started."""
    time_machine.move_to(T0 - timedelta(hours=2), tick=False)  # 06:00; the detail starts at 08:00 GMT
    sign_in(client, world.coordinator)
    url = f"/admin/details/{world.detail.id}/after-action"
    page = client.get(url).get_data(as_text=True)
    assert "The detail starts at 08:00 GMT (venue time); nothing recorded yet." in page
    for empty in ("never on station", "<h2>Record</h2>", "<h2>Timeline</h2>", "<h2>Punctuality</h2>", "No alerts."):
        assert empty not in page, empty
    assert "<h2>The team's account</h2>" in page and "<h2>Action items</h2>" in page  # still to be written

    text = _pdf_text(client.get(f"{url}.pdf"))
    assert "The detail starts at 08:00 GMT (venue time); nothing recorded yet." in text
    for empty in ("never", "Record", "Timeline", "Punctuality", "No alerts."):
        assert empty not in text, empty
    assert "The team's account" in text and "Not written yet." in text


def test_punctuality_says_never_only_once_the_shift_is_over(client, world, time_machine):
    url = f"/admin/details/{world.detail.id}/after-action"
    time_machine.move_to(T0 + timedelta(hours=1), tick=False)  # report time 07:30 passed; shift until 20:00
    sign_in(client, world.coordinator)
    page = client.get(url).get_data(as_text=True)
    assert "The detail started at 08:00 GMT (venue time); nothing recorded yet." in page
    assert "not on station yet" in page and "never on station" not in page
    assert "not on station yet" in _pdf_text(client.get(f"{url}.pdf"))
    time_machine.move_to(T0 + timedelta(hours=13), tick=False)
    sign_in(client, world.coordinator)
    page = client.get(url).get_data(as_text=True)
    assert "Nothing was recorded for this detail." in page and "never on station" in page
    assert "<h2>Record</h2>" not in page and "No alerts." in page
