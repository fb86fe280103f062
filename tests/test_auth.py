"""Sign-in and sign-out with sessions, CSRF on forms, and revocable API tokens."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from detail.domain.sessions import session_alive, start_session
from detail.extensions import db
from detail.models import ApiToken, User, UserSession, utcnow
from detail.web.auth import issue_token, revoke_token, user_for_token

from .conftest import PASSWORD, T0, make_app


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


# --- sessions end when they should -------------------------------------------------------------

NEW_PASSWORD = "a new long passphrase"


def _signed_in(app, user, remember=False):
    """A browser of its own, signed in as the user through the sign-in form."""
    browser = app.test_client()
    response = _login(browser, user.email, PASSWORD, **({"remember": "y"} if remember else {}))
    assert response.status_code == 302, response.get_data(as_text=True)
    return browser


def _copy_of(app, browser, names=("session", "remember_token")):
    """Another browser holding copies of the browser's cookies, as someone who took them would."""
    thief = app.test_client()
    for name in names:
        cookie = browser.get_cookie(name)
        if cookie is not None:
            thief.set_cookie(name, cookie.value)
    return thief


def _signed_in_to(browser, page="/admin/details") -> bool:
    response = browser.get(page)
    assert response.status_code in (200, 302), response.status_code
    return response.status_code == 200


def _session_secret(browser) -> str:
    with browser.session_transaction() as session:
        return session["_user_id"].partition(":")[2]


# The agent's detail has him on duty from 07:30; the session cookies are signed at this time too.
ON_DUTY = T0 - timedelta(minutes=40)


def _posts_a_status(browser, client_id: str) -> bool:
    """The phone page's status post, with the browser's cookies as its only credential."""
    response = browser.post("/phone/status", json={"code": "OM", "client_id": client_id})
    assert response.status_code in (200, 201, 302, 401), response.get_data(as_text=True)
    return response.status_code in (200, 201)


def _csrf_token(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def test_a_copied_session_cookie_stops_working_after_sign_out(app, world):
    browser = _signed_in(app, world.coordinator)
    thief = _copy_of(app, browser, names=("session",))
    assert _signed_in_to(thief)
    assert browser.post("/logout").status_code == 302
    assert not _signed_in_to(browser)
    assert not _signed_in_to(thief)


def test_a_copied_remember_cookie_stops_working_after_sign_out(app, world):
    browser = _signed_in(app, world.coordinator, remember=True)
    assert _signed_in_to(_copy_of(app, browser, names=("remember_token",)))  # the remember cookie alone signs in
    copied = _copy_of(app, browser, names=("remember_token",))
    browser.post("/logout")
    assert not _signed_in_to(copied)


def test_the_remember_cookie_is_lax_httponly_and_lasts_30_days(app, world):
    from datetime import datetime, timedelta, timezone

    response = _login(app.test_client(), world.coordinator.email, PASSWORD, remember="y")
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("remember_token="))
    parts = [part.strip().lower() for part in header.split(";")]
    assert "httponly" in parts and "samesite=lax" in parts
    expires = datetime.strptime(re.search(r"Expires=([^;]+)", header).group(1), "%a, %d %b %Y %H:%M:%S GMT")
    lasts = expires.replace(tzinfo=timezone.utc) - datetime.now(timezone.utc)
    assert timedelta(days=29, hours=23) < lasts <= timedelta(days=30)


