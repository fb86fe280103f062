"""The escalation pages in a real headless Chromium (CSRF on): the policy editor (axe, a phone's width,
removing a step through the page's own dialog), the acknowledge page opened from a text's link, and
an alarm's escalation drawn under its alert on the board."""

import re
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from detail.domain.timefmt import zone_label
from detail.extensions import db
from detail.models import Escalation, EscalationPolicy, TextMessage

from . import test_browser
from .escalation_helpers import PRIMARY_NUMBER, make_rota, pushes_fixture, raise_duress, run_job  # noqa: F401
from .test_browser_a11y import AXE, PHONE, SCROLLS_SIDEWAYS, _axe_violations, _with_axe

app, browser, world_now = test_browser.app, test_browser.browser, test_browser.world_now
_signed_in_page = test_browser._signed_in_page

pytestmark = pytest.mark.browser
assert AXE.exists()


def test_the_policy_pages_pass_axe_fit_a_phone_and_ask_before_removing_a_step(browser, live_server, world_now):
    w = world_now
    page = _with_axe(_signed_in_page(browser, live_server, w.coordinator.email, viewport=PHONE))
    for path in ("/admin/escalation", "/admin/escalation/duress"):
        assert page.goto(path).status == 200
        page.wait_for_load_state("networkidle")
        assert _axe_violations(page) == []
        assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
        assert page.evaluate(SCROLLS_SIDEWAYS) == []
    page.check("input[name='step-2-remove']")
    page.click("form.escalation-policy button[type=submit]")
    dialog = page.locator("dialog#om-confirm")
    dialog.wait_for(state="visible")
    assert dialog.locator("h2").inner_text() == "Remove the marked steps?"
    dialog.locator(".confirm-ok").click()
    page.wait_for_url(re.compile(r"/admin/escalation$"))
    db.session.expire_all()
    policy = db.session.scalar(
        sa.select(EscalationPolicy).where(
            EscalationPolicy.organisation_id == w.org.id, EscalationPolicy.kind == "duress"
        )
    )
    assert [s.target for s in policy.steps] == ["primary", "backup"]
    # Switching a policy off ends the alarms climbing it: the page asks first, and a cancel keeps it on.
    assert page.goto("/admin/escalation/late").status == 200
    assert "Switching the policy off ends them" in page.inner_text("main")
    page.uncheck("input[name='active']")
    page.click("form.escalation-policy button[type=submit]")
    dialog.wait_for(state="visible")
    assert dialog.locator("h2").inner_text() == "Switch this policy off?"
    assert _axe_violations(page) == []
    dialog.locator(".confirm-cancel").click()
    db.session.expire_all()
    late = db.session.scalar(
        sa.select(EscalationPolicy).where(EscalationPolicy.organisation_id == w.org.id, EscalationPolicy.kind == "late")
    )
    assert late.active
    page.context.close()


def test_an_alarm_is_acknowledged_from_its_texts_link_and_the_board_shows_its_escalation(
    browser, live_server, world_now, pushes
):
    w = world_now
    make_rota(w, starts=datetime.now(timezone.utc))
    raise_duress(w, at=datetime.now(timezone.utc))
    run_job()
    # The browser runs in another zone: the times shown are the server's, with the organisation's label.
    board = _with_axe(_signed_in_page(browser, live_server, w.admin.email, viewport=PHONE, timezone_id="Asia/Tokyo"))
    board.goto("/board/")
    board.wait_for_selector(".escalation")
    shown = board.locator(".escalation").first.inner_text()
    assert "Coord by text, sent" in shown
    label = zone_label(datetime.now(timezone.utc), w.org.timezone)
    climb = board.locator(".escalation .climb").first.inner_text()
    assert re.fullmatch(
        rf"Escalation: Step 1 of 3: on-call primary notified \d\d:\d\d {label}, "
        rf"next: on-call backup at \d\d:\d\d {label}",
        climb,
    ), climb
    assert board.locator(".escalation .on-call").first.inner_text() == "On call: Coord (primary), Admin (backup)"
    assert _axe_violations(board) == []
    assert board.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]

    body = db.session.scalar(sa.select(TextMessage.body).where(TextMessage.to_number == PRIMARY_NUMBER))
    path = re.search(r"(/ack/[A-Za-z0-9_-]+)", body).group(1)
    page = _with_axe(_signed_in_page(browser, live_server, w.coordinator.email, viewport=PHONE))
    assert page.goto(path).status == 200
    assert _axe_violations(page) == []
    page.click("text=Acknowledge: I have it")
    page.wait_for_selector("text=Alarm acknowledged")
    assert _axe_violations(page) == []
    db.session.expire_all()
    assert db.session.scalar(sa.select(Escalation.acknowledged_via)) == "link"
    # The admin's board hears it: the alarm leaves, the timeline of the event log says who took it.
    board.wait_for_selector("#duress", state="hidden")
    board.context.close()
    page.context.close()


def test_the_board_shows_a_muted_alarms_escalation_paused_with_the_servers_zone_label(
    browser, live_server, world_now, pushes
):
    from datetime import timedelta

    from detail.domain import alerts
    from detail.models import Alert

    w = world_now
    now = datetime.now(timezone.utc)
    make_rota(w, starts=now)
    alert = Alert(
        organisation_id=w.org.id, agent=w.agent, detail_id=w.detail.id, kind="silent", message="Bravo 1 silent",
        raised_at=now - timedelta(seconds=5),
    )  # fmt: skip
    db.session.add(alert)
    db.session.commit()
    run_job()
    alerts.mute(alert, w.coordinator, 15)
    db.session.commit()
    run_job()
    until = zone_label(now, w.org.timezone)
    board = _with_axe(
        _signed_in_page(browser, live_server, w.admin.email, viewport=PHONE, timezone_id="America/Los_Angeles")
    )
    board.goto("/board/")
    board.wait_for_selector(".alert .escalation")
    climb = board.locator(".alert .escalation .climb").first.inner_text()
    assert re.fullmatch(
        rf"Escalation: Step 1 of 2: on-call primary notified \d\d:\d\d {until}; "
        rf"paused \(muted until \d\d:\d\d {until}\)",
        climb,
    ), climb
    assert _axe_violations(board) == []
    board.context.close()
