"""Web Push: the VAPID key, sending through a real push service on loopback (tests/push_service.py)
that checks the VAPID header and decrypts with the subscription's own keys, the address guard on
endpoints, the "push" job sending each queued push once, the subscribe endpoints, and what agents
are told (detail hot, handoff to them, advisory published to their detail).
"""

import os
import stat
import threading
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import current_app

from detail.domain import guarded_http, netguard, push, vapid
from detail.domain.handoff import hand_off
from detail.extensions import db
from detail.models import PushSubscription, QueuedPush, utcnow

from .conftest import sign_in
from .push_service import DRIBBLE, FLOOD, PushService, b64url

MESSAGE = push.PushMessage(title="Northwind CEO London is hot", body="Report as assigned.", url="/phone/", tag="t1")


@pytest.fixture
def service(app):
    service = PushService().start()
    # The tests' push service is on loopback: allowed explicitly, as an admin would an intranet host.
    app.config["PUSH_ALLOWED_HOSTS"] = "127.0.0.1"
    yield service
    service.stop()


def _store(user, browser) -> PushSubscription:
    subscription = PushSubscription(
        user_id=user.id, endpoint=browser.endpoint, p256dh=browser.p256dh, auth=b64url(browser.auth)
    )
    db.session.add(subscription)
    db.session.commit()
    return subscription


def _subscriptions(user) -> list[PushSubscription]:
    return db.session.scalars(sa.select(PushSubscription).where(PushSubscription.user_id == user.id)).all()


# --- the key --------------------------------------------------------------------------------------


def test_the_vapid_key_is_made_once_into_the_instance_folder_readable_by_its_owner_only(app, tmp_path):
    first = vapid.application_server_key()
    path = tmp_path / vapid.KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    app.extensions.pop("oscar_mike_vapid")  # as a restarted process would read it
    assert vapid.application_server_key() == first
    point = vapid.vapid_key().public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert len(point) == 65 and point[0] == 4 and b64url(point) == first and "=" not in first


