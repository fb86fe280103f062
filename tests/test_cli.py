"""The flask commands: create-user, issue-token, demo."""

from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import sqlalchemy as sa

from detail.domain import requests as inbox
from detail.domain.statuses import record_status
from detail.extensions import db
from detail.models import (
    Agent,
    Assignment,
    Client,
    ClientRequest,
    Detail,
    Event,
    Organisation,
    Site,
    StatusCode,
    StatusReport,
    Survey,
    User,
)
from detail.web.auth import user_for_token


def test_create_user_of_each_role(runner, app):
    result = runner.invoke(
        args=[
            "create-user",
            "--role",
            "coordinator",
            "--email",
            "c@x.example",
            "--name",
            "Cee",
            "--password",
            "long enough pw",
        ]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        args=[
            "create-user",
            "--role",
            "agent",
            "--email",
            "a@x.example",
            "--name",
            "Ay",
            "--password",
            "long enough pw",
            "--call-sign",
            "Echo 4",
        ]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        args=[
            "create-user",
            "--role",
            "client",
            "--email",
            "k@x.example",
            "--name",
            "Kay",
            "--password",
            "long enough pw",
            "--client",
            "Acme",
        ]
    )
    assert result.exit_code == 0, result.output
    org = db.session.scalars(sa.select(Organisation)).one()
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(StatusCode).where(StatusCode.organisation_id == org.id)
        )
        == 6
    )
    agent = db.session.scalars(sa.select(Agent)).one()
    assert agent.call_sign == "Echo 4" and agent.user.email == "a@x.example"
    contact = db.session.scalar(sa.select(User).where(User.email == "k@x.example"))
    assert contact.client.name == "Acme"
    assert contact.check_password("long enough pw")


def test_create_user_refuses_bad_input(runner, app, world):
    base = ["create-user", "--email", "n@x.example", "--name", "N", "--password", "long enough pw"]
    assert "needs --client" in runner.invoke(args=[*base, "--role", "client", "--organisation", world.org.name]).output
    assert (
        "already has an account"
        in runner.invoke(
            args=[
                "create-user",
                "--role",
                "admin",
                "--email",
                world.coordinator.email,
                "--name",
                "x",
                "--password",
                "long enough pw",
            ]
        ).output
    )
    assert "several organisations" in runner.invoke(args=[*base, "--role", "admin"]).output
    short = runner.invoke(
        args=["create-user", "--role", "admin", "--email", "s@x.example", "--name", "s", "--password", "short"]
    )
    assert short.exit_code != 0 and "10 characters" in short.output


