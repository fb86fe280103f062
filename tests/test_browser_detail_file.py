"""The detail file in a real headless Chromium, at a phone's width (390 px) and a desk's (1440 px): the
coordinators' page and the lead's phone page show every section under its heading, reached from the
table of contents, flag the late agent's row in the row, pass axe-core, and never scroll sideways."""

import re
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from detail.domain.statuses import find_code, record_status
from detail.domain.timefmt import local_time
from detail.extensions import db
from detail.models import Agent, Assignment, User

from . import test_browser, test_browser_a11y
from .conftest import PASSWORD_HASH

app, browser, world_now = test_browser.app, test_browser.browser, test_browser.world_now
_signed_in_page = test_browser._signed_in_page

pytestmark = pytest.mark.browser

WIDTHS = {"phone": {"width": 390, "height": 844}, "desk": {"width": 1440, "height": 900}}
COORDINATOR_SECTIONS = [
    "Itinerary",
    "Team",
    "Live state",
    "Intel and advisories",
    "Client requests",
    "Risks and BOLOs",
    "Site surveys",
    "Handoff notes",
    "Timeline",
]
LEAD_SECTIONS = [("Advisories" if s == "Intel and advisories" else s) for s in COORDINATOR_SECTIONS]


def _late_agent(w) -> None:
    """Bravo 2, due at the hotel ten minutes ago and silent (late); Bravo 1 (the lead) on station."""
    user = User(organisation=w.org, email="bravo2@aegis.example", name="Alex Moss", role="agent")
    user.password_hash = PASSWORD_HASH
    agent = Agent(organisation=w.org, user=user, call_sign="Bravo 2")
    db.session.add_all([user, agent])
    db.session.add(
        Assignment(
            detail=w.detail,
            agent=agent,
            role="agent",
            site=w.hotel,
            report_at=w.detail.starts_at - timedelta(minutes=30),
            shift_starts_at=w.detail.starts_at - timedelta(hours=1),
            shift_ends_at=w.detail.ends_at,
        )
    )
    db.session.flush()
    record_status(w.agent, find_code(w.org.id, "OS"), client_id="os-1", latitude=51.5101, longitude=-0.1340)
    db.session.commit()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("who", ["coordinator", "lead"])
def test_the_file_shows_every_section_and_fits_the_screen(browser, live_server, world_now, who, width, tmp_path):
    w = world_now
    test_browser_a11y._populate(w)
    _late_agent(w)
    email = w.coordinator.email if who == "coordinator" else w.agent_user.email
    page = test_browser_a11y._with_axe(_signed_in_page(browser, live_server, email, viewport=WIDTHS[width]))
    path = f"/admin/details/{w.detail.id}" if who == "coordinator" else f"/phone/details/{w.detail.id}"
    assert page.goto(path).status == 200
    page.wait_for_load_state("networkidle")
    test_browser._shot(page, tmp_path, f"detail-file-{who}-{width}")  # kept with SCREENSHOT_DIR set

    expected = COORDINATOR_SECTIONS if who == "coordinator" else LEAD_SECTIONS
    headings = page.locator("main section h2").all_inner_texts()
    assert [h for h in headings if h in expected] == expected
    # Each entry of the contents leads to its section, which then has its heading on screen.
    for title in expected:
        page.locator("nav.file-toc a", has_text=title).first.click()
        heading = page.get_by_role("heading", name=title, exact=True)
        assert heading.is_visible() and heading.bounding_box()["y"] < WIDTHS[width]["height"]

    # The late agent's row says so itself, and stands out.
    late_row = page.locator("#live tr.agent-row.late")
    assert late_row.count() == 1 and "Bravo 2" in late_row.inner_text() and "Late" in late_row.inner_text()
    cell = late_row.locator("td").first
    assert cell.evaluate("n => getComputedStyle(n).backgroundColor") == "rgb(253, 236, 234)"
    assert "OS" in page.locator("#live tr.agent-row:not(.late)").first.inner_text()

    if who == "coordinator":
        assert page.get_by_role("link", name="Open the live board").get_attribute("href") == (
            f"/board/details/{w.detail.id}"
        )

    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width]["width"]
    assert page.evaluate(test_browser_a11y.SCROLLS_SIDEWAYS) == []
    assert test_browser_a11y._axe_violations(page) == []
    page.context.close()


