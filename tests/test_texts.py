"""Texts out (detail.domain.texts): each text goes once, through a Twilio-shaped server on loopback or into
instance/outbox/; the provider's refusals are sorted into retry, failed for good and uncertain; the
provider's signed status callbacks, posted to the app's live server, move the text on to delivered."""

import logging
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import current_app

from detail import jobs
from detail.config import ConfigError, from_environment
from detail.domain import live, text_providers, texts
from detail.domain.outbox import NEVER
from detail.extensions import db
from detail.models import Event, TextMessage

from .conftest import T0
from .mailbox import free_port
from .twilio_loopback import ACCOUNT_SID, AUTH_TOKEN, FROM, Reply, signature, twilio_on_loopback

NUMBER = "+447700900123"
BODY = "DURESS Bravo 1 at Grand Hotel. Reply ACK 4821 to take it."


def _queue(world, body: str = BODY, number: str = NUMBER) -> TextMessage:
    text = texts.queue_text(organisation_id=world.org.id, to_number=number, body=body, user_id=world.coordinator.id)
    text.created_at = text.next_attempt_at = T0  # queued at the tests' clock, due at once
    db.session.commit()
    return text


@pytest.fixture
def heard(monkeypatch):
    """A status listener that records each change it is told of and appends an event for it."""
    calls: list[tuple[int, str]] = []

    def listener(text):
        calls.append((text.id, text.status))
        return [live.append_event(text.organisation_id, None, "text_status", {"id": text.id, "status": text.status})]

    monkeypatch.setattr(texts, "STATUS_LISTENERS", [listener])
    return calls


def _text_events() -> list[dict]:
    query = sa.select(Event).where(Event.kind == "text_status").order_by(Event.id)
    return [event.payload for event in db.session.scalars(query)]


# --- with no provider: instance/outbox/ ---------------------------------------------------------


def test_with_no_provider_a_text_is_written_to_the_outbox_once(world, app, tmp_path, heard):
    text = _queue(world)
    assert texts.send_due(T0) == 1
    db.session.refresh(text)
    assert (text.status, text.sent_at, text.provider_sid, text.attempts) == ("sent", T0, None, 1)
    [path] = (tmp_path / "outbox").glob("*.txt")
    assert path == texts.outbox_path(text) and path.name.startswith(f"text-{text.id}-")
    head, _, body = path.read_text().partition("\n\n")
    assert f"To: {NUMBER}" in head and body == BODY + "\n"
    assert not list((tmp_path / "outbox").glob(".partial-*"))
    assert texts.send_due(T0 + timedelta(minutes=5)) == 0  # sent is final
    assert len(list((tmp_path / "outbox").glob("*.txt"))) == 1
    assert heard == [(text.id, "sent")]
    assert _text_events() == [{"id": text.id, "status": "sent"}]


def _stop_before_recording(text: TextMessage, monkeypatch) -> None:
    """Deliver the text with the sender stopping after it went and before its outcome was committed."""

    def crash(*args):
        raise RuntimeError("the process died before recording")

    with monkeypatch.context() as patched, pytest.raises(RuntimeError):
        patched.setattr(texts, "_commit_with_listeners", crash)
        texts.deliver(text.id, T0)
    db.session.rollback()


def test_a_text_left_sending_after_its_file_was_written_is_settled_as_sent(world, tmp_path, monkeypatch, heard):
    text = _queue(world)
    _stop_before_recording(text, monkeypatch)
    db.session.refresh(text)
    assert text.status == "sending"
    assert texts.reconcile(T0 + timedelta(minutes=1)) == 0  # maybe still sending: left alone
    assert texts.reconcile(T0 + timedelta(minutes=3)) == 1
    db.session.refresh(text)
    assert text.status == "sent" and text.sent_at is not None
    assert len(list((tmp_path / "outbox").glob("*.txt"))) == 1
    assert heard == [(text.id, "sent")]


def test_a_text_left_sending_before_its_file_was_written_goes_again(world, tmp_path):
    text = _queue(world)
    text.status, text.attempts, text.next_attempt_at = "sending", 1, T0
    db.session.commit()
    assert texts.send_due(T0 + timedelta(minutes=3)) == 1
    db.session.refresh(text)
    assert (text.status, text.attempts) == ("sent", 2)
    assert len(list((tmp_path / "outbox").glob("*.txt"))) == 1