def test_an_id_without_a_live_session_secret_is_not_a_sign_in(app, client, world):
    # Sessions made before session rows existed (a bare id, or the old "<id>:<version>"), ids made
    # up, and another account's secret under this account's id: none signs anyone in.
    version = world.coordinator.session_version
    other = _signed_in(app, world.agent_user)
    agents_secret = _session_secret(other)
    for user_id in (
        str(world.coordinator.id),
        f"{world.coordinator.id}:",
        f"{world.coordinator.id}:{version}",
        f"{world.coordinator.id}:nope",
        f"{world.coordinator.id}:{agents_secret}",
        "x:y",
        "",
    ):
        with client.session_transaction() as session:
            session["_user_id"] = user_id
        assert not _signed_in_to(client), user_id


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(app, world):
    browser = _signed_in(app, world.coordinator, remember=True)
    elsewhere = _signed_in(app, world.coordinator)
    stolen = _copy_of(app, browser)
    assert browser.get("/account").status_code == 200
    response = browser.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert _signed_in_to(browser)
    assert not _signed_in_to(elsewhere)
    assert not _signed_in_to(stolen)
    # This browser's remember cookie was issued again, for the new sign-in.
    assert _signed_in_to(_copy_of(app, browser, names=("remember_token",)))
    assert _login(app.test_client(), world.coordinator.email, PASSWORD).status_code == 401
    assert _login(app.test_client(), world.coordinator.email, NEW_PASSWORD).status_code == 302