def test_the_coordinators_file_follows_the_details_live_events(browser, live_server, world_now):
    """The live state and the team follow the detail's board room: a status redraws the agent's code,
    time (with the venue's label, whatever the browser's zone) and late flag in both tables; a position
    its age. The page stays axe-clean and within 390 px after the redraws."""
    from detail.domain import live
    from detail.domain.positions import publish_position, record_position

    w = world_now
    _late_agent(w)
    bravo2 = db.session.scalar(sa.select(Agent).where(Agent.call_sign == "Bravo 2"))
    page = test_browser_a11y._with_axe(
        _signed_in_page(browser, live_server, w.coordinator.email, viewport=WIDTHS["phone"], timezone_id="Asia/Tokyo")
    )
    assert page.goto(f"/admin/details/{w.detail.id}").status == 200
    page.wait_for_selector("#live [data-live-state=live]")
    live_row = page.locator(f'#live tr[data-agent="{bravo2.id}"]')
    team_row = page.locator(f'#assignments tr[data-agent="{bravo2.id}"]')
    assert "Late" in live_row.inner_text() and "no report yet" in live_row.inner_text()
    assert "Late" in team_row.inner_text()

    # Bravo 2 reports on station: the code, its time and the end of the late flag, without a reload.
    recorded = record_status(bravo2, find_code(w.org.id, "OS"), client_id="b2-os", latitude=51.5101, longitude=-0.134)
    db.session.commit()
    live.publish(recorded.events)
    page.wait_for_function(
        f"document.querySelector('#live tr[data-agent=\"{bravo2.id}\"] .code')?.textContent === 'OS'", timeout=5000
    )
    page.wait_for_function(
        f"!document.querySelector('#assignments tr[data-agent=\"{bravo2.id}\"]').classList.contains('late')",
        timeout=5000,
    )
    since = local_time(recorded.report.reported_at, "Europe/London", "%H:%M %Z")
    assert since in live_row.inner_text() and "Late" not in live_row.inner_text()
    assert "on station" in team_row.inner_text() and "min late" in team_row.inner_text()
    assert "late" not in (live_row.get_attribute("class") or "").split()

    # A position moves the age of Bravo 1's last position.
    position = record_position(w.agent, latitude=51.5102, longitude=-0.1341).position
    db.session.commit()
    publish_position(w.agent, position)
    page.wait_for_function(
        f"document.querySelector('#live tr[data-agent=\"{w.agent.id}\"] .position-age')?.textContent.endsWith('s ago')",
        timeout=5000,
    )

    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS["phone"]["width"]
    assert page.evaluate(test_browser_a11y.SCROLLS_SIDEWAYS) == []
    assert test_browser_a11y._axe_violations(page) == []
    page.context.close()


def test_the_files_countdown_turns_into_the_late_flag_on_the_servers_clock(browser, live_server, world_now):
    """With the browser's clock ten minutes slow, the file's countdown still ends at the server's report
    time, and both of the agent's rows then say "Late" in the row itself."""
    w = world_now
    now = datetime.now(timezone.utc)
    w.assignment.report_at = now + timedelta(seconds=15)
    db.session.commit()
    page = _signed_in_page(browser, live_server, w.coordinator.email, viewport=WIDTHS["desk"])
    page.clock.install(time=now - timedelta(minutes=10))
    assert page.goto(f"/admin/details/{w.detail.id}").status == 200
    page.wait_for_selector("#live [data-live-state=live]")
    assert page.evaluate("Date.now()") < (now - timedelta(minutes=9)).timestamp() * 1000
    team_row = page.locator(f'#assignments tr[data-agent="{w.agent.id}"]')
    live_row = page.locator(f'#live tr[data-agent="{w.agent.id}"]')
    assert re.fullmatch(r"in \d{1,2} s", team_row.locator(".countdown").inner_text())
    assert live_row.locator(".late-flag").count() == 0

    page.wait_for_selector(f'#live tr[data-agent="{w.agent.id}"].late .late-flag', timeout=30000)
    assert re.fullmatch(r"Late \d{1,2} s", live_row.locator(".late-text").inner_text())
    assert "late" in team_row.get_attribute("class").split() and team_row.locator(".late-flag").count() == 1
    assert page.locator("#live .late-count").inner_text() == "1 late"
    page.context.close()