def test_the_vapid_key_from_the_environment_wins_and_nothing_is_written(app, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    app.config["VAPID_PRIVATE_KEY"] = pem.decode().replace("\n", "\\n")  # one environment line
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert vapid.application_server_key() == b64url(point)
    assert not (tmp_path / vapid.KEY_FILE).exists()


# --- sending --------------------------------------------------------------------------------------


def test_a_push_reaches_the_device_signed_and_encrypted_and_reads_as_sent(app, world, service):
    browser = service.subscribe()
    subscription = _store(world.agent_user, browser)

    outcomes = push.send_to_user(world.agent_user.id, MESSAGE)
    db.session.commit()

    assert outcomes == [push.PushOutcome(subscription.id, True, 201, "")]
    assert service.messages(browser) == [
        {"title": "Northwind CEO London is hot", "body": "Report as assigned.", "url": "/phone/", "tag": "t1"}
    ]
    (seen,) = service.received
    assert seen.vapid_error is None
    assert seen.vapid_key == vapid.application_server_key()
    assert seen.claims["aud"] == service.origin and seen.claims["sub"] == app.config["VAPID_SUBJECT"]
    assert seen.headers["content-encoding"] == "aes128gcm"
    assert seen.headers["ttl"] == str(push.TTL_SECONDS) and seen.headers["urgency"] == "high"
    stored = db.session.get(PushSubscription, subscription.id)
    assert stored.last_success_at is not None and stored.last_error is None


def test_each_of_a_persons_devices_gets_it_and_nobody_elses(app, world, service):
    phone, laptop, coordinators = service.subscribe(), service.subscribe(), service.subscribe()
    _store(world.agent_user, phone)
    _store(world.agent_user, laptop)
    _store(world.coordinator, coordinators)

    outcomes = push.send_to_user(world.agent_user.id, MESSAGE)

    assert [o.ok for o in outcomes] == [True, True]
    assert len(service.messages(phone)) == len(service.messages(laptop)) == 1
    assert service.messages(coordinators) == []
    assert push.send_to_user(world.idle_agent_user.id, MESSAGE) == []


@pytest.mark.parametrize("gone", [404, 410])
def test_a_subscription_the_push_service_says_is_gone_is_dropped(app, world, service, gone):
    browser = service.subscribe()
    subscription = _store(world.agent_user, browser)
    service.answer_with(browser, gone)

    (outcome,) = push.send_to_user(world.agent_user.id, MESSAGE)
    db.session.commit()

    assert (outcome.ok, outcome.status) == (False, gone)
    assert db.session.get(PushSubscription, subscription.id) is None


def test_a_push_service_in_trouble_is_recorded_and_the_subscription_kept(app, world, service):
    browser = service.subscribe()
    subscription = _store(world.agent_user, browser)
    service.answer_with(browser, 500)

    (outcome,) = push.send_to_user(world.agent_user.id, MESSAGE)
    db.session.commit()

    assert (outcome.ok, outcome.status) == (False, 500) and outcome.error.startswith("HTTP 500")
    stored = db.session.get(PushSubscription, subscription.id)
    assert stored.last_error.startswith("HTTP 500") and stored.last_success_at is None


def test_a_push_service_that_dribbles_is_cut_off_at_the_deadline(app, world, service, monkeypatch):
    # One slow endpoint must not hold the jobs (alerts among them) that run in the same loop.
    monkeypatch.setattr(guarded_http._GuardedSession, "deadline", 1.0)
    browser = service.subscribe()
    subscription = _store(world.agent_user, browser)
    service.answer_with(browser, DRIBBLE)

    (outcome,) = push.send_to_user(world.agent_user.id, MESSAGE)
    db.session.commit()

    assert (outcome.ok, outcome.status, outcome.error) == (False, None, "timed out")
    assert db.session.get(PushSubscription, subscription.id).last_error == "timed out"


def test_an_answer_without_end_is_read_only_so_far(app, world, service):
    browser = service.subscribe()
    _store(world.agent_user, browser)
    service.answer_with(browser, FLOOD)

    (outcome,) = push.send_to_user(world.agent_user.id, MESSAGE)

    assert (outcome.ok, outcome.status) == (False, 500)
    assert outcome.error.startswith("HTTP 500") and len(outcome.error) <= 500


def test_an_endpoint_at_a_private_address_is_refused_without_a_request(app, world, service):
    app.config["PUSH_ALLOWED_HOSTS"] = ""  # as in production: loopback is nobody's push service
    browser = service.subscribe()
    subscription = _store(world.agent_user, browser)

    (outcome,) = push.send_to_user(world.agent_user.id, MESSAGE)
    db.session.commit()

    assert (outcome.ok, outcome.status) == (False, None)
    assert service.received == []
    assert db.session.get(PushSubscription, subscription.id).last_error == outcome.error


def test_a_name_that_resolves_to_a_private_address_is_refused_at_connect(app, service):
    # The guard's second line: a name that looks public is judged on the address it resolves to.
    session = guarded_http.guarded_session(netguard.PUBLIC_ONLY)
    with pytest.raises(netguard.AddressNotAllowed):
        session.post(f"http://localhost:{service.server.server_port}/push/x", data=b"x", timeout=5)
    assert service.received == []
    # The same session with the address allowed does connect, to prove the refusal was the guard's.
    allowed = guarded_http.guarded_session(netguard.parse_allow_list("127.0.0.1 ::1"))
    answer = allowed.post(f"http://localhost:{service.server.server_port}/push/x", data=b"x", timeout=5)
    assert answer.status_code == 404


@pytest.mark.parametrize(
    ("endpoint", "problem"),
    [
        ("http://push.example.com/x", "endpoint must be an https URL"),
        ("https://10.1.2.3/x", "endpoint is not a public address"),
        ("https://[::1]/x", "endpoint is not a public address"),
        ("https://2130706433/x", "endpoint is not a public address"),
        ("https://localhost/x", "endpoint is not a public address"),
        ("https://user:pw@push.example.com/x", "endpoint is not a push service URL"),
        ("ftp://push.example.com/x", "endpoint must be an https URL"),
        ("https://push.example.com:99999/x", "endpoint is not a URL"),
        ("https://" + "a" * 2050, f"endpoint is at most {push.MAX_ENDPOINT_LENGTH} characters"),
        ("https://fcm.googleapis.com/fcm/send/abc", None),
    ],
)
def test_endpoints_are_untrusted_urls(endpoint, problem):
    assert push.endpoint_problem(endpoint, netguard.PUBLIC_ONLY) == problem


def test_plain_http_only_to_an_allowed_host():
    allow = netguard.parse_allow_list("127.0.0.1 push.intranet")
    assert push.endpoint_problem("http://127.0.0.1:8080/x", allow) is None
    assert push.endpoint_problem("http://push.intranet/x", allow) is None
    assert push.endpoint_problem("http://push.example.com/x", allow) == "endpoint must be an https URL"


# --- the queue and the job ------------------------------------------------------------------------


def _queued() -> list[QueuedPush]:
    return db.session.scalars(sa.select(QueuedPush).order_by(QueuedPush.id)).all()


def test_the_job_sends_a_queued_push_once(app, world, service):
    browser = service.subscribe()
    _store(world.agent_user, browser)
    push.queue_push(world.agent_user.id, MESSAGE)
    db.session.commit()
    assert service.received == []  # queued, not sent

    assert push.send_due() == 1
    assert push.send_due() == 0  # a second run finds nothing to send

    assert len(service.messages(browser)) == 1
    (row,) = _queued()
    assert row.status == "sent" and row.sent_at is not None and row.last_error is None


def test_two_senders_at_once_send_a_queued_push_once(backend):
    """Two job processes (threads here, each with its own session) on SQLite and on PostgreSQL."""
    app = current_app._get_current_object()
    app.config["PUSH_ALLOWED_HOSTS"] = "127.0.0.1"
    service = PushService().start()
    try:
        browser = service.subscribe()
        _store(backend.agent_user, browser)
        for n in range(5):
            push.queue_push(backend.agent_user.id, push.PushMessage(f"message {n}", "", "/phone/"))
        db.session.commit()
        start, sent = threading.Barrier(2), []

        def sender():
            with app.app_context():
                start.wait()
                sent.append(push.send_due())
                db.session.remove()

        threads = [threading.Thread(target=sender) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert sum(sent) == 5
        assert sorted(m["title"] for m in service.messages(browser)) == [f"message {n}" for n in range(5)]
        assert {r.status for r in _queued()} == {"sent"}
    finally:
        service.stop()


def test_a_push_claimed_by_another_sender_is_left_to_it(app, world, service):
    browser = service.subscribe()
    _store(world.agent_user, browser)
    push.queue_push(world.agent_user.id, MESSAGE)
    db.session.commit()
    (row,) = _queued()
    assert push._claim(row.id, utcnow())  # another job process took it a moment ago

    assert push.send_due() == 0
    assert service.received == []
    assert db.session.get(QueuedPush, row.id).status == "sending"


def test_a_sender_that_stopped_mid_send_is_not_sent_again(app, world, service):
    _store(world.agent_user, service.subscribe())
    push.queue_push(world.agent_user.id, MESSAGE)
    db.session.commit()
    (row,) = _queued()
    push._claim(row.id, utcnow() - push.STALE_SENDING - timedelta(minutes=1))

    push.send_due()

    db.session.refresh(row)
    assert row.status == "failed" and "may have gone" in row.last_error
    assert service.received == []


def test_queued_pushes_without_a_device_or_too_old_are_not_sent(app, world, service):
    _store(world.agent_user, service.subscribe())
    push.queue_push(world.idle_agent_user.id, MESSAGE)  # no subscription
    push.queue_push(world.agent_user.id, MESSAGE)
    db.session.commit()
    old = _queued()[1]
    old.created_at = utcnow() - push.MAX_AGE - timedelta(minutes=1)
    db.session.commit()

    assert push.send_due() == 0
    assert [r.status for r in _queued()] == ["skipped", "expired"]
    assert service.received == []


def test_settled_pushes_are_kept_a_week(app, world, service):
    for _ in range(3):
        push.queue_push(world.idle_agent_user.id, MESSAGE)
    db.session.commit()
    push.send_due()
    old, recent, waiting = _queued()
    old.created_at = utcnow() - push.RETENTION - timedelta(hours=1)
    waiting.status, waiting.created_at = "sending", old.created_at  # a claim in flight is never deleted
    waiting.claimed_at = utcnow()
    db.session.commit()

    push.send_due()

    assert [r.id for r in _queued()] == [recent.id, waiting.id]


def test_a_failed_push_is_recorded_on_the_queued_row(app, world, service):
    browser = service.subscribe()
    _store(world.agent_user, browser)
    service.answer_with(browser, 503)
    push.queue_push(world.agent_user.id, MESSAGE)
    db.session.commit()

    assert push.send_due() == 0
    (row,) = _queued()
    assert row.status == "failed" and row.last_error.startswith("HTTP 503")


def test_a_push_opens_a_page_of_this_site_only(app, world):
    for url in ("https://evil.example/", "//evil.example/", "javascript:alert(1)"):
        with pytest.raises(ValueError):
            push.queue_push(world.agent_user.id, push.PushMessage("t", "b", url))


def test_push_is_one_of_the_jobs():
    from detail.jobs import JOBS

    assert any(job.name == "push" and job.run is push.send_due for job in JOBS)


# --- subscribing ----------------------------------------------------------------------------------


def test_an_agent_saves_renews_and_removes_a_subscription(app, world, client, service):
    sign_in(client, world.agent_user)
    browser = service.subscribe()

    key = client.get("/push/key")
    assert key.status_code == 200 and key.json == {"public_key": vapid.application_server_key(), "subscriptions": 0}

    created = client.post("/push/subscriptions", json=browser.as_json(), headers={"User-Agent": "Phone/1"})
    assert created.status_code == 201, created.json
    again = client.post("/push/subscriptions", json=browser.as_json())
    assert again.status_code == 200 and again.json["id"] == created.json["id"]
    (stored,) = _subscriptions(world.agent_user)
    assert (stored.endpoint, stored.p256dh, stored.auth) == (browser.endpoint, browser.p256dh, b64url(browser.auth))

    assert client.delete("/push/subscriptions", json={"endpoint": browser.endpoint}).status_code == 204
    assert _subscriptions(world.agent_user) == []
    assert client.delete("/push/subscriptions", json={"endpoint": browser.endpoint}).status_code == 404


def test_a_device_signed_out_hears_nothing_more(app, world, client, service):
    browser, other_device = service.subscribe(), service.subscribe()
    sign_in(client, world.agent_user)
    assert client.post("/push/subscriptions", json=browser.as_json()).status_code == 201
    (subscription,) = _subscriptions(world.agent_user)
    assert subscription.session_id is not None
    _store(world.agent_user, other_device)  # made outside a browser session: not tied to one

    assert client.post("/logout").status_code == 302

    outcomes = push.send_to_user(world.agent_user.id, MESSAGE)
    db.session.commit()
    assert [o.ok for o in outcomes] == [True]
    assert service.messages(browser) == [] and len(service.messages(other_device)) == 1
    assert [s.endpoint for s in _subscriptions(world.agent_user)] == [other_device.endpoint]


def test_a_deactivated_account_hears_nothing_more(app, world, client, service):
    browser = service.subscribe()
    sign_in(client, world.agent_user)
    assert client.post("/push/subscriptions", json=browser.as_json()).status_code == 201
    world.agent_user.active = False
    db.session.commit()

    assert push.send_to_user(world.agent_user.id, MESSAGE) == []
    assert service.received == []


def test_one_person_cannot_take_or_remove_anothers_subscription(app, world, client, service):
    browser = service.subscribe()
    sign_in(client, world.agent_user)
    assert client.post("/push/subscriptions", json=browser.as_json()).status_code == 201

    sign_in(client, world.coordinator)
    taken = client.post("/push/subscriptions", json=browser.as_json())
    assert taken.status_code == 409 and "another account" in taken.json["message"]
    assert client.delete("/push/subscriptions", json={"endpoint": browser.endpoint}).status_code == 404
    assert [s.endpoint for s in _subscriptions(world.agent_user)] == [browser.endpoint]
    assert _subscriptions(world.coordinator) == []


def _bad(body: dict, **change) -> dict:
    keys = {**body["keys"], **change.pop("keys", {})}
    return {**body, **change, "keys": keys}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"endpoint": "http://push.example.com/x"}, "endpoint"),
        ({"endpoint": "https://192.168.1.10/x"}, "endpoint"),
        ({"endpoint": 42}, "endpoint"),
        ({"keys": {"p256dh": b64url(b"\x04" + b"\x01" * 64)}}, "keys.p256dh"),  # not a point on the curve
        ({"keys": {"p256dh": b64url(os.urandom(33))}}, "keys.p256dh"),
        ({"keys": {"p256dh": "not base64url!"}}, "keys.p256dh"),
        ({"keys": {"auth": b64url(os.urandom(15))}}, "keys.auth"),
        ({"keys": {"auth": None}}, "keys.auth"),
    ],
)
def test_a_subscription_that_does_not_read_is_refused_and_nothing_stored(app, world, client, service, change, field):
    sign_in(client, world.agent_user)
    body = _bad(service.subscribe().as_json(), **change)
    response = client.post("/push/subscriptions", json=body)
    assert response.status_code == 422
    assert field in response.json["errors"]["json"]
    assert _subscriptions(world.agent_user) == []


