"""Client digests: what a contact is told, when, and that each message goes exactly once.

Mail goes to a real SMTP server on loopback (aiosmtpd) and is parsed back with the email package;
the clock is passed in (or frozen with time-machine for the command).
"""

import email
import smtplib
from datetime import datetime, timedelta, timezone
from email import policy
from email.utils import parsedate_to_datetime

import pytest
import sqlalchemy as sa
import time_machine
from itsdangerous import URLSafeSerializer

from detail.domain.mail import failure_kind
from detail.domain.outbox import NEVER, Outbox, retry_delay
from detail.extensions import db
from detail.models import Site, StatusCode, StatusReport
from intel.domain import digests as digest
from intel.domain.preferences import unsubscribe_token, user_id_from_unsubscribe_token
from intel.domain.readiness import readiness_line
from intel.models import Advisory, ContactPreference, Digest, DigestEntry, WatchArea

from .conftest import T0
from .job_clock import JobClock, Stop
from .mailbox import PUBLIC_URL, free_port

PUBLISHED = T0 - timedelta(hours=3)  # 05:00 London: before the 07:00 digest


@pytest.fixture
def outbox(app, tmp_path):
    app.config.update(SMTP_HOST=None, PUBLIC_URL=PUBLIC_URL)
    return tmp_path / "outbox"


def add_advisory(world, title, severity="high", *, status="published", site=None, detail=None, area=None, **extra):
    values = dict(
        organisation_id=world.org.id,
        detail_id=None if area else (detail or world.detail).id,
        watch_area_id=area.id if area else None,
        site_id=site.id if site else None,
        title=title,
        category="protest",
        severity=severity,
        reason=f"reason for {title}",
        starts_at=T0,
        ends_at=T0 + timedelta(hours=2),
        status=status,
        summary=f"summary of {title}",
        recommendation=f"recommendation for {title}",
        published_at=PUBLISHED if status == "published" else None,
    )
    values.update(extra)
    advisory = Advisory(**values)
    db.session.add(advisory)
    db.session.commit()
    return advisory


def set_preference(user, **values):
    preference = db.session.scalar(sa.select(ContactPreference).where(ContactPreference.user_id == user.id))
    if preference is None:
        preference = ContactPreference(user_id=user.id, email=user.email, timezone="Europe/London")
        db.session.add(preference)
    for name, value in values.items():
        setattr(preference, name, value)
    db.session.commit()
    return preference


def on_station(world, at):
    code = db.session.scalar(sa.select(StatusCode).where(StatusCode.organisation == world.org, StatusCode.code == "OS"))
    db.session.add(
        StatusReport(agent=world.agent, detail=world.detail, status_code=code, client_id=f"os-{at}", reported_at=at)
    )
    db.session.commit()


