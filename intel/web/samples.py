"""Sample feeds bundled with the demo, served by the app itself so the demo needs no internet.

Their items are dated on the demo's own clock (detail.demo.StoryClock: the story's hours placed
around now, as the demo's details are), near the demo's venues, so the demo shows the same
advisories with reasons whatever the hour it is loaded.
"""

from datetime import timezone
from email.utils import format_datetime
from zoneinfo import ZoneInfo

from flask import abort, render_template, request

from detail.demo import StoryClock
from detail.models import utcnow
from intel.web import bp

SAMPLES = {
    "london-protests": "London protest monitor (sample)",
    "embassy-alerts": "Embassy security alerts (sample)",
    "weather-warnings": "Weather warnings (sample, CAP)",
}
LONDON = ZoneInfo("Europe/London")


@bp.route("/samples/<name>.xml")
def sample_feed(name: str):
    """A bundled sample feed (public: it holds nothing but made-up demo items)."""
    if name not in SAMPLES:
        abort(404)
    story = StoryClock.at_load(utcnow())
    today = story.at(12).astimezone(LONDON).date()

    body = render_template(
        f"intel/samples/{name}.xml",
        base=request.host_url,
        day=today.isoformat(),
        at=story.at,
        hm=lambda moment: moment.astimezone(LONDON).strftime("%H:%M"),
        rfc822=lambda moment: format_datetime(moment.astimezone(timezone.utc)),
        iso=lambda moment: moment.astimezone(timezone.utc).isoformat(),
    )
    return body, 200, {"Content-Type": "application/xml; charset=utf-8", "Cache-Control": "no-cache"}


def sample_feed_urls(public_url: str) -> list[tuple[str, str]]:
    """(name, url) of each sample feed as the app at public_url serves it."""
    return [(title, f"{public_url.rstrip('/')}/intel/samples/{key}.xml") for key, title in SAMPLES.items()]