def test_subscribing_needs_a_json_object_and_a_team_account(app, world, client, service):
    body = service.subscribe().as_json()
    assert client.post("/push/subscriptions", json=body, headers={"Accept": "application/json"}).status_code == 401
    sign_in(client, world.contact)  # client contacts never receive alarms
    assert client.post("/push/subscriptions", json=body).status_code == 403
    sign_in(client, world.coordinator)
    assert client.post("/push/subscriptions", data="[]", content_type="application/json").status_code == 400
    assert client.post("/push/subscriptions", json={"endpoint": body["endpoint"]}).status_code == 422
    assert client.post("/push/subscriptions", json=body).status_code == 201


def test_subscribing_needs_the_csrf_token(app, world, client, service):
    app.config["WTF_CSRF_ENABLED"] = True
    sign_in(client, world.agent_user)
    browser = service.subscribe()
    refused = client.post("/push/subscriptions", json=browser.as_json())
    assert refused.status_code == 400 and "CSRF" in refused.get_data(as_text=True)
    assert client.delete("/push/subscriptions", json={"endpoint": browser.endpoint}).status_code == 400
    assert _subscriptions(world.agent_user) == []


def test_the_boards_service_worker_may_control_the_board(client):
    response = client.get("/push/sw.js")
    assert response.status_code == 200 and response.headers["Service-Worker-Allowed"] == "/board/"
    assert "notificationclick" in response.get_data(as_text=True)
    assert 'importScripts("/static/js/push-sw.js")' in client.get("/phone/sw.js").get_data(as_text=True)


