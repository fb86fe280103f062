"""Periodic jobs: the alert rules run on schedule, publish what they raise, and survive failures."""

from datetime import timedelta

import sqlalchemy as sa
import time_machine

from detail import jobs
from detail.extensions import db
from detail.models import Alert, Event

from .conftest import T0


def test_evaluate_alerts_raises_and_publishes(app, world):
    with time_machine.travel(T0, tick=False):
        assert jobs.evaluate_alerts() == 2  # late OM and not on station at T0 (report time was 07:30)
        assert jobs.evaluate_alerts() == 0
    kinds = db.session.scalars(sa.select(Alert.kind).order_by(Alert.kind)).all()
    assert kinds == ["late_om", "late_station"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event)) == 2


def test_run_due_respects_intervals_and_logs_failures(app, world, monkeypatch, caplog):
    calls = []
    monkeypatch.setattr(jobs, "JOBS", [jobs.Job("boom", 10, lambda: calls.append(1) or 1 / 0)])
    last: dict[str, float] = {}
    jobs.run_due(app, last, now=100.0)
    jobs.run_due(app, last, now=105.0)
    jobs.run_due(app, last, now=111.0)
    assert len(calls) == 2
    assert "job boom failed" in caplog.text


def test_jobs_command_runs_once(runner, world):
    with time_machine.travel(T0 - timedelta(minutes=59), tick=False):  # 07:01, report time 07:30
        result = runner.invoke(args=["jobs"])
    assert result.exit_code == 0, result.output
    assert "alerts: 1 events" in result.output


def test_every_channel_an_alarm_goes_by_is_sent_within_seconds():
    """An alarm's step hands over a text, an email and a push at once: none of them waits half a minute."""
    every = {job.name: job.every_seconds for job in jobs.JOBS}
    assert all(every[name] <= 5 for name in ("escalation", "texts", "notices", "push")), every