def parts(message) -> tuple[str, str]:
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def digests(**where) -> list[Digest]:
    return list(db.session.scalars(sa.select(Digest).filter_by(**where).order_by(Digest.id)))


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_a_contact_receives_their_clients_advisories_grouped_with_readiness_and_nothing_internal(mailbox, world):
    world.detail.notes = "INTERNAL NOTE: principal prefers the service lift"
    office = WatchArea(client=world.client, name="Canary Wharf office", latitude=51.505, longitude=-0.019)
    db.session.add(office)
    db.session.commit()
    critical = add_advisory(world, "March past the Grand Hotel", "critical", site=world.hotel)
    high = add_advisory(world, "<b>Crowd & noise</b> near the hotel", "high", site=world.hotel)
    route = add_advisory(world, "Road closure on the A13", "moderate")
    tube = add_advisory(world, "Tube strike in Docklands", "high", area=office)
    add_advisory(world, "Minor low-severity note", "low")
    add_advisory(world, "SECRET candidate advisory", status="candidate")
    add_advisory(world, "SECRET dismissed advisory", status="dismissed")
    add_advisory(world, "SECRET merged advisory", status="merged", merged_into_id=critical.id)
    add_advisory(world, "Contoso only advisory", "critical", detail=world.other_client_detail)
    on_station(world, T0 - timedelta(minutes=45))

    now = T0 - timedelta(minutes=30)  # 07:30 London, after the 07:00 default
    sent = digest.send_due_digests(now)

    # Contoso's contact gets their own digest; Northwind's is the one we read.
    assert sent == 2
    mine = [m for m in mailbox.messages if m["To"] == world.contact.email]
    assert len(mine) == 1
    message = mine[0]
    record = digests(user_id=world.contact.id)[0]
    assert message["Subject"] == "Northwind plc: 4 advisories (1 critical, 2 high) — Oscar Mike"
    assert message["Message-ID"] == record.message_id
    assert message["From"] == "Oscar Mike <digests@aegis.example>"
    assert parsedate_to_datetime(message["Date"]) == now
    assert record.status == "sent" and record.sent_at == now and record.period_key == "2026-11-24"
    assert {e.advisory_id for e in record.entries} == {critical.id, high.id, route.id, tube.id}

    text, html = parts(message)
    for part in (text, html):
        for line in ("Northwind CEO London", "Grand Hotel", "Canary Wharf office", f"{PUBLIC_URL}/portal/details/"):
            assert line in part
        for advisory in (critical, route, tube):
            assert advisory.title in part
            assert advisory.reason in part
            assert advisory.summary in part
            assert advisory.recommendation in part
        assert "1 of 1 on station at Grand Hotel since 07:15 GMT, 45 minutes before arrival" in part
        for secret in (
            "Sam Carter",
            "Bravo 1",
            "Bravo 9",
            "Idle Agent",
            "agent@aegis.example",
            "INTERNAL NOTE",
            "SECRET",
            "Minor low-severity note",
            "Contoso",
            "KESTREL",
            "Jane Doe",
            "51.51",
        ):
            assert secret not in part, secret
    # Grouped: detail, then venue (most serious first), then routes, then the watched place.
    order = [
        "Northwind CEO London",
        "-- Grand Hotel --",
        critical.title,
        high.title,
        "-- On the routes and elsewhere --",
        route.title,
        "Watched place: Canary Wharf office",
        tube.title,
    ]
    positions = [text.index(line) for line in order]
    assert positions == sorted(positions)
    # Autoescaped HTML, and the text part keeps the words as written.
    assert "<b>Crowd & noise</b> near the hotel" in text
    assert "&lt;b&gt;Crowd &amp; noise&lt;/b&gt; near the hotel" in html
    assert "<b>Crowd" not in html
    for forbidden in ("<script", "<img", "src=", "<link", "<style"):
        assert forbidden not in html.lower()

    theirs = [m for m in mailbox.messages if m["To"] == world.other_contact.email][0]
    for part in parts(theirs):
        assert "Contoso only advisory" in part
        assert "Northwind" not in part and "March past the Grand Hotel" not in part


def test_the_teams_own_posts_are_not_named(mailbox, world):
    post = Site(organisation=world.org, name="Loading bay post", latitude=51.51, longitude=-0.134)
    db.session.add(post)
    world.assignment.site = post
    db.session.commit()
    add_advisory(world, "Van parked near the hotel", "high", site=post)
    on_station(world, T0 - timedelta(minutes=45))
    digest.send_due_digests(T0 - timedelta(minutes=30))
    [message] = [m for m in mailbox.messages if m["To"] == world.contact.email]
    text, html = parts(message)
    for part in (text, html):
        assert "Loading bay post" not in part
        assert "1 of 1 on station at the team's posts since 07:15 GMT" in part.replace("&#39;", "'")
        assert "On the routes and elsewhere" in part and "Van parked near the hotel" in part


def test_readiness_before_the_team_is_on_station(mailbox, world):
    detail = world.detail
    waiting = "Team not yet on station at Grand Hotel; report time"
    assert readiness_line(detail, T0 - timedelta(hours=1)) == f"{waiting} 07:30 GMT"
    assert readiness_line(detail, T0 - timedelta(days=1)) == f"{waiting} Tue 24 Nov 07:30 GMT"
    on_station(world, T0 + timedelta(minutes=10))
    # A report still to come is not read before its time; past the report time, the count says so.
    assert readiness_line(detail, T0) == "0 of 1 on station at Grand Hotel"
    assert readiness_line(detail, T0 + timedelta(hours=1)) == (
        "1 of 1 on station at Grand Hotel since 08:10 GMT, 10 minutes after arrival"
    )


