"""Hostile bodies get a clear 4xx, never a 500: JSON nested beyond reason, bodies too large for their
purpose, methods nobody serves, ids out of range, and names that would look like other names."""

import io

import pytest
import sqlalchemy as sa

from detail.auth import issue_token
from detail.extensions import db

from .conftest import sign_in

DEEP = "[" * 100_000 + "]" * 100_000
# Parses without exhausting the stack, but is deeper than any body the app takes.
MODERATELY_DEEP = '{"name": "Initech", "notes": ' + "[" * 100 + "]" * 100 + "}"
BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def _stored_rows() -> dict[str, int]:
    count = sa.select(sa.func.count())
    return {table.name: db.session.scalar(count.select_from(table)) for table in db.metadata.sorted_tables}


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
    from detail.survey_views import PHOTO_MAX_BYTES

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