# --- what agents hear -----------------------------------------------------------------------------


def test_agents_hear_on_the_phone_when_their_detail_goes_hot(app, world, client, service):
    agent_phone, coordinator_board = service.subscribe(), service.subscribe()
    _store(world.agent_user, agent_phone)
    _store(world.coordinator, coordinator_board)
    sign_in(client, world.coordinator)

    moved = client.post(
        f"/board/details/{world.detail.id}/state", json={"state": "hot", "from_state": "planned", "confirmed": True}
    )
    assert moved.status_code == 200
    assert service.received == []  # nothing is sent from inside the request

    push.send_due()
    assert service.messages(agent_phone) == [
        {
            "title": "Northwind CEO London is hot",
            "body": "Coord took the detail hot: report as assigned.",
            "url": "/phone/",
            "tag": f"detail-{world.detail.id}-state",
        }
    ]
    assert service.messages(coordinator_board) == []


def test_the_new_lead_hears_of_the_handoff(app, world, service):
    from detail.models import Agent

    phone = service.subscribe()
    _store(world.idle_agent_user, phone)
    new_lead = db.session.scalar(sa.select(Agent).where(Agent.user_id == world.idle_agent_user.id))
    hand_off(world.detail, new_lead, "Principal prefers the rear entrance.", world.coordinator)
    db.session.commit()

    push.send_due()
    (message,) = service.messages(phone)
    assert message["title"] == "You now lead Northwind CEO London"
    assert message["body"] == "Handed over by Coord. Notes: Principal prefers the rear entrance."


