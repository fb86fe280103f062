"""Pages that work for everyone, checked in a real headless Chromium.

* axe-core (vendored in tests/vendor/axe-core) runs on every kind of page, signed in as whoever uses
  it; a serious or critical violation fails the test with the rule, the element and axe's summary.
* At a phone's width (390 CSS px) no page is wider than the screen.
* The keyboard: a skip link comes first, the board's alarms are reached in a few Tabs, and focus is
  never dropped on the page's body after an acknowledgment.
"""

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from detail.extensions import db

from . import test_browser

# The browser tests' own fixtures: the app with CSRF on, Chromium, a world whose detail starts soon.
app, browser, world_now = test_browser.app, test_browser.browser, test_browser.world_now
_signed_in_page = test_browser._signed_in_page

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}


def _populate(w) -> dict:
    """Give every page of the world something to show; return the ids the pages' paths need."""
    from detail.models import (
        ActionItem,
        AfterAction,
        Alert,
        ClientRequest,
        ContactChannel,
        Device,
        OnCallShift,
        PersonOfInterest,
        Risk,
        Survey,
        Unavailability,
    )
    from detail.web.auth import issue_token
    from intel.domain.preferences import unsubscribe_token
    from intel.models import Advisory, ClassificationRule, Digest, Feed, FeedItem, WatchArea

    detail = w.detail
    w.detail.notes = "Principal prefers the rear entrance."
    late = Alert(organisation_id=w.org.id, detail=detail, agent=w.agent, kind="late_om", message="Bravo 1: no OM yet")
    now = datetime.now(timezone.utc)
    muted = Alert(
        organisation_id=w.org.id,
        detail=detail,
        agent=w.idle_agent_user.agent,
        kind="silent",
        message="Bravo 9 silent",
        muted_until=now + timedelta(minutes=15),
    )
    answered = Alert(
        organisation_id=w.org.id,
        detail=detail,
        agent=w.idle_agent_user.agent,
        kind="late_station",
        message="Bravo 9 late to post",
        acknowledged_at=now,
        acknowledged_by=w.coordinator,
    )
    duress = Alert(organisation_id=w.org.id, detail=detail, agent=w.agent, kind="duress", message="Bravo 1: DURESS")
    device = Device(
        organisation_id=w.org.id, agent=w.agent, kind="device", identifier="aegis-traccar-0123456789abcdef0123456789"
    )
    leave = Unavailability(
        agent=w.agent, kind="leave", starts_at=detail.ends_at, ends_at=detail.ends_at + timedelta(days=2)
    )
    risk = Risk(client=w.client, title="Hostile ex-employee", likelihood=2, impact=4, review_on=date(2026, 11, 1))
    person = PersonOfInterest(client=w.client, name="Victor Vane", assessment="elevated")
    request = ClientRequest(client=w.client, contact=w.contact, subject="Any protests near the hotel today?")
    after = AfterAction(detail=detail, lessons="The loading bay is locked after 22:00")
    item = ActionItem(after_action=after, text="Ask the hotel for a key", due_on=date(2026, 12, 1))
    survey = Survey(detail=detail, site=w.hotel, author=w.agent_user, safe_room="Suite 12")
    feed = Feed(organisation_id=w.org.id, url="http://127.0.0.1:9/feed.xml", name="Met protests")
    rule = ClassificationRule(organisation_id=w.org.id, category="protest", pattern="march")
    area = WatchArea(client_id=w.client.id, name="Northwind office", latitude=51.5, longitude=-0.1)
    db.session.add_all([late, muted, answered, duress, device, leave, risk, person, request, after, item, survey])
    db.session.add_all([feed, rule, area])
    db.session.flush()
    feed_item = FeedItem(
        feed=feed,
        guid="march-1",
        title="Climate march at Trafalgar Square",
        category="protest",
        latitude=w.hotel.latitude + 0.003,
        longitude=w.hotel.longitude,
        located_by="feed",
        starts_at=detail.starts_at,
        ends_at=detail.starts_at + timedelta(hours=2),
    )
    db.session.add(feed_item)
    severities = ("critical", "high", "moderate", "low", "info")
    for severity in severities:
        db.session.add(
            Advisory(
                organisation_id=w.org.id,
                detail_id=detail.id,
                title=f"A {severity} march on the route",
                category="protest",
                severity=severity,
                status="published",
                summary="A march passes the hotel",
                recommendation="Arrive by the rear entrance",
                reason="within 300 m of the Grand Hotel during arrival",
                starts_at=detail.starts_at,
                ends_at=detail.ends_at,
            )
        )
    db.session.add(
        Digest(
            user=w.contact,
            cadence="daily",
            email=w.contact.email,
            subject="Northwind digest",
            message_id="<a11y@example>",
            status="sent",
        )
    )
    issue_token(w.coordinator, "laptop")
    _texts(w)
    shift = OnCallShift(
        organisation_id=w.org.id,
        user=w.coordinator,
        role="primary",
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=8),
        note="Night cover",
    )
    db.session.add(shift)
    for user in (w.coordinator, w.agent_user):
        db.session.add(
            ContactChannel(user=user, kind="email", address=f"duty.{user.id}@aegis.example", verified_at=now)
        )
        db.session.add(
            ContactChannel(user=user, kind="sms", address="+447911123456", code_hash="0" * 64, code_sent_at=now)
        )
    db.session.commit()
    return {
        "shift": shift.id,
        "detail": detail.id,
        "agent": w.agent.id,
        "client": w.client.id,
        "request": request.id,
        "survey": survey.id,
        "contact": w.contact.id,
        "site": w.hotel.id,
        "unsubscribe": unsubscribe_token(w.contact.id),
    }


