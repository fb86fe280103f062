"""The pages in a real headless Chromium (Debian's chromium, driven by Playwright): phone to board.

CSRF protection is on here, as in production, so the pages' own tokens are what get tested.
"""

import os
import re
import shutil
from datetime import datetime, timedelta, timezone  # noqa: F401

import pytest

from detail.extensions import db

from .conftest import PASSWORD, build_world, make_app, service_missing

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
pytestmark = pytest.mark.browser


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path, WTF_CSRF_ENABLED=True, MAP_TILE_URL="http://127.0.0.1:9/{z}/{x}/{y}.png")
    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def world_now(app):
    return build_world(datetime.now(timezone.utc) + timedelta(minutes=20))


@pytest.fixture
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_missing("Playwright", "the playwright package is not installed (make test installs it)")
    if not shutil.which(CHROMIUM):
        service_missing("Chromium", f"{CHROMIUM} not found (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield browser
        browser.close()


def _signed_in_page(browser, base_url, email, **context_options):
    # Playwright's polling helpers evaluate strings, which the app's policy forbids; the test of the
    # policy itself turns the bypass off.
    context_options.setdefault("bypass_csp", True)
    context = browser.new_context(base_url=base_url, **context_options)
    page = context.new_page()
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page


def _shot(page, tmp_path, name):
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("SCREENSHOT_DIR"):
        shutil.copy(path, os.path.join(os.environ["SCREENSHOT_DIR"], f"{name}.png"))


def test_agent_taps_om_and_the_board_shows_it(browser, live_server, world_now, tmp_path):
    w = world_now
    board = _signed_in_page(browser, live_server, w.coordinator.email)
    board.goto(f"/board/details/{w.detail.id}")
    board.wait_for_selector("#connection[data-state=live]")
    row = board.locator(f'tr[data-agent="{w.agent.id}"]')
    assert row.locator(".code").inner_text() == "—"

    phone = _signed_in_page(
        browser, live_server, w.agent_user.email, viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )
    assert phone.url.endswith("/phone/")
    phone.wait_for_selector("button[data-code=OM]")
    phone.click("button[data-code=OM]")
    phone.wait_for_selector(".queue .badge-sent")
    assert phone.locator("button[data-code=OM]").get_attribute("aria-pressed") == "true"

    board.wait_for_function(
        f"document.querySelector('tr[data-agent=\"{w.agent.id}\"] .code')?.textContent === 'OM'", timeout=5000
    )
    assert "OM" in board.locator("#timeline").inner_text()
    _shot(phone, tmp_path, "phone")
    _shot(board, tmp_path, "board-detail")


def test_covert_duress_alarms_the_board_and_not_the_phone(browser, live_server, world_now, tmp_path):
    w = world_now
    board = _signed_in_page(browser, live_server, w.coordinator.email)
    board.goto("/board/")
    board.wait_for_selector("#connection[data-state=live]")
    assert board.locator("#duress").is_hidden()

    phone = _signed_in_page(browser, live_server, w.agent_user.email, viewport={"width": 390, "height": 844})
    button = phone.locator("button[data-code=CLR]")
    button.wait_for()
    box = button.bounding_box()
    phone.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    phone.mouse.down()
    phone.wait_for_timeout(2300)
    phone.mouse.up()
    phone.wait_for_selector(".queue .badge-sent")
    phone.wait_for_timeout(300)
    assert phone.locator(".queue li").count() == 1  # the end of the press sent nothing more

    # The phone looks exactly as if clear had been sent.
    assert button.get_attribute("aria-pressed") == "true"
    text = phone.locator("body").inner_text().lower()
    assert "dur" not in text and "alarm" not in text and "emergency" not in text
    assert phone.locator("#last").inner_text() == "CLR sent"

    board.wait_for_selector("#duress:not([hidden])", timeout=5000)
    assert "Bravo 1" in board.locator("#duress").inner_text()
    # Raised at a time in the venue's zone (London: GMT or BST), as the after-action report prints it.
    from detail.domain.timefmt import local_time

    raised = board.locator("#duress").inner_text()
    assert f" {local_time(datetime.now(timezone.utc), 'Europe/London', '%Z')}" in raised and "UTC" not in raised
    assert board.locator(f'tr[data-agent="{w.agent.id}"] .code').inner_text() == "DUR"
    _shot(board, tmp_path, "board-duress")
    board.reload()
    board.wait_for_selector("#duress:not([hidden])", timeout=5000)  # still raised after a reload
    board.fill("#duress input", "Called Bravo 1: safe, pressed by mistake")
    board.click("#duress button")
    board.wait_for_selector("#duress", state="hidden", timeout=5000)
    _shot(phone, tmp_path, "phone-after-duress")


def test_phone_queues_offline_and_sends_when_back(browser, live_server, world_now):
    w = world_now
    phone = _signed_in_page(browser, live_server, w.agent_user.email)
    phone.wait_for_selector("button[data-code=OM]")
    phone.context.set_offline(True)
    phone.click("button[data-code=OM]")
    phone.click("button[data-code=OS]")
    phone.wait_for_selector(".queue .badge-queued")
    assert phone.locator(".queue .badge-queued").count() == 2
    phone.context.set_offline(False)
    phone.evaluate("window.dispatchEvent(new Event('online'))")
    phone.wait_for_function("document.querySelectorAll('.queue .badge-sent').length === 2", timeout=10000)

    from detail.models import StatusReport

    db.session.expire_all()
    codes = [r.status_code.code for r in db.session.scalars(db.select(StatusReport).order_by(StatusReport.id))]
    assert codes == ["OM", "OS"]


def _another_agent(world, call_sign: str, report_at: datetime):
    """One more agent on the detail, due at the Grand Hotel at report_at."""
    from detail.models import Agent, Assignment, User

    email = f"{call_sign.replace(' ', '').lower()}@aegis.example"
    user = User(organisation=world.org, email=email, name=call_sign, role="agent")
    agent = Agent(organisation=world.org, user=user, call_sign=call_sign)
    db.session.add(
        Assignment(
            detail=world.detail,
            agent=agent,
            role="agent",
            site=world.hotel,
            report_at=report_at,
            shift_starts_at=report_at - timedelta(hours=1),
            shift_ends_at=report_at + timedelta(hours=10),
        )
    )
    db.session.commit()
    return agent


def test_board_counts_down_to_the_report_time_and_flags_the_row_when_it_passes(
    browser, live_server, world_now, tmp_path
):
    """The countdown runs on the server's clock, whatever the browser's; at the report time the row itself
    says "Late", once in the live region; the server's late alert agrees, and a report on station clears it."""
    import requests

    from detail import jobs
    from detail.web.auth import issue_token

    w = world_now
    board = _signed_in_page(browser, live_server, w.coordinator.email, viewport={"width": 1440, "height": 900})
    now = datetime.now(timezone.utc)
    w.assignment.report_at = now + timedelta(seconds=15)
    far = _another_agent(w, "Bravo 2", now + timedelta(hours=2, minutes=5, seconds=40))
    db.session.commit()
    # This browser's clock is ten minutes slow: the page counts on the server's time all the same.
    board.clock.install(time=now - timedelta(minutes=10))
    board.goto(f"/board/details/{w.detail.id}")
    board.wait_for_selector("#connection[data-state=live]")
    assert board.evaluate("Date.now()") < (now - timedelta(minutes=9)).timestamp() * 1000
    near_row = board.locator(f'tr[data-agent="{w.agent.id}"]')
    far_row = board.locator(f'tr[data-agent="{far.id}"]')

    assert far_row.locator(".countdown").inner_text() == "in 2 h 05 min"
    assert re.fullmatch(r"report \d\d:\d\d GMT", far_row.locator(".report-cell").inner_text().splitlines()[0])
    assert re.fullmatch(r"in \d{1,2} s", near_row.locator(".countdown").inner_text())
    assert near_row.get_attribute("class") == "agent-row" and near_row.locator(".late-flag").count() == 0
    first = near_row.locator(".countdown").inner_text()
    board.wait_for_function(
        f"document.querySelector('tr[data-agent=\"{w.agent.id}\"] .countdown')?.textContent !== '{first}'",
        timeout=5000,
    )  # it ticks
    assert board.locator("#board-announce").inner_text() == ""  # the countdown says nothing as it runs

    board.wait_for_selector(f'tr[data-agent="{w.agent.id}"].late .late-flag', timeout=30000)
    assert re.fullmatch(r"Late \d{1,2} s", near_row.locator(".late-text").inner_text())
    assert near_row.locator(".countdown").count() == 0
    assert far_row.locator(".late-flag").count() == 0
    said = board.locator("#board-announce").inner_text()
    assert said.startswith("Bravo 1 late ") and "report time" in said
    _shot(board, tmp_path, "board-late-row")

    # The server's alert (as its job raises it) lands in the alert list; the row stays flagged.
    jobs.evaluate_alerts()
    board.wait_for_function("document.getElementById('alerts').textContent.includes('Bravo 1 not on station')")
    assert near_row.locator(".late-flag").count() == 1

    def send(user, code: str):
        token = issue_token(user, "phone")
        db.session.commit()
        reply = requests.post(
            f"{live_server}/api/v1/status",
            json={"code": code, "client_id": f"{code}-1", "latitude": w.hotel.latitude, "longitude": w.hotel.longitude},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert reply.status_code in (200, 201), reply.text

    # Another agent's status redraws the rows, not the alert list: a live region drawn again is read again.
    # (A property, not an attribute: the list is compared by its markup before it is drawn again.)
    board.evaluate("document.querySelector('#alerts .alert').drawnOnce = true")
    send(far.user, "OM")
    board.wait_for_function(f"document.querySelector('tr[data-agent=\"{far.id}\"] .code')?.textContent === 'OM'")
    assert board.evaluate("document.querySelector('#alerts .alert').drawnOnce === true")

    send(w.agent_user, "OS")
    board.wait_for_selector(f'tr[data-agent="{w.agent.id}"]:not(.late)', timeout=10000)
    assert near_row.locator(".late-flag").count() == 0
    assert "on station" in near_row.locator(".report-cell").inner_text()
    assert board.locator("#board-announce").inner_text() == "Bravo 1 on station."


NO_SCROLL_IN_TABLES = "[...document.querySelectorAll('.agents-wrap')].every((w) => w.scrollWidth <= w.clientWidth)"


def _columns_inside(page, width: int) -> None:
    headers = page.locator(".agents-table th")
    assert headers.count() and headers.count() % 8 == 0  # eight columns in each detail's table
    for i in range(headers.count()):
        box = headers.nth(i).bounding_box()
        label = headers.nth(i).inner_text()
        assert box is not None and box["width"] > 20, label
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (label, box)
    # Nothing hidden behind a scroll inside the table's box either.
    assert page.evaluate(NO_SCROLL_IN_TABLES)


def test_board_table_shows_every_column_on_wide_screens_and_never_scrolls_sideways_on_a_phone(
    browser, live_server, world_now, tmp_path
):
    w = world_now
    _another_agent(w, "Bravo 2", datetime.now(timezone.utc) + timedelta(minutes=45))
    page = _signed_in_page(browser, live_server, w.coordinator.email)
    for width, height in ((1440, 900), (1920, 1080)):
        page.set_viewport_size({"width": width, "height": height})
        for path in (f"/board/details/{w.detail.id}", "/board/"):
            page.goto(path)
            page.wait_for_selector(".agents-table th")
            _columns_inside(page, width)
            # Bravo 1 was late before the page opened: flagged in the row, and nothing said about it.
            flag = page.locator(f'tr[data-agent="{w.agent.id}"].late .late-text').inner_text()
            assert re.fullmatch(r"Late 1\d min", flag)  # due ten minutes before the world was built
            page.wait_for_timeout(1500)
            assert page.locator("#board-announce").inner_text() == ""
            _shot(page, tmp_path, f"board-{width}-{'detail' if 'details' in path else 'all'}")

    page.set_viewport_size({"width": 390, "height": 844})
    for path in (f"/board/details/{w.detail.id}", "/board/"):
        page.goto(path)
        page.wait_for_selector(f'tr[data-agent="{w.agent.id}"]')
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert page.evaluate(NO_SCROLL_IN_TABLES)
        # Stacked: each cell says its column's name.
        labels = page.evaluate(
            f"""[...document.querySelectorAll('tr[data-agent="{w.agent.id}"] td')]
                .map((td) => getComputedStyle(td, '::before').content)"""
        )
        assert labels[0].startswith('"Agent"') and labels[-1].startswith('"Report"')
        _shot(page, tmp_path, f"board-390-{'detail' if 'details' in path else 'all'}")


def test_the_detail_page_and_its_live_board_link_to_each_other(browser, live_server, world_now):
    w = world_now
    page = _signed_in_page(browser, live_server, w.coordinator.email)
    page.goto(f"/admin/details/{w.detail.id}")
    page.get_by_role("link", name="Live board", exact=True).click()  # also in the Live state section
    page.wait_for_selector("#connection[data-state=live]")
    assert page.url.endswith(f"/board/details/{w.detail.id}")
    page.get_by_role("link", name="Detail page").click()
    page.wait_for_selector("h1")
    assert page.url.endswith(f"/admin/details/{w.detail.id}")


def _publish_one(world):
    from intel.domain import advisories
    from intel.models import Advisory, Feed, FeedItem

    feed = Feed(organisation=world.org, url="http://127.0.0.1:9/x.xml", name="Monitor")
    start = world.detail.starts_at
    item = FeedItem(
        feed=feed,
        guid="b1",
        title="Climate march at Trafalgar Square",
        category="protest",
        latitude=world.hotel.latitude + 0.003,
        longitude=world.hotel.longitude,
        located_by="feed",
        starts_at=start,
        ends_at=start + timedelta(hours=2),
    )
    db.session.add_all([feed, item])
    db.session.flush()
    advisories.record_candidates(world.org.id, [item], start)
    advisory = db.session.scalars(db.select(Advisory)).one()
    advisories.publish(
        advisory,
        world.coordinator,
        "A large march passes the hotel at arrival",
        "Arrive by the rear entrance on Carting Lane",
    )
    db.session.commit()
    return advisory


def test_portal_and_digest_preview(browser, live_server, world_now, tmp_path):
    w = world_now
    advisory = _publish_one(w)
    coordinator = _signed_in_page(browser, live_server, w.coordinator.email)
    coordinator.goto(f"/intel/digests/{w.contact.id}/preview")
    frame = coordinator.frame_locator("iframe.mail-preview")
    assert "Climate march at Trafalgar Square" in frame.locator("body").inner_text()
    assert "Arrive by the rear entrance" in frame.locator("body").inner_text()
    _shot(coordinator, tmp_path, "digest-preview")

    contact = _signed_in_page(browser, live_server, w.contact.email, viewport={"width": 390, "height": 844})
    assert contact.url.endswith("/portal")
    text = contact.locator("main").inner_text()
    assert "A large march passes the hotel at arrival" in text and advisory.reason in text
    assert "Bravo 1" not in text and w.other_client_detail.name not in text
    _shot(contact, tmp_path, "portal")

    other = _signed_in_page(browser, live_server, w.other_contact.email)
    assert "Climate march" not in other.locator("main").inner_text()


def test_pages_break_no_content_security_policy_rule(browser, live_server, world_now):
    """Every script the pages need comes from the app itself: no inline script, no eval, nothing refused."""
    w = world_now
    visits = {
        w.coordinator.email: [
            "/board/",
            f"/board/details/{w.detail.id}",
            "/admin/details",
            f"/admin/details/{w.detail.id}",
            f"/admin/details/{w.detail.id}/state?to=hot",
            "/admin/devices",
        ],
        w.agent_user.email: ["/phone/"],
        w.contact.email: ["/portal", f"/portal/details/{w.detail.id}"],
    }
    refused = []
    for email, paths in visits.items():
        page = _signed_in_page(browser, live_server, email)
        page.on(
            "console",
            lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None,
        )
        page.on("pageerror", lambda error: refused.append(str(error)))
        for path in paths:
            page.goto(path)
            page.wait_for_load_state("networkidle")
        if email == w.coordinator.email:
            page.goto(f"/board/details/{w.detail.id}")
            page.wait_for_selector("#connection[data-state=live]")  # the socket connected under the policy
        page.context.close()
    assert refused == []


def test_survey_draft_survives_no_signal_and_a_reload(browser, live_server, world_now):
    from detail.models import Survey

    w = world_now
    survey = Survey(detail=w.detail, site=w.hotel, author=w.agent_user)
    db.session.add(survey)
    db.session.commit()
    page = _signed_in_page(browser, live_server, w.agent_user.email)
    page.goto(f"{live_server}/surveys/{survey.id}")
    page.fill("textarea[name=safe_room]", "Suite 12, behind the kitchen")
    page.context.set_offline(True)
    page.click("button[value=save]")
    page.wait_for_selector("#draft-note:not([hidden])")
    assert "No signal" in page.inner_text("#draft-note")
    page.context.set_offline(False)
    page.reload()
    page.wait_for_selector("#draft-note:not([hidden])")
    assert "Restored your unsent draft" in page.inner_text("#draft-note")
    assert page.input_value("textarea[name=safe_room]") == "Suite 12, behind the kitchen"
    page.click("button[value=save]")
    page.wait_for_selector(".flash-success")
    db.session.expire_all()
    assert db.session.get(Survey, survey.id).safe_room == "Suite 12, behind the kitchen"
    assert page.evaluate(f"localStorage.getItem('survey:{survey.id}')") is None


def test_coordinator_answers_a_request_with_an_advisory_ticked_beside_it(browser, live_server, world_now, tmp_path):
    """The boxes beside the request belong to the answer form; the check page shows the client's view;
    "Send the answer" sends once however often it is clicked; no script breaks the page's policy."""
    from detail.domain import requests as inbox
    from detail.models import ClientRequest, Notice
    from intel.models import Advisory, ClientRequestAdvisory

    w = world_now
    start = w.detail.starts_at
    candidate = Advisory(
        organisation_id=w.org.id,
        detail_id=w.detail.id,
        title="Climate march at Trafalgar Square",
        category="protest",
        severity="high",
        reason="within 300 m of the Grand Hotel during arrival",
        starts_at=start,
        ends_at=start + timedelta(hours=2),
    )
    db.session.add(candidate)
    req, _ = inbox.log_request(client=w.client, contact=w.contact, subject="Any protests near the hotel today?")
    db.session.commit()

    page = _signed_in_page(browser, live_server, w.coordinator.email, bypass_csp=False)
    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda error: refused.append(str(error)))

    def to_the_check_page():
        page.goto(f"/admin/requests/{req.id}")
        page.get_by_label("Attach to the answer and publish it").check()
        page.get_by_label("Recommendation for the client (needed to publish it)").fill("Arrive by the rear entrance")
        page.get_by_label("Answer (sent to the contact)").fill("Yes, one march: see the advisory.")
        page.get_by_role("button", name="Check the answer").click()
        page.wait_for_selector("text=Check the answer before it goes")

    page.goto(f"/admin/requests/{req.id}")
    _shot(page, tmp_path, "request-intel")
    to_the_check_page()
    assert "Arrive by the rear entrance" in page.locator("main").inner_text()
    _shot(page, tmp_path, "request-check")
    # A send answered with 204 leaves the page as it is: what a second click does can be seen.
    sends = []
    page.route("**/answer", lambda route: (sends.append(route.request.url), route.fulfill(status=204)))
    send = page.get_by_role("button", name="Send the answer")
    send.click()
    page.wait_for_selector("#answer-form[aria-busy=true] button:disabled", timeout=5000)
    send.click(force=True)  # the second click of a double click
    page.wait_for_timeout(300)
    assert len(sends) == 1
    page.unroute("**/answer")

    to_the_check_page()
    page.get_by_role("button", name="Send the answer").click()
    page.wait_for_selector(".flash-success")
    assert page.inner_text(".flash-success") == "Answered; the contact is told."
    _shot(page, tmp_path, "request-answered")
    db.session.expire_all()
    assert db.session.get(ClientRequest, req.id).answer == "Yes, one march: see the advisory."
    assert db.session.get(Advisory, candidate.id).status == "published"
    assert db.session.scalar(db.select(db.func.count()).select_from(Notice)) == 1
    assert db.session.scalar(db.select(db.func.count()).select_from(ClientRequestAdvisory)) == 1
    assert refused == []


# --- changes a slip must not make: asked in the page, sent once, the next button elsewhere ---------------


def _state_events():
    from detail.models import Event

    db.session.expire_all()
    return db.session.scalars(db.select(Event).where(Event.kind == "detail_state")).all()


def _button_at(page, box) -> str | None:
    """The text of the button under the middle of box (where a second click would land), if any."""
    point = {"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2}
    return page.evaluate("(p) => document.elementFromPoint(p.x, p.y)?.closest('button')?.textContent ?? null", point)


def test_go_hot_asks_in_an_accessible_dialog_and_a_double_click_moves_once(browser, live_server, world_now, tmp_path):
    w = world_now
    page = _signed_in_page(browser, live_server, w.coordinator.email)
    page.goto(f"/admin/details/{w.detail.id}")
    go_hot = page.locator(".state-steps .step-hot button")
    box = go_hot.bounding_box()

    go_hot.dblclick()  # the second click lands on the dialog or its backdrop: nothing is sent
    dialog = page.get_by_role("dialog", name=f"Go hot: {w.detail.name}?")
    dialog.wait_for()
    assert "the board starts timing reports" in dialog.inner_text()
    assert page.evaluate("document.activeElement.textContent") == "Cancel"  # focus in it, on the safe choice
    _shot(page, tmp_path, "confirm-go-hot")
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.textContent") == "Go hot"  # back on the button that asked
    assert _state_events() == []

    go_hot.click()
    confirm = dialog.get_by_role("button", name="Go hot")
    with page.expect_navigation():
        confirm.dblclick()
    page.wait_for_selector(".state-steps .step-hot [aria-current=step]")
    [event] = _state_events()
    assert (event.payload["previous"], event.payload["state"]) == ("planned", "hot")
    # Where Go hot was there is no button now: Complete has a place of its own.
    assert _button_at(page, box) is None
    assert page.locator(".state-steps .step-complete button").inner_text() == "Complete"
    _shot(page, tmp_path, "detail-hot")


def test_the_board_asks_before_going_hot_and_sends_once(browser, live_server, world_now, tmp_path):
    w = world_now
    board = _signed_in_page(browser, live_server, w.coordinator.email)
    posts = []
    board.on("request", lambda r: posts.append(r.url) if r.method == "POST" and r.url.endswith("/state") else None)
    board.goto(f"/board/details/{w.detail.id}")
    board.wait_for_selector("#connection[data-state=live]")
    go_hot = board.locator(f'[data-move="{w.detail.id}:hot"]')
    box = go_hot.bounding_box()

    go_hot.dblclick()
    dialog = board.get_by_role("dialog", name=f"Go hot: {w.detail.name}?")
    dialog.wait_for()
    assert posts == []
    dialog.get_by_role("button", name="Go hot").dblclick()
    board.wait_for_selector(f'.step-hot [data-current="{w.detail.id}"]')
    board.wait_for_selector("#board-notice:has-text('is hot')")
    assert len(posts) == 1 and len(_state_events()) == 1
    assert _button_at(board, box) is None
    assert board.locator(f'[data-move="{w.detail.id}:complete"]').inner_text() == "Complete"
    _shot(board, tmp_path, "board-hot")


def test_removing_a_visit_says_what_goes_with_it_and_can_be_undone(browser, live_server, world_now, tmp_path):
    from detail.models import Movement, Visit

    w = world_now
    page = _signed_in_page(browser, live_server, w.coordinator.email)
    page.goto(f"/admin/details/{w.detail.id}")
    page.locator("#itinerary tr.stop-visit button", has_text="Remove").click()
    dialog = page.get_by_role("dialog", name=re.compile(r"^Remove the visit to Grand Hotel"))
    dialog.wait_for()
    assert "The movement Grand Hotel → ExCeL London that leaves from there will be removed too." in dialog.inner_text()
    with page.expect_navigation():
        dialog.get_by_role("button", name="Remove visit").click()
    notice = page.locator(".undo-notice")
    assert "Removed the visit to Grand Hotel" in notice.inner_text()
    labelled = r"\d\d:\d\d GMT\) and the movement Grand Hotel → ExCeL London \(.*\d\d:\d\d GMT\)"
    assert re.search(labelled, notice.inner_text())  # each time with its zone's label
    assert "Nothing on the itinerary yet." in page.locator("#itinerary").inner_text()  # nor the movement
    _shot(page, tmp_path, "undo-notice")
    with page.expect_navigation():
        notice.get_by_role("button", name="Undo").click()
    assert "Put back the visit to Grand Hotel" in page.locator(".flash-success").inner_text()
    db.session.expire_all()
    assert len(db.session.scalars(db.select(Visit).where(Visit.detail_id == w.detail.id)).all()) == 1
    assert len(db.session.scalars(db.select(Movement).where(Movement.detail_id == w.detail.id)).all()) == 1


def test_without_javascript_the_server_asks_on_a_page(browser, live_server, world_now):
    from detail.models import Movement

    w = world_now
    page = _signed_in_page(browser, live_server, w.coordinator.email, java_script_enabled=False)
    page.goto(f"/admin/details/{w.detail.id}")
    page.locator("#itinerary tr.stop-movement button", has_text="Remove").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text().startswith("Remove the movement Grand Hotel → ExCeL London")
    db.session.expire_all()
    assert db.session.scalars(db.select(Movement)).all() != []  # asked, nothing removed yet
    page.get_by_role("button", name="Remove movement").click()
    page.wait_for_load_state()
    assert page.locator("#itinerary tr.stop-movement").count() == 0
    assert page.locator("#itinerary tr.stop-visit").count() == 1


def test_the_lead_goes_hot_from_the_phone_after_the_question(browser, live_server, world_now, tmp_path):
    w = world_now
    phone = _signed_in_page(
        browser, live_server, w.agent_user.email, viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )
    go_hot = phone.locator(f'[data-move="{w.detail.id}:hot"]')
    go_hot.tap()
    dialog = phone.get_by_role("dialog", name=f"Go hot: {w.detail.name}?")
    dialog.wait_for()
    assert _state_events() == []
    dialog.get_by_role("button", name="Go hot").tap()
    phone.wait_for_selector(f'.step-hot [data-current="{w.detail.id}"]')
    assert len(_state_events()) == 1
    assert phone.locator(f'[data-move="{w.detail.id}:complete"]').inner_text() == "Complete"
    _shot(phone, tmp_path, "phone-hot")


def _luminance(css_rgb: str) -> float:
    channels = [int(v) / 255 for v in css_rgb[css_rgb.index("(") + 1 : css_rgb.index(")")].split(",")[:3]]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(one: str, other: str) -> float:
    lighter, darker = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_the_phone_says_under_its_buttons_that_a_code_waits_for_signal(browser, live_server, world_now, tmp_path):
    w = world_now
    phone = _signed_in_page(browser, live_server, w.agent_user.email, viewport={"width": 390, "height": 844})
    phone.wait_for_selector("button[data-code=OS]")
    phone.context.set_offline(True)
    phone.click("button[data-code=OS]")
    line = phone.locator("#last")
    phone.wait_for_function("document.getElementById('last').textContent.includes('queued')")
    assert line.inner_text() == "OS queued – sends when online"
    assert line.get_attribute("aria-live") == "polite" and line.get_attribute("role") == "status"
    # Right under the buttons, on the first screen: no scrolling to the queue to learn it waits.
    codes, shown = phone.locator("#codes").bounding_box(), line.bounding_box()
    assert 0 <= shown["y"] - (codes["y"] + codes["height"]) < 40
    assert shown["y"] + shown["height"] <= 844
    _shot(phone, tmp_path, "phone-queued")

    # The pressed code reads as well as the others: white on a colour at 4.5:1 at least, nothing faded.
    looks = phone.evaluate(
        """[...document.querySelectorAll('#codes button')].map((b) => ({
            code: b.dataset.code, pressed: b.getAttribute('aria-pressed'),
            fg: getComputedStyle(b).color, small: getComputedStyle(b.querySelector('small')).color,
            bg: getComputedStyle(b).backgroundColor, opacity: [b, b.querySelector('small')]
              .map((n) => getComputedStyle(n).opacity).join()}))"""
    )
    pressed = [look for look in looks if look["pressed"] == "true"]
    assert [look["code"] for look in pressed] == ["OS"]
    for look in looks:
        assert look["opacity"] == "1,1", look
        assert _contrast(look["fg"], look["bg"]) >= 4.5, look
        assert _contrast(look["small"], look["bg"]) >= 4.5, look

    # Times on the venue's clock with its zone's label, queued (the phone's) or stored (the server's).
    from detail.domain.timefmt import local_time

    label = local_time(datetime.now(timezone.utc), "Europe/London", "%Z")
    assert phone.locator(".queue li").first.inner_text().startswith("OS · ")
    assert f" {label}" in phone.locator(".queue li").first.inner_text()
    phone.context.set_offline(False)
    phone.evaluate("window.dispatchEvent(new Event('online'))")
    phone.wait_for_function("document.getElementById('last').textContent === 'OS sent'", timeout=10000)
    from detail.models import StatusReport

    db.session.expire_all()
    stored = db.session.scalars(db.select(StatusReport)).one()
    assert (
        phone.locator(".queue li")
        .first.inner_text()
        .startswith("OS · " + local_time(stored.reported_at, "Europe/London", "%H:%M %Z"))
    )


def test_review_queue_opens_one_advisory_at_a_time_by_keyboard(browser, live_server, world_now, tmp_path):
    from intel.models import Advisory

    w = world_now
    start = w.detail.starts_at
    ids = []
    for title, severity in (("Climate march at Trafalgar Square", "high"), ("Road closure on the Strand", "low")):
        advisory = Advisory(
            organisation_id=w.org.id,
            detail_id=w.detail.id,
            title=title,
            category="protest",
            severity=severity,
            reason="near the Grand Hotel",
            starts_at=start,
            ends_at=start + timedelta(hours=2),
        )
        db.session.add(advisory)
        db.session.flush()
        ids.append(advisory.id)
    db.session.commit()
    page = _signed_in_page(browser, live_server, w.coordinator.email)
    page.goto("/intel/advisories")
    opened = "() => [...document.querySelectorAll('details.review-item[open]')].map((d) => d.dataset.advisory)"
    assert page.evaluate(opened) == []

    def open_by_keyboard(advisory_id):
        page.focus(f'details[data-advisory="{advisory_id}"] > summary')
        page.keyboard.press("Enter")

    open_by_keyboard(ids[0])
    assert page.evaluate(opened) == [str(ids[0])]
    # The merge list of the open one offers the other, by title, severity and time.
    options = page.locator(f'details[data-advisory="{ids[0]}"] select[name=into] option').all_inner_texts()
    assert any("Road closure on the Strand" in o and "low" in o for o in options)
    open_by_keyboard(ids[1])
    page.wait_for_function(f"({opened})().join() === '{ids[1]}'")
    _shot(page, tmp_path, "review-queue")
    # Where the browser does not group <details name>, the page's script still closes the others.
    page.evaluate("document.querySelectorAll('details.review-item').forEach((d) => d.removeAttribute('name'))")
    open_by_keyboard(ids[0])
    page.wait_for_function(f"({opened})().join() === '{ids[0]}'")


def test_feed_and_digest_actions_line_up_at_one_size(browser, live_server, world_now, tmp_path):
    from intel.models import Feed

    w = world_now
    db.session.add_all(
        [
            Feed(organisation=w.org, url="https://a.example/feed-with-a-long-address.xml", name="Regional"),
            Feed(organisation=w.org, url="https://b.example/f", name="Quiet", enabled=False),
        ]
    )
    db.session.commit()
    page = _signed_in_page(browser, live_server, w.coordinator.email, viewport={"width": 1280, "height": 900})
    boxes = """(selector) => [...document.querySelectorAll(selector)].map((row) =>
        [...row.querySelectorAll('td.row-actions .row-action')].map((b) => {
          const r = b.getBoundingClientRect();
          return [Math.round(r.x), Math.round(r.width), Math.round(r.height)];
        }))"""
    for path, selector in (("/intel/feeds", "tbody tr[data-feed]"), ("/intel/digests", "tbody tr[data-contact]")):
        page.goto(path)
        rows = page.evaluate(boxes, selector)
        assert len(rows) == 2 and all(len(row) == 2 for row in rows), rows
        assert rows[0] == rows[1], rows  # the same place and size in every row
        (x1, w1, h1), (x2, w2, h2) = rows[0]
        assert (w1, h1) == (w2, h2) and x2 > x1 + w1  # one size, side by side
        _shot(page, tmp_path, path.rsplit("/", 1)[-1])


def test_digest_preferences_show_only_the_chosen_cadences_fields(browser, live_server, world_now, tmp_path):
    from intel.models import ContactPreference

    w = world_now
    page = _signed_in_page(browser, live_server, w.contact.email, viewport={"width": 390, "height": 844})
    page.goto("/portal/preferences")
    shown = "() => ['weekly_day', 'daily_at', 'all_quiet'].filter((n) => document.getElementsByName(n)[0].offsetParent)"
    assert page.get_by_label("How often").input_value() == "daily"
    assert page.evaluate(shown) == ["daily_at", "all_quiet"]
    page.get_by_label("How often").select_option("weekly")
    assert page.evaluate(shown) == ["weekly_day", "daily_at", "all_quiet"]
    _shot(page, tmp_path, "preferences-weekly")
    page.get_by_label("How often").select_option("immediate")
    assert page.evaluate(shown) == []
    # The zone is searched in the list; what is hidden is not sent, and the server keeps the stored time.
    page.get_by_label("Time zone").fill("America/New_York")
    assert page.evaluate("document.getElementById('timezone').list.id") == "zone-names"
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector(".flash-success")
    db.session.expire_all()
    stored = db.session.scalar(db.select(ContactPreference).where(ContactPreference.user_id == w.contact.id))
    assert (stored.cadence, stored.timezone, stored.daily_at_minute) == ("immediate", "America/New_York", 7 * 60)
    assert page.evaluate(shown) == []  # shown again as stored: at once, no timing fields
    page.get_by_label("Time zone").fill("london")
    page.get_by_role("button", name="Save").click()
    assert "Did you mean Europe/London?" in page.locator("main").inner_text()
