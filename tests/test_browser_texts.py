"""The coordinators' Texts page in a real headless Chromium: axe finds nothing serious on it, it fits a
phone's width, and Send again asks in the page's dialog before the text is made due (once, however
often the button is clicked)."""

import pytest
import sqlalchemy as sa

from detail.extensions import db
from detail.models import TextMessage

from . import test_browser_a11y as a11y

# The browser tests' own fixtures: the app with CSRF on, Chromium, a world whose detail starts soon.
app, browser, world_now = a11y.app, a11y.browser, a11y.world_now

pytestmark = pytest.mark.browser


def _lost_text(w) -> TextMessage:
    a11y._texts(w)
    db.session.commit()
    return db.session.scalar(sa.select(TextMessage).where(TextMessage.status == "uncertain"))


def test_the_texts_page_passes_axe_and_fits_a_phone(browser, live_server, world_now):
    _lost_text(world_now)
    page = a11y._with_axe(a11y._page_for(browser, live_server, world_now, "coordinator", viewport=a11y.PHONE))
    a11y._visit(page, "coordinator", "/admin/texts")
    assert a11y._axe_violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= a11y.PHONE["width"]
    assert page.evaluate(a11y.SCROLLS_SIDEWAYS) == []


def test_send_again_asks_first_and_makes_the_text_due_once(browser, live_server, world_now):
    lost = _lost_text(world_now)
    page = a11y._page_for(browser, live_server, world_now, "coordinator")
    page.goto("/admin/texts")
    page.get_by_role("button", name="Send again").click()
    dialog = page.get_by_role("dialog", name="Send the text to Sam Carter again?")
    dialog.wait_for()
    assert "may have arrived already" in dialog.inner_text()
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    db.session.refresh(lost)
    assert lost.status == "uncertain"

    page.get_by_role("button", name="Send again").click()
    with page.expect_navigation():
        dialog.get_by_role("button", name="Send again").dblclick()
    page.wait_for_selector("text=goes again within seconds")
    db.session.refresh(lost)
    assert lost.status == "pending"
    assert page.locator(f'[data-text="{lost.id}"]').count() == 0  # due again: no longer waiting for a person
