"""Fixtures: a fresh database per test, a small world of two organisations, and real services.

Tests that need PostgreSQL or Redis skip with the reason where the service is absent,
except under CI=true, where a missing service fails the run.
"""

import os
import shutil
import socket
import tempfile
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash
from werkzeug.serving import make_server

from detail import create_app
from detail.config import testing
from detail.domain.sessions import start_session
from detail.extensions import db, socketio
from detail.models import (
    Agent,
    Assignment,
    Client,
    Detail,
    Movement,
    Organisation,
    Principal,
    Site,
    User,
    Visit,
    seed_status_codes,
)

from .mailbox import mailbox  # noqa: F401  (the real SMTP server fixture, for every test module)
from .twilio_loopback import twilio  # noqa: F401  (the loopback Twilio Messages API, likewise)

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "correct horse battery staple"
# Hashed once: scrypt is slow on purpose, and the world has seven users per test.
PASSWORD_HASH = generate_password_hash(PASSWORD)


def service_missing(name: str, reason: str):
    """Skip, or fail under CI=true where every service must be there."""
    message = f"{name} is not reachable: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true requires it)")
    pytest.skip(message)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def postgres_url():
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    url = sa.make_url(POSTGRES_URL)
    if not _port_open(url.host or "127.0.0.1", url.port or 5432):
        service_missing("PostgreSQL", f"nothing listens at {url.host}:{url.port}")
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        service_missing("PostgreSQL", str(exc.orig))
    yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def redis_url():
    url = sa.make_url(REDIS_URL.replace("redis://", "redis+x://", 1))
    if not _port_open(url.host or "127.0.0.1", url.port or 6379):
        service_missing("Redis", f"nothing listens at {url.host}:{url.port}")
    return REDIS_URL


class FreshContextClient(FlaskClient):
    """Each request in its own app context and database session, as in production.

    The fixtures keep an app context pushed for the test's own queries; without this, requests
    would share its `g` (and Flask-Login's cached user) and its database session. After each
    request the test's own session forgets what it had loaded, so it reads what was stored.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        # What the request wrote is seen here only once the test's stale copies are expired.
        db.session.expire_all()
        return response


class FreshContextSocket:
    """Flask-SocketIO's test client with each call in its own app context, like FreshContextClient."""

    def __init__(self, app, **kwargs):
        self.app = app
        with app.app_context():
            self.client = socketio.test_client(app, **kwargs)

    def __getattr__(self, name):
        attribute = getattr(self.client, name)
        if name not in ("connect", "disconnect", "emit", "send"):
            return attribute

        def in_fresh_context(*args, **kwargs):
            with self.app.app_context():
                return attribute(*args, **kwargs)

        return in_fresh_context


@sa.event.listens_for(sa.engine.Engine, "connect")
def _sqlite_without_fsync(dbapi_connection, connection_record):
    # Tests throw their databases away: waiting for the disk on every commit buys nothing here.
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        dbapi_connection.execute("PRAGMA synchronous=OFF")


_schema_template: list[str] = []


def _copy_schema(target) -> None:
    """Give a test an SQLite file with the schema already created (copied: create_all is slow on disk)."""
    if not _schema_template:
        folder = tempfile.mkdtemp(prefix="om-schema-")
        template = os.path.join(folder, "template.db")
        app = create_app(testing(folder, SQLALCHEMY_DATABASE_URI=f"sqlite:///{template}"))
        with app.app_context():
            db.create_all()
            db.engine.dispose()
        _schema_template.append(template)
    shutil.copyfile(_schema_template[0], target)


def make_app(tmp_path, **overrides):
    config = testing(str(tmp_path), SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'test.db'}")
    config.update(WTF_CSRF_ENABLED=False)
    config.update(overrides)
    if config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'test.db'}" and not (tmp_path / "test.db").exists():
        _copy_schema(tmp_path / "test.db")
    app = create_app(config)
    app.instance_path = str(tmp_path)
    app.test_client_class = FreshContextClient
    return app


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path)
    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@dataclass
class World:
    """Two organisations; the first has two clients so that client scoping can be seen."""

    org: Organisation
    other_org: Organisation
    client: Client
    other_client: Client
    principal: Principal
    detail: Detail
    other_client_detail: Detail
    other_org_detail: Detail
    hotel: Site
    venue: Site
    admin: User
    coordinator: User
    agent_user: User
    agent: Agent
    idle_agent_user: User
    contact: User
    other_contact: User
    other_org_coordinator: User
    assignment: Assignment

    def user(self, role: str) -> User | None:
        return {
            "admin": self.admin,
            "coordinator": self.coordinator,
            "agent": self.agent_user,
            "client": self.contact,
            "other_client": self.other_contact,
            "other_org": self.other_org_coordinator,
            "anonymous": None,
        }[role]


T0 = datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc)


def _user(org, email, role, client=None, name=None):
    user = User(organisation=org, email=email, name=name or email.split("@")[0].title(), role=role, client=client)
    user.password_hash = PASSWORD_HASH
    db.session.add(user)
    return user


