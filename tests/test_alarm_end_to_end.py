"""An alarm off the board, end to end: on call, escalation, push, texts, mail and the acknowledge link
working together, with nothing replaced by a recorder.

An agent's duress goes in through the phone page's status route on the app's live server; the jobs run
as their loop runs them (escalation, texts, push, notices), each in a fresh app context, on a
controlled clock. What leaves goes to real servers on loopback: a push service that decrypts each
message with the subscription's own keys (tests/push_service.py), a Twilio-shaped Messages API that
posts signed status callbacks back to the live server (tests/twilio_loopback.py), and aiosmtpd
(tests/mailbox.py). The on-call primary acknowledges through the link in the text, signing in first,
as a person holding the phone would.
"""

import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa

from detail import jobs
from detail.domain import after_action, escalation, guarded_http, team_messages
from detail.extensions import db
from detail.models import (
    ContactChannel,
    Escalation,
    Event,
    MessageRecipient,
    NotificationAttempt,
    OnCallShift,
    PushSubscription,
    User,
)

from .conftest import PASSWORD, T0, make_app
from .push_service import DRIBBLE, BrowserSubscription, PushService, b64url
from .twilio_loopback import Reply

PRIMARY_NUMBER = "+447700900101"
BACKUP_NUMBER = "+447700900102"
PRIMARY_EMAIL = "duty.primary@aegis.example"
BACKUP_EMAIL = "duty.backup@aegis.example"
# The order the loop's list runs them in one pass once all are due (detail.jobs.JOBS), as the brief
# of the alarm path has it: the escalation writes its attempts, the channels' jobs send them.
JOB_ORDER = ("escalation", "texts", "push", "notices")
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|name="csrf-token" content="([^"]+)"')


@dataclass
class Alarm:
    """The world with its on-call people reachable, and the loopback services they are reached through."""

    world: object
    base: str  # the live server, which is also PUBLIC_URL: the links and callbacks point at it
    push: PushService
    primary_phone: BrowserSubscription
    backup_phone: BrowserSubscription
    twilio: object
    mailbox: object
    primary: User
    backup: User


@pytest.fixture
def push_service(app):
    service = PushService().start()
    # The tests' push service is on loopback: allowed explicitly, as an admin would an intranet host.
    app.config["PUSH_ALLOWED_HOSTS"] = "127.0.0.1"
    yield service
    service.stop()


@pytest.fixture
def clock(time_machine):
    def at(moment):
        time_machine.move_to(moment, tick=False)

    return at


@pytest.fixture
def alarm(app, world, mailbox, twilio, push_service, live_server, clock) -> Alarm:
    # As in production: forms carry their CSRF token, and the links and callbacks name this server.
    app.config.update(WTF_CSRF_ENABLED=True, PUBLIC_URL=live_server)
    clock(T0 - timedelta(minutes=5))
    primary, backup = world.coordinator, world.admin
    phones = {}
    for user, role, number, address in (
        (primary, "primary", PRIMARY_NUMBER, PRIMARY_EMAIL),
        (backup, "backup", BACKUP_NUMBER, BACKUP_EMAIL),
    ):
        db.session.add(
            OnCallShift(
                organisation_id=world.org.id,
                user_id=user.id,
                role=role,
                starts_at=T0 - timedelta(hours=12),
                ends_at=T0 + timedelta(hours=12),
            )
        )
        verified = T0 - timedelta(days=1)
        db.session.add(ContactChannel(user_id=user.id, kind="sms", address=number, verified_at=verified))
        db.session.add(ContactChannel(user_id=user.id, kind="email", address=address, verified_at=verified))
        phone = push_service.subscribe()
        db.session.add(
            PushSubscription(user_id=user.id, endpoint=phone.endpoint, p256dh=phone.p256dh, auth=b64url(phone.auth))
        )
        phones[role] = phone
    db.session.commit()
    return Alarm(
        world, live_server, push_service, phones["primary"], phones["backup"], twilio, mailbox, primary, backup
    )


# --- how the people and the jobs act ------------------------------------------------------------


