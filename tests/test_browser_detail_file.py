"""The detail file in a real headless Chromium, at a phone's width (390 px) and a desk's (1440 px): the
coordinators' page and the lead's phone page show every section under its heading, reached from the
table of contents, flag the late agent's row in the row, pass axe-core, and never scroll sideways."""

from datetime import timedelta

import pytest

from detail.domain.statuses import find_code, record_status
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
