"""The board's alarm sound in a real headless Chromium, with the autoplay rule browsers apply to a page
nobody has touched: until the first click the board says "Click to enable alarm sound"; after it the
sound runs and the banner goes. A browser with no Web Audio says it cannot play the alarm."""

import re
import shutil

import pytest

from . import test_browser
from .conftest import PASSWORD, service_missing

# The browser tests' own fixtures: the app with CSRF on, a world whose detail starts soon.
app, world_now = test_browser.app, test_browser.world_now

pytestmark = pytest.mark.browser


@pytest.fixture
def browser():
    """Chromium as a desktop browser treats sound: a page may play it only after a gesture in it."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_missing("Playwright", "the playwright package is not installed (make test installs it)")
    if not shutil.which(test_browser.CHROMIUM):
        service_missing("Chromium", f"{test_browser.CHROMIUM} not found (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=test_browser.CHROMIUM,
            # A desktop browser's rule, stated: Web Audio starts only in a document the user has acted in.
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--autoplay-policy=document-user-activation-required",
            ],
        )
        yield browser
        browser.close()


def _fresh_board(browser, base_url, email, init_script=None):
    """The board of a browser that has had no click nor key on the site: signed in by a plain form
    post (Chromium lets a site that was clicked on earlier play sound at once)."""
    context = browser.new_context(base_url=base_url, bypass_csp=True)
    if init_script:
        context.add_init_script(init_script)
    form = context.request.get("/login").text()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
    signed_in = context.request.post("/login", form={"csrf_token": token, "email": email, "password": PASSWORD})
    assert signed_in.ok
    board = context.new_page()
    board.goto("/board/")
    board.wait_for_selector("#connection[data-state=live]")
    return board


def test_the_board_asks_for_a_click_to_enable_its_alarm_sound_and_arms_on_it(browser, live_server, world_now):
    board = _fresh_board(browser, live_server, world_now.coordinator.email)
    banner = board.locator("#sound-arming")
    banner.wait_for(state="visible")
    button = board.get_by_role("button", name="Click to enable alarm sound")
    assert button.is_visible()
    # Read from the page, not with evaluate(): Playwright runs evaluate() as if the user had clicked.
    assert banner.get_attribute("data-state") == "unarmed"

    # Pressing the button arms the sound and the banner goes before the button is released, so the
    # release lands on what moved up under the pointer: Playwright's click() takes that for a covered
    # button and retries. The mouse clicks as a person's does.
    box = button.bounding_box()
    board.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    banner.wait_for(state="hidden")
    assert board.evaluate("window.OM.sound.state") == "armed"
    assert board.evaluate("window.OM.sound.context().state") == "running"
    board.context.close()


def test_any_click_on_the_board_arms_it_too(browser, live_server, world_now):
    board = _fresh_board(browser, live_server, world_now.coordinator.email)
    board.locator("#sound-arming").wait_for(state="visible")
    box = board.locator("h1").bounding_box()
    board.mouse.click(box["x"] + 5, box["y"] + box["height"] / 2)
    board.locator("#sound-arming").wait_for(state="hidden")
    assert board.evaluate("window.OM.sound.state") == "armed"
    board.context.close()


def test_a_board_that_cannot_play_sound_says_so(browser, live_server, world_now):
    board = _fresh_board(
        browser,
        live_server,
        world_now.coordinator.email,
        init_script="delete window.AudioContext; delete window.webkitAudioContext;",
    )
    banner = board.locator("#sound-arming")
    banner.wait_for(state="visible")
    assert "cannot play the alarm sound" in banner.inner_text()
    assert board.locator("#sound-arm").is_hidden()
    assert banner.get_attribute("data-state") == "unavailable"
    assert board.evaluate("window.OM.sound.context()") is None
    board.context.close()
