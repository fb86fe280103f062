"""flask commands: create-user, issue-token, demo (db upgrade comes from Flask-Migrate)."""

import click
import sqlalchemy as sa
from flask import Flask, current_app

from detail.demo import load_demo
from detail.domain.devices import BindingError, bind
from detail.domain.names import invisible_character
from detail.extensions import db
from detail.jobs import jobs_command, prune_positions
from detail.models import ROLES, Agent, Client, Organisation, User, seed_status_codes
from detail.web.auth import issue_token


def register(app: Flask) -> None:
    app.cli.add_command(create_user)
    app.cli.add_command(issue_token_command)
    app.cli.add_command(demo)
    app.cli.add_command(bind_device)
    app.cli.add_command(prune_positions_command)

    app.cli.add_command(jobs_command)


def default_organisation(name: str | None = None) -> Organisation:
    """The named organisation, or the only one; created with default codes when there is none."""
    query = sa.select(Organisation)
    if name:
        query = query.where(Organisation.name == name)
    orgs = db.session.scalars(query).all()
    if len(orgs) == 1:
        return orgs[0]
    if len(orgs) > 1:
        raise click.UsageError("several organisations exist: name one with --organisation")
    org = Organisation(name=name or "Oscar Mike Protection")
    db.session.add(org)
    seed_status_codes(org)
    return org


def plain_name(ctx, param, value):
    """click callback: a name, call sign or client name with nothing hidden in it (detail/domain/names.py)."""
    problem = invisible_character(value) if value else None
    if problem:
        raise click.BadParameter(problem)
    return value


@click.command("create-user")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--email", required=True)
@click.option("--name", required=True, callback=plain_name)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--client", "client_name", callback=plain_name, help="The client company, for a client contact.")
@click.option("--call-sign", callback=plain_name, help="The agent's call sign (agents only; defaults to the name).")
@click.option("--organisation", help="The organisation's name, where there are several.")
def create_user(role, email, name, password, client_name, call_sign, organisation):
    """Create a user with a role; client contacts need --client."""
    if len(password) < 10:
        raise click.BadParameter("use at least 10 characters", param_hint="--password")
    if db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == email.lower())):
        raise click.BadParameter(f"{email} already has an account", param_hint="--email")
    org = default_organisation(organisation)
    client = None
    if role == "client":
        if not client_name:
            raise click.UsageError("a client contact needs --client")
        client = db.session.scalar(sa.select(Client).where(Client.organisation == org, Client.name == client_name))
        if client is None:
            client = Client(organisation=org, name=client_name)
            db.session.add(client)
    elif client_name:
        raise click.UsageError("--client is only for client contacts")
    user = User(organisation=org, email=email.strip(), name=name, role=role, client=client)
    user.set_password(password)
    db.session.add(user)
    if role == "agent":
        db.session.add(Agent(organisation=org, user=user, call_sign=call_sign or name))
    db.session.commit()
    click.echo(f"Created {role} {email} in {org.name}.")


@click.command("issue-token")
@click.argument("email")
@click.option("--name", default="", help="What the token is for, such as the device.")
def issue_token_command(email, name):
    """Issue an API token; it is printed once, on the last line, and stored only as a hash."""
    user = db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == email.lower()))
    if user is None:
        raise click.BadParameter(f"no user with email {email}", param_hint="EMAIL")
    token = issue_token(user, name)
    db.session.commit()
    click.echo(
        f"Token for {user.email} ({user.role}){' on ' + name if name else ''}; keep it secret, it is not shown again:"
    )
    click.echo(token)


@click.command("demo")
def demo():
    """Load the demo organisation; when it is loaded already, move its day to now (detail/demo.py)."""

    if current_app.config["OSCARMIKE_ENV"] == "production":
        raise click.UsageError("the demo has well-known passwords: it is not loaded in production")

    sign_ins = load_demo()
    db.session.commit()
    click.echo("Demo loaded. Sign in at /login with:")
    for role, email, password in sign_ins:
        click.echo(f"  {role:<12} {email:<34} {password}")


@click.command("bind-device")
@click.argument("agent_email")
@click.argument("identifier")
@click.option("--phone", "is_phone", is_flag=True, help="A texting phone number (default: when it has a +).")
@click.option("--label", default="", help="What the device is, such as 'Traccar on the work phone'.")
def bind_device(agent_email, identifier, is_phone, label):
    """Bind a tracking app's device id, or a phone number, to an agent."""

    user = db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == agent_email.lower()))
    if user is None or user.agent is None:
        raise click.BadParameter(f"no agent with email {agent_email}", param_hint="AGENT_EMAIL")
    try:
        device = bind(user.agent, identifier, "phone" if is_phone else None, label)
    except BindingError as exc:
        raise click.BadParameter(str(exc), param_hint="IDENTIFIER") from None
    db.session.commit()
    what = "phone number" if device.kind == "phone" else "device id"
    click.echo(f"Bound {what} {device.identifier} to {user.agent.call_sign} ({user.email}).")


@click.command("prune-positions")
@click.option("--days", type=click.IntRange(min=1), help="Keep this many days (default: POSITION_RETENTION_DAYS).")
def prune_positions_command(days):
    """Delete stored positions older than the retention period (statuses are kept)."""

    if days is not None:
        current_app.config["POSITION_RETENTION_DAYS"] = days
    deleted = prune_positions()
    click.echo(f"Deleted {deleted} positions older than {current_app.config['POSITION_RETENTION_DAYS']} days.")
