"""The one outbox (detail.domain.outbox) under the notices as under the digests: a notice left "sending"
by a sender that stopped is settled as a digest is, and a message that cannot be built is retried,
never left "sending". The digests' side is tests/test_digest.py; SMTP itself tests/test_smtp_security.py."""

from datetime import timedelta

import sqlalchemy as sa

from detail.domain import notices
from detail.extensions import db
from detail.models import Notice

from .conftest import T0
from .mailbox import PUBLIC_URL


def _notice(world, time_machine) -> Notice:
    time_machine.move_to(T0, tick=False)  # queued due at once
    notice = notices.queue(world.contact, "Your request was acknowledged", "We are on it.")
    db.session.commit()
    return notice


def _left_sending(notice: Notice, claimed_at) -> None:
    """As a sender leaves a notice when it stops between handing it over and recording it."""
    notice.status, notice.attempts, notice.next_attempt_at = "sending", 1, claimed_at
    db.session.commit()


def test_a_notice_left_sending_with_smtp_is_uncertain_with_its_message_id_and_never_resent(
    world, mailbox, time_machine
):
    notice = _notice(world, time_machine)
    _left_sending(notice, T0)
    assert notices.reconcile(T0 + timedelta(minutes=5)) == 0  # maybe still sending: left alone
    assert notices.reconcile(T0 + timedelta(minutes=11)) == 1
    db.session.refresh(notice)
    assert notice.status == "uncertain"
    assert notice.message_id in notice.last_error  # to look up in the mail server's log
    db.session.commit()
    assert notices.deliver(notice.id, T0 + timedelta(hours=1)) is None
    assert mailbox.messages == []


def test_a_notice_left_sending_is_settled_from_its_outbox_file(world, app, tmp_path, time_machine):
    app.config.update(SMTP_HOST=None, PUBLIC_URL=PUBLIC_URL)
    notice = _notice(world, time_machine)
    assert notices.deliver(notice.id, T0) == "sent"
    [path] = (tmp_path / "outbox").glob("*.eml")
    assert path.name.startswith(f"notice-{notice.id}-")
    _left_sending(notice, T0)  # as if the sender stopped after writing the file
    assert notices.reconcile(T0 + timedelta(minutes=11)) == 1
    db.session.refresh(notice)
    assert notice.status == "sent" and notice.sent_at is not None


def test_a_notice_that_cannot_be_built_is_retried_not_left_sending(world, mailbox, monkeypatch, time_machine):
    notice = _notice(world, time_machine)

    def broken(*args):
        raise ValueError("no template")

    monkeypatch.setattr(notices, "build_message", broken)
    assert notices.deliver(notice.id, T0) == "failed"
    db.session.refresh(notice)
    assert notice.next_attempt_at == T0 + timedelta(minutes=1)
    assert "could not build the message" in notice.last_error
    monkeypatch.undo()
    assert notices.deliver(notice.id, T0 + timedelta(minutes=1)) == "sent"
    assert len(mailbox.messages) == 1
    assert db.session.scalar(sa.select(Notice.attempts)) == 2
