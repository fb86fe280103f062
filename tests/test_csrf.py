"""CSRF: every state-changing route a session cookie can reach refuses a request without a valid token.

What it guarantees
------------------
* The routes are read from the app's url_map, as the access matrix reads them: every rule with POST,
  PUT, PATCH or DELETE is either protected or listed in EXEMPT with the reason. A new route is
  protected by default; exempting it means adding it to EXEMPT, where it must be a route the session
  cannot authenticate (test_access_matrix classifies it as bearer-token or public).
* A protected route, called by a signed-in user allowed to use it (its access in the matrix), answers
  400 "CSRF" when the token is missing and when it is another session's token, whether it takes a
  form or JSON (the board's actions and the phone's posts send the token in X-CSRFToken).
* The same call with the session's own token is let through, so the refusals above are the token's
  doing and not a route that refuses everything.
* An exempt route, called with a coordinator's session cookie and no token, is not refused for CSRF,
  and the session grants nothing there (401, 403 or 404): bearer tokens, device ids, webhook
  signatures and signed links are its only credentials, and none of those rides along by itself.

The cases share one world (the access matrix's), restored from a snapshot before each case.
"""

import re
from types import SimpleNamespace

import pytest

from detail.extensions import db

from .conftest import sign_in
from .test_access_matrix import (
    ACCOUNT_ROLE,
    QUERIES,
    RULES,
    classify,
    describe,
    expected,
    id_params,
    matrix_world,
    outcome,
    pretty,
    url_for_rule,
)

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}

BEARER = "the API: a bearer token in the Authorization header, never the session (test_access_matrix)"
OWNTRACKS = "OwnTracks posts with its own token (HTTP Basic or a bearer), never a cookie"
DEVICE_ID = "Traccar Client and GPSLogger send a device id bound by a coordinator, never a cookie"
SMS_WEBHOOK = "the SMS gateway's webhook, authenticated by its signature"
TEXT_STATUS = "the text provider's delivery reports, authenticated by their signature (the account's auth token)"
ONE_CLICK = "RFC 8058 one-click unsubscribe: the mail client posts with no session; the signed link is the key"

EXEMPT: dict[tuple[str, str], str] = {
    ("POST", "/ingest/owntracks"): OWNTRACKS,
    ("POST", "/ingest/osmand"): DEVICE_ID,
    ("POST", "/ingest/gpslogger"): DEVICE_ID,
    ("POST", "/ingest/sms"): SMS_WEBHOOK,
    ("POST", "/ingest/sms/status"): TEXT_STATUS,
    ("POST", "/portal/unsubscribe/<token>"): ONE_CLICK,
    ("POST", "/api/v1/status"): BEARER,
    ("POST", "/api/v1/positions"): BEARER,
    ("POST", "/api/v1/advisories/<int:advisory_id>/dismiss"): BEARER,
    ("POST", "/api/v1/advisories/<int:advisory_id>/publish"): BEARER,
    ("POST", "/api/v1/agents"): BEARER,
    ("PATCH", "/api/v1/agents/<int:agent_id>"): BEARER,
    ("POST", "/api/v1/assignments"): BEARER,
    ("DELETE", "/api/v1/assignments/<int:assignment_id>"): BEARER,
    ("PATCH", "/api/v1/assignments/<int:assignment_id>"): BEARER,
    ("POST", "/api/v1/clients"): BEARER,
    ("PATCH", "/api/v1/clients/<int:client_id>"): BEARER,
    ("POST", "/api/v1/details"): BEARER,
    ("PATCH", "/api/v1/details/<int:detail_id>"): BEARER,
    ("POST", "/api/v1/devices"): BEARER,
    ("DELETE", "/api/v1/devices/<int:device_id>"): BEARER,
    ("POST", "/api/v1/feeds"): BEARER,
    ("POST", "/api/v1/movements"): BEARER,
    ("POST", "/api/v1/on-call/shifts"): BEARER,
    ("DELETE", "/api/v1/on-call/shifts/<int:shift_id>"): BEARER,
    ("DELETE", "/api/v1/movements/<int:movement_id>"): BEARER,
    ("PATCH", "/api/v1/movements/<int:movement_id>"): BEARER,
    ("POST", "/api/v1/principals"): BEARER,
    ("PATCH", "/api/v1/principals/<int:principal_id>"): BEARER,
    ("POST", "/api/v1/venues"): BEARER,
    ("PATCH", "/api/v1/venues/<int:venue_id>"): BEARER,
    ("POST", "/api/v1/visits"): BEARER,
    ("DELETE", "/api/v1/visits/<int:visit_id>"): BEARER,
    ("PATCH", "/api/v1/visits/<int:visit_id>"): BEARER,
    ("POST", "/api/v1/messages"): BEARER,
    ("POST", "/api/v1/messages/<int:message_id>/delivered"): BEARER,
    ("POST", "/api/v1/messages/<int:message_id>/read"): BEARER,
    ("POST", "/api/v1/messages/<int:message_id>/acknowledge"): BEARER,
    ("POST", "/api/v1/messages/<int:message_id>/texts"): BEARER,
}

WRITES = [(rule, method) for rule, method in RULES if method in STATE_CHANGING]
PROTECTED = [(rule, method) for rule, method in WRITES if (method, rule) not in EXEMPT]