def test_daily_digests_go_at_seven_in_each_contacts_time_zone(mailbox, world):
    set_preference(world.contact, timezone="Europe/London")
    set_preference(world.other_contact, timezone="America/New_York")
    add_advisory(world, "Northwind advisory", "high", published_at=T0 - timedelta(hours=4))
    add_advisory(
        world, "Contoso advisory", "high", detail=world.other_client_detail, published_at=T0 - timedelta(hours=4)
    )
    day = datetime(2026, 11, 24, tzinfo=timezone.utc)

    assert digest.send_due_digests(day + timedelta(hours=6, minutes=59)) == 0
    assert digest.send_due_digests(day + timedelta(hours=7)) == 1  # 07:00 in London (GMT)
    assert [m["To"] for m in mailbox.messages] == [world.contact.email]
    assert digest.send_due_digests(day + timedelta(hours=11, minutes=59)) == 0  # 06:59 in New York
    assert digest.send_due_digests(day + timedelta(hours=12)) == 1  # 07:00 EST
    assert [m["To"] for m in mailbox.messages] == [world.contact.email, world.other_contact.email]
    assert [d.period_key for d in digests()] == ["2026-11-24", "2026-11-24"]
    assert digest.send_due_digests(day + timedelta(hours=13)) == 0  # once a day
    assert len(mailbox.messages) == 2


def test_a_daily_digest_carries_what_was_published_by_its_time(mailbox, world):
    day = datetime(2026, 11, 24, tzinfo=timezone.utc)
    assert digest.send_due_digests(day + timedelta(hours=7)) == 0  # nothing new at 07:00
    add_advisory(world, "Published at nine", "high", published_at=day + timedelta(hours=9))
    # A "daily at 07:00" digest does not turn up at 09:01: this one waits for tomorrow's.
    assert digest.send_due_digests(day + timedelta(hours=9, minutes=1)) == 0
    assert count(Digest) == 0


@pytest.mark.parametrize("zone, utc_hour", [("Europe/London", 6), ("America/New_York", 11)])
def test_the_daily_time_follows_summer_time(app, zone, utc_hour):
    preference = ContactPreference(cadence="daily", daily_at_minute=7 * 60, weekly_day=0, timezone=zone)
    day = datetime(2026, 7, 1, tzinfo=timezone.utc)
    assert digest.due_period(preference, day + timedelta(hours=utc_hour, minutes=-1)) is None
    period = digest.due_period(preference, day + timedelta(hours=utc_hour))
    assert period == digest.Period("2026-07-01", day + timedelta(hours=utc_hour))
    if zone == "America/New_York":  # 02:00 UTC on the 2nd is still the 1st in New York
        assert digest.due_period(preference, day + timedelta(hours=26)).key == "2026-07-01"


def test_weekly_digest_goes_on_its_day(mailbox, world):
    set_preference(world.contact, cadence="weekly", weekly_day=1)  # Tuesday, 07:00 London
    add_advisory(world, "Weekly advisory", "moderate", published_at=T0 - timedelta(days=1))
    monday = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
    assert digest.send_due_digests(monday) == 0
    assert digest.send_due_digests(T0 - timedelta(minutes=61)) == 0  # Tuesday 06:59
    assert digest.send_due_digests(T0 - timedelta(hours=1)) == 1
    [weekly] = digests(user_id=world.contact.id)
    assert (weekly.cadence, weekly.period_key) == ("weekly", "2026-W48")
    assert digest.send_due_digests(T0 + timedelta(hours=4)) == 0
    assert len(mailbox.messages) == 1


