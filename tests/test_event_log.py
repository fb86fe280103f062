"""The event log: events are written when their transaction commits, in commit order, and never
when it is rolled back; on PostgreSQL no organisation's log is locked before that moment."""

import sqlalchemy as sa
from flask import current_app

from detail.domain import live
from detail.extensions import db
from detail.models import Event


def _kinds() -> list[str]:
    return list(db.session.scalars(sa.select(Event.kind).order_by(Event.id)))


def test_events_are_written_at_commit_in_the_order_appended(backend):
    first = live.append_event(backend.org.id, backend.detail.id, "status", {"n": 1})
    second = live.append_event(backend.org.id, None, "alert", {"n": 2})
    assert first.id is None  # nothing is written before the commit
    db.session.commit()
    assert first.id < second.id
    assert _kinds() == ["status", "alert"]


def test_a_rolled_back_transaction_writes_none_of_its_events(backend):
    live.append_event(backend.org.id, backend.detail.id, "status", {"n": 1})
    db.session.rollback()
    live.append_event(backend.org.id, backend.detail.id, "alert", {"n": 2})
    db.session.commit()
    assert _kinds() == ["alert"]


def test_releasing_a_savepoint_keeps_the_events_for_the_commit(backend):
    live.append_event(backend.org.id, backend.detail.id, "status", {"n": 1})
    with db.session.begin_nested():
        backend.detail.notes = "changed in a savepoint"
    assert _kinds() == []
    db.session.commit()
    assert _kinds() == ["status"]


def test_ids_follow_commit_order_and_no_lock_is_held_during_the_work(pg_world):
    outer = db.session()
    slow = live.append_event(pg_world.org.id, pg_world.detail.id, "status", {"who": "slow"})
    db.session.flush()  # the slow unit of work goes on writing other rows
    with current_app.app_context():  # another request: its own session and connection
        assert db.session() is not outer
        held = db.session.scalar(
            sa.text("SELECT pg_try_advisory_xact_lock(:cls, :org)"),
            {"cls": live.EVENT_LOCK_CLASS, "org": pg_world.org.id},
        )
        assert held, "the organisation's event lock was held before the commit"
        db.session.rollback()
        quick = live.append_event(pg_world.org.id, pg_world.detail.id, "status", {"who": "quick"})
        db.session.commit()
        quick_id = quick.id
    db.session.commit()
    assert quick_id < slow.id  # a board that saw the quick one and catches up after it still gets the slow one
