"""Web Push in a real headless Chromium: the phone's and the board's service workers register under the
pages' own content security policy, and each page says where notifications stand on this device.

Subscribing itself needs the browser's push service (on the internet), which headless Chromium here
cannot reach; what the server does with a subscription is tested in tests/test_push.py.
"""

import json

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
    assert not page.locator("#push-disable").is_visible()  # nothing to turn off yet
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
    assert not page.locator("#push-disable").is_visible()
    assert refused == []
    assert test_browser_a11y._axe_violations(page) == []


NOTIFICATIONS = """async (scope) => {
    const registration = await navigator.serviceWorker.getRegistration(scope);
    for (let tries = 0; tries < 100; tries++) {
        const shown = await registration.getNotifications();
        if (shown.length) return shown.map((n) => ({ title: n.title, body: n.body, tag: n.tag, url: n.data.url }));
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return [];
}"""


def _deliver(page, cdp, registrations, live_server, scope, message) -> list[dict]:
    """Hand the service worker a push message as the browser would on receiving one (DevTools'
    ServiceWorker.deliverPushMessage), and return the notifications it then shows."""
    (registration,) = {r["registrationId"] for r in registrations if r["scopeURL"] == f"{live_server}{scope}"}
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": live_server, "registrationId": registration, "data": json.dumps(message)},
    )
    shown = page.evaluate(NOTIFICATIONS, f"{live_server}{scope}")
    page.evaluate(
        "async (scope) => (await (await navigator.serviceWorker.getRegistration(scope)).getNotifications())"
        ".forEach((n) => n.close())",
        f"{live_server}{scope}",
    )
    return shown


def test_a_push_shows_the_servers_words_and_opens_a_page_of_this_site_only(browser, live_server, world_now):
    w = world_now
    page = _signed_in_page(browser, live_server, w.agent_user.email, viewport=test_browser_a11y.PHONE)
    page.context.grant_permissions(["notifications"], origin=live_server)
    cdp = page.context.new_cdp_session(page)
    registrations = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: registrations.extend(e["registrations"]))
    cdp.send("ServiceWorker.enable")
    page.goto("/phone/")
    page.evaluate(REGISTRATION, f"{live_server}/phone/")

    # The payload as detail.domain.push.send_to_user writes it (tests/test_push.py decrypts the same).
    hot = {"title": "Northwind CEO London is hot", "body": "Report as assigned.", "url": "/phone/", "tag": "d-1"}
    assert _deliver(page, cdp, registrations, live_server, "/phone/", hot) == [
        {"title": hot["title"], "body": hot["body"], "tag": "d-1", "url": f"{live_server}/phone/"}
    ]
    elsewhere = {"title": "Phish", "body": "", "url": "https://evil.example/login", "tag": ""}
    (shown,) = _deliver(page, cdp, registrations, live_server, "/phone/", elsewhere)
    assert shown["url"] == f"{live_server}/phone/"  # another site's address opens the phone page instead