# Where each caller finds the token its session was given: a page it may open.
TOKEN_PAGES = {
    "coordinator": "/admin/details",
    "agent": "/phone/",
    "client": "/portal/preferences",
    "anonymous": "/login",
}
TOKEN = re.compile(r'name="csrf_token"[^>]*? value="([^"]+)"|<meta name="csrf-token" content="([^"]+)"')


def caller(rule: str, method: str) -> str:
    """A role allowed to use the route, so that only the token stands between it and the route."""
    access = classify(rule, method)
    assert access is not None, f"{method} {rule} is not in the access matrix"
    if access.public:
        return "anonymous"
    return next(role for role in ("coordinator", "agent", "client") if ACCOUNT_ROLE[role] in access.roles)


@pytest.fixture(scope="module")
def world_db(tmp_path_factory):
    yield from matrix_world(
        tmp_path_factory.mktemp("csrf"),
        WTF_CSRF_ENABLED=True,
        SMS_WEBHOOK_SECRET="csrf-sms-secret",
        TWILIO_AUTH_TOKEN="csrf-twilio-token",
    )


@pytest.fixture
def browser(world_db):
    """A client signed in as whoever asks, on the world as _populate left it."""
    world_db.restore()

    def open_as(role: str):
        client = world_db.app.test_client()
        if role != "anonymous":
            sign_in(client, SimpleNamespace(id=world_db.users[role]))
        return client

    with world_db.app.app_context():
        yield open_as
        db.session.remove()


def session_token(client, role: str) -> str:
    page = client.get(TOKEN_PAGES[role])
    assert page.status_code == 200, describe(page)
    found = TOKEN.search(page.get_data(as_text=True))
    assert found, f"no CSRF token on {TOKEN_PAGES[role]}"
    return found.group(1) or found.group(2)


def send(world_db, client, rule: str, method: str, token: str | None):
    """The route called as its own pages and scripts call it: a form, or JSON with the token in a header."""
    access = classify(rule, method)
    url = url_for_rule(rule, world_db.ids["own"]) + QUERIES.get((method, rule), "")
    if access.json:
        headers = {"Accept": "application/json", **({"X-CSRFToken": token} if token else {})}
        return client.open(url, method=method, json={}, headers=headers)
    return client.open(url, method=method, data={"csrf_token": token} if token else {})


def refused_for_csrf(response) -> bool:
    return response.status_code == 400 and "CSRF" in response.get_data(as_text=True)


def test_every_write_is_protected_or_exempt_by_decision():
    assert WRITES, "the app's routes could not be read"
    stale = [f"{method} {rule}" for method, rule in EXEMPT if (rule, method) not in WRITES]
    assert not stale, f"EXEMPT lists routes the app no longer has: {stale}"
    # An exemption is only for routes the session cannot authenticate.
    session_routes = [
        f"{method} {rule}"
        for method, rule in EXEMPT
        if not ((access := classify(rule, method)) and (access.token or access.public))
    ]
    assert not session_routes, f"exempt from CSRF but reached with a session: {session_routes}"


@pytest.mark.parametrize("token", ["missing", "another session's"])
@pytest.mark.parametrize(("rule", "method"), PROTECTED, ids=[f"{m} {pretty(r)}" for r, m in PROTECTED])
def test_a_write_without_its_sessions_token_is_refused(world_db, browser, rule, method, token):
    role = caller(rule, method)
    client = browser(role)
    if token == "missing":
        session_token(client, role)  # the session has a token; the request does not carry it
        sent = None
    else:
        session_token(client, role)
        sent = session_token(browser(role), role)  # valid, but another browser's
    response = send(world_db, client, rule, method, sent)
    assert refused_for_csrf(response), f"{method} {rule} as {role} with the token {token}: {describe(response)}"


@pytest.mark.parametrize(("rule", "method"), PROTECTED, ids=[f"{m} {pretty(r)}" for r, m in PROTECTED])
def test_a_write_with_its_sessions_token_gets_through(world_db, browser, rule, method):
    role = caller(rule, method)
    client = browser(role)
    response = send(world_db, client, rule, method, session_token(client, role))
    assert not refused_for_csrf(response), describe(response)
    want = expected(classify(rule, method), role, bool(id_params(rule)))
    assert outcome(response, method) == want, describe(response)


EXEMPT_CASES = sorted((rule, method) for method, rule in EXEMPT)


@pytest.mark.parametrize(("rule", "method"), EXEMPT_CASES, ids=[f"{m} {pretty(r)}" for r, m in EXEMPT_CASES])
def test_an_exempt_write_takes_no_token_and_no_session(world_db, browser, rule, method):
    client = browser("coordinator")
    url = url_for_rule(rule, world_db.ids["own"]) + QUERIES.get((method, rule), "")
    body = {"json": {}} if classify(rule, method).token else {"data": {}}
    response = client.open(url, method=method, headers={"Accept": "application/json"}, **body)
    assert not refused_for_csrf(response), f"{method} {rule} is listed as exempt: {EXEMPT[method, rule]}"
    assert response.status_code in (401, 403, 404), f"the session opened {method} {rule}: {describe(response)}"
