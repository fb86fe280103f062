"""Web Push in a real headless Chromium: the phone's and the board's service workers register under the
pages' own content security policy, and each page says where notifications stand on this device.

Subscribing itself needs the browser's push service (on the internet), which headless Chromium here
cannot reach; what the server does with a subscription is tested in tests/test_push.py.
"""

import pytest

from . import test_browser, test_browser_a11y

app, browser, world_now = test_browser.app, test_browser.browser, test_browser.world_now
_signed_in_page = test_browser._signed_in_page

pytestmark = pytest.mark.browser

STATES = ("Notifications: off on this device.", "Notifications: not supported by this browser.")

REGISTRATION = """async (scope) => {
    await navigator.serviceWorker.ready;
    const registration = await navigator.serviceWorker.getRegistration(scope);
    const worker = registration && (registration.active || registration.waiting || registration.installing);
    return registration ? { scope: registration.scope, script: worker && worker.scriptURL } : null;
}"""


def _watch_policy(page) -> list[str]:
    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    return refused


def test_the_phones_service_worker_registers_and_the_page_says_notifications_are_off(browser, live_server, world_now):
    w = world_now
    page = _signed_in_page(browser, live_server, w.agent_user.email, bypass_csp=False, viewport=test_browser_a11y.PHONE)
    refused = _watch_policy(page)
    page.context.add_init_script(path=str(test_browser_a11y.AXE))
    page.goto("/phone/")
    page.wait_for_selector("button[data-code=OM]")

    registration = page.evaluate(REGISTRATION, f"{live_server}/phone/")
    assert registration == {"scope": f"{live_server}/phone/", "script": f"{live_server}/phone/sw.js"}
    page.wait_for_selector("#push-state:not(:text('checking'))")
    state = page.locator("#push-state").inner_text()
    assert state in STATES
    assert page.locator("#push-enable").is_visible() == (state == STATES[0])
    assert refused == []
    assert test_browser_a11y._axe_violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= test_browser_a11y.PHONE["width"]


def test_the_boards_service_worker_covers_the_board(browser, live_server, world_now):
    w = world_now
    page = _signed_in_page(browser, live_server, w.coordinator.email, bypass_csp=False)
    refused = _watch_policy(page)
    page.context.add_init_script(path=str(test_browser_a11y.AXE))
    page.goto(f"/board/details/{w.detail.id}")
    page.wait_for_selector("#connection[data-state=live]")

    registration = page.evaluate(REGISTRATION, f"{live_server}/board/")
    assert registration == {"scope": f"{live_server}/board/", "script": f"{live_server}/push/sw.js"}
    page.wait_for_selector("#push-state:not(:text('checking'))")
    assert page.locator("#push-state").inner_text() in STATES
    assert refused == []
    assert test_browser_a11y._axe_violations(page) == []