def test_an_outbox_that_cannot_be_written_is_retried(world, app, tmp_path):
    (tmp_path / "outbox").write_text("a file where the folder should be")
    text = _queue(world)
    assert texts.send_due(T0) == 0
    db.session.refresh(text)
    assert text.status == "failed" and text.next_attempt_at == T0 + timedelta(minutes=1)
    assert "could not write the outbox file" in text.last_error
    (tmp_path / "outbox").unlink()
    assert texts.send_due(T0 + timedelta(minutes=1)) == 1


# --- through Twilio's Messages API --------------------------------------------------------------


def test_twilio_takes_the_text_and_its_signed_callbacks_make_it_delivered(world, app, twilio, live_server, heard):
    app.config["PUBLIC_URL"] = live_server
    text = _queue(world)
    assert texts.send_due(T0) == 1
    [sent] = twilio.messages
    assert (sent["To"], sent["From"], sent["Body"]) == (NUMBER, FROM, BODY)
    assert "MessagingServiceSid" not in sent
    assert sent["StatusCallback"] == f"{live_server}/ingest/sms/status"
    db.session.refresh(text)
    assert (text.status, text.provider_sid, text.sent_at) == ("sent", sent["sid"], T0)

    assert twilio.post_status(sent["sid"], "sent").status_code == 204
    answer = twilio.post_status(sent["sid"], "delivered")
    assert answer.status_code == 204
    db.session.expire_all()
    assert text.status == "delivered" and text.delivered_at is not None
    # Twilio's callbacks can arrive out of order: a late one never moves the text back.
    assert twilio.post_status(sent["sid"], "sent").status_code == 204
    assert twilio.post_status(sent["sid"], "undelivered", "30003").status_code == 204
    db.session.expire_all()
    assert text.status == "delivered"
    assert heard == [(text.id, "sent"), (text.id, "delivered")]
    assert _text_events() == [{"id": text.id, "status": "sent"}, {"id": text.id, "status": "delivered"}]
    assert texts.send_due(T0 + timedelta(hours=1)) == 0 and len(twilio.messages) == 1


def test_an_undelivered_text_says_why_and_needs_attention(world, app, twilio, live_server, heard):
    app.config["PUBLIC_URL"] = live_server
    text = _queue(world)
    texts.send_due(T0)
    [sent] = twilio.messages
    assert twilio.post_status(sent["sid"], "undelivered", "30003").status_code == 204
    db.session.expire_all()
    assert text.status == "undelivered" and text.next_attempt_at == NEVER
    assert "30003" in text.last_error and "unreachable" in text.last_error
    assert [t.id for t in texts.texts_needing_attention(world.org.id, T0 - timedelta(days=1))] == [text.id]
    assert texts.send_due(T0 + timedelta(hours=2)) == 0  # the provider gave up: not resent by itself
    # A coordinator sends it again on purpose.
    assert texts.resend(text.id, T0 + timedelta(hours=3))
    assert texts.send_due(T0 + timedelta(hours=3)) == 1 and len(twilio.messages) == 2
    db.session.refresh(text)
    assert text.status == "sent" and text.provider_sid == twilio.messages[1]["sid"]
    assert heard == [(text.id, "sent"), (text.id, "undelivered"), (text.id, "sent")]


def test_a_messaging_service_sends_in_place_of_a_number(world, app, twilio):
    app.config.update(TWILIO_FROM=None, TWILIO_MESSAGING_SERVICE_SID="MG" + "1" * 32)
    _queue(world)
    assert texts.send_due(T0) == 1
    [sent] = twilio.messages
    assert sent["MessagingServiceSid"] == "MG" + "1" * 32 and "From" not in sent


