"""The coordinators' board in a browser whose own time zone is another than the venue's: every time it
prints (the detail's hours, each agent's report time, status time and ETA, the timeline) is the
venue's, with the label the rest of the app gives it (detail/domain/timefmt.py: "EST"), never the
browser's zone nor the browser's own name for the venue's ("GMT-5"). Both on the first paint and for
an event that arrives live."""

import re
from datetime import timedelta

import pytest

from detail.domain import live
from detail.domain.statuses import find_code, record_status
from detail.domain.timefmt import local_time
from detail.extensions import db

from . import test_browser

app, browser, world_now = test_browser.app, test_browser.browser, test_browser.world_now
_signed_in_page = test_browser._signed_in_page

pytestmark = pytest.mark.browser

CLOCK = re.compile(r"\b\d\d:\d\d\b(?: (\S+))?")


def _in_new_york(w) -> None:
    """The world's venues moved to New York (EST in winter, EDT in summer)."""
    w.hotel.timezone = w.venue.timezone = "America/New_York"
    w.hotel.latitude, w.hotel.longitude = 40.7614, -73.9776
    w.venue.latitude, w.venue.longitude = 40.7577, -74.0024
    db.session.commit()


def _status(w, code: str, client_id: str, **fields) -> None:
    recorded = record_status(w.agent, find_code(w.org.id, code), client_id=client_id, **fields)
    db.session.commit()
    live.publish(recorded.events)


def _labels(text: str) -> list[str]:
    return [m.group(1) for m in CLOCK.finditer(text)]


def test_the_board_labels_every_time_with_the_venues_zone_whatever_the_browsers(browser, live_server, world_now):
    w = world_now
    _in_new_york(w)
    eta = w.detail.starts_at + timedelta(minutes=5)
    _status(w, "OM", "om-1", eta=eta, latitude=40.75, longitude=-73.99)
    expected = local_time(w.detail.starts_at, "America/New_York", "%Z")  # EST or EDT, as the server says it
    assert expected in ("EST", "EDT")

    page = _signed_in_page(browser, live_server, w.coordinator.email, timezone_id="Asia/Tokyo")
    assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == "Asia/Tokyo"
    page.goto(f"/board/details/{w.detail.id}")
    page.wait_for_selector("#connection[data-state=live]")
    row = page.locator(f'tr[data-agent="{w.agent.id}"]')
    assert row.locator(".code").inner_text() == "OM"

    # The first paint: the ETA in the venue's time, and every time on the cards and the timeline labelled.
    assert f"ETA {local_time(eta, 'America/New_York', '%H:%M %Z')}" in row.inner_text()
    first = page.locator("#details").inner_text() + "\n" + page.locator("#timeline").inner_text()
    assert _labels(first) and set(_labels(first)) == {expected}, first
    assert "GMT-" not in first and "JST" not in first

    # A status arriving live is drawn with the same labels, in its row and on the timeline.
    _status(w, "OS", "os-1")
    page.wait_for_function(
        f"document.querySelector('tr[data-agent=\"{w.agent.id}\"] .code')?.textContent === 'OS'", timeout=5000
    )
    page.wait_for_function("document.querySelectorAll('#timeline li').length >= 2", timeout=5000)
    later = page.locator("#details").inner_text() + "\n" + page.locator("#timeline").inner_text()
    assert set(_labels(later)) == {expected}, later
    assert "GMT-" not in later