def test_agents_hear_of_an_advisory_published_to_their_detail(app, world, service):
    from intel.domain import advisories
    from intel.models import Advisory

    phone = service.subscribe()
    _store(world.agent_user, phone)
    advisory = Advisory(
        organisation_id=world.org.id,
        detail_id=world.detail.id,
        title="March on Whitehall",
        category="protest",
        severity="high",
        reason="near the hotel",
        starts_at=world.detail.starts_at,
        ends_at=world.detail.ends_at,
    )
    db.session.add(advisory)
    db.session.commit()
    advisories.publish(advisory, world.coordinator, "A march passes the hotel.", "Use the rear entrance.")
    db.session.commit()
    advisories.publish(advisory, world.coordinator, "A march passes the hotel at noon.", "Use the rear entrance.")
    db.session.commit()  # an edit of a published advisory is not news again

    push.send_due()
    assert service.messages(phone) == [
        {
            "title": "Advisory (high): March on Whitehall",
            "body": "A march passes the hotel. Use the rear entrance.",
            "url": "/phone/",
            "tag": f"advisory-{advisory.id}",
        }
    ]


def test_the_guarded_session_ignores_proxies_and_never_follows_a_redirect(app, service):
    session = guarded_http.guarded_session(netguard.parse_allow_list("127.0.0.1"))
    assert session.trust_env is False  # a proxy from the environment would hide the real peer
    assert isinstance(session, requests.Session)
    with pytest.raises(netguard.AddressNotAllowed):
        guarded_http.guarded_session().get(f"{service.origin}/push/x", timeout=2)