def _texts(w) -> None:
    """Texts out: one that needs a person, one delivered (the coordinators' Texts page)."""
    from detail.domain.texts import queue_text

    lost = queue_text(organisation_id=w.org.id, to_number="+447700900123", body="DURESS B1", user_id=w.agent.user_id)
    lost.status, lost.last_error = "uncertain", "Twilio: ReadTimeout: it may have gone"
    done = queue_text(organisation_id=w.org.id, to_number="+447700900456", body="ACK 4821 taken by Sam Carter")
    done.status = "delivered"


# The error pages: not found, not allowed, and the generic one (here: GET where only POST is taken).
ERRORS = {
    ("coordinator", "/no-such-page"): 404,
    ("agent", "/admin/details"): 403,
    ("coordinator", "/intel/feeds/1/toggle"): 405,
}


def _pages(ids: dict) -> dict[str, list[str]]:
    """Every kind of page, by who uses it (the agent's /admin/details is the page refusing him)."""
    return {
        "anonymous": ["/login", f"/portal/unsubscribe/{ids['unsubscribe']}"],
        "coordinator": [
            "/board/",
            f"/board/details/{ids['detail']}",
            "/admin/details",
            f"/admin/details/{ids['detail']}",
            "/admin/details/new",
            f"/admin/details/{ids['detail']}/after-action",
            f"/admin/details/{ids['detail']}/handoff",
            "/admin/agents",
            f"/admin/agents/{ids['agent']}/availability",
            f"/admin/agents/{ids['agent']}/history",
            "/admin/sites",
            f"/admin/sites/{ids['site']}/edit",
            "/admin/clients",
            f"/admin/clients/{ids['client']}",
            "/admin/devices",
            "/admin/tokens",
            "/admin/texts",
            "/admin/on-call",
            f"/admin/on-call/{ids['shift']}/edit",
            "/account/contacts",
            "/admin/codes",
            "/admin/risks",
            "/admin/persons",
            "/admin/lessons",
            "/admin/settings",
            "/admin/requests",
            "/admin/requests/figures",
            f"/admin/requests/{ids['request']}",
            f"/surveys/details/{ids['detail']}",
            f"/surveys/{ids['survey']}",
            "/intel/advisories",
            "/intel/advisories?status=published",
            "/intel/feeds",
            "/intel/rules",
            "/intel/digests",
            f"/intel/digests/{ids['contact']}/preview",
            f"/intel/clients/{ids['client']}/watch-areas",
            "/intel/near",
            f"/intel/near?venue={ids['site']}&radius_km=5",
            "/account",
            "/no-such-page",
            "/intel/feeds/1/toggle",
        ],
        "agent": [
            "/phone/",
            f"/phone/details/{ids['detail']}",
            f"/phone/details/{ids['detail']}/handoff",
            "/admin/details",
            "/account/contacts",
        ],
        "contact": [
            "/portal",
            f"/portal/details/{ids['detail']}",
            "/portal/advisories",
            "/portal/requests",
            f"/portal/requests/{ids['request']}",
            "/portal/preferences",
            "/portal/digests",
        ],
    }