def test_immediate_digests_carry_only_high_and_critical_once(mailbox, world):
    set_preference(world.contact, cadence="immediate", min_severity="low")
    moderate = add_advisory(world, "Moderate one", "moderate")
    high = add_advisory(world, "High one", "high")
    critical = add_advisory(world, "Critical one", "critical")
    now = T0 - timedelta(hours=2)
    assert digest.send_due_digests(now) == 1
    [first] = digests(user_id=world.contact.id)
    assert first.period_key is None
    assert {e.advisory_id for e in first.entries} == {high.id, critical.id}
    assert mailbox.messages[0]["Subject"] == "Northwind plc: 2 advisories (1 critical, 1 high) — Oscar Mike"
    assert digest.send_due_digests(now + timedelta(minutes=1)) == 0

    later = add_advisory(world, "Another critical", "critical", published_at=now + timedelta(minutes=2))
    assert digest.send_due_digests(now + timedelta(minutes=3)) == 1
    assert {e.advisory_id for e in digests(user_id=world.contact.id)[1].entries} == {later.id}
    text, html = parts(mailbox.messages[1])
    assert "Another critical" in text and "Critical one" not in text
    assert moderate.title not in "".join(parts(mailbox.messages[0]))


def test_nothing_new_sends_nothing_unless_all_quiet(mailbox, world):
    now = T0 - timedelta(minutes=50)
    assert digest.send_due_digests(now) == 0
    assert count(Digest) == 0 and mailbox.messages == []
    # The default preference was stored on first use: daily 07:00 in the client's first venue's zone.
    preference = db.session.scalar(sa.select(ContactPreference).where(ContactPreference.user_id == world.contact.id))
    assert (preference.email, preference.cadence, preference.daily_at_minute) == (world.contact.email, "daily", 420)
    assert (preference.timezone, preference.min_severity) == ("Europe/London", "moderate")

    preference.all_quiet = True
    db.session.commit()
    assert digest.send_due_digests(now + timedelta(minutes=5)) == 1
    [quiet] = digests()
    assert quiet.all_quiet and quiet.entries == []
    assert mailbox.messages[0]["Subject"] == "Northwind plc: all quiet — Oscar Mike"
    text, html = parts(mailbox.messages[0])
    assert "All quiet" in text and "All quiet" in html
    assert "Team not yet on station at Grand Hotel; report time 07:30 GMT" in text
    assert digest.send_due_digests(now + timedelta(minutes=10)) == 0


def test_no_advisory_goes_twice_to_a_contact_in_one_cadence(mailbox, world):
    day = datetime(2026, 11, 24, tzinfo=timezone.utc)
    world.detail.ends_at = day + timedelta(days=3)
    db.session.commit()
    first = add_advisory(world, "First day advisory", "high", published_at=day)
    assert digest.send_due_digests(day + timedelta(hours=7)) == 1
    second = add_advisory(world, "Second day advisory", "high", published_at=day + timedelta(hours=10))
    assert digest.send_due_digests(day + timedelta(hours=12)) == 0  # tomorrow's
    assert digest.send_due_digests(day + timedelta(days=1, hours=7)) == 1
    text, _ = parts(mailbox.messages[1])
    assert second.title in text and first.title not in text
    rows = db.session.execute(sa.select(DigestEntry.advisory_id, DigestEntry.cadence)).all()
    assert sorted(rows) == sorted([(first.id, "daily"), (second.id, "daily")])


def test_a_second_sender_that_prepares_the_same_advisories_backs_off(mailbox, world, monkeypatch):
    set_preference(world.contact, cadence="immediate")
    critical = add_advisory(world, "Critical one", "critical")
    now = T0 - timedelta(hours=1)
    assert digest.prepare_digest(world.contact, now) is not None
    # The other sender read the advisories before this one committed: the database refuses its entries.
    monkeypatch.setattr(digest, "new_advisories", lambda *args, **kwargs: [db.session.get(Advisory, critical.id)])
    assert digest.prepare_digest(world.contact, now) is None
    assert count(Digest) == 1 and count(DigestEntry) == 1


