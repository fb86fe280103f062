"""The intel review queue: each advisory a closed disclosure (one group, so one is open at a time) that
shows its sources' text when opened; a candidate is merged into an advisory picked from a list of its
detail's (or watch area's) other open advisories; the server still checks what it is given."""

from datetime import timedelta
from html.parser import HTMLParser

import sqlalchemy as sa

from detail.extensions import db
from detail.models import Detail
from intel.models import Advisory, AdvisorySource, Feed, FeedItem, WatchArea

from .conftest import T0


class _Queue(HTMLParser):
    """Each review item's attributes, its text, and the options of its merge list."""

    def __init__(self):
        super().__init__()
        self.items: list[dict] = []
        self._depth = 0
        self._option: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "details" and "review-item" in (attrs.get("class") or ""):
            self.items.append({"attrs": attrs, "text": "", "options": [], "summary": "", "inputs": []})
            self._depth = 1
            return
        if not self._depth:
            return
        if tag == "details":
            self._depth += 1
        item = self.items[-1]
        if tag == "summary" and self._depth == 1:
            item["in_summary"] = True
        if tag == "option":
            self._option = {"value": attrs.get("value"), "text": ""}
            item["options"].append(self._option)
        if tag in ("input", "select"):
            item["inputs"].append(attrs)

    def handle_endtag(self, tag):
        if not self._depth:
            return
        if tag == "details":
            self._depth -= 1
        if tag == "summary":
            self.items[-1]["in_summary"] = False
        if tag == "option":
            self._option = None

    def handle_data(self, data):
        if not self._depth:
            return
        item = self.items[-1]
        item["text"] += data
        if item.get("in_summary"):
            item["summary"] += data
        if self._option is not None:
            self._option["text"] += data


def _queue(client, url="/intel/advisories") -> dict[str, dict]:
    page = client.get(url)
    assert page.status_code == 200
    parser = _Queue()
    parser.feed(page.get_data(as_text=True))
    return {item["attrs"]["data-advisory"]: item for item in parser.items}


def _advisory(world, title, severity="moderate", status="candidate", detail=None, area=None, hours=0, text=""):
    feed = db.session.scalar(sa.select(Feed)) or Feed(organisation=world.org, url="http://127.0.0.1:1/", name="Monitor")
    item = FeedItem(
        feed=feed,
        guid=title,
        title=title,
        summary_text=text,
        category="protest",
        starts_at=T0 + timedelta(hours=hours),
        ends_at=T0 + timedelta(hours=hours + 2),
    )
    advisory = Advisory(
        organisation_id=world.org.id,
        detail_id=None if area else (detail or world.detail).id,
        watch_area_id=area.id if area else None,
        title=title,
        category="protest",
        severity=severity,
        status=status,
        reason="near the hotel",
        starts_at=item.starts_at,
        ends_at=item.ends_at,
    )
    advisory.sources.append(
        AdvisorySource(detail_id=advisory.detail_id, watch_area_id=advisory.watch_area_id, item=item)
    )
    db.session.add_all([feed, item, advisory])
    db.session.commit()
    return advisory


def test_each_advisory_is_closed_in_one_group_and_shows_its_source_text_inside(as_user, world):
    first = _advisory(world, "Climate march at Trafalgar Square", text="Thousands expected from 09:00 on the Strand.")
    second = _advisory(world, "Road closure on the Strand", text="Closed for resurfacing.")
    queue = _queue(as_user(world.coordinator))
    for advisory in (first, second):
        item = queue[str(advisory.id)]
        assert "open" not in item["attrs"]
        assert item["attrs"]["name"] == "review"  # one group: opening one closes the others
        assert advisory.title in item["summary"] and "moderate" in item["summary"]
    assert "Thousands expected from 09:00 on the Strand." in queue[str(first.id)]["text"]
    assert "Thousands expected" not in queue[str(first.id)]["summary"]
    assert "Closed for resurfacing." in queue[str(second.id)]["text"]


def test_a_candidate_is_merged_into_one_picked_from_its_details_open_advisories(as_user, world):
    mine = _advisory(world, "March on the Strand", severity="low")
    same_detail = _advisory(world, "Climate march at Trafalgar Square", severity="high", hours=1)
    published = _advisory(world, "Demonstration at Charing Cross", status="published", hours=2)
    _advisory(world, "Old news", status="dismissed")
    other_detail = _advisory(world, "Strike in Frankfurt", detail=world.other_client_detail)
    client = as_user(world.coordinator)
    item = _queue(client)[str(mine.id)]
    assert not any(i.get("type") == "number" for i in item["inputs"])  # no number to type
    offered = [o for o in item["options"] if o["value"]]
    assert [o["value"] for o in offered] == [str(same_detail.id), str(published.id)]
    # Title, severity and time, in the detail's zone (London, GMT in November).
    text = " ".join(offered[0]["text"].split())
    assert "Climate march at Trafalgar Square" in text and "high" in text and "Tue 24 Nov 09:00 GMT" in text
    assert "published" in offered[1]["text"]
    # The other detail's candidate is offered only its own detail's advisories: none here.
    assert [o for o in _queue(client)[str(other_detail.id)]["options"] if o["value"]] == []

    assert client.post(f"/intel/advisories/{mine.id}/merge", data={"into": same_detail.id}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Advisory, mine.id).merged_into_id == same_detail.id


def test_the_server_still_refuses_a_merge_the_list_would_not_offer(as_user, world):
    mine = _advisory(world, "March on the Strand")
    elsewhere = _advisory(world, "Strike in Frankfurt", detail=world.other_client_detail)
    client = as_user(world.coordinator)
    refused = client.post(f"/intel/advisories/{mine.id}/merge", data={"into": elsewhere.id})
    assert refused.status_code == 409
    assert "same detail or watch area" in refused.get_data(as_text=True)
    assert client.post(f"/intel/advisories/{mine.id}/merge", data={"into": ""}).status_code == 400
    assert client.post(f"/intel/advisories/{mine.id}/merge", data={"into": 99999}).status_code == 409
    # The item acted on is the one open when the page comes back with the refusal.
    page = client.post(f"/intel/advisories/{mine.id}/merge", data={"into": elsewhere.id}).get_data(as_text=True)
    parser = _Queue()
    parser.feed(page)
    assert [i["attrs"]["data-advisory"] for i in parser.items if "open" in i["attrs"]] == [str(mine.id)]
    db.session.expire_all()
    assert db.session.get(Advisory, mine.id).status == "candidate"


def test_a_watch_areas_candidates_are_offered_that_watch_areas_advisories(as_user, world):
    area = WatchArea(
        client=world.client, name="Northwind HQ", latitude=51.5, longitude=-0.1, radius_m=2000, timezone="Europe/Paris"
    )
    db.session.add(area)
    db.session.commit()
    mine = _advisory(world, "Strike at the bank", area=area)
    other = _advisory(world, "Strike at the station", area=area, severity="high")
    _advisory(world, "March on the Strand")  # the detail's, not the area's
    item = _queue(as_user(world.coordinator))[str(mine.id)]
    offered = [o for o in item["options"] if o["value"]]
    assert [o["value"] for o in offered] == [str(other.id)]
    assert "Tue 24 Nov 09:00 CET" in " ".join(offered[0]["text"].split())


def test_a_candidate_with_nothing_to_merge_into_says_so(as_user, world):
    lone = _advisory(world, "March on the Strand")
    item = _queue(as_user(world.coordinator))[str(lone.id)]
    assert item["options"] == [] and "Nothing to merge into" in item["text"]
    assert db.session.get(Detail, world.detail.id) is not None
