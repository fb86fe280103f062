"""Periodic work, declared in one list (JOBS): each job runs in its own app context and unit of work.

In the embedded default the loop runs as a background task of the web process (wsgi.py); in
production it is its own process, `flask --app wsgi jobs --loop`, emitting through the message
queue. Several loops may run at once: each job takes care that its work is done once.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import with_appcontext

from detail.domain import alerts, escalation, geofence, live, notices, push, sessions, texts
from detail.domain import requests as requests_inbox
from detail.extensions import db, socketio
from detail.models import Organisation, Position, utcnow

log = logging.getLogger(__name__)
JOB_LOCK_CLASS = 0x4A42  # "JB": keeps these advisory locks apart from the event log's
ESCALATION_INTERVAL_S = 3


def evaluate_alerts() -> int:
    """Raise and resolve late and silent alerts for every organisation; returns the events published."""
    return _for_each_organisation(alerts.evaluate)


def evaluate_geofences() -> int:
    """Complete arrivals and departures whose dwell ran out since the agent's last position."""
    return _for_each_organisation(geofence.evaluate)


def evaluate_requests() -> int:
    """Alert the boards about urgent client requests left unacknowledged too long."""
    return _for_each_organisation(requests_inbox.evaluate)


def run_escalations() -> int:
    """Open, end and climb each organisation's escalations (one evaluator per organisation at a time),
    then hand the queued notification attempts to their channels, each once."""
    published = _for_each_organisation(escalation.evaluate)
    events = escalation.deliver_queued()
    live.publish(events)
    return published + len(events)


def prune_positions() -> int:
    """Delete positions older than the configured retention; returns how many went."""
    days = current_app.config["POSITION_RETENTION_DAYS"]
    cutoff = utcnow() - timedelta(days=days)
    deleted = db.session.execute(sa.delete(Position).where(Position.received_at < cutoff)).rowcount
    db.session.commit()
    if deleted:
        log.info("deleted %d positions older than %d days", deleted, days)
    return deleted


def prune_sessions() -> int:
    """Delete sign-in sessions that have ended or expired; returns how many went."""
    deleted = sessions.prune_sessions()
    db.session.commit()
    if deleted:
        log.info("deleted %d ended or expired sign-in sessions", deleted)
    return deleted


def _for_each_organisation(evaluate: Callable[[Organisation], list]) -> int:
    published = 0
    for organisation_id in db.session.scalars(sa.select(Organisation.id)).all():
        if not _claim(organisation_id):
            continue  # another process is evaluating this organisation right now
        events = evaluate(db.session.get(Organisation, organisation_id))
        db.session.commit()
        live.publish(events)
        published += len(events)
    return published


def _claim(organisation_id: int) -> bool:
    # On PostgreSQL a transaction-scoped lock lets one process evaluate an organisation at a time;
    # SQLite has one writer anyway.
    if db.session.get_bind().dialect.name != "postgresql":
        return True
    return bool(
        db.session.scalar(
            sa.text("SELECT pg_try_advisory_xact_lock(:cls, :org)"), {"cls": JOB_LOCK_CLASS, "org": organisation_id}
        )
    )


@dataclass(frozen=True)
class Job:
    name: str
    every_seconds: float
    run: Callable[[], int]


JOBS: list[Job] = [
    Job("alerts", 15, evaluate_alerts),
    Job("geofence", 15, evaluate_geofences),
    Job("position-retention", 3600, prune_positions),
    Job("session-retention", 3600, prune_sessions),
    Job("requests", 30, evaluate_requests),
    # An alarm's email must leave with its text and push: every 3 s (an indexed query when idle).
    Job("notices", 3, notices.send_due),
    # A duress text must leave within seconds: the job looks every 2 s (an indexed query when idle).
    Job("texts", 2, texts.send_due),
    Job("push", 5, push.send_due),
    # Every 3 s: a duress alarm's first step (delay 0) reaches the on-call primary within about 3 s
    # of the alarm. A run with nothing due is a handful of indexed queries per organisation.
    Job("escalation", ESCALATION_INTERVAL_S, run_escalations),
]


def register_job(job: Job) -> None:
    """Add a periodic job (packages such as intel add theirs when they are registered); once per name."""
    if all(existing.name != job.name for existing in JOBS):
        JOBS.append(job)


def run_due(app: Flask, last_run: dict[str, float], now: float, jobs: list[Job] | None = None) -> None:
    """Run each job whose interval has passed, each in its own app context; a failure is logged, not fatal."""
    for job in JOBS if jobs is None else jobs:
        if now - last_run.get(job.name, 0) < job.every_seconds:
            continue
        last_run[job.name] = now
        with app.app_context():
            try:
                job.run()
            except Exception:
                db.session.rollback()
                log.exception("job %s failed", job.name)


def loop(app: Flask, jobs: list[Job] | None = None) -> None:
    """Run the jobs (all, or those given) for ever, sleeping cooperatively (gevent or threads)."""
    last_run: dict[str, float] = {}
    while True:
        run_due(app, last_run, time.monotonic(), jobs)
        socketio.sleep(1)


@click.command("jobs")
@click.option("--loop", "forever", is_flag=True, help="Keep running the jobs on their schedule.")
@click.option("--only", default="", help="Comma-separated job names (default: all), to run them in separate processes.")
@click.option("--skip", default="", help="Comma-separated job names not to run here.")
@with_appcontext
def jobs_command(forever: bool, only: str, skip: str) -> None:
    """Run the periodic jobs (alert rules, geofences, feeds, digests…) once, or for ever with --loop."""
    app = current_app._get_current_object()
    names = {job.name for job in JOBS}
    wanted = {n.strip() for n in only.split(",") if n.strip()} or names
    unwanted = {n.strip() for n in skip.split(",") if n.strip()}
    unknown = (wanted | unwanted) - names
    if unknown:
        raise click.BadParameter(f"no job {', '.join(sorted(unknown))}; jobs: {', '.join(sorted(names))}")
    selected = [job for job in JOBS if job.name in wanted - unwanted]
    if forever:
        click.echo(f"running jobs: {', '.join(f'{j.name} every {j.every_seconds:g}s' for j in selected)}")
        loop(app, selected)
    for job in selected:
        click.echo(f"{job.name}: {job.run()} events")