def test_a_crash_between_sending_and_recording_never_sends_twice(mailbox, world, monkeypatch):
    set_preference(world.contact, cadence="immediate")
    add_advisory(world, "Critical one", "critical")
    now = T0 - timedelta(hours=1)

    def crash(*args):
        raise RuntimeError("the process died before recording")

    monkeypatch.setattr(Outbox, "record_sent", crash)
    assert digest.send_due_digests(now) == 0
    [stuck] = digests()
    assert stuck.status == "sending" and len(mailbox.messages) == 1
    monkeypatch.undo()

    assert digest.send_due_digests(now + timedelta(minutes=5)) == 0  # maybe still sending: left alone
    assert digest.send_due_digests(now + timedelta(minutes=11)) == 0
    db.session.refresh(stuck)
    assert stuck.status == "uncertain"
    assert stuck.message_id in stuck.last_error
    assert digest.send_due_digests(now + timedelta(hours=3)) == 0
    assert len(mailbox.messages) == 1
    assert [d.id for d in digest.digests_needing_attention(world.org.id)] == [stuck.id]

    # A coordinator who checked the mail log sends it again on purpose, with the same Message-ID.
    assert digest.resend(stuck.id, now + timedelta(hours=4)) == "sent"
    assert len(mailbox.messages) == 2
    assert mailbox.messages[0]["Message-ID"] == mailbox.messages[1]["Message-ID"] == stuck.message_id
    assert digest.digests_needing_attention(world.org.id) == []


def test_outbox_crash_is_settled_from_the_file(outbox, world, monkeypatch):
    set_preference(world.contact, cadence="immediate")
    add_advisory(world, "Critical one", "critical")
    now = T0 - timedelta(hours=1)

    def crash(*args):
        raise RuntimeError("the process died before recording")

    monkeypatch.setattr(Outbox, "record_sent", crash)
    assert digest.send_due_digests(now) == 0
    monkeypatch.undo()
    [stuck] = digests()
    assert stuck.status == "sending"
    assert digest.reconcile(now + timedelta(minutes=11)) == 1
    db.session.refresh(stuck)
    assert stuck.status == "sent" and stuck.sent_at is not None
    assert len(list(outbox.glob("*.eml"))) == 1


def test_outbox_crash_before_writing_is_retried(outbox, world, monkeypatch):
    set_preference(world.contact, cadence="immediate")
    add_advisory(world, "Critical one", "critical")
    now = T0 - timedelta(hours=1)

    def killed(*args):
        raise SystemExit("killed while writing")

    monkeypatch.setattr("detail.domain.outbox.write_outbox", killed)
    with pytest.raises(SystemExit):
        digest.send_due_digests(now)
    monkeypatch.undo()
    db.session.rollback()
    assert digest.send_due_digests(now + timedelta(minutes=11)) == 1
    assert len(list(outbox.glob("*.eml"))) == 1
    assert digests()[0].attempts == 2


def test_outbox_writes_a_parseable_eml(outbox, world):
    add_advisory(world, "March past the Grand Hotel", "critical", site=world.hotel)
    assert digest.send_due_digests(T0 - timedelta(minutes=30)) == 1
    [sent] = digests(status="sent")
    [path] = outbox.glob("*.eml")
    assert path == digest.DIGESTS.outbox_path(sent)
    assert path.name.startswith(f"{sent.id}-") and "<" not in path.name and "@" not in path.name
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["Message-ID"] == sent.message_id
    assert message["To"] == world.contact.email
    text, html = parts(message)
    assert "March past the Grand Hotel" in text and "March past the Grand Hotel" in html
    assert not list(outbox.glob(".partial-*"))


def test_a_refusal_is_retried_later_and_delivered_once(mailbox, world):
    set_preference(world.contact, cadence="immediate")
    add_advisory(world, "Critical one", "critical")
    mailbox.data_replies = ["451 4.3.0 Try again later"]
    now = T0 - timedelta(hours=1)
    assert digest.send_due_digests(now) == 0
    [waiting] = digests()
    assert (waiting.status, waiting.attempts) == ("failed", 1)
    assert waiting.next_attempt_at == now + timedelta(minutes=1)
    assert "451" in waiting.last_error
    assert digest.deliver(waiting.id, now + timedelta(seconds=30)) is None  # not yet
    assert digest.send_due_digests(now + timedelta(seconds=30)) == 0
    assert digest.send_due_digests(now + timedelta(minutes=1)) == 1
    db.session.refresh(waiting)
    assert (waiting.status, waiting.attempts) == ("sent", 2)
    assert len(mailbox.messages) == 1
    assert digest.deliver(waiting.id, now + timedelta(hours=1)) is None  # sent is final


