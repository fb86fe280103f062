"""Sign-in and sign-out with sessions, CSRF on forms, and revocable API tokens."""

import re

import pytest

from detail.auth import issue_token, revoke_token, user_for_token
from detail.extensions import db
from detail.models import ApiToken

from .conftest import PASSWORD, make_app


def _login(client, email, password, **extra):
    return client.post("/login", data={"email": email, "password": password, **extra})


def test_sign_in_lands_on_the_role_home(client, world):
    cases = {world.coordinator: "/board/", world.agent_user: "/phone/", world.contact: "/portal"}
    for user, home in cases.items():
        response = _login(client, user.email, PASSWORD)
        assert response.status_code == 302
        assert response.headers["Location"] == home
        client.post("/logout")


def test_email_is_case_insensitive(client, world):
    assert _login(client, world.coordinator.email.upper(), PASSWORD).status_code == 302


def test_wrong_password_is_refused(client, world):
    response = _login(client, world.coordinator.email, "not the password")
    assert response.status_code == 401
    assert b"Wrong email or password" in response.data
    assert client.get("/admin/details").status_code == 302


def test_inactive_user_cannot_sign_in(client, world):
    world.coordinator.active = False
    db.session.commit()
    assert _login(client, world.coordinator.email, PASSWORD).status_code == 401


def test_sign_out_ends_the_session(client, world):
    _login(client, world.coordinator.email, PASSWORD)
    assert client.get("/admin/details").status_code == 200
    response = client.post("/logout")
    assert response.status_code == 302
    assert client.get("/admin/details").status_code == 302


def test_next_parameter_is_followed_only_on_this_site(client, world):
    response = client.post("/login?next=/admin/sites", data={"email": world.coordinator.email, "password": PASSWORD})
    assert response.headers["Location"] == "/admin/sites"
    client.post("/logout")
    response = client.post(
        "/login?next=https://evil.example/", data={"email": world.coordinator.email, "password": PASSWORD}
    )
    assert response.headers["Location"] == "/board/"


@pytest.fixture
def csrf_client(tmp_path):
    from .conftest import build_world

    app = make_app(tmp_path, WTF_CSRF_ENABLED=True)
    with app.app_context():
        db.create_all()
        world = build_world()
        yield app.test_client(), world
        db.session.remove()
        db.engine.dispose()


def test_forms_without_csrf_token_are_refused(csrf_client):
    client, world = csrf_client
    response = _login(client, world.coordinator.email, PASSWORD)
    assert response.status_code == 400
    assert b"CSRF" in response.data


def test_forms_with_csrf_token_are_accepted(csrf_client):
    client, world = csrf_client
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = _login(client, world.coordinator.email, PASSWORD, csrf_token=token)
    assert response.status_code == 302
    # Signing out is a form too: without the token it is refused and the session stays.
    assert client.post("/logout").status_code == 400
    assert client.get("/admin/details").status_code == 200


def test_token_is_stored_only_as_a_hash(app, world):
    token = issue_token(world.coordinator, "laptop")
    db.session.commit()
    stored = db.session.scalars(db.select(ApiToken)).one()
    assert token.startswith("om_") and len(token) > 40
    assert token not in stored.token_hash
    assert user_for_token(token) == world.coordinator
    assert stored.last_used_at is not None


def test_revoked_token_is_refused_at_once(app, world):
    token = issue_token(world.agent_user, "phone")
    db.session.commit()
    assert user_for_token(token) == world.agent_user
    revoke_token(db.session.scalars(db.select(ApiToken)).one())
    db.session.commit()
    assert user_for_token(token) is None


def test_token_of_inactive_user_is_refused(app, world):
    token = issue_token(world.agent_user)
    world.agent_user.active = False
    db.session.commit()
    assert user_for_token(token) is None
    assert user_for_token("om_made_up") is None


def test_token_use_is_stamped_at_most_once_a_minute(app, world):
    from datetime import timedelta

    import time_machine

    from detail.models import utcnow

    token = issue_token(world.agent_user, "phone")
    db.session.commit()
    start = utcnow()
    with time_machine.travel(start, tick=False):
        user_for_token(token)
    stored = db.session.scalars(db.select(ApiToken)).one()
    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        user_for_token(token)
    assert stored.last_used_at == start
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        user_for_token(token)
    assert stored.last_used_at == start + timedelta(seconds=61)