def _visit(page, role: str, path: str) -> None:
    """Open the page and wait until its scripts have drawn it; a page that fails to render fails the test."""
    response = page.goto(path)
    expected = ERRORS.get((role, path), 200)
    assert response.status == expected, f"{role} {path}: {response.status}"
    _settled(page)


def _settled(page) -> None:
    page.wait_for_load_state("networkidle")
    if page.locator("#connection").count():
        page.wait_for_selector("#connection[data-state=live]")
        page.wait_for_selector("#details section, #details .empty")


def _axe_violations(page) -> list[str]:
    """The serious and critical violations axe finds on the page, one line per element."""
    results = page.evaluate("() => axe.run(document, { resultTypes: ['violations'] })")
    found = []
    for violation in results["violations"]:
        if violation["impact"] not in ("serious", "critical"):
            continue
        for node in violation["nodes"]:
            summary = node.get("failureSummary", "").replace("\n", " ")
            found.append(f"{page.url} {violation['id']} {node['target']}: {summary}")
    return found


def _with_axe(page):
    """Load axe into every document the page opens: an init script, which the pages' CSP does not govern."""
    page.context.add_init_script(path=str(AXE))
    return page


# Boxes whose content is wider than they are and that scroll it: a table cut off at the edge.
SCROLLS_SIDEWAYS = """() => [...document.querySelectorAll('main *')]
    .filter((node) => ['auto', 'scroll'].includes(getComputedStyle(node).overflowX)
        && node.scrollWidth > node.clientWidth + 1)
    .map((node) => node.tagName.toLowerCase() + '.' + [...node.classList].join('.') + ' ' + node.scrollWidth + ' px')"""


def _page_for(browser, live_server, w, role: str, **options):
    """A browser page signed in as the world's user of that role (or nobody's)."""
    if role == "anonymous":
        return browser.new_page(base_url=live_server, **options)
    email = {"coordinator": w.coordinator.email, "agent": w.agent_user.email, "contact": w.contact.email}[role]
    return _signed_in_page(browser, live_server, email, **options)


def test_every_page_passes_axe(browser, live_server, world_now):
    w = world_now
    violations = []
    for role, paths in _pages(_populate(w)).items():
        page = _with_axe(_page_for(browser, live_server, w, role))
        for path in paths:
            _visit(page, role, path)
            violations += _axe_violations(page)
        page.context.close()
    assert violations == [], "\n".join(violations)


def test_no_page_is_wider_than_a_phone(browser, live_server, world_now):
    w = world_now
    wide = []
    for role, paths in _pages(_populate(w)).items():
        page = _page_for(browser, live_server, w, role, viewport=PHONE)
        for path in paths:
            _visit(page, role, path)
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > PHONE["width"]:
                wide.append(f"{path}: {width} px")
            wide += [f"{path}: {box} scrolls sideways" for box in page.evaluate(SCROLLS_SIDEWAYS)]
        page.context.close()
    assert wide == [], "\n".join(wide)


def _focused(page) -> str:
    """What has the keyboard's focus, as a person would name it."""
    return page.evaluate(
        """() => { const n = document.activeElement;
        return n.tagName.toLowerCase() + ' ' + (n.getAttribute('aria-label') || n.id || n.textContent.trim()); }"""
    )


@pytest.mark.parametrize("role, path", [("anonymous", "/login"), ("contact", "/portal"), ("agent", "/phone/")])
def test_the_first_tab_shows_a_skip_link_to_the_main_content(browser, live_server, world_now, role, path):
    page = _page_for(browser, live_server, world_now, role)
    page.goto(path)
    page.wait_for_load_state("networkidle")
    link = page.locator("a.skip-link")
    assert link.count() == 1
    assert link.bounding_box()["y"] < 0  # out of sight until it is needed
    page.keyboard.press("Tab")
    assert _focused(page) == "a Skip to main content"
    box = link.bounding_box()
    assert box["y"] >= 0 and box["x"] >= 0 and box["height"] > 10  # in sight when focused
    page.keyboard.press("Enter")
    assert _focused(page) == "main main"


