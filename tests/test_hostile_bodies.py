"""Hostile bodies get a clear 4xx, never a 500: JSON nested beyond reason, bodies too large for their
purpose, methods nobody serves, ids out of range, and names that would look like other names."""

import io

import pytest
import sqlalchemy as sa
from werkzeug.http import HTTP_STATUS_CODES

from detail.extensions import db
from detail.web.auth import issue_token

from .conftest import sign_in

DEEP = "[" * 100_000 + "]" * 100_000
# Parses without exhausting the stack, but is deeper than any body the app takes.
MODERATELY_DEEP = '{"name": "Initech", "notes": ' + "[" * 100 + "]" * 100 + "}"
BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def _stored_rows() -> dict[str, int]:
    """Rows of every table but the sign-in sessions, which the tests' own sign-ins add to."""
    count = sa.select(sa.func.count())
    return {
        table.name: db.session.scalar(count.select_from(table))
        for table in db.metadata.sorted_tables
        if table.name != "user_sessions"
    }


def _url(rule) -> str:
    url = rule.rule
    for name in rule.arguments:
        url = url.replace(f"<int:{name}>", "1").replace(f"<{name}>", "x")
    return url


def _body_endpoints(app) -> list[tuple[str, str]]:
    return sorted(
        (method, _url(rule))
        for rule in app.url_map.iter_rules()
        for method in rule.methods & set(BODY_METHODS)
        if not rule.rule.startswith("/static")
    )


def _assert_json_refusal(response, what: str) -> None:
    assert response.status_code == 400, f"{what}: {response.status_code} {response.get_data(as_text=True)[:200]}"
    assert response.is_json, what
    body = response.json
    assert body["code"] == 400 and "not valid JSON" in body["message"], (what, body)
    assert "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize("who", ["anonymous", "admin"])
def test_deeply_nested_json_is_a_400_on_every_endpoint(app, world, who):
    headers = {}
    if who == "admin":
        headers["Authorization"] = "Bearer " + issue_token(world.admin, "walk")
        db.session.commit()
    endpoints = _body_endpoints(app)
    assert ("POST", "/ingest/owntracks") in endpoints and ("POST", "/api/v1/clients") in endpoints
    before = _stored_rows()
    for method, url in endpoints:
        client = app.test_client()
        sign_in(client, world.admin if who == "admin" else None)
        response = client.open(url, method=method, data=DEEP, content_type="application/json", headers=headers)
        _assert_json_refusal(response, f"{method} {url}")
    assert _stored_rows() == before


@pytest.mark.parametrize(
    "url",
    ["/ingest/owntracks", "/ingest/osmand", "/ingest/gpslogger", "/ingest/sms", "/api/v1/clients", "/api/v1/status"],
)
@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_the_apps_endpoints_refuse_deep_json_whatever_its_content_type(app, client, world, url, content_type):
    app.config["SMS_WEBHOOK_SECRET"] = "gateway-secret"
    before = _stored_rows()
    response = client.post(url, data=DEEP, content_type=content_type)
    assert 400 <= response.status_code < 500
    assert "Traceback" not in response.get_data(as_text=True)
    assert _stored_rows() == before


def test_owntracks_with_a_deep_body_and_good_credentials_is_a_400(client, world):
    from detail.models import Device

    token = issue_token(world.agent_user, "owntracks")
    db.session.commit()
    before = _stored_rows()
    for content_type in ("application/json", "text/plain"):
        response = client.post(
            "/ingest/owntracks", data=DEEP, content_type=content_type, auth=("agent@aegis.example", token)
        )
        assert response.status_code == 400 and response.is_json, response.get_data(as_text=True)[:200]
        assert "JSON" in response.json["message"]
    assert _stored_rows() == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Device)) == before["device"]


def test_json_deeper_than_any_body_the_app_takes_is_refused_before_the_schema(client, world):
    sign_in(client, world.coordinator)
    before = _stored_rows()
    _assert_json_refusal(client.post("/api/v1/clients", data=MODERATELY_DEEP, content_type="application/json"), "api")
    _assert_json_refusal(
        client.post("/board/alerts/1/acknowledge", data=MODERATELY_DEEP, content_type="application/json"), "board"
    )
    assert _stored_rows() == before