def test_an_unreachable_server_is_a_transient_failure(mailbox, world, app):
    set_preference(world.contact, cadence="immediate")
    add_advisory(world, "Critical one", "critical")
    app.config["SMTP_PORT"] = free_port()  # nothing listens there
    now = T0 - timedelta(hours=1)
    assert digest.send_due_digests(now) == 0
    [waiting] = digests()
    assert waiting.status == "failed" and waiting.next_attempt_at == now + timedelta(minutes=1)
    assert "ConnectionRefusedError" in waiting.last_error


def test_retry_delays_double_up_to_an_hour():
    assert [retry_delay(n) for n in range(1, 10)] == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60, 60, 60)]


@pytest.mark.parametrize("where, reply", [("rcpt", "550 5.1.1 No such user"), ("data", "554 5.6.0 Rejected")])
def test_a_permanent_refusal_is_recorded_not_dropped(mailbox, world, where, reply):
    set_preference(world.contact, cadence="immediate")
    critical = add_advisory(world, "Critical one", "critical")
    if where == "rcpt":
        mailbox.rcpt_reply = reply
    else:
        mailbox.data_replies = [reply]
    now = T0 - timedelta(hours=1)
    assert digest.send_due_digests(now) == 0
    [failed] = digests()
    assert failed.status == "failed" and failed.next_attempt_at == NEVER
    assert reply.split()[0] in failed.last_error
    assert [e.advisory_id for e in failed.entries] == [critical.id]
    assert digest.send_due_digests(now + timedelta(days=1)) == 0
    assert mailbox.messages == []
    assert [d.id for d in digest.digests_needing_attention(world.org.id)] == [failed.id]


def test_list_unsubscribe_and_the_token(mailbox, world, app):
    add_advisory(world, "March past the Grand Hotel", "critical", site=world.hotel)
    digest.send_due_digests(T0 - timedelta(minutes=30))
    message = next(m for m in mailbox.messages if m["To"] == world.contact.email)
    token = unsubscribe_token(world.contact.id)
    # Folded after the colon when long, as RFC 5322 allows: a reader unfolds it.
    assert message["List-Unsubscribe"].strip() == f"<{PUBLIC_URL}/portal/unsubscribe/{token}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert user_id_from_unsubscribe_token(token) == world.contact.id
    assert user_id_from_unsubscribe_token(token[:-2] + "xx") is None
    assert user_id_from_unsubscribe_token("not-a-token") is None
    other_salt = URLSafeSerializer(app.config["SECRET_KEY"], salt="something-else").dumps(world.contact.id)
    assert user_id_from_unsubscribe_token(other_salt) is None
    assert user_id_from_unsubscribe_token(URLSafeSerializer("wrong", salt="digest-unsubscribe").dumps(1)) is None


# SMTP_SECURITY and SMTP_USER are tested against a real server with TLS and AUTH: tests/test_smtp_security.py.


def test_failures_are_sorted_into_transient_and_permanent():
    kind = failure_kind
    assert kind(smtplib.SMTPRecipientsRefused({"a@x": (550, b"no")})) == "permanent"
    assert kind(smtplib.SMTPRecipientsRefused({"a@x": (450, b"busy")})) == "transient"
    assert kind(smtplib.SMTPDataError(554, b"rejected")) == "permanent"
    assert kind(smtplib.SMTPDataError(451, b"later")) == "transient"
    assert kind(smtplib.SMTPSenderRefused(553, b"no", "from@x")) == "permanent"
    assert kind(smtplib.SMTPServerDisconnected("gone")) == "transient"
    assert kind(smtplib.SMTPAuthenticationError(535, b"bad credentials")) == "transient"
    assert kind(ConnectionRefusedError()) == "transient"
    assert kind(TimeoutError()) == "transient"
    assert kind(ValueError("?")) == "unknown"