def _duress_board(browser, live_server, w):
    from detail.models import Alert

    db.session.add(Alert(organisation_id=w.org.id, detail=w.detail, agent=w.agent, kind="duress", message="Bravo 1"))
    db.session.commit()
    page = _signed_in_page(browser, live_server, w.coordinator.email)
    page.goto(f"/board/details/{w.detail.id}")
    page.wait_for_selector("#connection[data-state=live]")
    page.wait_for_selector("#duress:not([hidden]) input")
    return page


def test_the_duress_note_is_three_keys_from_the_top_of_the_board(browser, live_server, world_now):
    page = _duress_board(browser, live_server, world_now)
    for key in ("Tab", "Enter", "Tab"):
        page.keyboard.press(key)
    assert _focused(page) == "input Acknowledgement note"


def _raise(w, agent, kind, message):
    """Raise an alert as the rules would and tell the boards."""
    from detail.domain import alerts, live

    event = alerts.raise_alert(kind=kind, agent=agent, detail_id=w.detail.id, message=message)
    db.session.commit()
    live.publish([event])


def test_a_note_being_typed_keeps_focus_and_text_when_the_board_redraws(browser, live_server, world_now):
    w = world_now
    page = _duress_board(browser, live_server, w)
    page.focus("#duress input")
    page.keyboard.type("Called Bravo 1")
    _raise(w, w.idle_agent_user.agent, "duress", "Bravo 9")
    page.wait_for_selector("#duress [data-alert] >> nth=1")
    assert _focused(page) == "input Acknowledgement note"
    assert page.input_value("#duress [data-alert] >> nth=0 >> input") == "Called Bravo 1"


def test_acknowledging_moves_focus_to_the_next_alert_then_to_the_list(browser, live_server, world_now):
    w = world_now
    _raise(w, w.agent, "late_om", "Bravo 1: no OM yet")
    _raise(w, w.idle_agent_user.agent, "silent", "Bravo 9 silent")
    page = _signed_in_page(browser, live_server, w.coordinator.email)
    page.goto("/board/")
    page.wait_for_selector("#connection[data-state=live]")
    first, second = page.locator("#alerts [data-alert]").nth(0), page.locator("#alerts [data-alert]").nth(1)
    second_id = second.get_attribute("data-alert")
    first.get_by_role("button", name="Acknowledge").focus()
    page.keyboard.press("Enter")
    first.get_by_role("button", name="Acknowledge").wait_for(state="detached")
    assert _focused(page) == "button Acknowledge"
    assert page.evaluate("document.activeElement.closest('[data-alert]')?.dataset.alert") == second_id
    page.keyboard.press("Enter")
    second.get_by_role("button", name="Acknowledge").wait_for(state="detached")
    assert _focused(page) == "h2 alerts-heading"


def test_tables_stacked_on_a_phone_stay_tables_for_screen_readers(browser, live_server, world_now):
    _populate(world_now)
    page = _page_for(browser, live_server, world_now, "coordinator", viewport=PHONE)
    page.goto("/admin/devices")
    page.wait_for_load_state("networkidle")
    first_cell = page.locator("table[data-stack] tbody td").first
    assert first_cell.evaluate("(td) => getComputedStyle(td).display") != "table-cell"  # stacked
    assert first_cell.evaluate("(td) => getComputedStyle(td, '::before').content").startswith('"Agent"')
    # What Chromium hands a screen reader: the accessibility tree, not the markup.
    tree = page.context.new_cdp_session(page).send("Accessibility.getFullAXTree")["nodes"]
    roles = {}
    for node in tree:
        name = node.get("name", {}).get("value", "")
        roles.setdefault(node.get("role", {}).get("value"), []).append(name)
    assert "table" in roles
    assert {"Agent", "Kind", "Device id or number", "Label", "Last heard"} <= set(roles["columnheader"])
    assert "Bravo 1" in roles["cell"]  # the label drawn before it is not read out a second time
