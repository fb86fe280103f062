"""Intel pages and API: the feed registry, advisory review, the question box, rules; scoped and pushed."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from detail.extensions import db
from detail.models import Event
from detail.web.auth import issue_token
from intel.domain import advisories
from intel.models import Advisory, ClassificationRule, Feed, FeedItem

from .conftest import T0


@pytest.fixture
def candidate(world):
    feed = Feed(organisation=world.org, url="http://127.0.0.1:1/f.xml", name="Monitor")
    item = FeedItem(
        feed=feed,
        guid="x1",
        title="<b>March</b> near the hotel",
        category="protest",
        latitude=world.hotel.latitude + 0.003,
        longitude=world.hotel.longitude,
        located_by="feed",
        starts_at=T0,
        ends_at=T0 + timedelta(hours=2),
        link="https://news.example/march",
    )
    db.session.add_all([feed, item])
    db.session.flush()
    advisories.record_candidates(world.org.id, [item], T0)
    db.session.commit()
    return db.session.scalars(sa.select(Advisory)).one()


def _bearer(user):
    token = issue_token(user, "t")
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_feed_registry_page_adds_and_shows_health(as_user, world):
    client = as_user(world.coordinator)
    page = client.get("/intel/feeds")
    assert page.status_code == 200 and b"No feeds yet" in page.data
    bad = client.post("/intel/feeds", data={"url": "javascript:alert(1)", "name": "x", "poll_interval_s": 600})
    assert bad.status_code == 400 and b"http://" in bad.data
    short = client.post("/intel/feeds", data={"url": "https://a.example/f", "name": "x", "poll_interval_s": 5})
    assert short.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Feed)) == 0
    ok = client.post(
        "/intel/feeds",
        data={
            "url": "https://a.example/f",
            "name": "Regional",
            "country_code": "gb",
            "poll_interval_s": 600,
            "enabled": "y",
        },
    )
    assert ok.status_code == 302
    feed = db.session.scalars(sa.select(Feed)).one()
    assert feed.country_code == "GB" and feed.organisation_id == world.org.id
    feed.last_error, feed.consecutive_failures = "HTTP 500 from the server", 2
    db.session.commit()
    assert b"HTTP 500 from the server" in client.get("/intel/feeds").data


def test_review_publish_pushes_and_escapes(as_user, world, candidate):
    client = as_user(world.coordinator)
    page = client.get("/intel/advisories")
    assert page.status_code == 200
    assert b"&lt;b&gt;March&lt;/b&gt;" in page.data and b"<b>March</b>" not in page.data
    missing = client.post(f"/intel/advisories/{candidate.id}/publish", data={"summary": "", "recommendation": ""})
    assert missing.status_code == 400
    response = client.post(
        f"/intel/advisories/{candidate.id}/publish",
        data={"summary": "A march passes the hotel", "recommendation": "Use the rear entrance"},
    )
    assert response.status_code == 302
    db.session.refresh(candidate)
    assert candidate.status == "published" and candidate.reviewed_by_id == world.coordinator.id
    kinds = db.session.scalars(sa.select(Event.kind).order_by(Event.id)).all()
    assert kinds == ["advisory_candidate", "advisory_published"]
    assert client.post(f"/intel/advisories/{candidate.id}/dismiss", data={"reason": "x"}).status_code == 409


def test_other_organisation_cannot_review(as_user, world, candidate):
    client = as_user(world.other_org_coordinator)
    assert client.post(f"/intel/advisories/{candidate.id}/dismiss", data={"reason": "x"}).status_code == 404
    assert b"March" not in client.get("/intel/advisories").data


def test_question_box(as_user, world, candidate):
    client = as_user(world.coordinator)
    answer = client.get(f"/intel/near?venue={world.hotel.id}&radius_km=5")
    assert answer.status_code == 200 and b"1 item near Grand Hotel" in answer.data and b"334 m" in answer.data
    by_place = client.get("/intel/near?place=London&radius_km=20")
    assert b"near London, GB" in by_place.data
    assert client.get("/intel/near?place=Nowhereville&radius_km=5").status_code == 400
    assert client.get(f"/intel/near?venue={world.hotel.id}&radius_km=-1").status_code == 400


def test_rules_are_data(as_user, world):
    client = as_user(world.coordinator)
    assert (
        client.post(
            "/intel/rules", data={"category": "protest", "pattern": "(", "field": "any", "weight": 1, "is_regex": "y"}
        ).status_code
        == 400
    )
    assert (
        client.post(
            "/intel/rules", data={"category": "crime", "pattern": "pickpocket", "field": "any", "weight": 2}
        ).status_code
        == 302
    )
    rule = db.session.scalars(sa.select(ClassificationRule).where(ClassificationRule.pattern == "pickpocket")).one()
    assert (rule.category, rule.weight) == ("crime", 2)
    # The defaults are the organisation's own rows from the first visit, so they can be edited too.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ClassificationRule)) > 100
    assert b"protest" in client.get("/intel/rules").data


def test_api_feeds_items_advisories(client, world, candidate):
    headers = _bearer(world.coordinator)
    created = client.post("/api/v1/feeds", json={"url": "https://b.example/rss", "name": "B"}, headers=headers)
    assert created.status_code == 201 and created.json["items_seen"] == 0
    assert (
        client.post("/api/v1/feeds", json={"url": "https://b.example/rss", "name": "B"}, headers=headers).status_code
        == 409
    )
    assert (
        client.post("/api/v1/feeds", json={"url": "file:///etc/passwd", "name": "C"}, headers=headers).status_code
        == 422
    )
    names = [f["name"] for f in client.get("/api/v1/feeds", headers=headers).json]
    assert names == ["B", "Monitor"]

    near = client.get(f"/api/v1/items?near={world.hotel.latitude},{world.hotel.longitude}&radius_km=1", headers=headers)
    assert near.status_code == 200
    assert [(i["title"], round(i["distance_m"])) for i in near.json] == [("<b>March</b> near the hotel", 334)]
    assert client.get("/api/v1/items?near=91,0", headers=headers).status_code == 422
    assert client.get("/api/v1/items?near=abc", headers=headers).status_code == 422

    listed = client.get(f"/api/v1/advisories?detail={world.detail.id}", headers=headers).json
    assert [a["severity"] for a in listed] == ["critical"] and "Grand Hotel" in listed[0]["reason"]
    published = client.post(
        f"/api/v1/advisories/{candidate.id}/publish",
        json={"summary": "A march", "recommendation": "Rear entrance"},
        headers=headers,
    )
    assert published.status_code == 200 and published.json["status"] == "published"
    assert (
        client.post(f"/api/v1/advisories/{candidate.id}/dismiss", json={"reason": "x"}, headers=headers).status_code
        == 409
    )

    rival = _bearer(world.other_org_coordinator)
    assert client.get("/api/v1/advisories", headers=rival).json == []
    assert (
        client.post(f"/api/v1/advisories/{candidate.id}/dismiss", json={"reason": "x"}, headers=rival).status_code
        == 404
    )
    assert client.get(f"/api/v1/advisories?detail={world.detail.id}", headers=rival).status_code == 404
    assert client.get("/api/v1/feeds", headers=_bearer(world.agent_user)).status_code == 403


def test_board_shows_advisories(as_user, world, candidate):
    state = as_user(world.coordinator).get(f"/board/details/{world.detail.id}/state").json
    assert [a["title"] for a in state["detail"]["advisories"]] == ["<b>March</b> near the hotel"]


def test_published_advisories_reach_the_details_agents_phones_and_only_them(app, client, world, candidate):
    import time_machine

    from detail.domain import live
    from detail.domain.live import PHONE_NAMESPACE

    from .conftest import FreshContextSocket, sign_in

    with time_machine.travel(T0, tick=False):  # the agent is on shift
        sign_in(client, world.agent_user)
        phone = FreshContextSocket(app, namespace=PHONE_NAMESPACE, flask_test_client=client)
        assert phone.is_connected(PHONE_NAMESPACE)
        idle = app.test_client()
        sign_in(idle, world.idle_agent_user)
        idle_phone = FreshContextSocket(app, namespace=PHONE_NAMESPACE, flask_test_client=idle)
        coordinator = app.test_client()
        sign_in(coordinator, world.coordinator)
        assert not FreshContextSocket(app, namespace=PHONE_NAMESPACE, flask_test_client=coordinator).is_connected(
            PHONE_NAMESPACE
        )
        state = client.get("/phone/state").json
        assert state["assignments"][0]["advisories"] == []  # a candidate is not the agents' yet

        event = advisories.publish(candidate, world.coordinator, "A march near the hotel", "Rear entrance")
        db.session.commit()
        live.publish([event])
        received = [r["args"][0]["kind"] for r in phone.get_received(PHONE_NAMESPACE) if r["name"] == "event"]
        assert received == ["advisory_published"]
        assert [r for r in idle_phone.get_received(PHONE_NAMESPACE) if r["name"] == "event"] == []
        shown = client.get("/phone/state").json["assignments"][0]["advisories"]
        assert [(a["title"], a["summary"]) for a in shown] == [
            ("<b>March</b> near the hotel", "A march near the hotel")
        ]
        assert "site" not in shown[0]


@pytest.mark.parametrize(
    "url, spelled",
    [
        ("http://127.0.0.1:8080/feed.xml", "127.0.0.1 is not a public address"),
        ("http://2130706433/feed.xml", "2130706433 (127.0.0.1) is not a public address"),
        ("http://0177.0.0.1/feed.xml", "0177.0.0.1 (127.0.0.1) is not a public address"),
        ("http://[::ffff:169.254.169.254]/latest/meta-data", "::ffff:169.254.169.254 (169.254.169.254) is not"),
        ("https://10.1.2.3/rss", "10.1.2.3 is not a public address"),
        ("http://localhost:5000/intel/samples/x.xml", "localhost is not a public address"),
    ],
)
def test_a_feed_at_a_private_address_is_refused_as_it_is_added(client, as_user, world, url, spelled):
    api = client.post("/api/v1/feeds", json={"url": url, "name": "Inside"}, headers=_bearer(world.coordinator))
    page = as_user(world.coordinator).post("/intel/feeds", data={"url": url, "name": "Inside", "poll_interval_s": 600})

    assert api.status_code == 422 and spelled in api.json["errors"]["json"]["url"][0]
    assert "an admin allows the host under Settings" in api.json["message"]
    assert page.status_code == 400 and spelled in page.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Feed)) == 0


def test_a_feed_at_a_private_address_the_organisation_allows_is_added(client, as_user, world):
    world.org.feed_private_hosts = "10.0.0.0/8 intranet.corp.example"
    db.session.commit()

    api = client.post(
        "/api/v1/feeds", json={"url": "https://10.1.2.3/rss", "name": "Intranet"}, headers=_bearer(world.coordinator)
    )
    page = as_user(world.coordinator).post(
        "/intel/feeds", data={"url": "http://intranet.corp.example/rss", "name": "Corp", "poll_interval_s": 600}
    )
    other = client.post(
        "/api/v1/feeds", json={"url": "http://192.168.1.1/rss", "name": "Router"}, headers=_bearer(world.coordinator)
    )

    assert api.status_code == 201 and page.status_code == 302 and other.status_code == 422
    assert sorted(db.session.scalars(sa.select(Feed.name))) == ["Corp", "Intranet"]
