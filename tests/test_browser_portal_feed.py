"""The portal's feed URL in a real browser: making the first one asks nothing (it replaces nothing);
*New feed URL* asks in the page's dialog what it ends, Cancel keeps the URL in use, and a double click
on the dialog's button makes one new URL."""

import re

import pytest
import sqlalchemy as sa

from detail.extensions import db

from . import test_browser

app, browser, world_now = test_browser.app, test_browser.browser, test_browser.world_now
_signed_in_page = test_browser._signed_in_page

pytestmark = pytest.mark.browser


def test_a_new_feed_url_asks_in_the_page_first(browser, live_server, world_now):
    from intel.models import ContactPreference

    w = world_now
    page = _signed_in_page(browser, live_server, w.contact.email)
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" and r.url.endswith("/feed") else None)

    def stored():
        db.session.expire_all()
        return db.session.scalar(
            sa.select(ContactPreference.feed_token_hash).where(ContactPreference.user_id == w.contact.id)
        )

    page.goto("/portal/preferences")
    with page.expect_navigation():
        page.get_by_role("button", name="Create a feed URL").click()
    first = page.locator("p.token").inner_text()
    old = stored()
    assert first.startswith("http") and old is not None and len(posts) == 1

    page.get_by_role("button", name="New feed URL").click()
    dialog = page.get_by_role("dialog", name="Replace the feed URL?")
    dialog.wait_for()
    assert "stops working at once" in dialog.inner_text()
    dialog.get_by_role("button", name="Cancel").click()
    assert dialog.is_hidden() and stored() == old and len(posts) == 1

    # Focus is back on the button; once the page takes clicks again (confirm.js drops them for 400 ms
    # after the dialog closes, the rest of a double click), it asks again.
    assert page.evaluate("document.activeElement.textContent") == "New feed URL"
    page.wait_for_timeout(600)
    page.get_by_role("button", name="New feed URL").click()
    dialog.wait_for()
    with page.expect_navigation():
        dialog.get_by_role("button", name="Make a new feed URL").dblclick()
    second = page.locator("p.token").inner_text()
    assert re.match(r"https?://", second) and second != first
    assert len(posts) == 2 and stored() not in (None, old)
    page.context.close()
