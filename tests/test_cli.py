"""The flask commands: create-user, issue-token, demo."""

from urllib.parse import urlsplit

import sqlalchemy as sa

from detail.extensions import db
from detail.models import Agent, Assignment, Client, Detail, Organisation, Site, StatusCode, User
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
