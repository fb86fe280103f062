"""An alarm acknowledged from the text on a phone, in a real headless Chromium (CSRF on): the duress
climbs through the real jobs to a Twilio-shaped server on loopback, and the on-call coordinator opens
the link that text carries on a phone-width page with no session, signs in, confirms, and then sees
on the detail's board that the escalation was acknowledged by them. Every page stays axe-clean and
never scrolls sideways at 390 px."""

import re
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from detail import jobs
from detail.extensions import db
from detail.models import ContactChannel, Escalation, OnCallShift

from . import test_browser
from .conftest import PASSWORD
from .escalation_helpers import raise_duress
from .test_browser_a11y import AXE, PHONE, SCROLLS_SIDEWAYS, _axe_violations, _with_axe

app, browser, world_now = test_browser.app, test_browser.browser, test_browser.world_now

pytestmark = pytest.mark.browser
assert AXE.exists()
PRIMARY_NUMBER = "+447700900301"


def _fits_a_phone(page) -> None:
    assert _axe_violations(page) == []
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.evaluate(SCROLLS_SIDEWAYS) == []


def test_the_on_call_coordinator_acknowledges_from_the_texts_link_on_a_phone(
    app, browser, live_server, world_now, twilio
):
    w = world_now
    app.config["PUBLIC_URL"] = live_server  # the link in the text names this server
    now = datetime.now(timezone.utc)
    db.session.add(
        OnCallShift(
            organisation_id=w.org.id,
            user_id=w.coordinator.id,
            role="primary",
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(hours=8),
        )
    )
    db.session.add(ContactChannel(user_id=w.coordinator.id, kind="sms", address=PRIMARY_NUMBER, verified_at=now))
    db.session.commit()
    raise_duress(w, at=now)
    for job in ("escalation", "texts"):
        next(j for j in jobs.JOBS if j.name == job).run()
    [text] = twilio.messages
    assert text["To"] == PRIMARY_NUMBER
    link = re.search(re.escape(live_server) + r"/ack/[A-Za-z0-9_-]+", text["Body"]).group(0)

    # The phone has no session: the link asks for a sign-in, then comes back to itself.
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    page = _with_axe(context.new_page())
    page.goto(link)
    assert "/login" in page.url
    _fits_a_phone(page)
    page.fill("input[name=email]", w.coordinator.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(link)
    assert "DURESS: Bravo 1 (Sam Carter)" in page.locator("main").inner_text()
    _fits_a_phone(page)
    page.get_by_role("button", name="Acknowledge: I have it").click()
    page.wait_for_selector("text=Alarm acknowledged")
    assert "You have it: acknowledged at" in page.locator("[role=status]").inner_text()
    _fits_a_phone(page)
    db.session.expire_all()
    esc = db.session.scalar(sa.select(Escalation))
    assert (esc.acknowledged_by_id, esc.acknowledged_via) == (w.coordinator.id, "link")

    # Where the page's link leads: the detail's board, whose timeline says who took it and how.
    page.get_by_role("link", name="Open where it is shown").click()
    page.wait_for_url(re.compile(rf"/board/details/{w.detail.id}$"))
    page.wait_for_selector("#connection[data-state=live]")
    timeline = page.locator("#timeline")
    timeline.get_by_text("Escalation acknowledged by Coord (link)").wait_for()
    assert page.locator("#duress").is_hidden()
    _fits_a_phone(page)
    context.close()
