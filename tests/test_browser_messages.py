"""Team messages in a real headless Chromium: a coordinator sends from the board, the agent opens and
acknowledges it on the phone (also a double tap, also offline), and the board shows the count live.
The agent's push is queued for the push job (a QueuedPush row), which this test does not run.
"""

import pytest
import sqlalchemy as sa

from detail.extensions import db
from detail.models import MessageRecipient, QueuedPush

from . import test_browser

# The browser tests' own fixtures: the app with CSRF on, Chromium, a world whose detail starts soon.
app, browser, world_now = test_browser.app, test_browser.browser, test_browser.world_now
_signed_in_page, _shot = test_browser._signed_in_page, test_browser._shot

pytestmark = pytest.mark.browser


def test_coordinator_sends_agent_acknowledges_and_the_board_counts_it(browser, live_server, world_now, tmp_path):
    w = world_now
    board = _signed_in_page(browser, live_server, w.coordinator.email)
    board.goto(f"/board/details/{w.detail.id}")
    board.wait_for_selector("#connection[data-state=live]")
    board.wait_for_selector(f'#message-to option[value="detail:{w.detail.id}"]', state="attached")

    phone = _signed_in_page(
        browser, live_server, w.agent_user.email, viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )
    phone.wait_for_selector("#message-list")
    phone.wait_for_function("window.OM && window.OM.phoneSocket && window.OM.phoneSocket.connected", timeout=10000)

    board.select_option("#message-to", f"detail:{w.detail.id}")
    board.fill("#message-body", "Principal delayed 20 min, hold positions")
    board.check("#message-ack")
    board.dblclick("#message-form button[type=submit]")  # a double click sends once
    board.wait_for_selector("#message-list .message-count")
    assert board.locator("#message-list .message-count").first.inner_text() == "0 of 1 acknowledged"
    assert "Bravo 1" in board.locator("#message-list").inner_text()
    assert board.locator("#message-list li.message").count() == 1

    # The phone hears it over its socket and says it arrived; opening it marks it read.
    summary = phone.locator("#message-list details summary").first
    summary.wait_for()
    assert "new" in summary.inner_text()
    summary.click()
    assert "hold positions" in phone.locator("#message-list details").first.inner_text()
    # Offline, the tap is kept and shown; back online it is sent once, even after a double tap.
    phone.context.set_offline(True)
    phone.dblclick("[data-acknowledge]")
    phone.wait_for_selector("#message-list .badge-sent")
    assert "queued" in phone.locator("#message-list .badge-sent").inner_text()
    phone.context.set_offline(False)
    phone.evaluate("window.dispatchEvent(new Event('online'))")

    board.wait_for_function(
        "document.querySelector('#message-list .message-count')?.textContent === '1 of 1 acknowledged'", timeout=10000
    )
    phone.wait_for_function(
        "!document.querySelector('#message-list .badge-sent').textContent.includes('queued')", timeout=10000
    )
    assert "acknowledged a message" in board.locator("#timeline").inner_text()
    _shot(board, tmp_path, "board-messages")
    _shot(phone, tmp_path, "phone-messages")

    db.session.expire_all()
    (row,) = db.session.scalars(sa.select(MessageRecipient)).all()
    assert row.user_id == w.agent_user.id and row.delivered_via == "socket" and row.read_at and row.acknowledged_at
    assert db.session.scalars(sa.select(QueuedPush.user_id)).all() == [w.agent_user.id]

    # The list is kept on the phone: offline, a reload still shows the message.
    phone.context.set_offline(True)
    phone.reload()
    phone.locator("#message-list details summary").first.click()
    assert "hold positions" in phone.locator("#message-list").inner_text()
    assert "Acknowledged" in phone.locator("#message-list").inner_text()


def test_agent_writes_to_the_coordinators_from_the_phone(browser, live_server, world_now):
    w = world_now
    board = _signed_in_page(browser, live_server, w.coordinator.email)
    board.goto("/board/")
    board.wait_for_selector("#connection[data-state=live]")
    phone = _signed_in_page(browser, live_server, w.agent_user.email, viewport={"width": 390, "height": 844})
    phone.fill("#message-text", "Side door of the hotel is unlocked")
    phone.click("#message-compose button[type=submit]")
    board.wait_for_function(
        "document.querySelector('#message-list')?.textContent.includes('Side door of the hotel')", timeout=10000
    )
    assert "to the coordinators" in board.locator("#message-list").inner_text()
    phone.wait_for_function("!document.querySelector('#message-list').textContent.includes('sending')", timeout=10000)
    assert "To the coordinators" in phone.locator("#message-list").inner_text()