def test_a_board_action_with_broken_json_does_not_fall_back_to_an_empty_form(client, world):
    from detail.models import Alert

    alert = Alert(
        organisation_id=world.org.id, detail=world.detail, agent=world.agent, kind="late_om", message="No OM yet"
    )
    db.session.add(alert)
    db.session.commit()
    sign_in(client, world.coordinator)
    response = client.post(
        f"/board/alerts/{alert.id}/acknowledge", data='{"note": "on it"', content_type="application/json"
    )
    _assert_json_refusal(response, "acknowledge")
    db.session.refresh(alert)
    assert alert.acknowledged_at is None


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "PUT", "DELETE", "CONNECT", "BREW"])
@pytest.mark.parametrize("url", ["/login", "/", "/api/v1/clients", "/ingest/owntracks", "/ingest/osmand", "/board/"])
def test_unsupported_methods_answer_405_with_allow(app, client, world, method, url):
    sign_in(client, world.coordinator)
    response = client.open(url, method=method)
    assert response.status_code == 405
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert method not in allowed and allowed & {"GET", "POST"}
    assert allowed == set(app.url_map.bind("localhost").allowed_methods(url))
    if url.startswith(("/api/", "/ingest/")):
        assert response.is_json and response.json["code"] == 405 and response.json["message"]


@pytest.mark.parametrize(
    ("method", "url", "status", "field"),
    [
        ("GET", "/ingest/osmand?id=nobody&lat=51.5&lon=-0.1&timestamp=1700000000", 403, "id"),
        ("GET", "/ingest/gpslogger?lat=51.5&lon=-0.1&time=1700000000", 400, "id"),
        ("POST", "/ingest/owntracks", 401, None),
    ],
)
def test_the_apps_refusals_come_in_the_one_json_error_shape(client, world, method, url, status, field):
    # What the API, the phone page and the board answer: {code, status, message, errors?}.
    sent = {"json": {"_type": "location"}, "auth": ("agent@aegis.example", "om_x")} if method == "POST" else {}
    response = client.open(url, method=method, **sent)
    assert response.status_code == status and response.is_json
    body = response.json
    expected = {"code": status, "status": HTTP_STATUS_CODES[status], "message": body.get("message")}
    if field:
        expected["errors"] = {"json": {field: [body.get("message")]}}
    assert body["message"] and body == expected, body


def _photo(size: int) -> bytes:
    magic = b"\x89PNG\r\n\x1a\n"
    return magic + b"\x00" * (size - len(magic))


def _survey(client, world):
    from detail.models import Survey

    sign_in(client, world.agent_user)
    assert client.post(f"/surveys/details/{world.detail.id}/sites/{world.hotel.id}/start").status_code == 302
    return db.session.scalar(sa.select(Survey).where(Survey.detail_id == world.detail.id))


def test_a_survey_photo_may_be_as_large_as_promised(client, world):
    from detail.models import SurveyPhoto
    from detail.web.surveys import PHOTO_MAX_BYTES

    survey = _survey(client, world)
    photo = _photo(PHOTO_MAX_BYTES)
    r = client.post(f"/surveys/{survey.id}/photos", data={"photo": (io.BytesIO(photo), "door.png"), "caption": "Door"})
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
    assert db.session.scalar(sa.select(SurveyPhoto.data)) == photo
    # One byte more is refused with the page's own message, and nothing is stored.
    r = client.post(f"/surveys/{survey.id}/photos", data={"photo": (io.BytesIO(photo + b"\x00"), "big.png")})
    assert r.status_code == 400 and "at most 8 MB" in r.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SurveyPhoto)) == 1


def test_bodies_other_than_photos_keep_the_one_megabyte_limit(app, client, world):
    limit = app.config["MAX_CONTENT_LENGTH"]
    survey = _survey(client, world)
    before = _stored_rows()
    # The survey form itself, a form elsewhere, the apps, the API.
    for user, url in (
        (world.agent_user, f"/surveys/{survey.id}"),
        (world.coordinator, "/admin/clients/new"),
        (None, "/ingest/gpslogger"),
    ):
        sign_in(client, user)
        r = client.post(url, data={"notes": "x" * (limit + 1)})
        assert r.status_code == 413, url
    sign_in(client, world.agent_user)
    r = client.post("/api/v1/clients", data="x" * (limit + 1), content_type="application/json")
    assert r.status_code == 413
    # Far beyond the photo's limit, a photo upload is refused before it is read.
    huge = _photo(9 * 1024 * 1024)
    r = client.post(f"/surveys/{survey.id}/photos", data={"photo": (io.BytesIO(huge), "huge.png")})
    assert r.status_code == 413
    assert _stored_rows() == before


# Each would make a name look like another, or like nothing: direction overrides and isolates,
# zero-width characters and marks, the word joiner, the byte-order mark, a no-break space.
HIDDEN = ["\u202e", "\u202a", "\u2066", "\u2069", "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u2060", "\ufeff"]
HIDDEN_MORE = ["\u00ad", "\u061c", "\u3164", "\u00a0", "\u2028", "\U000e0041"]