def test_an_invalid_number_fails_for_good(world, twilio, heard):
    twilio.replies = [Reply(400, 21211, f"The 'To' number {NUMBER} is not a valid phone number.")]
    text = _queue(world)
    assert texts.send_due(T0) == 0
    db.session.refresh(text)
    assert (text.status, text.next_attempt_at) == ("failed", NEVER)
    assert "Twilio 400 error 21211" in text.last_error and "not a valid phone number" in text.last_error
    assert not texts.retrying(text)
    assert texts.send_due(T0 + timedelta(days=1)) == 0
    assert twilio.requests == 1 and twilio.messages == []
    assert [t.id for t in texts.texts_needing_attention(world.org.id, T0 - timedelta(days=1))] == [text.id]
    assert heard == [(text.id, "failed")]


@pytest.mark.parametrize(("status", "code"), [(429, 20429), (503, None), (401, 20003)])
def test_busy_down_or_refused_credentials_are_retried_later_and_sent_once(world, twilio, status, code):
    twilio.replies = [Reply(status, code, "Too Many Requests" if status == 429 else "")]
    text = _queue(world)
    assert texts.send_due(T0) == 0
    db.session.refresh(text)
    assert (text.status, text.attempts) == ("failed", 1)
    assert text.next_attempt_at == T0 + timedelta(minutes=1) and texts.retrying(text)
    assert f"Twilio {status}" in text.last_error
    assert texts.texts_needing_attention(world.org.id, T0 - timedelta(days=1)) == []  # it goes by itself
    assert texts.send_due(T0 + timedelta(seconds=30)) == 0  # not yet
    assert texts.send_due(T0 + timedelta(minutes=1)) == 1
    db.session.refresh(text)
    assert (text.status, text.attempts) == ("sent", 2)
    assert len(twilio.messages) == 1


def test_wrong_credentials_are_refused_by_the_loopback_as_by_twilio(world, app, twilio):
    app.config["TWILIO_AUTH_TOKEN"] = "not-the-token"
    text = _queue(world)
    assert texts.send_due(T0) == 0
    db.session.refresh(text)
    assert text.status == "failed" and "Twilio 401 error 20003" in text.last_error and texts.retrying(text)