def _csrf(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page carries its CSRF token"
    return match.group(1) or match.group(2)


def signed_in(base: str, email: str) -> requests.Session:
    browser = requests.Session()
    form = browser.get(f"{base}/login")
    answer = browser.post(f"{base}/login", data={"email": email, "password": PASSWORD, "csrf_token": _csrf(form.text)})
    assert answer.status_code == 200, answer.text[:300]
    return browser


def duress_from_the_phone(alarm: Alarm, client_id: str = "duress-1") -> None:
    """The agent's covert duress, through the phone page's own status route."""
    phone = signed_in(alarm.base, alarm.world.agent_user.email)
    token = _csrf(phone.get(f"{alarm.base}/phone/").text)
    answer = phone.post(
        f"{alarm.base}/phone/status",
        json={"duress": True, "client_id": client_id, "latitude": 51.5101, "longitude": -0.134},
        headers={"X-CSRFToken": token},
    )
    assert answer.status_code == 201, answer.text


def run_jobs(app, names=JOB_ORDER) -> None:
    """One pass of the loop: each job in its own app context and session, failures not swallowed."""
    by_name = {job.name: job for job in jobs.JOBS}
    for name in names:
        with app.app_context():
            by_name[name].run()
    db.session.expire_all()


def attempts() -> list[tuple[int, str, str, str]]:
    db.session.expire_all()
    rows = db.session.scalars(sa.select(NotificationAttempt).order_by(NotificationAttempt.id))
    return [(a.step, a.user.name, a.channel, a.status) for a in rows]


def texts_to(twilio, number: str) -> list[dict]:
    return [m for m in twilio.messages if m["To"] == number]


def ack_link(body: str, base: str) -> str:
    match = re.search(re.escape(base) + r"/ack/[A-Za-z0-9_-]+", body)
    assert match, body
    return match.group(0)


# --- the whole path -----------------------------------------------------------------------------


def test_a_duress_reaches_the_primary_then_the_backup_and_stops_at_the_link_in_the_text(app, alarm, clock):
    world, twilio = alarm.world, alarm.twilio
    clock(T0)
    duress_from_the_phone(alarm)

    clock(T0 + timedelta(seconds=2))
    run_jobs(app)
    assert attempts() == [(0, "Coord", "push", "sent"), (0, "Coord", "sms", "sent")]
    # The primary's phone shows the alarm, and a tap opens the detail's board.
    [shown] = alarm.push.messages(alarm.primary_phone)
    assert shown["title"] == "Alarm: acknowledge" and shown["body"].startswith("DURESS: Bravo 1 (Sam Carter)")
    assert shown["url"] == f"/board/details/{world.detail.id}"
    # The primary's number has the text, with the code to reply and the link to open.
    [text] = texts_to(twilio, PRIMARY_NUMBER)
    code = db.session.scalar(sa.select(Escalation.ack_code))
    assert f"ACK {code}" in text["Body"] and "DURESS: Bravo 1" in text["Body"]
    link = ack_link(text["Body"], alarm.base)
    assert text["StatusCallback"] == f"{alarm.base}/ingest/sms/status"
    assert alarm.push.messages(alarm.backup_phone) == [] and texts_to(twilio, BACKUP_NUMBER) == []

    # Twilio's signed callback reaches the live server: the text is delivered, and its attempt follows.
    assert twilio.post_status(text["sid"], "sent").status_code == 204
    assert twilio.post_status(text["sid"], "delivered").status_code == 204
    assert attempts() == [(0, "Coord", "push", "sent"), (0, "Coord", "sms", "delivered")]

    clock(T0 + timedelta(seconds=59))
    run_jobs(app)
    assert len(attempts()) == 2, "the backup's step is not due before 60 s"

    clock(T0 + timedelta(seconds=61))
    run_jobs(app)
    assert attempts()[2:] == [(1, "Admin", "push", "sent"), (1, "Admin", "sms", "sent")]
    [backup_push] = alarm.push.messages(alarm.backup_phone)
    assert backup_push["body"].startswith("DURESS: Bravo 1")
    [backup_text] = texts_to(twilio, BACKUP_NUMBER)
    assert f"ACK {code}" in backup_text["Body"]

    # The primary opens the link in the text on a phone with no session: signs in, comes back, confirms.
    clock(T0 + timedelta(seconds=75))
    person = requests.Session()
    asked = person.get(link)
    assert "/login" in asked.url and asked.status_code == 200
    back = person.post(
        asked.url, data={"email": alarm.primary.email, "password": PASSWORD, "csrf_token": _csrf(asked.text)}
    )
    assert back.url == link and "Acknowledge: I have it" in back.text
    done = person.post(link, data={"csrf_token": _csrf(back.text)})
    assert done.status_code == 200 and "Alarm acknowledged" in done.text
    esc = db.session.scalar(sa.select(Escalation))
    assert (esc.acknowledged_by_id, esc.acknowledged_via) == (alarm.primary.id, "link")

    # Nothing more climbs: at 120 s every coordinator would have been next.
    clock(T0 + timedelta(seconds=121))
    run_jobs(app)
    assert len(attempts()) == 4
    # Those already notified are told who took it; the one who took it is not.
    told_push = alarm.push.messages(alarm.backup_phone)[1]
    assert told_push["title"] == "Alarm acknowledged" and "acknowledged by Coord at" in told_push["body"]
    assert len(alarm.push.messages(alarm.primary_phone)) == 1
    told_text = texts_to(twilio, BACKUP_NUMBER)[1]
    assert "acknowledged by Coord" in told_text["Body"]
    assert len(texts_to(twilio, PRIMARY_NUMBER)) == 1
    assert alarm.mailbox.messages == [], "nobody was reached by mail, so nobody is told by mail"

    # The board's event log and the after-action report hold every attempt as it ended.
    final = {a.id: a.status for a in db.session.scalars(sa.select(NotificationAttempt))}
    logged = db.session.scalars(
        sa.select(Event).where(Event.kind.like("escalation_%")).order_by(Event.id.desc())
    ).first()
    assert logged.kind == "escalation_acknowledged" and logged.payload["acknowledged_by"] == "Coord"
    assert {a["id"]: a["status"] for a in logged.payload["attempts"]} == final
    delivered = db.session.scalars(sa.select(Event).where(Event.kind == "escalation_attempt").order_by(Event.id)).all()
    assert any(
        a["channel"] == "sms" and a["status"] == "delivered" for e in delivered for a in e.payload["attempts"]
    ), "the delivery callback appended an event for the board"
    report = after_action.build(world.detail, now=T0 + timedelta(hours=1))
    lines = [e.text for e in report.entries if e.kind.startswith("escalation_")]
    for line in (
        "Step 1: Coord by push, sent",
        "Step 1: Coord by text, delivered (delivered 08:00 GMT)",
        "Step 2: Admin by push, sent",
        "Step 2: Admin by text, sent",
    ):
        assert line in lines
    assert lines[-1].startswith("Escalation acknowledged by Coord by the link in the message")

    # The detail's board, which the link on the page opens, has it in its timeline: acknowledged by them.
    board = person.get(f"{alarm.base}/board/details/{world.detail.id}/state").json()
    [taken] = [e for e in board["timeline"] if e["kind"] == "escalation_acknowledged"]
    assert (taken["payload"]["acknowledged_by"], taken["payload"]["acknowledged_via"]) == ("Coord", "link")
    assert board["detail"]["alerts"] == [], "the duress alarm ended with its acknowledgment"


def test_with_the_text_provider_down_push_and_mail_still_go_and_the_attempt_says_why(app, alarm, clock):
    policies = escalation.ensure_policies(alarm.world.org.id)
    escalation.replace_steps(
        policies["duress"],
        [{"delay_seconds": 0, "target": "primary", "person": None, "channels": "push,sms,email"}],
        active=True,
        by=alarm.world.admin,
    )
    db.session.commit()
    alarm.twilio.replies = [Reply(status=503, code=20500, message="Service Unavailable")]
    clock(T0)
    duress_from_the_phone(alarm)
    clock(T0 + timedelta(seconds=2))
    run_jobs(app)

    assert [m["title"] for m in alarm.push.messages(alarm.primary_phone)] == ["Alarm: acknowledge"]
    [mail] = alarm.mailbox.messages
    assert mail["To"] == PRIMARY_EMAIL and mail["Subject"].startswith("ALARM: DURESS: Bravo 1")
    assert f"{alarm.base}/ack/" in mail.get_content()
    by_channel = {a.channel: a for a in db.session.scalars(sa.select(NotificationAttempt))}
    assert (by_channel["push"].status, by_channel["email"].status) == ("sent", "sent")
    text_attempt = by_channel["sms"]
    assert text_attempt.status == "failed" and "Twilio 503" in text_attempt.error
    assert "tries again" in text_attempt.error
    assert alarm.twilio.messages == []

    # The provider is back: the texts job's retry sends it, and the attempt says it went after all.
    clock(T0 + timedelta(minutes=2))
    run_jobs(app)
    [text] = texts_to(alarm.twilio, PRIMARY_NUMBER)
    db.session.refresh(text_attempt)
    assert text_attempt.status == "sent" and "sent on a later try" in text_attempt.error
    assert len(alarm.mailbox.messages) == 1 and len(alarm.push.messages(alarm.primary_phone)) == 1


def test_an_email_the_mail_server_turns_away_shows_on_its_attempt_until_it_goes(app, alarm, clock):
    policies = escalation.ensure_policies(alarm.world.org.id)
    escalation.replace_steps(
        policies["duress"],
        [{"delay_seconds": 0, "target": "primary", "person": None, "channels": "email"}],
        active=True,
        by=alarm.world.admin,
    )
    db.session.commit()
    alarm.mailbox.data_replies = ["451 4.3.0 Mailbox temporarily unavailable"]
    clock(T0)
    duress_from_the_phone(alarm)
    clock(T0 + timedelta(seconds=2))
    run_jobs(app)
    [attempt] = db.session.scalars(sa.select(NotificationAttempt)).all()
    assert attempt.status == "failed" and "email failed" in attempt.error and "451" in attempt.error
    assert "the mail sender tries again" in attempt.error
    assert alarm.mailbox.messages == []

    clock(T0 + timedelta(minutes=5))
    run_jobs(app)
    db.session.refresh(attempt)
    assert attempt.status == "sent" and "sent on a later try (2 tries)" in attempt.error
    [mail] = alarm.mailbox.messages
    assert mail["To"] == PRIMARY_EMAIL
    logged = db.session.scalars(
        sa.select(Event).where(Event.kind == "escalation_attempt").order_by(Event.id.desc())
    ).first()
    assert [(a["channel"], a["status"]) for a in logged.payload["attempts"]] == [("email", "sent")]


def test_a_push_endpoint_that_is_gone_is_dropped_and_the_attempt_says_so(app, alarm, clock):
    alarm.push.answer_with(alarm.primary_phone, 410)
    clock(T0)
    duress_from_the_phone(alarm)
    clock(T0 + timedelta(seconds=2))
    run_jobs(app)
    push_attempt, text_attempt = db.session.scalars(
        sa.select(NotificationAttempt).order_by(NotificationAttempt.id)
    ).all()
    assert (push_attempt.channel, push_attempt.status) == ("push", "failed")
    assert "HTTP 410" in push_attempt.error and "subscription dropped" in push_attempt.error
    assert db.session.scalars(sa.select(PushSubscription.user_id)).all() == [alarm.backup.id]
    # The text went all the same.
    assert (text_attempt.channel, text_attempt.status) == ("sms", "sent")
    assert len(texts_to(alarm.twilio, PRIMARY_NUMBER)) == 1


def test_a_push_service_that_hangs_does_not_hold_up_the_text(app, alarm, clock, monkeypatch):
    monkeypatch.setattr(guarded_http._GuardedSession, "deadline", 1.0)
    alarm.push.answer_with(alarm.primary_phone, DRIBBLE)
    clock(T0)
    duress_from_the_phone(alarm)
    clock(T0 + timedelta(seconds=2))
    run_jobs(app, ("escalation",))
    logged = db.session.scalars(sa.select(Event).where(Event.kind == "escalation_attempt").order_by(Event.id))
    handed = [e for e in logged if e.payload.get("changed")]
    by_id = {a.id: a for a in db.session.scalars(sa.select(NotificationAttempt))}
    # The text was in the outbox, committed, before the push service was asked.
    assert [by_id[e.payload["changed"][0]].channel for e in handed] == ["sms", "push"]
    # A timeout is tried again (10 s later): it may have gone, but a second alarm under the same tag
    # replaces the first on the phone, and silence is worse.
    assert by_id[handed[1].payload["changed"][0]].error == "push refused: timed out; tried again at 08:00:12 GMT"
    run_jobs(app, ("texts",))
    assert len(texts_to(alarm.twilio, PRIMARY_NUMBER)) == 1


def test_a_restart_between_steps_sends_nothing_twice_and_skips_nothing(app, alarm, clock, tmp_path):
    clock(T0)
    duress_from_the_phone(alarm)
    clock(T0 + timedelta(seconds=2))
    run_jobs(app)
    assert len(alarm.push.received) == 1 and len(alarm.twilio.messages) == 1

    # The job process restarts: a new app on the same database and instance folder, the jobs again.
    keep = (
        "PUSH_ALLOWED_HOSTS", "PUBLIC_URL", "SMTP_HOST", "SMTP_PORT", "SMTP_SECURITY", "MAIL_FROM",
        "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM", "TWILIO_API_BASE",
    )  # fmt: skip
    restarted = make_app(tmp_path, **{key: app.config[key] for key in keep})
    run_jobs(restarted)
    clock(T0 + timedelta(seconds=30))
    run_jobs(restarted)
    assert len(alarm.push.received) == 1 and len(alarm.twilio.messages) == 1

    clock(T0 + timedelta(seconds=61))
    run_jobs(restarted)
    run_jobs(restarted)
    assert attempts() == [
        (0, "Coord", "push", "sent"),
        (0, "Coord", "sms", "sent"),
        (1, "Admin", "push", "sent"),
        (1, "Admin", "sms", "sent"),
    ]
    assert [r.token for r in alarm.push.received] == [alarm.primary_phone.token, alarm.backup_phone.token]
    assert [m["To"] for m in alarm.twilio.messages] == [PRIMARY_NUMBER, BACKUP_NUMBER]
    with restarted.app_context():
        db.engine.dispose()


def test_a_team_message_whose_push_was_handed_over_counts_as_delivered_by_push(app, world, push_service):
    agent_phone = push_service.subscribe()
    db.session.add(
        PushSubscription(
            user_id=world.agent_user.id, endpoint=agent_phone.endpoint, p256dh=agent_phone.p256dh,
            auth=b64url(agent_phone.auth),
        )
    )  # fmt: skip
    sent = team_messages.send_from_coordinator(
        world.coordinator, body="Principal delayed 20 min, hold positions", client_id="m-1",
        detail_id=world.detail.id, asks_ack=True,
    )  # fmt: skip
    db.session.commit()
    run_jobs(app, ("push",))
    [shown] = push_service.messages(agent_phone)
    assert shown["body"] == "Principal delayed 20 min, hold positions"
    assert shown["url"] == f"/phone/#message-{sent.message.id}"
    [row] = db.session.scalars(sa.select(MessageRecipient)).all()
    assert row.delivered_via == "push" and row.delivered_at is not None and row.read_at is None
    receipt = db.session.scalar(sa.select(Event).where(Event.kind == team_messages.EVENT_RECEIPT))
    assert receipt.payload["changed"] == ["delivered"] and receipt.payload["summary"]["delivered"] == 1
    # A second run hands nothing over again, and a second receipt changes nothing.
    run_jobs(app, ("push",))
    assert len(push_service.received) == 1
    assert db.session.scalar(sa.select(sa.func.count()).where(Event.kind == team_messages.EVENT_RECEIPT)) == 1


def test_the_app_registers_the_listeners_that_join_the_channels():
    """In a fresh process, building the app is what makes a text's and an email's status reach their
    attempts and a handed-over push mark its team message delivered (not an import some test makes)."""
    script = (
        "import tempfile\n"
        "from detail.domain import notices, push, texts\n"
        "assert texts.STATUS_LISTENERS == notices.STATUS_LISTENERS == push.HANDOVER_LISTENERS == []\n"
        "from detail import create_app\n"
        "from detail.config import testing\n"
        "create_app(testing(tempfile.mkdtemp()))\n"
        "heard = texts.STATUS_LISTENERS + notices.STATUS_LISTENERS + push.HANDOVER_LISTENERS\n"
        "print([f.__module__ + '.' + f.__qualname__ for f in heard])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == (
        "['detail.domain.escalation.follow_text', 'detail.domain.escalation.follow_notice',"
        " 'detail.domain.team_messages.push_handed_over']"
    )
