"""The app builds, the test world builds, and error pages never fail themselves."""

import pytest
import sqlalchemy as sa
from flask import current_app
from flask_login import current_user

from detail.extensions import db
from detail.models import ClientRequest

from .conftest import T0, sign_in


def test_factory_builds_with_testing_config(app):
    assert app.config["TESTING"]
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")


def test_world_builds(world):
    assert world.detail.lead is world.agent
    assert {s.name for s in world.detail.sites} == {"Grand Hotel", "ExCeL London"}


def add_broken_transaction_views(app, world):
    """A page and an API path whose view reads the signed-in user, then makes the database refuse a
    flush (an acknowledgment before receipt, as the demo's early-morning request did) and lets the
    error through: the session is left in a failed transaction, as a real fault would leave it."""

    def breaks_the_transaction():
        assert current_user.name  # loaded before the failure, as any signed-in page's user is
        db.session.add(
            ClientRequest(client_id=world.client.id, subject="x", received_at=T0, acknowledged_at=T0.replace(hour=7))
        )
        db.session.flush()

    app.add_url_rule("/test/broken", "broken_page", breaks_the_transaction)
    app.add_url_rule("/api/test/broken", "broken_api", breaks_the_transaction)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: the app answers, not the test runner


@pytest.fixture
def broken_transaction_views(app, world):
    add_broken_transaction_views(app, world)


def test_an_error_inside_a_broken_transaction_gets_a_proper_500_page(backend):
    """On SQLite and on PostgreSQL (where a failed statement aborts the whole transaction)."""
    world, app = backend, current_app._get_current_object()
    add_broken_transaction_views(app, world)
    client = app.test_client()
    sign_in(client, world.coordinator)
    page = client.get("/test/broken")
    assert page.status_code == 500 and page.content_type.startswith("text/html")
    text = page.get_data(as_text=True)
    assert "<h1>Something failed</h1>" in text and "tell an administrator" in text
    assert 'href="/static/css/app.css' in text
    # The session is usable again afterwards: nothing of the failed request was kept.
    assert client.get("/admin/requests").status_code == 200
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ClientRequest)) == 0


def test_an_error_inside_a_broken_transaction_answers_json_to_the_api(client, world, broken_transaction_views):
    sign_in(client, world.coordinator)
    as_json = {"Accept": "application/json"}
    for response in (client.get("/api/test/broken"), client.get("/test/broken", headers=as_json)):
        assert response.status_code == 500 and response.is_json
        body = response.get_json()
        assert (body["code"], body["status"]) == (500, "Internal Server Error")
        assert "tell an administrator" in body["message"]


def test_a_page_that_cannot_be_drawn_falls_back_to_the_plain_one(client, world, monkeypatch):
    """A 404 whose layout fails (here: reading the signed-in user) is still a 404 page, not a 500."""
    from detail.models import User

    sign_in(client, world.coordinator)

    def unreadable(self):
        raise sa.exc.OperationalError("SELECT", {}, Exception("database gone"))

    monkeypatch.setattr(User, "is_staff", property(unreadable))
    response = client.get("/no/such/page")
    assert response.status_code == 404 and "<h1>404 Not Found</h1>" in response.get_data(as_text=True)
