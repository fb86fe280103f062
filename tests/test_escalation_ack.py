"""Acknowledging an alarm from the message itself: the one-use link a text or email carries
(/ack/<token>), and a text reply "ACK 1234" through the signed SMS webhook."""

import base64
import hashlib
import hmac
import re
from datetime import timedelta

import sqlalchemy as sa

from detail.extensions import db
from detail.models import Alert, Escalation, NotificationAttempt, TextMessage

from .conftest import PASSWORD, T0, sign_in
from .escalation_helpers import (  # noqa: F401  (fixtures)
    BACKUP_NUMBER,
    PRIMARY_NUMBER,
    clock_fixture,
    pushes_fixture,
    raise_duress,
    rota_fixture,
    run_job,
)
from .mailbox import mailbox  # noqa: F401  (fixture)

PUBLIC_URL = "https://om.example"
SECRET = "twilio-auth-token-for-tests"


def link_sent_to(number: str) -> str:
    """The path of the acknowledge link in the alarm text sent to that number."""
    body = db.session.scalar(
        sa.select(TextMessage.body).where(TextMessage.to_number == number).order_by(TextMessage.id)
    )
    return re.search(r"https://om\.example(/ack/[A-Za-z0-9_-]+)", body).group(1)


def escalated(app, world, clock, seconds=61):
    """A duress at T0, the job run `seconds` later (primary and backup texted by default)."""
    app.config["PUBLIC_URL"] = PUBLIC_URL
    clock(T0)
    alert = raise_duress(world)
    clock(T0 + timedelta(seconds=seconds))
    run_job()
    return alert


def test_the_link_acknowledges_once_for_its_person(app, client, rota, pushes, clock):
    alert = escalated(app, rota, clock)
    path = link_sent_to(PRIMARY_NUMBER)
    assert len(path) < 30, "a short link"
    stored = db.session.scalars(sa.select(NotificationAttempt.link_token_hash)).all()
    assert path.rsplit("/", 1)[1] not in stored, "only the token's hash is kept"

    sign_in(client, rota.coordinator)
    page = client.get(path)
    assert page.status_code == 200
    assert (
        b"DURESS: Bravo 1 (Sam Carter) on Northwind CEO London" in page.data and b"Acknowledge: I have it" in page.data
    )

    done = client.post(path)
    assert done.status_code == 200 and b"Alarm acknowledged" in done.data
    esc = db.session.scalar(sa.select(Escalation))
    db.session.refresh(esc)
    assert esc.acknowledged_by_id == rota.coordinator.id and esc.acknowledged_via == "link"
    db.session.refresh(alert)
    assert alert.acknowledged_by_id == rota.coordinator.id and alert.resolved_at is not None
    # The backup, already texted, hears who took it.
    assert [user_id for user_id, _ in pushes.queued] == [rota.admin.id]

    again = client.post(path)
    assert again.status_code == 410 and b"already used" in again.data
    assert client.get(path).status_code == 410


def test_a_link_used_after_someone_else_took_the_alarm_says_who(app, client, rota, pushes, clock):
    escalated(app, rota, clock)
    backup_link = link_sent_to(BACKUP_NUMBER)
    sign_in(client, rota.coordinator)
    client.post(link_sent_to(PRIMARY_NUMBER))
    sign_in(client, rota.admin)
    page = client.get(backup_link)
    assert page.status_code == 200 and b"Acknowledged by Coord" in page.data
    assert b"Acknowledge: I have it" not in page.data


def test_an_expired_link_says_so(app, client, rota, pushes, clock):
    escalated(app, rota, clock)
    path = link_sent_to(PRIMARY_NUMBER)
    sign_in(client, rota.coordinator)
    clock(T0 + timedelta(hours=24, seconds=62))
    for response in (client.get(path), client.post(path)):
        assert response.status_code == 410 and b"This link expired at" in response.data
    assert db.session.scalar(sa.select(Escalation.acknowledged_at)) is None


def test_a_link_sent_to_someone_else_is_refused(app, client, rota, pushes, clock):
    escalated(app, rota, clock)
    path = link_sent_to(PRIMARY_NUMBER)
    sign_in(client, rota.admin)
    for response in (client.get(path), client.post(path)):
        assert response.status_code == 403 and b"sent to someone else" in response.data
    assert db.session.scalar(sa.select(Escalation.acknowledged_at)) is None
    assert db.session.scalar(sa.select(sa.func.count()).where(NotificationAttempt.link_used_at.is_not(None))) == 0


def test_an_unknown_link_is_not_found(app, client, rota, pushes, clock):
    escalated(app, rota, clock)
    sign_in(client, rota.coordinator)
    response = client.get("/ack/not-a-real-token-at-all")
    assert response.status_code == 404 and b"not known" in response.data