@pytest.mark.parametrize("hidden", HIDDEN + HIDDEN_MORE)
def test_api_names_and_call_signs_refuse_hidden_characters(client, world, hidden):
    from detail.models import Agent, Client

    headers = {"Authorization": "Bearer " + issue_token(world.coordinator, "names")}
    db.session.commit()
    before = _stored_rows()
    cases = [
        ("/api/v1/clients", {"name": f"Northwind{hidden} plc"}, "name"),
        (
            "/api/v1/agents",
            {"name": "Casey", "email": "casey@aegis.example", "call_sign": f"Bravo{hidden} 1"},
            "call_sign",
        ),
        (
            "/api/v1/principals",
            {"client_id": world.client.id, "name": "Jo", "code_name": f"KES{hidden}TREL"},
            "code_name",
        ),
    ]
    for url, body, field in cases:
        response = client.post(url, json=body, headers=headers)
        assert response.status_code == 422, (url, response.get_data(as_text=True))
        assert field in response.json["message"] and field in response.json["errors"]["json"], response.json
        assert f"U+{ord(hidden):04X}" in str(response.json["errors"]["json"][field])
    patch = client.patch(f"/api/v1/agents/{world.agent.id}", json={"call_sign": f"Bravo{hidden} 9"}, headers=headers)
    assert patch.status_code == 422 and "call_sign" in patch.json["errors"]["json"]
    assert _stored_rows() == before
    assert db.session.get(Agent, world.agent.id).call_sign == "Bravo 1"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Client).where(Client.name.like("%plc%"))) == 1


def test_api_names_keep_letters_of_every_script(client, world):
    headers = {"Authorization": "Bearer " + issue_token(world.coordinator, "names")}
    db.session.commit()
    # The zero-width non-joiner is spelling in Persian ("Mehrnoosh Khanum" below, and Hindi's joiner).
    for name in ("Zoë Ångström", "محمد", "张伟", "Łukasz Żółć", "O'Brien-Smith", "مهر\u200cنوش خانم", "क्\u200dष"):
        assert client.post("/api/v1/clients", json={"name": name}, headers=headers).status_code == 201, name
    # The same joiners beside a Latin letter, or at an edge, change nothing that shows: refused.
    for name in ("Bra\u200cvo", "\u200cمحمد", "محمد\u200d", "a\u200cم"):
        assert client.post("/api/v1/clients", json={"name": name}, headers=headers).status_code == 422, name


@pytest.mark.parametrize("hidden", ["\u202e", "\u200b", "\ufeff", "\u2066"])
def test_admin_forms_refuse_hidden_characters_in_names_call_signs_and_codes(client, world, hidden):
    from detail.models import StatusCode

    sign_in(client, world.coordinator)
    before = _stored_rows()
    forms = [
        ("/admin/agents/new", {"name": "Casey", "email": "casey@aegis.example", "call_sign": f"Bravo 1{hidden}"}),
        (f"/admin/agents/{world.agent.id}/edit", {"name": "Sam Carter", "call_sign": f"Bravo{hidden} 2"}),
        ("/admin/clients/new", {"name": f"North{hidden}wind"}),
        (
            f"/admin/clients/{world.client.id}/contacts",
            {"contact-name": f"Ana{hidden}", "contact-email": "ana@northwind.example", "contact-password": "x" * 12},
        ),
        (
            f"/admin/clients/{world.client.id}/principals",
            {"principal-name": "Jo", "principal-code_name": f"{hidden}FALCON"},
        ),
        (
            "/admin/codes/new",
            {"code": "QRX", "spoken_name": f"Quebec{hidden} Romeo", "meaning": "Standing by", "kind": "routine",
             "signal": "", "colour": "#123abc", "sort_order": "10"},
        ),
    ]  # fmt: skip
    for url, data in forms:
        response = client.post(url, data=data)
        page = response.get_data(as_text=True)
        assert response.status_code == 400, (url, response.status_code)
        assert "does not show or that reorders the text" in page and f"U+{ord(hidden):04X}" in page, url
    assert _stored_rows() == before
    assert db.session.scalar(sa.select(StatusCode).where(StatusCode.code == "QRX")) is None


@pytest.mark.parametrize(
    ("option", "value"),
    [("--name", "Sam\u202eCarter"), ("--call-sign", "Bravo\u200b 1"), ("--client", "North\ufeffwind")],
)
def test_the_command_line_refuses_hidden_characters_naming_the_option(app, runner, option, value):
    args = ["create-user", "--role", "agent", "--email", "x@x.example", "--name", "Ex", "--password", "long enough pw"]
    if option == "--client":
        args[2] = "client"
    args += [option, value] if option != "--name" else []
    if option == "--name":
        args[args.index("--name") + 1] = value
    before = _stored_rows()
    result = runner.invoke(args=args)
    assert result.exit_code != 0
    assert option in result.output and "does not show or that reorders the text" in result.output, result.output
    assert _stored_rows() == before