def test_an_unreachable_provider_is_a_transient_failure(world, app, twilio):
    app.config["TWILIO_API_BASE"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    text = _queue(world)
    assert texts.send_due(T0) == 0
    db.session.refresh(text)
    assert text.status == "failed" and texts.retrying(text) and "ConnectionError" in text.last_error


@pytest.mark.parametrize("reply", [Reply(hang=True), Reply(close=True)], ids=["hangs", "closes"])
def test_a_request_that_may_have_arrived_is_uncertain_and_never_resent_by_itself(
    world, twilio, monkeypatch, heard, reply
):
    monkeypatch.setattr(text_providers, "READ_TIMEOUT_S", 0.5)
    twilio.replies = [reply]
    text = _queue(world)
    assert texts.send_due(T0) == 0
    db.session.refresh(text)
    assert text.status == "uncertain"
    assert "may have gone" in text.last_error and "message log" in text.last_error
    assert texts.send_due(T0 + timedelta(hours=2)) == 0
    assert twilio.requests == 1
    assert [t.id for t in texts.texts_needing_attention(world.org.id, T0 - timedelta(days=1))] == [text.id]
    assert texts.resend(text.id, T0 + timedelta(hours=3))
    assert texts.send_due(T0 + timedelta(hours=3)) == 1 and len(twilio.messages) == 1
    assert heard == [(text.id, "uncertain"), (text.id, "sent")]


def test_a_provider_outage_ends_the_run_and_the_rest_wait_for_the_next(world, twilio):
    twilio.replies = [Reply(503)]
    first, second = _queue(world), _queue(world, body="second")
    assert texts.send_due(T0) == 0
    assert twilio.requests == 1
    db.session.refresh(second)
    assert second.status == "pending"
    assert texts.send_due(T0 + timedelta(seconds=2)) == 1  # the second, at once
    assert texts.send_due(T0 + timedelta(minutes=1)) == 1  # the first, after its backoff
    assert sorted(m["Body"] for m in twilio.messages) == sorted([first.body, "second"])


def test_a_permanent_refusal_does_not_hold_up_the_others(world, twilio):
    twilio.replies = [Reply(400, 21211, "not a valid phone number")]
    _queue(world, number="+1555"), _queue(world, body="second")
    assert texts.send_due(T0) == 1
    assert [m["Body"] for m in twilio.messages] == ["second"]


def test_a_sender_that_stopped_after_twilio_took_the_text_leaves_it_uncertain(world, twilio, monkeypatch):
    text = _queue(world)
    _stop_before_recording(text, monkeypatch)
    assert texts.send_due(T0 + timedelta(minutes=1)) == 0
    assert texts.send_due(T0 + timedelta(minutes=3)) == 0
    db.session.refresh(text)
    assert text.status == "uncertain" and NUMBER in text.last_error and "message log" in text.last_error
    assert texts.send_due(T0 + timedelta(hours=1)) == 0
    assert len(twilio.messages) == 1


def test_neither_the_token_nor_the_body_is_logged(world, twilio, caplog, monkeypatch):
    monkeypatch.setattr(text_providers, "READ_TIMEOUT_S", 0.5)
    twilio.replies = [Reply(503), Reply(close=True)]
    caplog.set_level(logging.DEBUG)
    _queue(world)
    texts.send_due(T0)
    texts.send_due(T0 + timedelta(minutes=1))
    assert "failure" in caplog.text
    assert AUTH_TOKEN not in caplog.text and BODY not in caplog.text and NUMBER not in caplog.text
    assert AUTH_TOKEN not in repr(text_providers.configured_provider())


def _send_concurrently(app, senders: int = 2) -> None:
    barrier = threading.Barrier(senders)
    failures: list[BaseException] = []

    def sender():
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                for _ in range(50):  # until nothing is due (each run sends at most a batch)
                    if not (texts.send_due(T0) or texts.TEXTS.due_ids(T0)):
                        break
            except BaseException as exc:  # reported on the test's thread
                failures.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures


def test_two_senders_at_once_send_each_text_exactly_once(backend):
    app = current_app._get_current_object()
    with twilio_on_loopback(app) as provider:
        bodies = [f"text {n}" for n in range(20)]
        for body in bodies:
            texts.queue_text(organisation_id=backend.org.id, to_number=NUMBER, body=body)
        db.session.execute(sa.update(TextMessage).values(next_attempt_at=T0))
        db.session.commit()
        _send_concurrently(app)
        assert sorted(m["Body"] for m in provider.messages) == sorted(bodies)
        assert provider.requests == len(bodies)
        rows = db.session.execute(sa.select(TextMessage.status, TextMessage.attempts)).all()
        assert rows == [("sent", 1)] * len(bodies)


# --- the status callback route: who may post --------------------------------------------------

CALLBACK_URL = "http://localhost/ingest/sms/status"


def _sent_text(world, sid: str = "SM" + "a" * 32) -> TextMessage:
    text = _queue(world)
    text.status, text.provider_sid, text.sent_at = "sent", sid, T0
    db.session.commit()
    return text


def _callback(client, fields: dict, token: str = AUTH_TOKEN, url: str = CALLBACK_URL, signed: bool = True):
    headers = {"X-Twilio-Signature": signature(token, url, fields)} if signed else {}
    return client.post("/ingest/sms/status", data=fields, headers=headers)


@pytest.fixture
def twilio_configured(app):
    app.config.update(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_FROM=FROM)


def test_a_signed_callback_is_recorded(world, client, twilio_configured):
    text = _sent_text(world)
    assert _callback(client, {"MessageSid": text.provider_sid, "MessageStatus": "delivered"}).status_code == 204
    db.session.refresh(text)
    assert text.status == "delivered"


@pytest.mark.parametrize(
    "how",
    ["unsigned", "another token", "another address", "altered after signing"],
)
def test_a_callback_not_signed_with_the_accounts_token_is_refused(world, client, twilio_configured, how):
    text = _sent_text(world)
    fields = {"MessageSid": text.provider_sid, "MessageStatus": "failed"}
    if how == "unsigned":
        answer = _callback(client, fields, signed=False)
    elif how == "another token":
        answer = _callback(client, fields, token="someone-elses-token")
    elif how == "another address":
        answer = _callback(client, fields, url="https://elsewhere.example/ingest/sms/status")
    else:
        headers = {"X-Twilio-Signature": signature(AUTH_TOKEN, CALLBACK_URL, fields)}
        answer = client.post("/ingest/sms/status", data={**fields, "MessageStatus": "delivered"}, headers=headers)
    assert answer.status_code == 403
    assert "X-Twilio-Signature" in answer.get_json()["message"]
    db.session.refresh(text)
    assert text.status == "sent"


def test_a_callback_for_an_unknown_text_is_404_with_its_sid(world, client, twilio_configured):
    answer = _callback(client, {"MessageSid": "SM" + "b" * 32, "MessageStatus": "delivered"})
    assert answer.status_code == 404
    assert "SM" + "b" * 32 in answer.get_json()["message"]


def test_a_callback_without_its_fields_is_400(world, client, twilio_configured):
    answer = _callback(client, {"MessageStatus": "delivered"})
    assert answer.status_code == 400


def test_callbacks_are_refused_where_twilio_is_not_configured(world, client):
    answer = _callback(client, {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered"})
    assert answer.status_code == 503 and "TWILIO_AUTH_TOKEN" in answer.get_json()["message"]


def test_a_failing_listener_is_undone_alone(world, client, twilio_configured, monkeypatch):
    text = _sent_text(world)
    told: list[str] = []

    def broken(text):
        live.append_event(text.organisation_id, None, "text_status", {"broken": True})
        raise RuntimeError("a bug in a listener")

    def working(text):
        told.append(text.status)
        return []

    monkeypatch.setattr(texts, "STATUS_LISTENERS", [broken, working])
    assert _callback(client, {"MessageSid": text.provider_sid, "MessageStatus": "delivered"}).status_code == 204
    db.session.refresh(text)
    assert text.status == "delivered" and told == ["delivered"]
    assert _text_events() == []  # the broken listener's event went with it


# --- configuration and the job ----------------------------------------------------------------


def test_twilio_is_configured_whole_or_not_at_all(tmp_path):
    env = {"SECRET_KEY": "x" * 40}
    assert from_environment(str(tmp_path), env)["TWILIO_ACCOUNT_SID"] is None
    full = {**env, "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_FROM": FROM}
    config = from_environment(str(tmp_path), full)
    assert (config["TWILIO_FROM"], config["TWILIO_API_BASE"]) == (FROM, "https://api.twilio.com")
    with pytest.raises(ConfigError, match="TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID"):
        from_environment(str(tmp_path), {**full, "TWILIO_FROM": ""})
    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN"):
        from_environment(str(tmp_path), {**full, "TWILIO_AUTH_TOKEN": ""})
    with pytest.raises(ConfigError, match="https://"):
        from_environment(str(tmp_path), {**full, "TWILIO_API_BASE": "http://api.example.com"})
    local = from_environment(str(tmp_path), {**full, "TWILIO_API_BASE": "http://127.0.0.1:8099/"})
    assert local["TWILIO_API_BASE"] == "http://127.0.0.1:8099"


def test_the_texts_job_looks_every_two_seconds(world, app, tmp_path):
    [job] = [job for job in jobs.JOBS if job.name == "texts"]
    assert job.every_seconds == 2
    text = _queue(world)
    jobs.run_due(app, {}, 1_000.0, [job])
    db.session.refresh(text)
    assert text.status == "sent" and len(list((tmp_path / "outbox").glob("*.txt"))) == 1


def test_a_text_another_sender_claimed_is_not_sent_again(world, twilio):
    text = _queue(world)
    assert texts.TEXTS.claim(text.id, T0)  # the other sender's claim
    assert texts.deliver(text.id, T0) is None
    assert twilio.requests == 0


# --- the coordinators' page -------------------------------------------------------------------


def _text_now(world, status: str, organisation_id: int | None = None, **values) -> TextMessage:
    organisation_id = organisation_id or world.org.id
    text = texts.queue_text(
        organisation_id=organisation_id, to_number=NUMBER, body=f"{status} text", user_id=world.agent_user.id
    )
    text.status = status
    for name, value in values.items():
        setattr(text, name, value)
    db.session.commit()
    return text


def test_the_texts_page_shows_what_needs_a_person(world, as_user):
    lost = _text_now(world, "uncertain", last_error="Twilio: ReadTimeout: it may have gone")
    refused = _text_now(world, "failed", next_attempt_at=NEVER, last_error="Twilio 400 error 21211: not valid")
    retrying = _text_now(world, "failed", last_error="Twilio 503")
    delivered = _text_now(world, "delivered")
    _text_now(world, "undelivered", organisation_id=world.other_org.id)
    page = as_user(world.coordinator).get("/admin/texts")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    attention = html.split("<h2>Recent texts</h2>")[0]
    assert f'data-text="{lost.id}"' in attention and f'data-text="{refused.id}"' in attention
    assert f'data-text="{retrying.id}"' not in attention  # it goes again by itself
    assert f'data-text="{delivered.id}"' not in attention
    assert "21211" in html and "Sam Carter" in html and "delivered text" in html
    assert "undelivered text" not in html  # another organisation's
    assert html.count(f"/admin/texts/{lost.id}/resend") == 1


def test_sending_a_text_again_is_confirmed_first_and_leaves_it_to_the_job(world, as_user, tmp_path):
    lost = _text_now(world, "uncertain")
    coordinator = as_user(world.coordinator)
    asked = coordinator.post(f"/admin/texts/{lost.id}/resend")
    assert asked.status_code == 200 and "may have arrived already" in asked.get_data(as_text=True)
    db.session.refresh(lost)
    assert lost.status == "uncertain"
    answer = coordinator.post(f"/admin/texts/{lost.id}/resend", data={"confirmed": "1"})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/admin/texts")
    db.session.refresh(lost)
    assert lost.status == "pending"
    assert not list(tmp_path.glob("outbox/*.txt"))  # nothing sent from the request
    assert texts.send_due() == 1
    again = coordinator.post(f"/admin/texts/{lost.id}/resend", data={"confirmed": "1"}, follow_redirects=True)
    assert "nothing to send again" in again.get_data(as_text=True)


def test_only_the_organisations_staff_see_or_resend_its_texts(world, as_user, client):
    theirs = _text_now(world, "uncertain", organisation_id=world.other_org.id)
    resend = f"/admin/texts/{theirs.id}/resend"
    assert as_user(world.coordinator).post(resend, data={"confirmed": "1"}).status_code == 404
    assert as_user(world.agent_user).get("/admin/texts").status_code == 403
    db.session.refresh(theirs)
    assert theirs.status == "uncertain"


def test_a_run_past_its_budget_leaves_the_rest_due_for_the_next(world, monkeypatch, tmp_path):
    text = _queue(world)
    monkeypatch.setattr(texts, "RUN_BUDGET_S", -1)  # spent before the first text
    assert texts.send_due(T0) == 0
    db.session.refresh(text)
    assert (text.status, text.attempts) == ("pending", 0)
    monkeypatch.setattr(texts, "RUN_BUDGET_S", 30)
    assert texts.send_due(T0) == 1


def test_an_answer_without_a_sid_is_uncertain(world, twilio):
    twilio.replies = [Reply(201, body={"status": "queued"})]  # taken, but which message is it?
    text = _queue(world)
    assert texts.send_due(T0) == 0
    db.session.refresh(text)
    assert text.status == "uncertain" and "Twilio answered 201 without a message sid" in text.last_error


def test_the_texts_page_never_shows_a_verification_code_nor_an_acknowledge_link(world, as_user):
    """Whoever reads a code could verify a number they do not hold; an /ack/ link is its person's own."""
    from detail.domain import contacts

    contacts.send_code(contacts.add_channel(world.coordinator, "sms", "+447911123456"))
    texts.queue_text(
        organisation_id=world.org.id,
        to_number="+447911123457",
        body="DURESS: Bravo 1. Reply ACK 4821 or open https://om.example/ack/Zr9sEcretT0ken",
        purpose="alarm",
    )
    db.session.commit()
    code_text = db.session.scalar(sa.select(TextMessage).where(TextMessage.purpose == "verification"))
    code = code_text.body.split("code: ")[1][:6]

    page = as_user(world.coordinator).get("/admin/texts").get_data(as_text=True)

    assert code.isdigit() and code not in page and "Verification code (not shown" in page
    assert "Zr9sEcretT0ken" not in page and "/ack/…" in page and "ACK 4821" in page