def build_world(start: datetime = T0) -> World:
    """The world with its detail starting at `start` (tomorrow 08:00 UTC unless a test needs now)."""
    org = Organisation(name="Aegis Protective", timezone="Europe/London")
    other_org = Organisation(name="Rival Security", timezone="UTC")
    db.session.add_all([org, other_org])
    seed_status_codes(org)
    seed_status_codes(other_org)
    client = Client(organisation=org, name="Northwind plc")
    other_client = Client(organisation=org, name="Contoso AG")
    rival_client = Client(organisation=other_org, name="Fabrikam Inc")
    principal = Principal(client=client, name="Jane Doe", code_name="KESTREL")
    hotel = Site(organisation=org, name="Grand Hotel", latitude=51.5101, longitude=-0.1340, timezone="Europe/London")
    venue = Site(organisation=org, name="ExCeL London", latitude=51.5081, longitude=0.0295, timezone="Europe/London")
    rival_site = Site(
        organisation=other_org, name="Rival HQ", latitude=40.7, longitude=-74.0, timezone="America/New_York"
    )
    detail = Detail(
        client=client,
        principal=principal,
        name="Northwind CEO London",
        starts_at=start,
        ends_at=start + timedelta(hours=12),
    )
    other_client_detail = Detail(
        client=other_client, name="Contoso board visit", starts_at=start, ends_at=start + timedelta(hours=6)
    )
    other_org_detail = Detail(
        client=rival_client, name="Fabrikam NYC", starts_at=start, ends_at=start + timedelta(hours=6)
    )
    db.session.add_all(
        [
            client,
            other_client,
            rival_client,
            principal,
            hotel,
            venue,
            rival_site,
            detail,
            other_client_detail,
            other_org_detail,
        ]
    )
    detail.visits.append(Visit(site=hotel, arrives_at=start, departs_at=start + timedelta(hours=2)))
    detail.movements.append(
        Movement(
            from_site=hotel, to_site=venue, departs_at=start + timedelta(hours=2), arrives_at=start + timedelta(hours=3)
        )
    )
    other_org_detail.visits.append(Visit(site=rival_site, arrives_at=start, departs_at=start + timedelta(hours=2)))

    admin = _user(org, "admin@aegis.example", "admin")
    coordinator = _user(org, "coord@aegis.example", "coordinator")
    agent_user = _user(org, "agent@aegis.example", "agent", name="Sam Carter")
    idle_agent_user = _user(org, "idle@aegis.example", "agent", name="Idle Agent")
    contact = _user(org, "security@northwind.example", "client", client=client)
    other_contact = _user(org, "security@contoso.example", "client", client=other_client)
    other_org_coordinator = _user(other_org, "coord@rival.example", "coordinator")
    agent = Agent(organisation=org, user=agent_user, call_sign="Bravo 1")
    idle_agent = Agent(organisation=org, user=idle_agent_user, call_sign="Bravo 9")
    db.session.add_all([agent, idle_agent])
    assignment = Assignment(
        detail=detail,
        agent=agent,
        role="detail_lead",
        site=hotel,
        report_at=start - timedelta(minutes=30),
        shift_starts_at=start - timedelta(hours=1),
        shift_ends_at=start + timedelta(hours=12),
    )
    db.session.add(assignment)
    db.session.commit()
    return World(
        org,
        other_org,
        client,
        other_client,
        principal,
        detail,
        other_client_detail,
        other_org_detail,
        hotel,
        venue,
        admin,
        coordinator,
        agent_user,
        agent,
        idle_agent_user,
        contact,
        other_contact,
        other_org_coordinator,
        assignment,
    )


@pytest.fixture
def world(app) -> World:
    return build_world()


def _backend_world(app):
    with app.app_context():
        db.create_all()
        yield build_world()
        db.session.rollback()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, tmp_path) -> World:
    """The test world on each backend: SQLite, and PostgreSQL in a schema of its own."""
    if request.param == "sqlite":
        yield from _backend_world(make_app(tmp_path))
    else:
        yield from _backend_world(make_app(tmp_path, SQLALCHEMY_DATABASE_URI=request.getfixturevalue("postgres_url")))


@pytest.fixture
def pg_world(tmp_path, postgres_url) -> World:
    """The test world on PostgreSQL only."""
    yield from _backend_world(make_app(tmp_path, SQLALCHEMY_DATABASE_URI=postgres_url))


def sign_in(client, user: User | None) -> None:
    """Start a session for the user and put it in the test client's cookie, as a sign-in would."""
    if user is None:
        return
    account = db.session.get(User, user.id)  # callers may pass anything with the account's id
    start_session(account, "test client")
    user_id = account.get_id()
    db.session.commit()
    with client.session_transaction() as session:
        session["_user_id"] = user_id
        session["_fresh"] = True


@pytest.fixture
def as_user(client):
    """as_user(user) signs the test client in and returns it."""

    def _as(user):
        sign_in(client, user)
        return client

    return _as


# The tests' feed servers listen on loopback, which feeds reach only when their organisation allows it.
LOOPBACK_FEEDS = "127.0.0.1"


def allow_loopback_feeds(org: Organisation) -> None:
    """Let org's feeds be fetched from the tests' loopback servers, as an admin allows an intranet feed."""
    org.feed_private_hosts = LOOPBACK_FEEDS


@pytest.fixture
def live_server(app):
    """The app served on a loopback port by a real server (Werkzeug, threads) for real clients.

    Yields its base URL. Requests are handled in the server's threads, each with its own app
    context and database session, as in production.
    """
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
