"""What the escalation tests share: the people's phones at a real push service on loopback, a clock,
people on call and reachable, a duress raised, the job run."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import current_app

from detail import jobs
from detail.domain.statuses import duress_code, record_status
from detail.extensions import db
from detail.models import (
    Alert,
    ContactChannel,
    NotificationAttempt,
    OnCallShift,
    PushSubscription,
    QueuedPush,
    User,
)

from .conftest import T0
from .push_service import PushService, b64url

PRIMARY_NUMBER = "+447700900001"
BACKUP_NUMBER = "+447700900002"


class Phones:
    """Each person's phone subscribed at a real push service on loopback (tests/push_service.py), which
    decrypts what it is sent: what each phone was shown, and what waits in the push job's queue."""

    # The phones of the test running now: reachable() subscribes people here.
    current: "Phones | None" = None

    def __init__(self, service: PushService):
        self.service = service
        self.owners: dict[str, int] = {}  # the subscription's token -> its person
        self._failing = False

    def subscribe(self, user: User) -> None:
        browser = self.service.subscribe()
        self.owners[browser.token] = user.id
        if self._failing:
            self.service.answer_with(browser, 503)
        db.session.add(
            PushSubscription(
                user_id=user.id, endpoint=browser.endpoint, p256dh=browser.p256dh, auth=b64url(browser.auth)
            )
        )

    @property
    def sent(self) -> list[tuple[int, dict]]:
        """(person, the decrypted message) of each push a phone was shown, in order."""
        return [
            (self.owners[r.token], r.message)
            for r in self.service.received
            if r.message is not None and r.answered == 201
        ]

    @property
    def queued(self) -> list[tuple[int, QueuedPush]]:
        """(person, row) of each push queued for the push job (those told who took an alarm)."""
        return [(row.user_id, row) for row in db.session.scalars(sa.select(QueuedPush).order_by(QueuedPush.id))]

    @property
    def failing(self) -> bool:
        return self._failing

    @failing.setter
    def failing(self, failing: bool) -> None:
        """The push service answers 503 to every phone (a service in trouble), or 201 again."""
        self._failing = failing
        for token in self.owners:
            self.service.answer_with(self.service.subscriptions[token], 503 if failing else 201)


@pytest.fixture(name="pushes")
def pushes_fixture():
    """Asked for after the test's world (on SQLite or PostgreSQL): it configures that world's app."""
    service = PushService().start()
    # The tests' push service is on loopback: allowed explicitly, as an admin would an intranet host.
    current_app.config["PUSH_ALLOWED_HOSTS"] = "127.0.0.1"
    Phones.current = Phones(service)
    yield Phones.current
    Phones.current = None
    service.stop()


@pytest.fixture(name="clock")
def clock_fixture(time_machine):
    def at(moment):
        time_machine.move_to(moment, tick=False)

    return at


def reachable(user: User, number: str | None = None, email: str | None = None) -> None:
    """Give the person a phone subscribed to push (the pushes fixture's service) and verified channels."""
    assert Phones.current is not None, "reachable() needs the pushes fixture"
    Phones.current.subscribe(user)
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
def rota_fixture(world, pushes):
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
