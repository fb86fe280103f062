"""A status is stored once per (agent, client_id) on both backends: a retry, a retry the rules would
now refuse, and two copies of one report racing each other."""

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import current_app

from detail.domain import statuses as status
from detail.extensions import db
from detail.models import Agent, Event, Position, StatusCode, StatusReport

from .conftest import T0

BEFORE = T0 - timedelta(minutes=30)


def _code(organisation_id: int, code: str) -> StatusCode:
    return next(c for c in status.organisation_codes(organisation_id) if c.code == code)


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_a_retry_gets_the_stored_report_and_appends_nothing(backend):
    om = _code(backend.org.id, "OM")
    first = status.record_status(
        backend.agent, om, client_id="r1", latitude=51.5, longitude=-0.13, reported_at=BEFORE, now=BEFORE
    )
    db.session.commit()
    again = status.record_status(
        backend.agent, om, client_id="r1", latitude=51.5, longitude=-0.13, reported_at=BEFORE, now=BEFORE
    )
    db.session.commit()
    assert first.created and not again.created and again.events == []
    assert again.report.id == first.report.id
    assert (_count(StatusReport), _count(Event), _count(Position)) == (1, 1, 1)


def test_a_retry_the_rules_would_now_refuse_still_gets_the_stored_report(backend):
    om = _code(backend.org.id, "OM")
    first = status.record_status(backend.agent, om, client_id="r1", now=BEFORE)
    db.session.commit()
    two_days_on = T0 + timedelta(days=2)  # the shift is long over: a new report is refused
    with pytest.raises(status.Refused, match="no assignment"):
        status.record_status(backend.agent, om, client_id="new", now=two_days_on)
    again = status.record_status(backend.agent, om, client_id="r1", now=two_days_on)
    assert not again.created and again.report.id == first.report.id


def test_two_copies_racing_are_stored_once(pg_world):
    app = current_app._get_current_object()
    agent_id, code_id = pg_world.agent.id, _code(pg_world.org.id, "OM").id
    db.session.commit()
    inserted, results, errors = threading.Event(), {}, []

    def send(name: str, first: bool) -> None:
        try:
            with app.app_context():
                if not first:
                    inserted.wait(5)  # the other copy holds the new row, not yet committed
                agent, code = db.session.get(Agent, agent_id), db.session.get(StatusCode, code_id)
                recorded = status.record_status(agent, code, client_id="race", now=BEFORE)
                if first:
                    inserted.set()
                    threading.Event().wait(0.3)  # commit late: the second copy waits on the unique key
                db.session.commit()
                results[name] = (recorded.created, recorded.report.id)
        except Exception as exc:  # reported below: an assertion in a thread would be lost
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(n, n == "first")) for n in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not errors, errors
    assert results["first"][0] is True and results["second"][0] is False
    assert results["first"][1] == results["second"][1]
    db.session.expire_all()
    assert (_count(StatusReport), _count(Event)) == (1, 1)