def test_a_password_change_needs_the_current_password(app, world):
    browser = _signed_in(app, world.coordinator)
    elsewhere = _signed_in(app, world.coordinator)
    response = browser.post(
        "/account/password",
        data={"current_password": "wrong", "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert response.status_code == 400
    assert "current password is not right" in response.get_data(as_text=True)
    assert _signed_in_to(elsewhere)
    mismatch = browser.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": "something else"},
    )
    assert mismatch.status_code == 400
    assert _signed_in_to(elsewhere)


def test_a_password_reset_by_a_coordinator_ends_the_contacts_sessions(app, world):
    contact = _signed_in(app, world.contact)
    assert _signed_in_to(contact, "/portal")
    coordinator = _signed_in(app, world.coordinator)
    response = coordinator.post(
        f"/admin/clients/{world.client.id}/contacts/{world.contact.id}/edit",
        data={
            "name": world.contact.name,
            "email": world.contact.email,
            "title": "",
            "phone": "",
            "active": "y",
            "password": "reset by the coordinator",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert not _signed_in_to(contact, "/portal")


def test_saving_a_contact_without_changes_keeps_their_sessions(app, world):
    contact = _signed_in(app, world.contact)
    coordinator = _signed_in(app, world.coordinator)
    response = coordinator.post(
        f"/admin/clients/{world.client.id}/contacts/{world.contact.id}/edit",
        data={"name": "New Name", "email": world.contact.email, "title": "", "phone": "", "active": "y"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert _signed_in_to(contact, "/portal")


def test_deactivation_ends_sessions_for_good(app, world):
    agent = _signed_in(app, world.agent_user)
    stolen = _copy_of(app, agent)
    assert _signed_in_to(agent, "/phone/")
    coordinator = _signed_in(app, world.coordinator)
    page = f"/admin/agents/{world.agent.id}/edit"
    fields = {"name": world.agent_user.name, "call_sign": world.agent.call_sign, "phone": ""}
    assert coordinator.post(page, data=fields).status_code == 302  # "active" unticked
    assert coordinator.post(page, data={**fields, "active": "y"}).status_code == 302
    # Active again, but what was signed in before the deactivation stays signed out.
    assert not _signed_in_to(agent, "/phone/")
    assert not _signed_in_to(stolen, "/phone/")
    assert _signed_in_to(_signed_in(app, world.agent_user), "/phone/")


def test_a_role_change_ends_the_accounts_sessions(app, world):
    browser = _signed_in(app, world.coordinator)
    world.coordinator.role = "admin"
    db.session.commit()
    assert not _signed_in_to(browser)


def test_an_api_password_change_ends_sessions_but_tokens_keep_working(app, world):
    agent = _signed_in(app, world.agent_user)
    agent_token = issue_token(world.agent_user, "phone")
    staff_token = issue_token(world.coordinator, "script")
    db.session.commit()
    response = app.test_client().patch(
        f"/api/v1/agents/{world.agent.id}",
        json={"password": "set over the api"},
        headers={"Authorization": f"Bearer {staff_token}"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert not _signed_in_to(agent, "/phone/")
    assert user_for_token(agent_token) == world.agent_user


def test_signing_out_leaves_api_tokens_working(app, world):
    token = issue_token(world.coordinator, "script")
    db.session.commit()
    browser = _signed_in(app, world.coordinator)
    browser.post("/logout")
    response = app.test_client().get("/api/v1/details", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_sign_out_everywhere_ends_every_session_with_the_pages_csrf_token(csrf_client):
    client, world = csrf_client
    app = client.application
    token = _csrf_token(client.get("/login").get_data(as_text=True))
    assert _login(client, world.coordinator.email, PASSWORD, csrf_token=token, remember="y").status_code == 302
    other = app.test_client()
    other_token = _csrf_token(other.get("/login").get_data(as_text=True))
    assert _login(other, world.coordinator.email, PASSWORD, csrf_token=other_token).status_code == 302
    stolen = _copy_of(app, client, names=("remember_token",))

    page = client.get("/account").get_data(as_text=True)
    assert 'action="/account/sign-out-everywhere"' in page
    # Without the page's token the form is refused and nothing ends.
    assert client.post("/account/sign-out-everywhere").status_code == 400
    assert _signed_in_to(other)

    response = client.post("/account/sign-out-everywhere", data={"csrf_token": _csrf_token(page)})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    for browser in (client, other, stolen):
        assert not _signed_in_to(browser)


def test_every_role_has_the_account_page(app, world):
    for user, home in ((world.coordinator, "/board/"), (world.agent_user, "/phone/"), (world.contact, "/portal")):
        browser = _signed_in(app, user)
        page = browser.get("/account")
        assert page.status_code == 200
        assert user.email in page.get_data(as_text=True)
        assert 'href="/account"' in browser.get(home).get_data(as_text=True)
    assert app.test_client().get("/account").status_code == 302


def test_a_board_socket_connecting_with_an_ended_session_is_refused(app, world):
    from detail.domain import live

    from .conftest import FreshContextSocket

    browser = _signed_in(app, world.coordinator)
    stolen = _copy_of(app, browser)
    browser.post("/logout")
    socket = FreshContextSocket(app, namespace=live.NAMESPACE, flask_test_client=stolen)
    assert not socket.is_connected(live.NAMESPACE)


def test_signing_out_disconnects_that_browsers_board_and_no_other(app, world):
    from detail.domain import live

    from .conftest import FreshContextSocket

    desk = _signed_in(app, world.coordinator)
    laptop = _signed_in(app, world.coordinator)
    desk_board = FreshContextSocket(app, namespace=live.NAMESPACE, flask_test_client=desk)
    laptop_board = FreshContextSocket(app, namespace=live.NAMESPACE, flask_test_client=laptop)
    assert desk_board.is_connected(live.NAMESPACE) and laptop_board.is_connected(live.NAMESPACE)
    # The sign-out's own commit ends the socket opened with that session, at once (no sweep).
    desk.post("/logout")
    assert not desk_board.is_connected(live.NAMESPACE)
    assert laptop_board.is_connected(live.NAMESPACE)
    # Signing out everywhere ends the rest.
    laptop.post("/account/sign-out-everywhere")
    assert not laptop_board.is_connected(live.NAMESPACE)


# --- one session per signed-in browser ---------------------------------------------------------


def _sessions_of(user) -> list[UserSession]:
    return db.session.scalars(
        sa.select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.id)
    ).all()


@time_machine.travel(ON_DUTY, tick=False)
def test_signing_out_at_the_desk_leaves_the_phone_signed_in(app, world):
    phone = _signed_in(app, world.agent_user)  # no remember cookie: the session cookie carries it
    desk = _signed_in(app, world.agent_user, remember=True)
    copied = _copy_of(app, desk, names=("session",))
    copied_remember = _copy_of(app, desk, names=("remember_token",))
    assert _posts_a_status(phone, "before")
    assert desk.post("/logout").status_code == 302
    # The phone page keeps posting statuses (a duress code among them) with its own session.
    assert _posts_a_status(phone, "after")
    assert _signed_in_to(phone, "/phone/")
    # What was signed out stays signed out, copies of its cookies included.
    assert not _signed_in_to(desk, "/phone/")
    assert not _posts_a_status(copied, "copied")
    assert not _signed_in_to(copied_remember, "/phone/")


@time_machine.travel(ON_DUTY, tick=False)
def test_a_password_change_keeps_this_phone_and_ends_the_desk(app, world):
    phone = _signed_in(app, world.agent_user)
    desk = _signed_in(app, world.agent_user)
    response = phone.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert _posts_a_status(phone, "after the change")
    assert not _posts_a_status(desk, "from the desk")
    assert not _signed_in_to(desk, "/phone/")


def test_the_account_page_lists_the_live_sessions(app, world):
    phone = app.test_client()
    phone.environ_base["HTTP_USER_AGENT"] = "Mozilla/5.0 (Linux; Android 14) Mobile Safari " + "x" * 500
    assert _login(phone, world.agent_user.email, PASSWORD).status_code == 302
    desk = app.test_client()
    desk.environ_base["HTTP_USER_AGENT"] = "Mozilla/5.0 (Windows NT 10.0) Firefox/<b>128</b>"
    assert _login(desk, world.agent_user.email, PASSWORD).status_code == 302
    gone = _signed_in(app, world.agent_user)
    gone.post("/logout")
    _signed_in(app, world.coordinator)  # another account's session is not listed

    page = desk.get("/account").get_data(as_text=True)
    assert page.count('class="session-row') == 2
    assert "Android 14" in page and "x" * 200 not in page  # the device, trimmed
    assert "Firefox/&lt;b&gt;128&lt;/b&gt;" in page  # escaped
    this_row = re.search(r'<tr class="session-row this-device">(.*?)</tr>', page, re.S).group(1)
    assert "Firefox" in this_row and "This device" in this_row
    assert [row.device[:11] for row in _sessions_of(world.agent_user) if row.ended_at is None] == ["Mozilla/5.0"] * 2


def test_one_session_is_signed_out_from_the_account_page(csrf_client):
    client, world = csrf_client
    app = client.application
    token = _csrf_token(client.get("/login").get_data(as_text=True))
    assert _login(client, world.agent_user.email, PASSWORD, csrf_token=token).status_code == 302
    phone = app.test_client()
    phone_token = _csrf_token(phone.get("/login").get_data(as_text=True))
    assert _login(phone, world.agent_user.email, PASSWORD, csrf_token=phone_token, remember="y").status_code == 302
    stolen = _copy_of(app, phone)
    phone_row, this_row = _sessions_of(world.agent_user)[-1], _sessions_of(world.agent_user)[0]

    page = client.get("/account").get_data(as_text=True)
    action = "/account/sessions/sign-out"
    assert f'action="{action}"' in page and f'name="session_id" value="{phone_row.id}"' in page
    assert client.post(action, data={"session_id": phone_row.id}).status_code == 400  # no CSRF token: refused
    assert _signed_in_to(phone, "/phone/")

    response = client.post(action, data={"session_id": phone_row.id, "csrf_token": _csrf_token(page)})
    assert response.status_code == 302 and response.headers["Location"] == "/account"
    assert not _signed_in_to(phone, "/phone/")
    assert not _signed_in_to(stolen, "/phone/")
    assert _signed_in_to(client, "/phone/")

    # Another account's session is not this account's to end; its own row signs this browser out.
    coordinator = app.test_client()
    coordinator_token = _csrf_token(coordinator.get("/login").get_data(as_text=True))
    _login(coordinator, world.coordinator.email, PASSWORD, csrf_token=coordinator_token)
    theirs = _sessions_of(world.coordinator)[0]
    page = client.get("/account").get_data(as_text=True)
    token = _csrf_token(page)
    assert client.post(action, data={"session_id": theirs.id, "csrf_token": token}).status_code == 404
    assert client.post(action, data={"session_id": "x", "csrf_token": token}).status_code == 400
    assert _signed_in_to(coordinator)
    response = client.post(action, data={"session_id": this_row.id, "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert not _signed_in_to(client, "/phone/")


def test_a_session_unused_for_30_days_is_refused(app, world):
    start = utcnow()
    with time_machine.travel(start, tick=False):
        idle = _signed_in(app, world.coordinator, remember=True)
        used = _signed_in(app, world.coordinator, remember=True)
    idle_remember = _copy_of(app, idle, names=("remember_token",))
    used_remember = _copy_of(app, used, names=("remember_token",))
    with time_machine.travel(start + timedelta(days=20), tick=False):
        assert _signed_in_to(used_remember)
    with time_machine.travel(start + timedelta(days=30, hours=1), tick=False):
        assert not _signed_in_to(idle_remember)
        assert not _signed_in_to(idle)  # the session cookie too, though Flask would still take it
        assert _signed_in_to(used_remember)
    with time_machine.travel(start + timedelta(days=49), tick=False):
        assert _signed_in_to(used_remember)


def test_last_seen_is_stamped_at_most_every_five_minutes(app, world):
    start = utcnow()
    with time_machine.travel(start, tick=False):
        browser = _signed_in(app, world.coordinator)
    (row,) = _sessions_of(world.coordinator)
    assert row.created_at == row.last_seen_at == start
    with time_machine.travel(start + timedelta(minutes=4), tick=False):
        assert _signed_in_to(browser)
    db.session.expire_all()
    assert row.last_seen_at == start
    with time_machine.travel(start + timedelta(minutes=6), tick=False):
        assert _signed_in_to(browser)
    db.session.expire_all()
    assert row.last_seen_at == start + timedelta(minutes=6)


def test_session_alive_for_the_socket_guard(app, world):
    browser = _signed_in(app, world.coordinator)
    other = _signed_in(app, world.coordinator)
    first, second = _sessions_of(world.coordinator)
    assert session_alive(world.coordinator.id, first.id) and session_alive(world.coordinator.id, second.id)
    assert not session_alive(world.agent_user.id, first.id)  # not that account's session
    assert not session_alive(world.coordinator.id, 10_000)
    browser.post("/logout")
    assert not session_alive(world.coordinator.id, first.id)
    assert session_alive(world.coordinator.id, second.id)
    world.coordinator.active = False
    db.session.commit()
    assert not session_alive(world.coordinator.id, second.id)
    assert not _signed_in_to(other)


def test_the_hourly_job_prunes_ended_and_expired_sessions(app, world):
    from detail import jobs

    start = utcnow()
    with time_machine.travel(start - timedelta(days=31), tick=False):
        _signed_in(app, world.contact)  # expired by now
    _signed_in(app, world.coordinator).post("/logout")  # ended
    _signed_in(app, world.agent_user)
    replaced = _signed_in(app, world.admin)
    world.admin.role = "coordinator"  # every session of the account ends
    db.session.commit()
    kept = _signed_in(app, world.coordinator)
    assert "session-retention" in {job.name for job in jobs.JOBS}
    assert jobs.prune_sessions() == 3
    remaining = db.session.scalars(sa.select(UserSession.user_id)).all()
    assert sorted(remaining) == sorted([world.agent_user.id, world.coordinator.id])
    assert _signed_in_to(kept) and not _signed_in_to(replaced)


def test_a_sign_in_racing_a_role_change_ends_with_it(app, world):
    # The sign-in read the account before the change was committed, and stores its session after.
    account = db.session.get(User, world.coordinator.id)
    with app.app_context():
        db.session.get(User, world.coordinator.id).role = "admin"
        db.session.commit()
    start_session(account, "racing")
    user_id = account.get_id()
    db.session.commit()
    browser = app.test_client()
    with browser.session_transaction() as session:
        session["_user_id"] = user_id
    assert not _signed_in_to(browser)
