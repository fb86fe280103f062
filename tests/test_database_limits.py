"""PostgreSQL's time limits for callers' work (detail/database_limits.py), in the threads the tests
serve with (production's gevent is in test_faults.py): a frozen server gets callers an answer within
seconds, a slow statement is stopped by the server, and work outside callers (jobs, migrations) is
not limited. The embedded default, SQLite, is left as it was."""

import threading
import time

import pytest
import sqlalchemy as sa

from detail.config import ConfigError, from_environment
from detail.domain.live import NAMESPACE
from detail.extensions import db
from detail.web.auth import issue_token

from .conftest import FreshContextSocket, build_world, make_app
from .test_faults import TcpProxy


def _answered(app, call, bound: float):
    """(seconds, what the call returned), the call made in a thread of its own: a call still waiting
    after twice its bound fails the test instead of hanging it."""
    outcome = {}

    def run():
        started = time.monotonic()
        with app.app_context():
            outcome["value"] = call()
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(2 * bound)
    assert "seconds" in outcome, f"no answer after {2 * bound:g} s"
    assert outcome["seconds"] < bound, f"answered after {outcome['seconds']:.2f} s"
    return outcome["value"]


@pytest.fixture
def proxied(postgres_url):
    """(the proxy, a URL of the test's schema through it): the machine's PostgreSQL is never stopped."""
    url = sa.make_url(postgres_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    yield proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    proxy.thaw()
    proxy.cut()


@pytest.fixture
def pg_app(tmp_path, postgres_url):
    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=postgres_url)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.mark.postgres
def test_a_frozen_server_gets_healthz_and_socket_calls_an_answer_within_seconds(tmp_path, proxied):
    proxy, url = proxied
    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        db.create_all()
        world = build_world()
        token = issue_token(world.coordinator, "board")
        db.session.commit()
        client = app.test_client()
        sock = FreshContextSocket(app, namespace=NAMESPACE, auth={"token": token})
        assert sock.emit("join", {}, namespace=NAMESPACE, callback=True)["ok"]
        assert client.get("/healthz").status_code == 200

        proxy.freeze()
        assert _answered(app, lambda: client.get("/healthz").status_code, 3) == 503
        ack = _answered(app, lambda: sock.emit("catch_up", {"after": 0}, namespace=NAMESPACE, callback=True), 5)
        assert ack == {"ok": False, "error": "the database is briefly unavailable; try again shortly"}
        refused = _answered(app, lambda: FreshContextSocket(app, namespace=NAMESPACE, auth={"token": token}), 5)
        assert not refused.is_connected(NAMESPACE)

        proxy.thaw()
        assert client.get("/healthz").status_code == 200
        assert sock.emit("catch_up", {"after": 0}, namespace=NAMESPACE, callback=True)["ok"]
        db.session.remove()
        db.engine.dispose()


@pytest.mark.postgres
def test_a_slow_statement_in_a_request_is_stopped_by_the_server(pg_app):
    @pg_app.get("/slow")
    def slow():
        db.session.execute(sa.text("SELECT pg_sleep(10)"))
        return {"slept": True}

    response = _answered(pg_app, lambda: pg_app.test_client().get("/slow", headers={"Accept": "application/json"}), 5)
    assert response.status_code == 503 and response.headers["Retry-After"]
    # The server cancelled it (statement_timeout): no backend sleeps on after the caller gave up.
    still_running = db.session.scalar(
        sa.text("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(10)' AND state = 'active'")
    )
    assert still_running == 0


@pytest.mark.postgres
def test_work_outside_callers_is_not_limited(pg_app):
    # Jobs and migrations may run statements longer than any limit a caller gets.
    limits = pg_app.config["DATABASE_ANSWER_TIMEOUT"], pg_app.config["DATABASE_STATEMENT_TIMEOUT"]
    assert max(limits) < 2.5
    db.session.execute(sa.text("SELECT pg_sleep(2.5)"))
    db.session.rollback()


def test_sqlite_engine_options_are_left_as_they_were(tmp_path):
    app = make_app(tmp_path)
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"] == {"pool_pre_ping": True}
    pg = make_app(tmp_path, SQLALCHEMY_DATABASE_URI="postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert pg.config["SQLALCHEMY_ENGINE_OPTIONS"] == {"pool_pre_ping": True, "pool_timeout": 1}


@pytest.mark.parametrize(
    "env, message",
    [
        ({"DATABASE_ANSWER_TIMEOUT": "soon"}, "DATABASE_ANSWER_TIMEOUT must be a number of seconds"),
        ({"DATABASE_POOL_TIMEOUT": "0"}, "DATABASE_POOL_TIMEOUT must be more than 0"),
        ({"DATABASE_STATEMENT_TIMEOUT": "3"}, "DATABASE_ANSWER_TIMEOUT must be longer than DATABASE_STATEMENT"),
    ],
)
def test_bad_database_limits_are_named(tmp_path, env, message):
    with pytest.raises(ConfigError, match=message):
        from_environment(str(tmp_path), env={"SECRET_KEY": "x", **env})