def test_issue_token_prints_it_on_the_last_line(runner, app, world):
    result = runner.invoke(args=["issue-token", world.agent_user.email, "--name", "Pixel 8"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert user_for_token(token) == world.agent_user
    assert runner.invoke(args=["issue-token", "nobody@x.example"]).exit_code != 0


def _counts():
    return tuple(
        db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (Organisation, User, Client, Site, Detail, Assignment, StatusCode)
    )


def test_demo_is_idempotent(runner, app):
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert "ops@aegis.example" in first.output
    counts = _counts()
    # Today's detail, and an earlier one with its after-action lessons.
    assert counts == (1, 8, 1, 3, 2, 5, 6)
    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0
    assert _counts() == counts
    # Its sample feeds come from this app: the host of PUBLIC_URL is allowed once, by name.
    allowed = db.session.scalars(sa.select(Organisation.feed_private_hosts)).one()
    assert allowed == urlsplit(app.config["PUBLIC_URL"]).hostname
    detail = db.session.scalars(sa.select(Detail).where(Detail.state != "complete")).one()
    assert detail.lead.call_sign == "Lima 1"
    assert {a.role for a in detail.assignments} == {"detail_lead", "agent", "advance", "driver"}
    assert len(detail.movements) == 2 and len(detail.sites) == 3


def test_demo_sign_ins_work(runner, app, client):
    runner.invoke(args=["demo"])
    response = client.post("/login", data={"email": "ops@aegis.example", "password": "demo-ops-pass"})
    assert response.status_code == 302


def test_demo_refused_in_production(runner, app):
    app.config["OSCARMIKE_ENV"] = "production"
    result = runner.invoke(args=["demo"])
    assert result.exit_code != 0 and "not loaded in production" in result.output


# ---------------------------------------------------------------- the demo's times

EARLY = datetime(2026, 11, 24, 4, 32, tzinfo=timezone.utc)  # 04:32 in London: the tester's early start


def _summit() -> Detail:
    return db.session.scalar(sa.select(Detail).where(Detail.name == "Northwind investor summit"))


def _nothing_recorded_after(now):
    """Whatever the demo says has happened has happened by now."""
    recorded = [
        *db.session.scalars(sa.select(ClientRequest.received_at)),
        *db.session.scalars(sa.select(StatusReport.reported_at)),
        *db.session.scalars(sa.select(StatusReport.received_at)),
        *db.session.scalars(sa.select(Survey.submitted_at)),
        *db.session.scalars(sa.select(Event.created_at)),
    ]
    assert recorded and max(recorded) <= now


def _sign_in_demo(client, email, password):
    assert client.post("/login", data={"email": email, "password": password}).status_code == 302


def test_the_demo_loaded_early_in_the_morning_has_nothing_in_the_future(runner, app, client, time_machine):
    """Loaded at 04:32 the demo's request was dated 07:05 the same day: "Waiting -149 min" in the inbox
    and an Acknowledge that failed. Every time is now placed around the moment of loading."""
    time_machine.move_to(EARLY, tick=False)
    assert runner.invoke(args=["demo"]).exit_code == 0
    _nothing_recorded_after(EARLY)
    summit = _summit()
    loaded = EARLY.replace(minute=30)  # the story's 07:10, to the 5 minutes below the load
    assert (summit.starts_at, summit.ends_at) == (
        loaded - timedelta(minutes=70),
        loaded + timedelta(hours=14, minutes=50),
    )
    request = db.session.scalar(sa.select(ClientRequest))
    assert request.received_at == loaded - timedelta(minutes=5) and request.acknowledged_at is None

    _sign_in_demo(client, "ops@aegis.example", "demo-ops-pass")
    waiting = client.get("/admin/requests").get_data(as_text=True)
    assert "<td>7 min</td>" in waiting and "<td>-" not in waiting
    assert client.post(f"/admin/requests/{request.id}/acknowledge", data={"ack-note": "On it"}).status_code == 302
    db.session.expire_all()
    assert request.acknowledged_at == EARLY

    # The portal reads the story's statuses per venue, in London time.
    contact = app.test_client()
    _sign_in_demo(contact, "security@northwind.example", "demo-client-pass")
    page = contact.get(f"/portal/details/{summit.id}").get_data(as_text=True)
    assert "1 of 1 on station at ExCeL London since 03:44 GMT, 2 hours 56 minutes before arrival" in page
    assert "0 of 3 on station at London City Airport; 1 on the move, ETA 04:45 GMT; 2 due at 05:05 GMT" in page


def test_loading_the_demo_again_moves_its_day_to_now(runner, app, time_machine):
    """`flask demo` again (as `make run` does on each start) a day later: nothing is duplicated, the
    details keep their ids, the plan moves by the time that passed, and what was recorded on the
    old day is gone: the request is waiting again, the statuses are the story's, at the new times."""
    time_machine.move_to(EARLY, tick=False)
    assert runner.invoke(args=["demo"]).exit_code == 0
    summit = _summit()
    first = (summit.id, summit.starts_at, [a.report_at for a in summit.assignments], _counts())
    lead = db.session.scalar(sa.select(Agent).where(Agent.call_sign == "Lima 1"))
    on_station = db.session.scalar(sa.select(StatusCode).where(StatusCode.code == "OS"))
    record_status(lead, on_station, client_id="yesterday", detail_id=summit.id, now=EARLY + timedelta(minutes=40))
    inbox.acknowledge(db.session.scalar(sa.select(ClientRequest)), lead.user, now=EARLY + timedelta(minutes=41))
    db.session.commit()

    later = EARLY + timedelta(days=1, hours=3)  # 07:32 the next day
    time_machine.move_to(later, tick=False)
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    summit = _summit()
    moved = timedelta(days=1, hours=3)
    assert (summit.id, summit.starts_at, [a.report_at for a in summit.assignments], _counts()) == (
        first[0],
        first[1] + moved,
        [t + moved for t in first[2]],
        first[3],
    )
    request = db.session.scalars(sa.select(ClientRequest)).one()
    assert (request.received_at, request.acknowledged_at) == (later.replace(minute=25), None)
    reports = db.session.scalars(sa.select(StatusReport).order_by(StatusReport.reported_at)).all()
    assert [(r.agent.call_sign, r.status_code.code) for r in reports] == [
        ("Alpha 1", "OM"),
        ("Alpha 1", "OS"),
        ("Delta 1", "OM"),
    ]
    _nothing_recorded_after(later)
    assert runner.invoke(args=["demo"]).exit_code == 0  # and again at once: the same, not a clash
    assert _counts() == first[3]