def test_without_a_session_the_link_asks_to_sign_in_and_comes_back(app, client, rota, pushes, clock):
    escalated(app, rota, clock)
    path = link_sent_to(PRIMARY_NUMBER)
    first = client.get(path)
    assert first.status_code == 302 and "/login" in first.location and "next=" in first.location
    signed_in = client.post(first.location, data={"email": rota.coordinator.email, "password": PASSWORD})
    assert signed_in.status_code == 302 and signed_in.location.endswith(path)
    assert client.get(path).status_code == 200


def twilio_signature(url: str, form: dict) -> str:
    payload = url + "".join(key + form[key] for key in sorted(form))
    return base64.b64encode(hmac.new(SECRET.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def text_in(client, sender: str, body: str):
    form = {"From": sender, "To": "+447700900999", "Body": body, "MessageSid": f"SM{abs(hash((sender, body)))}"}
    headers = {"X-Twilio-Signature": twilio_signature(PUBLIC_URL + "/ingest/sms", form)}
    return client.post("/ingest/sms", data=form, headers=headers)


def test_a_text_reply_ack_from_a_notified_verified_number_acknowledges(app, client, rota, pushes, clock):
    app.config["SMS_WEBHOOK_SECRET"] = SECRET
    alert = escalated(app, rota, clock, seconds=2)  # only the primary was texted
    code = db.session.scalar(sa.select(Escalation.ack_code))

    # The backup's number is verified, but the backup was not sent this alarm (yet).
    refused = text_in(client, BACKUP_NUMBER, f"ACK {code}")
    assert refused.status_code == 200 and b"No alarm with code" in refused.data
    assert text_in(client, "+447700900555", f"ACK {code}").status_code == 200  # an unknown number
    assert db.session.scalar(sa.select(Escalation.acknowledged_at)) is None

    reply = text_in(client, PRIMARY_NUMBER, f" ack {code} ")
    assert reply.status_code == 200 and b"Acknowledged: DURESS: Bravo 1" in reply.data
    esc = db.session.scalar(sa.select(Escalation))
    db.session.refresh(esc)
    assert esc.acknowledged_by_id == rota.coordinator.id and esc.acknowledged_via == "sms"
    assert db.session.get(Alert, alert.id).acknowledged_by_id == rota.coordinator.id

    again = text_in(client, PRIMARY_NUMBER, f"ACK {code}.")
    assert b"Already acknowledged by Coord" in again.data
    # Escalation stopped: the backup's step never runs.
    clock(T0 + timedelta(minutes=5))
    run_job()
    steps = db.session.scalars(sa.select(NotificationAttempt.step)).all()
    assert set(steps) == {0}


def test_an_unsigned_ack_text_is_refused(app, client, rota, pushes, clock):
    app.config["SMS_WEBHOOK_SECRET"] = SECRET
    escalated(app, rota, clock, seconds=2)
    code = db.session.scalar(sa.select(Escalation.ack_code))
    response = client.post("/ingest/sms", data={"From": PRIMARY_NUMBER, "Body": f"ACK {code}"})
    assert response.status_code == 403
    assert db.session.scalar(sa.select(Escalation.acknowledged_at)) is None


def test_the_link_in_the_alarm_email_acknowledges(app, client, rota, pushes, clock, mailbox):  # noqa: F811
    from detail.domain import notices

    escalated(app, rota, clock, seconds=121)  # every coordinator, by email too
    assert notices.send_due() == 1  # the coordinator's verified address; the admin has none
    (mail,) = mailbox.messages
    assert mail["To"] == "duty@aegis.example"
    path = re.search(r"https://om\.example(/ack/[A-Za-z0-9_-]+)", mail.get_content()).group(1)
    sign_in(client, rota.coordinator)
    assert client.post(path).status_code == 200
    esc = db.session.scalar(sa.select(Escalation))
    db.session.refresh(esc)
    assert esc.acknowledged_via == "link" and esc.acknowledged_by_id == rota.coordinator.id


def test_guessing_acknowledge_links_spends_the_addresss_allowance(tmp_path):
    from .conftest import build_world, make_app

    app = make_app(
        tmp_path,
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI="memory://",
        RATELIMIT_GUESSES_PER_ADDRESS="3 per minute",
    )
    with app.app_context():
        db.create_all()
        world = build_world()
        client = app.test_client()
        sign_in(client, world.coordinator)
        codes = [client.get(f"/ack/guessed-link-{i}").status_code for i in range(4)]
        assert codes == [404, 404, 404, 429]
        db.session.remove()
        db.engine.dispose()
