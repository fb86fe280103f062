"""What the pages promise everyone without a browser: readable chip colours, the skip link, the icon.

The browser checks (axe-core, phone widths, the keyboard) are in test_browser_a11y.py.
"""

import itertools

import pytest

from detail.models import StatusCode
from detail.models.reports import DEFAULT_STATUS_CODES, _luminance, text_colour_on
from intel.domain.digest_content import SEVERITY_COLOURS


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_any_colour_a_coordinator_picks_gets_readable_text():
    steps = [f"{v:02x}" for v in range(0, 256, 15)]
    for r, g, b in itertools.product(steps, repeat=3):
        colour = f"#{r}{g}{b}"
        assert contrast(colour, text_colour_on(colour)) >= 4.5, colour


@pytest.mark.parametrize("code", DEFAULT_STATUS_CODES, ids=lambda c: c[0])
def test_default_codes_are_white_on_a_dark_chip(code):
    colour = code[4]
    assert text_colour_on(colour) == "#ffffff"
    assert contrast(colour, "#ffffff") >= 4.5


def test_a_code_tells_the_board_and_the_phone_its_text_colour():
    assert StatusCode(code="OS", colour="#43a047").as_dict()["text_colour"] == "#000000"
    assert StatusCode(code="RTB", colour="#8e24aa").as_dict()["text_colour"] == "#ffffff"


@pytest.mark.parametrize("severity", SEVERITY_COLOURS)
def test_digest_severity_labels_are_readable(severity):
    background, text = SEVERITY_COLOURS[severity]
    assert contrast(background, text) >= 4.5


def test_favicon_ico_leads_to_the_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response.headers["Location"].endswith("/static/icons/om.svg")
    assert client.get(response.headers["Location"]).mimetype == "image/svg+xml"


@pytest.mark.parametrize("role", ["anonymous", "coordinator", "agent", "client"])
def test_every_page_links_the_icon_and_skips_to_main(world, client, as_user, role):
    home = {"anonymous": "/login", "coordinator": "/admin/details", "agent": "/phone/", "client": "/portal"}[role]
    if role != "anonymous":
        as_user(world.user(role))
    page = client.get(home).get_data(as_text=True)
    assert '<link rel="icon" type="image/svg+xml" href="/static/icons/om.svg">' in page
    assert page.index('<a class="skip-link" href="#main">') < page.index('<header class="topbar">')
    assert '<main id="main"' in page
