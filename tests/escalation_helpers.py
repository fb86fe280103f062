"""What the escalation tests share: push recorded (push.send_to_user and push.queue_push are built on
another branch), a clock, people on call and reachable, a duress raised, the job run."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from detail import jobs
from detail.domain import push
from detail.domain.statuses import duress_code, record_status
from detail.extensions import db
from detail.models import Alert, ContactChannel, NotificationAttempt, OnCallShift, PushSubscription, User

from .conftest import T0

PRIMARY_NUMBER = "+447700900001"
BACKUP_NUMBER = "+447700900002"


class PushRecorder:
    """Stands in for push.send_to_user and push.queue_push (built on another branch)."""

    def __init__(self):
        self.sent: list[tuple[int, push.PushMessage]] = []
        self.queued: list[tuple[int, push.PushMessage]] = []
        self.failing = False

    def send_to_user(self, user_id, message):
        if self.failing:
            raise ConnectionError("push service unreachable")
        self.sent.append((user_id, message))
        return [push.PushOutcome(subscription_id=1, ok=True, status=201)]

    def queue_push(self, user_id, message):
        self.queued.append((user_id, message))


@pytest.fixture(name="pushes")
def pushes_fixture(monkeypatch):
    recorder = PushRecorder()
    monkeypatch.setattr(push, "send_to_user", recorder.send_to_user)
    monkeypatch.setattr(push, "queue_push", recorder.queue_push, raising=False)
    return recorder


@pytest.fixture(name="clock")
def clock_fixture(time_machine):
    def at(moment):
        time_machine.move_to(moment, tick=False)

    return at


def reachable(user: User, number: str | None = None, email: str | None = None) -> None:
    """Give the person a push subscription and verified channels."""
    db.session.add(PushSubscription(user_id=user.id, endpoint=f"https://push.example/{user.id}", p256dh="k", auth="a"))
    if number:
        db.session.add(ContactChannel(user_id=user.id, kind="sms", address=number, verified_at=T0 - timedelta(days=1)))
    if email:
        db.session.add(ContactChannel(user_id=user.id, kind="email", address=email, verified_at=T0 - timedelta(days=1)))


def on_call(world, primary: User | None, backup: User | None, around=T0) -> None:
    for role, user in (("primary", primary), ("backup", backup)):
        if user is not None:
            db.session.add(
                OnCallShift(
                    organisation_id=world.org.id,
                    user_id=user.id,
                    role=role,
                    starts_at=around - timedelta(hours=12),
                    ends_at=around + timedelta(hours=12),
                )
            )


def make_rota(world, starts=T0) -> None:
    """The coordinator on call as primary, the admin as backup; both reachable by push and text."""
    on_call(world, world.coordinator, world.admin, starts)
    reachable(world.coordinator, PRIMARY_NUMBER, "duty@aegis.example")
    reachable(world.admin, BACKUP_NUMBER)
    db.session.commit()


@pytest.fixture(name="rota")
def rota_fixture(world):
    make_rota(world)
    return world


def raise_duress(world, source="phone", at=T0) -> Alert:
    recorded = record_status(
        world.agent, duress_code(world.org.id), client_id=f"duress-{source}", source=source, now=at
    )
    db.session.commit()
    return db.session.scalar(sa.select(Alert).where(Alert.status_report_id == recorded.report.id))


def run_job() -> int:
    return jobs.run_escalations()


def attempts() -> list[tuple[int, str, str, str]]:
    """(step, person, channel, status) of every attempt, in order."""
    db.session.expire_all()
    rows = db.session.scalars(sa.select(NotificationAttempt).order_by(NotificationAttempt.id))
    return [(a.step, a.user.email, a.channel, a.status) for a in rows]