def test_preview_records_nothing(mailbox, world):
    add_advisory(world, "March past the Grand Hotel", "critical", site=world.hotel)
    subject, text, html = digest.preview(world.contact, T0 - timedelta(minutes=30))
    assert subject == "Northwind plc: 1 advisory (1 critical) — Oscar Mike"
    assert "March past the Grand Hotel" in text and "March past the Grand Hotel" in html
    assert count(Digest) == 0 and count(ContactPreference) == 0 and count(DigestEntry) == 0
    assert mailbox.messages == []
    assert digest.preview(world.other_contact, T0) is None  # nothing new for Contoso
    assert digest.preview(world.agent_user, T0) is None


def test_send_now_ignores_the_schedule_and_counts_for_it(mailbox, world):
    advisory = add_advisory(world, "March past the Grand Hotel", "critical", site=world.hotel)
    now = T0 - timedelta(hours=3)  # 05:00 London: no daily digest is due
    sent = digest.send_now(world.contact, now)
    assert (sent.status, sent.period_key, sent.cadence) == ("sent", None, "daily")
    assert len(mailbox.messages) == 1
    assert digest.send_due_digests(now + timedelta(hours=2)) == 0  # the 07:00 digest has nothing new
    assert [e.advisory_id for e in sent.entries] == [advisory.id]
    assert digest.send_now(world.contact, now) is None


def test_paused_contact_gets_nothing(mailbox, world):
    set_preference(world.contact, paused=True, cadence="immediate", all_quiet=True)
    add_advisory(world, "Critical one", "critical")
    now = T0 - timedelta(hours=1)
    assert digest.send_due_digests(now) == 0
    assert digest.preview(world.contact, now) is None
    assert digest.send_now(world.contact, now) is None
    assert mailbox.messages == [] and count(Digest) == 0


def test_a_digest_claimed_elsewhere_is_not_sent_again(mailbox, world):
    set_preference(world.contact, cadence="immediate")
    add_advisory(world, "Critical one", "critical")
    now = T0 - timedelta(hours=1)
    prepared = digest.prepare_digest(world.contact, now)
    db.session.execute(sa.update(Digest).where(Digest.id == prepared.id).values(status="sending"))
    db.session.commit()
    assert digest.deliver(prepared.id, now) is None
    assert mailbox.messages == []


def test_dry_run_records_and_sends_nothing(mailbox, world, runner):
    add_advisory(world, "March past the Grand Hotel", "critical", site=world.hotel)
    add_advisory(world, "Road closure on the A13", "moderate")
    with time_machine.travel(T0 - timedelta(minutes=30), tick=False):
        result = runner.invoke(args=["intel", "send-digests", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert (
        f"{world.contact.email} (Northwind plc, daily): Northwind plc: 2 advisories (1 critical) — Oscar Mike"
        in result.output
    )
    assert "  - [critical] March past the Grand Hotel" in result.output
    assert "  - [moderate] Road closure on the A13" in result.output
    assert f"{world.other_contact.email} (Contoso AG, daily): nothing to send: nothing new" in result.output
    db.session.expire_all()
    assert count(Digest) == 0 and count(ContactPreference) == 0 and count(DigestEntry) == 0
    assert mailbox.messages == []

    with time_machine.travel(T0 - timedelta(minutes=30), tick=False):
        result = runner.invoke(args=["intel", "send-digests"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    [sent] = digests()
    assert f"sent: #{sent.id} to {world.contact.email}: Northwind plc: 2 advisories (1 critical)" in result.output
    assert len(mailbox.messages) == 1


def test_send_digests_loop_runs_every_minute(mailbox, world, runner, monkeypatch):
    add_advisory(world, "March past the Grand Hotel", "critical", site=world.hotel)
    clock = JobClock(monkeypatch, run_for=121)
    rounds, run_digests = [], digest.run_digests

    def counted(*args, **kwargs):
        rounds.append(clock.now)
        return run_digests(*args, **kwargs)

    monkeypatch.setattr(digest, "run_digests", counted)
    with time_machine.travel(T0 - timedelta(minutes=30), tick=False):
        result = runner.invoke(args=["intel", "send-digests", "--loop"])
    assert isinstance(result.exception, Stop)
    assert rounds == [1_000, 1_060, 1_120]  # a round a minute, through the job runner's clock
    assert result.output.count("sent: #") == 1
    assert len(mailbox.messages) == 1