@pytest.mark.parametrize("text", ["not a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "AAAA"])
def test_a_vapid_key_that_does_not_read_stops_the_app_from_starting(tmp_path, text):
    from detail.config import ConfigError, from_environment

    with pytest.raises(ConfigError, match="VAPID_PRIVATE_KEY"):
        from_environment(str(tmp_path), env={"SECRET_KEY": "x", "VAPID_PRIVATE_KEY": text})


def test_an_rsa_key_is_no_vapid_key(tmp_path):
    from cryptography.hazmat.primitives.asymmetric import rsa

    from detail.config import ConfigError, from_environment

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    with pytest.raises(ConfigError, match="VAPID_PRIVATE_KEY"):
        from_environment(str(tmp_path), env={"SECRET_KEY": "x", "VAPID_PRIVATE_KEY": pem})


def test_a_push_subject_and_allow_list_that_do_not_read_stop_the_app_from_starting(tmp_path):
    from detail.config import ConfigError, from_environment

    with pytest.raises(ConfigError, match="VAPID_SUBJECT"):
        from_environment(str(tmp_path), env={"SECRET_KEY": "x", "VAPID_SUBJECT": "ops@example.com"})
    with pytest.raises(ConfigError, match="PUSH_ALLOWED_HOSTS"):
        from_environment(str(tmp_path), env={"SECRET_KEY": "x", "PUSH_ALLOWED_HOSTS": "http://x/"})
    settings = from_environment(str(tmp_path), env={"SECRET_KEY": "x", "MAIL_FROM": "Ops <ops@example.com>"})
    assert settings["VAPID_SUBJECT"] == "mailto:ops@example.com"
