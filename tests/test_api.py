"""The JSON API under /api/v1: CRUD per resource, token auth, organisation scoping, validation, OpenAPI.

Stored state is read through a fresh session (stored()), so assertions see what was committed,
not what the request's session happens to hold.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import sqlalchemy.orm as so

from detail.extensions import db
from detail.models import Agent, ApiToken, Assignment, Client, Detail, Movement, Principal, Site, User, Visit
from detail.web.auth import issue_token, revoke_token

from .conftest import T0, build_world, make_app

PREFIX = "/api/v1"
ALL_TABLES = (Client, Principal, Site, Detail, Visit, Movement, Agent, User, Assignment)


class Api:
    """The test client, speaking to /api/v1 with one bearer token."""

    def __init__(self, client, token: str | None):
        self.client = client
        self.token = token

    def __call__(self, method: str, path: str, **kwargs):
        headers = kwargs.pop("headers", {})
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return self.client.open(PREFIX + path, method=method, headers=headers, **kwargs)

    def get(self, path, **kwargs):
        return self("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self("POST", path, **kwargs)

    def patch(self, path, **kwargs):
        return self("PATCH", path, **kwargs)

    def delete(self, path, **kwargs):
        return self("DELETE", path, **kwargs)


def token_for(user: User) -> str:
    token = issue_token(user, "test")
    db.session.commit()
    return token


@pytest.fixture
def api_as(client, world):
    """api_as(user) is an Api with a fresh token of that user."""
    return lambda user: Api(client, token_for(user))


@pytest.fixture
def api(api_as, world):
    return api_as(world.coordinator)


@pytest.fixture
def rival(api_as, world):
    return api_as(world.other_org_coordinator)


def stored(model, row_id=None):
    """The committed row (or all rows of the table), read in a session of its own."""
    with so.Session(db.engine) as session:
        if row_id is not None:
            row = session.get(model, row_id)
            return None if row is None else _columns(row)
        return sorted((_columns(row) for row in session.scalars(sa.select(model))), key=lambda r: r["id"])


def _columns(row) -> dict:
    return {column.key: getattr(row, column.key) for column in sa.inspect(row).mapper.column_attrs}


def snapshot() -> dict:
    return {model.__name__: stored(model) for model in ALL_TABLES}


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def rival_rows(world) -> dict:
    """A principal and an agent in the other organisation, next to its client, venue and detail."""
    rival_client = db.session.scalar(sa.select(Client).where(Client.organisation_id == world.other_org.id))
    rival_site = db.session.scalar(sa.select(Site).where(Site.organisation_id == world.other_org.id))
    principal = Principal(client=rival_client, name="John Roe", code_name="FALCON")
    user = User(organisation=world.other_org, email="agent@rival.example", name="Rival Agent", role="agent")
    agent = Agent(organisation=world.other_org, user=user, call_sign="Zulu 1")
    db.session.add_all([principal, agent])
    db.session.commit()
    return {
        "client": rival_client.id,
        "site": rival_site.id,
        "principal": principal.id,
        "agent": agent.id,
        "detail": world.other_org_detail.id,
    }


def assert_error(response, status: int, field: str | None = None, location: str = "json") -> dict:
    """A JSON error with that status whose message (and errors, for a field) name the field."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.json
    assert body["code"] == status
    assert body["message"]
    if field is not None:
        assert field in body["message"]
        assert field in body["errors"][location]
        assert all(isinstance(message, str) for message in body["errors"][location][field])
    return body


# --- create / read / update / list per resource ------------------------------------------------


def test_clients_crud(api, world):
    created = api.post("/clients", json={"name": "  Initech  ", "notes": "Since 2024"})
    assert created.status_code == 201
    client_id = created.json["id"]
    assert created.json == {"id": client_id, "name": "Initech", "notes": "Since 2024"}
    assert stored(Client, client_id)["organisation_id"] == world.org.id

    assert api.get(f"/clients/{client_id}").json["name"] == "Initech"
    updated = api.patch(f"/clients/{client_id}", json={"notes": "Key account"})
    assert updated.status_code == 200
    assert updated.json == {"id": client_id, "name": "Initech", "notes": "Key account"}
    assert stored(Client, client_id)["notes"] == "Key account"

    listed = api.get("/clients")
    assert listed.status_code == 200
    assert [c["name"] for c in listed.json] == ["Contoso AG", "Initech", "Northwind plc"]


def test_principals_crud_and_client_filter(api, world):
    created = api.post("/principals", json={"client_id": world.client.id, "name": "Ann Lee", "code_name": "HERON"})
    assert created.status_code == 201
    principal_id = created.json["id"]
    assert created.json == {
        "id": principal_id,
        "client_id": world.client.id,
        "name": "Ann Lee",
        "code_name": "HERON",
        "notes": "",
    }

    assert api.get(f"/principals/{principal_id}").json["code_name"] == "HERON"
    assert api.patch(f"/principals/{principal_id}", json={"name": "Ann B. Lee"}).json["name"] == "Ann B. Lee"
    assert stored(Principal, principal_id)["name"] == "Ann B. Lee"

    assert {p["code_name"] for p in api.get("/principals").json} == {"HERON", "KESTREL"}
    assert api.get(f"/principals?client_id={world.other_client.id}").json == []
    assert {p["id"] for p in api.get(f"/principals?client_id={world.client.id}").json} == {
        principal_id,
        world.principal.id,
    }


def test_venues_crud(api, world):
    body = {"name": "City Hall", "latitude": 51.5048, "longitude": -0.0786, "address": "Kamal Chunchie Way"}
    created = api.post("/venues", json=body)
    assert created.status_code == 201
    venue_id = created.json["id"]
    # Without a time zone, a venue takes the organisation's.
    assert created.json == {**body, "id": venue_id, "arrival_radius_m": 150, "timezone": "Europe/London"}
    row = stored(Site, venue_id)
    assert (row["latitude"], row["longitude"], row["organisation_id"]) == (51.5048, -0.0786, world.org.id)

    updated = api.patch(f"/venues/{venue_id}", json={"arrival_radius_m": 75, "timezone": "Europe/Paris"})
    assert updated.status_code == 200
    assert (updated.json["arrival_radius_m"], updated.json["timezone"]) == (75, "Europe/Paris")
    assert stored(Site, venue_id)["timezone"] == "Europe/Paris"

    assert api.get(f"/venues/{venue_id}").json["name"] == "City Hall"
    assert [v["name"] for v in api.get("/venues").json] == ["City Hall", "ExCeL London", "Grand Hotel"]


def test_details_crud_times_and_filters(api, world):
    created = api.post(
        "/details",
        json={
            "client_id": world.client.id,
            "principal_id": world.principal.id,
            "name": "Paris roadshow",
            "starts_at": "2026-12-01T09:00:00+01:00",
            "ends_at": "2026-12-01T18:30:00Z",
        },
    )
    assert created.status_code == 201, created.json
    detail_id = created.json["id"]
    assert created.json == {
        "id": detail_id,
        "client_id": world.client.id,
        "principal_id": world.principal.id,
        "name": "Paris roadshow",
        "starts_at": "2026-12-01T08:00:00+00:00",
        "ends_at": "2026-12-01T18:30:00+00:00",
        "state": "planned",
        "notes": "",
        "lead": None,
    }
    row = stored(Detail, detail_id)
    assert row["starts_at"] == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert row["ends_at"] == datetime(2026, 12, 1, 18, 30, tzinfo=UTC)

    updated = api.patch(
        f"/details/{detail_id}", json={"state": "hot", "from_state": "planned", "ends_at": "2026-12-01T20:00:00-05:00"}
    )
    assert updated.status_code == 200
    assert (updated.json["state"], updated.json["ends_at"]) == ("hot", "2026-12-02T01:00:00+00:00")
    assert stored(Detail, detail_id)["ends_at"] == datetime(2026, 12, 2, 1, 0, tzinfo=UTC)

    read = api.get(f"/details/{world.detail.id}")
    assert read.json["lead"] == {"id": world.agent.id, "call_sign": "Bravo 1"}
    assert read.json["starts_at"] == iso(T0)

    assert {d["id"] for d in api.get("/details").json} == {detail_id, world.detail.id, world.other_client_detail.id}
    assert [d["id"] for d in api.get("/details?state=hot").json] == [detail_id]
    assert {d["id"] for d in api.get(f"/details?client_id={world.client.id}").json} == {detail_id, world.detail.id}
    assert api.get(f"/details?client_id={world.client.id}&state=complete").json == []


def test_detail_without_principal_and_clearing_it(api, world):
    created = api.post(
        "/details",
        json={
            "client_id": world.other_client.id,
            "name": "Site survey",
            "starts_at": iso(T0),
            "ends_at": iso(T0 + timedelta(hours=1)),
        },
    )
    assert created.status_code == 201
    assert created.json["principal_id"] is None
    cleared = api.patch(f"/details/{world.detail.id}", json={"principal_id": None})
    assert cleared.status_code == 200
    assert stored(Detail, world.detail.id)["principal_id"] is None


def test_visits_crud_and_delete(api, world):
    created = api.post(
        "/visits",
        json={
            "detail_id": world.detail.id,
            "site_id": world.venue.id,
            "arrives_at": "2026-11-24T11:00:00Z",
            "departs_at": "2026-11-24T16:00:00+00:00",
            "purpose": "Keynote",
        },
    )
    assert created.status_code == 201, created.json
    visit_id = created.json["id"]
    assert created.json == {
        "id": visit_id,
        "detail_id": world.detail.id,
        "site_id": world.venue.id,
        "arrives_at": "2026-11-24T11:00:00+00:00",
        "departs_at": "2026-11-24T16:00:00+00:00",
        "purpose": "Keynote",
    }
    updated = api.patch(f"/visits/{visit_id}", json={"departs_at": "2026-11-24T18:00:00+01:00"})
    assert updated.json["departs_at"] == "2026-11-24T17:00:00+00:00"
    assert stored(Visit, visit_id)["departs_at"] == datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
    assert api.get(f"/visits/{visit_id}").json["purpose"] == "Keynote"

    assert len(api.get(f"/visits?detail_id={world.detail.id}").json) == 2
    assert [v["detail_id"] for v in api.get("/visits").json] == [world.detail.id, world.detail.id]

    deleted = api.delete(f"/visits/{visit_id}")
    assert deleted.status_code == 204
    assert deleted.data == b""
    assert stored(Visit, visit_id) is None
    assert api.get(f"/visits/{visit_id}").status_code == 404


def test_movements_crud_and_delete(api, world):
    created = api.post(
        "/movements",
        json={
            "detail_id": world.detail.id,
            "from_site_id": world.venue.id,
            "to_site_id": world.hotel.id,
            "departs_at": "2026-11-24T17:00:00Z",
            "arrives_at": "2026-11-24T17:45:00Z",
            "notes": "Route B",
        },
    )
    assert created.status_code == 201, created.json
    movement_id = created.json["id"]
    assert created.json["arrives_at"] == "2026-11-24T17:45:00+00:00"
    assert stored(Movement, movement_id)["to_site_id"] == world.hotel.id

    updated = api.patch(f"/movements/{movement_id}", json={"notes": "Route C"})
    assert updated.status_code == 200
    assert stored(Movement, movement_id)["notes"] == "Route C"
    assert api.get(f"/movements/{movement_id}").json["notes"] == "Route C"
    assert len(api.get(f"/movements?detail_id={world.detail.id}").json) == 2
    assert api.get(f"/movements?detail_id={world.other_client_detail.id}").json == []

    assert api.delete(f"/movements/{movement_id}").status_code == 204
    assert stored(Movement, movement_id) is None


def test_agents_crud(api, world):
    created = api.post(
        "/agents",
        json={
            "email": "New.Agent@Aegis.example",
            "name": "New Agent",
            "call_sign": "Bravo 2",
            "phone": "+44 7700 900123",
            "password": "long enough password",
        },
    )
    assert created.status_code == 201, created.json
    agent_id = created.json["id"]
    user_id = created.json["user_id"]
    assert created.json == {
        "id": agent_id,
        "user_id": user_id,
        "email": "new.agent@aegis.example",
        "name": "New Agent",
        "call_sign": "Bravo 2",
        "phone": "+44 7700 900123",
        "active": True,
    }
    user = db.session.get(User, user_id)
    assert (user.role, user.organisation_id, user.client_id) == ("agent", world.org.id, None)
    assert user.check_password("long enough password")
    assert stored(Agent, agent_id)["organisation_id"] == world.org.id

    updated = api.patch(f"/agents/{agent_id}", json={"phone": "112", "active": False, "call_sign": "Bravo 3"})
    assert updated.status_code == 200
    assert (updated.json["phone"], updated.json["active"], updated.json["call_sign"]) == ("112", False, "Bravo 3")
    assert stored(User, user_id)["active"] is False
    assert api.get(f"/agents/{agent_id}").json["email"] == "new.agent@aegis.example"
    assert [a["call_sign"] for a in api.get("/agents").json] == ["Bravo 1", "Bravo 3", "Bravo 9"]


def test_agent_without_password_cannot_sign_in(api, world):
    created = api.post("/agents", json={"email": "nopass@aegis.example", "name": "No Pass", "call_sign": "Echo 1"})
    assert created.status_code == 201
    assert stored(User, created.json["user_id"])["password_hash"] is None


def test_assignments_crud_filters_and_delete(api, world):
    idle = db.session.scalar(sa.select(Agent).where(Agent.call_sign == "Bravo 9"))
    created = api.post(
        "/assignments",
        json={
            "detail_id": world.detail.id,
            "agent_id": idle.id,
            "role": "driver",
            "site_id": world.venue.id,
            "report_at": "2026-11-24T08:30:00+01:00",
            "shift_starts_at": "2026-11-24T07:00:00Z",
            "shift_ends_at": "2026-11-24T19:00:00Z",
        },
    )
    assert created.status_code == 201, created.json
    assignment_id = created.json["id"]
    assert created.json["report_at"] == "2026-11-24T07:30:00+00:00"
    assert stored(Assignment, assignment_id)["report_at"] == datetime(2026, 11, 24, 7, 30, tzinfo=UTC)

    updated = api.patch(f"/assignments/{assignment_id}", json={"role": "advance", "site_id": None})
    assert (updated.json["role"], updated.json["site_id"]) == ("advance", None)
    assert api.get(f"/assignments/{assignment_id}").json["agent_id"] == idle.id

    assert [a["id"] for a in api.get(f"/assignments?agent_id={idle.id}").json] == [assignment_id]
    assert {a["id"] for a in api.get(f"/assignments?detail_id={world.detail.id}").json} == {
        assignment_id,
        world.assignment.id,
    }
    assert api.get(f"/assignments?detail_id={world.other_client_detail.id}").json == []

    assert api.delete(f"/assignments/{assignment_id}").status_code == 204
    assert stored(Assignment, assignment_id) is None


def test_admin_may_use_the_api(api_as, world):
    assert api_as(world.admin).get("/clients").status_code == 200


# --- authentication -----------------------------------------------------------------------------

COLLECTIONS = ("clients", "principals", "venues", "details", "visits", "movements", "agents", "assignments")


@pytest.mark.parametrize("resource", COLLECTIONS)
def test_no_token_is_401_with_a_challenge(client, world, resource):
    for method in ("GET", "POST"):
        response = Api(client, None)(method, f"/{resource}", json={})
        body = assert_error(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "Authorization" in body["message"]


def test_bad_or_malformed_token_is_401(client, world):
    for header in ("Bearer om_not-a-real-token", "Basic dXNlcjpwYXNz", "Bearer ", "om_raw"):
        response = client.get(f"{PREFIX}/clients", headers={"Authorization": header})
        assert_error(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert (
        'error="invalid_token"'
        in client.get(f"{PREFIX}/clients", headers={"Authorization": "Bearer om_wrong"}).headers["WWW-Authenticate"]
    )


def test_revocation_takes_effect_at_once(client, world):
    token = token_for(world.coordinator)
    api = Api(client, token)
    assert api.get("/clients").status_code == 200
    revoke_token(db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == ApiToken.hash(token))))
    db.session.commit()
    assert_error(api.get("/clients"), 401)
    assert_error(api.post("/clients", json={"name": "Too late"}), 401)
    assert "Too late" not in {row["name"] for row in stored(Client)}


def test_inactive_users_token_is_401(api, world):
    world.coordinator.active = False
    db.session.commit()
    assert_error(api.get("/clients"), 401)


def test_reads_record_last_used_at(api, world):
    assert {row["last_used_at"] for row in stored(ApiToken)} == {None}
    before = datetime.now(UTC)
    assert api.get(f"/details/{world.detail.id}").status_code == 200
    used = [row["last_used_at"] for row in stored(ApiToken) if row["last_used_at"] is not None]
    assert len(used) == 1 and used[0] >= before - timedelta(seconds=1)


@pytest.mark.parametrize("role", ["agent", "client"])
def test_agents_and_client_contacts_are_403(api_as, world, role):
    api = api_as(world.user(role))
    before = snapshot()
    for method, path in [
        ("GET", "/details"),
        ("GET", f"/details/{world.detail.id}"),
        ("GET", "/agents"),
        ("POST", "/clients"),
        ("PATCH", f"/details/{world.detail.id}"),
        ("DELETE", f"/assignments/{world.assignment.id}"),
    ]:
        body = assert_error(api(method, path, json={"name": "Hijack"}), 403)
        assert "admin" in body["message"] and "coordinator" in body["message"]
    assert snapshot() == before


# --- organisation scoping -----------------------------------------------------------------------


def _org_rows(world) -> dict:
    return {
        "clients": world.client.id,
        "principals": world.principal.id,
        "venues": world.hotel.id,
        "details": world.detail.id,
        "visits": world.detail.visits[0].id,
        "movements": world.detail.movements[0].id,
        "agents": world.agent.id,
        "assignments": world.assignment.id,
    }


def test_another_organisations_rows_are_404(rival, world):
    rows = _org_rows(world)
    before = snapshot()
    for resource, row_id in rows.items():
        for method in ("GET", "PATCH"):
            # {} is a valid PATCH body for every resource, so only the lookup can refuse it.
            body = assert_error(rival(method, f"/{resource}/{row_id}", json={}), 404)
            assert "your organisation" in body["message"]
    for resource in ("visits", "movements", "assignments"):
        assert_error(rival.delete(f"/{resource}/{rows[resource]}"), 404)
    assert_error(rival.patch(f"/details/{rows['details']}", json={"name": "Mine now"}), 404)
    assert snapshot() == before
    # Missing and foreign ids are answered alike.
    assert rival.get("/clients/999999").json["message"] == rival.get(f"/clients/{world.client.id}").json["message"]


def test_lists_show_only_the_callers_organisation(rival, world):
    assert [c["name"] for c in rival.get("/clients").json] == ["Fabrikam Inc"]
    assert [d["name"] for d in rival.get("/details").json] == ["Fabrikam NYC"]
    assert [v["name"] for v in rival.get("/venues").json] == ["Rival HQ"]
    assert rival.get("/agents").json == []
    assert rival.get(f"/visits?detail_id={world.detail.id}").json == []
    assert rival.get(f"/details?client_id={world.client.id}").json == []


def test_referencing_another_organisations_rows_is_422(api, world):
    foreign = rival_rows(world)
    after_t0 = {"starts_at": iso(T0), "ends_at": iso(T0 + timedelta(hours=2))}
    shift = {"report_at": iso(T0), "shift_starts_at": iso(T0), "shift_ends_at": iso(T0 + timedelta(hours=2))}
    cases = [
        ("POST", "/principals", {"client_id": foreign["client"], "name": "X", "code_name": "X"}, "client_id"),
        ("POST", "/details", {"client_id": foreign["client"], "name": "X", **after_t0}, "client_id"),
        (
            "POST",
            "/details",
            {"client_id": world.client.id, "principal_id": foreign["principal"], "name": "X", **after_t0},
            "principal_id",
        ),
        ("PATCH", f"/details/{world.detail.id}", {"client_id": foreign["client"]}, "client_id"),
        (
            "POST",
            "/visits",
            {
                "detail_id": world.detail.id,
                "site_id": foreign["site"],
                "arrives_at": iso(T0),
                "departs_at": iso(T0 + timedelta(hours=1)),
            },
            "site_id",
        ),
        (
            "POST",
            "/visits",
            {
                "detail_id": foreign["detail"],
                "site_id": world.hotel.id,
                "arrives_at": iso(T0),
                "departs_at": iso(T0 + timedelta(hours=1)),
            },
            "detail_id",
        ),
        ("PATCH", f"/visits/{world.detail.visits[0].id}", {"site_id": foreign["site"]}, "site_id"),
        (
            "POST",
            "/movements",
            {
                "detail_id": world.detail.id,
                "from_site_id": foreign["site"],
                "to_site_id": world.hotel.id,
                "departs_at": iso(T0),
                "arrives_at": iso(T0 + timedelta(hours=1)),
            },
            "from_site_id",
        ),
        ("PATCH", f"/movements/{world.detail.movements[0].id}", {"to_site_id": foreign["site"]}, "to_site_id"),
        ("POST", "/assignments", {"detail_id": world.detail.id, "agent_id": foreign["agent"], **shift}, "agent_id"),
        (
            "POST",
            "/assignments",
            {
                "detail_id": world.other_client_detail.id,
                "agent_id": world.agent.id,
                "site_id": foreign["site"],
                **shift,
            },
            "site_id",
        ),
    ]
    before = snapshot()
    for method, path, body, field in cases:
        error = assert_error(api(method, path, json=body), 422, field)
        assert "No such" in error["errors"]["json"][field][0]
        assert "your organisation" in error["errors"]["json"][field][0]
    assert snapshot() == before


def test_filters_with_another_organisations_ids_find_nothing(api, world):
    foreign = rival_rows(world)
    assert api.get(f"/details?client_id={foreign['client']}").json == []
    assert api.get(f"/principals?client_id={foreign['client']}").json == []
    assert api.get(f"/visits?detail_id={foreign['detail']}").json == []
    assert api.get(f"/assignments?agent_id={foreign['agent']}").json == []


# --- validation ---------------------------------------------------------------------------------


def _venue(**overrides) -> dict:
    return {"name": "Dock", "latitude": 51.5, "longitude": 0.0, **overrides}


def _detail(world, **overrides) -> dict:
    return {
        "client_id": world.client.id,
        "name": "D",
        "starts_at": iso(T0),
        "ends_at": iso(T0 + timedelta(hours=1)),
        **overrides,
    }


def _assignment(world, agent_id, **overrides) -> dict:
    return {
        "detail_id": world.detail.id,
        "agent_id": agent_id,
        "report_at": iso(T0),
        "shift_starts_at": iso(T0),
        "shift_ends_at": iso(T0 + timedelta(hours=4)),
        **overrides,
    }


def test_body_validation_errors_name_the_field_and_change_nothing(api, world):
    idle = db.session.scalar(sa.select(Agent).where(Agent.call_sign == "Bravo 9"))
    cases = [
        ("POST", "/details", _detail(world, starts_at="2026-11-24T08:00:00"), "starts_at", "offset"),
        ("POST", "/details", _detail(world, ends_at="next tuesday"), "ends_at", "ISO 8601"),
        ("PATCH", f"/details/{world.detail.id}", {"ends_at": "2026-11-24T20:00:00"}, "ends_at", "offset"),
        ("POST", "/details", _detail(world, state="cancelled"), "state", "Must be one of"),
        ("POST", "/details", _detail(world, colour="red"), "colour", "Unknown field"),
        ("POST", "/details", _detail(world, name="   "), "name", "Length must be"),
        ("POST", "/details", {"name": "No client"}, "client_id", "Missing data"),
        ("POST", "/details", _detail(world, client_id="1"), "client_id", "integer"),
        ("POST", "/venues", _venue(latitude=91), "latitude", "90"),
        ("POST", "/venues", _venue(longitude=-180.5), "longitude", "180"),
        ("POST", "/venues", _venue(arrival_radius_m=0), "arrival_radius_m", "greater than 0"),
        ("POST", "/venues", _venue(timezone="Mars/Olympus"), "timezone", "IANA"),
        ("POST", "/venues", _venue(timezone="Europe"), "timezone", "IANA"),
        ("PATCH", f"/venues/{world.hotel.id}", {"latitude": -90.01}, "latitude", "90"),
        (
            "PATCH",
            f"/visits/{world.detail.visits[0].id}",
            {"detail_id": world.other_client_detail.id},
            "detail_id",
            "Cannot be changed",
        ),
        (
            "PATCH",
            f"/principals/{world.principal.id}",
            {"client_id": world.other_client.id},
            "client_id",
            "Cannot be changed",
        ),
        ("POST", "/agents", {"email": "not-an-email", "name": "A", "call_sign": "Q"}, "email", "email"),
        (
            "POST",
            "/agents",
            {"email": "a@b.example", "name": "A", "call_sign": "Q", "password": "short"},
            "password",
            "10",
        ),
        ("POST", "/assignments", _assignment(world, idle.id, role="boss"), "role", "Must be one of"),
    ]
    before = snapshot()
    for method, path, body, field, words in cases:
        error = assert_error(api(method, path, json=body), 422, field)
        assert words in " ".join(error["errors"]["json"][field]), (path, body, error)
    assert snapshot() == before


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_coordinates_are_422(api, world, literal):
    before = snapshot()
    # json.dumps writes the non-standard literals NaN and Infinity that Python's parser accepts.
    body = json.dumps({"name": "Nowhere", "latitude": float(literal), "longitude": 0})
    assert literal in body
    error = assert_error(api.post("/venues", data=body, content_type="application/json"), 422, "latitude")
    assert "nan or infinity" in error["errors"]["json"]["latitude"][0]
    body = json.dumps({"longitude": float(literal)})
    assert_error(api.patch(f"/venues/{world.hotel.id}", data=body, content_type="application/json"), 422, "longitude")
    assert snapshot() == before


def test_itinerary_rules_are_422_and_change_nothing(api, world):
    idle = db.session.scalar(sa.select(Agent).where(Agent.call_sign == "Bravo 9"))
    visit = world.detail.visits[0]
    cases = [
        # ends before it starts
        ("POST", "/details", _detail(world, ends_at=iso(T0 - timedelta(hours=1))), "ends_at"),
        ("PATCH", f"/details/{world.detail.id}", {"ends_at": iso(T0 - timedelta(minutes=1))}, "ends_at"),
        # a principal of another client of the same organisation
        (
            "POST",
            "/details",
            _detail(world, client_id=world.other_client.id, principal_id=world.principal.id),
            "principal_id",
        ),
        ("PATCH", f"/details/{world.detail.id}", {"client_id": world.other_client.id}, "principal_id"),
        ("PATCH", f"/visits/{visit.id}", {"departs_at": iso(visit.arrives_at)}, "departs_at"),
        (
            "POST",
            "/movements",
            {
                "detail_id": world.detail.id,
                "from_site_id": world.hotel.id,
                "to_site_id": world.hotel.id,
                "departs_at": iso(T0),
                "arrives_at": iso(T0 + timedelta(hours=1)),
            },
            "to_site_id",
        ),
        # a second detail lead
        ("POST", "/assignments", _assignment(world, idle.id, role="detail_lead"), "role"),
        # the same agent twice on one detail
        ("POST", "/assignments", _assignment(world, world.agent.id), "agent_id"),
        ("POST", "/assignments", _assignment(world, idle.id, report_at=iso(T0 + timedelta(hours=5))), "report_at"),
    ]
    before = snapshot()
    for method, path, body, field in cases:
        error = assert_error(api(method, path, json=body), 422, field)
        assert error["message"].startswith("Not saved")
    assert snapshot() == before
    # The refused PATCHes left nothing half-applied in the session either.
    assert api.get(f"/details/{world.detail.id}").json["client_id"] == world.client.id


def test_second_lead_names_the_current_lead(api, world):
    idle = db.session.scalar(sa.select(Agent).where(Agent.call_sign == "Bravo 9"))
    error = assert_error(api.post("/assignments", json=_assignment(world, idle.id, role="detail_lead")), 422, "role")
    assert "Bravo 1" in error["errors"]["json"]["role"][0]
    # Moving the lead role is possible once the old lead steps down.
    assert api.patch(f"/assignments/{world.assignment.id}", json={"role": "agent"}).status_code == 200
    assert api.post("/assignments", json=_assignment(world, idle.id, role="detail_lead")).status_code == 201
    assert api.get(f"/details/{world.detail.id}").json["lead"] == {"id": idle.id, "call_sign": "Bravo 9"}


def test_bodies_that_are_not_json_objects(api, world):
    before = snapshot()
    error = assert_error(
        api.post("/clients", data="name=Initech", content_type="application/x-www-form-urlencoded"), 415
    )
    assert "JSON" in error["message"]
    error = assert_error(api.post("/clients", data='{"name": "Initech"', content_type="application/json"), 400)
    assert "not valid JSON" in error["message"]
    assert error["errors"] == {"json": ["Invalid JSON body."]}
    assert (
        "empty"
        in assert_error(api.patch(f"/clients/{world.client.id}", content_type="application/json"), 400)["message"]
    )
    error = assert_error(api.post("/clients", json=["Initech"]), 422)
    assert error["message"] == "Invalid request: body: Invalid input type."
    assert_error(api.post("/clients", data=b'{"name": "\xff"}', content_type="application/json"), 400)
    too_large = assert_error(api.post("/clients", data="x" * (1024 * 1024 + 1), content_type="application/json"), 413)
    assert "exceeds" in too_large["message"]
    assert snapshot() == before


def test_unknown_query_parameter_is_422(api, world):
    assert_error(api.get(f"/visits?detial_id={world.detail.id}"), 422, "detial_id", location="query")
    assert_error(api.get("/details?state=lost"), 422, "state", location="query")


def test_taken_email_or_call_sign_is_409(api, world):
    before = snapshot()
    taken_email = api.post("/agents", json={"email": "AGENT@aegis.example", "name": "Copy", "call_sign": "Echo 5"})
    assert_error(taken_email, 409, "email")
    taken_call_sign = api.post("/agents", json={"email": "fresh@aegis.example", "name": "Copy", "call_sign": "Bravo 1"})
    assert_error(taken_call_sign, 409, "call_sign")
    idle = db.session.scalar(sa.select(Agent).where(Agent.call_sign == "Bravo 9"))
    assert_error(api.patch(f"/agents/{idle.id}", json={"email": "agent@aegis.example"}), 409, "email")
    # Keeping one's own email and call sign is no conflict.
    unchanged = api.patch(f"/agents/{idle.id}", json={"email": "idle@aegis.example", "call_sign": "Bravo 9"})
    assert unchanged.status_code == 200
    assert snapshot() == before


def test_integrity_error_backstop_is_409(api, world):
    before = snapshot()
    error = assert_error(api.post("/clients", json={"name": "Northwind plc"}), 409)
    assert "conflicts" in error["message"]
    assert_error(api.patch(f"/clients/{world.other_client.id}", json={"name": "Northwind plc"}), 409)
    assert snapshot() == before
    # The session is usable after the rollback.
    assert api.post("/clients", json={"name": "Umbrella"}).status_code == 201


def test_csrf_protection_does_not_apply_to_the_api(tmp_path):
    app = make_app(tmp_path, WTF_CSRF_ENABLED=True)
    with app.app_context():
        db.create_all()
        world = build_world()
        token = token_for(world.coordinator)
        response = Api(app.test_client(), token).post("/clients", json={"name": "Initech"})
        assert response.status_code == 201, response.get_data(as_text=True)
        db.session.remove()
        db.engine.dispose()


# --- OpenAPI ------------------------------------------------------------------------------------


def test_openapi_documents_every_operation_with_bearer_security(client, world):
    response = client.get(f"{PREFIX}/openapi.json")
    assert response.status_code == 200
    spec = json.loads(response.get_data(as_text=True))
    assert spec["openapi"].startswith("3.")
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}

    paths = spec["paths"]
    expected = {}
    for resource in COLLECTIONS:
        item = {
            "clients": "client_id",
            "principals": "principal_id",
            "venues": "venue_id",
            "details": "detail_id",
            "visits": "visit_id",
            "movements": "movement_id",
            "agents": "agent_id",
            "assignments": "assignment_id",
        }[resource]
        expected[f"{PREFIX}/{resource}"] = {"get", "post"}
        deletable = resource in ("visits", "movements", "assignments")
        expected[f"{PREFIX}/{resource}/{{{item}}}"] = {"get", "patch"} | ({"delete"} if deletable else set())
    expected |= {
        f"{PREFIX}/status": {"post"},
        f"{PREFIX}/positions": {"post"},
        f"{PREFIX}/devices": {"get", "post"},
        f"{PREFIX}/devices/{{device_id}}": {"get", "delete"},
        f"{PREFIX}/events": {"get"},
        f"{PREFIX}/details/{{detail_id}}/board": {"get"},
        f"{PREFIX}/feeds": {"get", "post"},
        f"{PREFIX}/items": {"get"},
        f"{PREFIX}/advisories": {"get"},
        f"{PREFIX}/advisories/{{advisory_id}}/publish": {"post"},
        f"{PREFIX}/advisories/{{advisory_id}}/dismiss": {"post"},
        f"{PREFIX}/messages": {"get", "post"},
        f"{PREFIX}/messages/{{message_id}}": {"get"},
        f"{PREFIX}/messages/{{message_id}}/delivered": {"post"},
        f"{PREFIX}/messages/{{message_id}}/read": {"post"},
        f"{PREFIX}/messages/{{message_id}}/acknowledge": {"post"},
        f"{PREFIX}/messages/{{message_id}}/texts": {"post"},
        f"{PREFIX}/on-call": {"get"},
        f"{PREFIX}/on-call/shifts": {"post"},
        f"{PREFIX}/on-call/shifts/{{shift_id}}": {"get", "delete"},
    }
    assert {path: {m for m in ops if m != "parameters"} for path, ops in paths.items()} == expected

    schemas = spec["components"]["schemas"]
    for path, operations in paths.items():
        resource = path.split("/")[3]
        for method, operation in operations.items():
            if method == "parameters":
                continue
            assert operation["security"] == [{"bearerAuth": []}], (path, method)
            assert operation["tags"] == [resource]
            assert {"401", "403"} <= set(operation["responses"]), (path, method)
            assert operation["summary"]
            if method in ("post", "patch"):
                ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                assert ref.rsplit("/", 1)[1] in schemas
                assert "422" in operation["responses"]
            if "{" in path:
                assert "404" in operation["responses"]
    assert {tag["name"] for tag in spec["tags"]} >= set(COLLECTIONS)
    detail = schemas["Detail"]["properties"]
    assert {"client_id", "principal_id", "name", "starts_at", "ends_at", "state", "notes", "lead"} <= set(detail)
    assert detail["starts_at"]["format"] == "date-time"
    assert "password" not in schemas["Agent"]["properties"] or schemas["Agent"]["properties"]["password"].get(
        "writeOnly"
    )


@pytest.mark.parametrize("field", ["after", "detail_id"])
@pytest.mark.parametrize("value", [str(10**20), str(2**63), "-1", "-" + str(10**20)])
def test_event_query_ids_out_of_range_are_422_naming_the_field(api, field, value):
    # Not "cannot be stored" (400) from the database driver: the query names no event or detail.
    assert_error(api.get(f"/events?{field}={value}"), 422, field, location="query")


def test_the_largest_event_id_is_still_a_question(api):
    assert api.get(f"/events?after={2**63 - 1}").json == []


# --- the API removes and moves as the pages do --------------------------------------------------


def _events(world, kind: str) -> list[dict]:
    from detail.domain import live

    return [e["payload"] for e in live.recent_events(world.org.id, world.detail.id) if e["kind"] == kind]


def test_deleting_a_visit_takes_the_movements_that_touch_it_and_can_be_undone(api, world):
    from detail.domain import removals
    from detail.models import Removal

    visit = Visit(
        detail=world.detail, site=world.venue, arrives_at=T0 + timedelta(hours=3), departs_at=T0 + timedelta(hours=6)
    )
    db.session.add(visit)
    db.session.commit()
    visit_id, hotel_visit_id = visit.id, world.detail.visits[0].id
    arriving_id = world.detail.movements[0].id  # Grand Hotel → ExCeL London, arriving as the visit starts
    deleted = api.delete(f"/visits/{visit_id}")
    assert deleted.status_code == 204
    assert stored(Visit, visit_id) is None and stored(Movement, arriving_id) is None
    assert stored(Visit, hotel_visit_id) is not None  # the hotel visit stays
    (removed,) = _events(world, "itinerary_removed")
    assert removed["kind"] == "visit" and "ExCeL London" in removed["what"]
    removal = db.session.scalars(sa.select(Removal)).one()
    assert removals.undoable(world.detail, world.coordinator) == [removal]
    removals.undo(removal, world.coordinator)
    db.session.commit()
    assert len(api.get(f"/visits?detail_id={world.detail.id}").json) == 2
    assert len(api.get(f"/movements?detail_id={world.detail.id}").json) == 1


def test_deleting_a_movement_or_an_assignment_is_on_the_timeline(api, world):
    movement_id, assignment_id = world.detail.movements[0].id, world.assignment.id
    assert api.delete(f"/movements/{movement_id}").status_code == 204
    assert api.delete(f"/assignments/{assignment_id}").status_code == 204
    assert stored(Movement, movement_id) is None and stored(Assignment, assignment_id) is None
    assert [p["kind"] for p in _events(world, "itinerary_removed")] == ["movement", "assignment"]


def test_a_state_change_names_the_state_it_leaves(api, world):
    detail_id = world.detail.id
    missing = assert_error(api.patch(f"/details/{detail_id}", json={"state": "hot"}), 422, "from_state")
    assert "required with state" in missing["message"]
    assert_error(api.patch(f"/details/{detail_id}", json={"state": "complete", "from_state": "planned"}), 422, "state")
    assert stored(Detail, detail_id)["state"] == "planned" and _events(world, "detail_state") == []

    moved = api.patch(f"/details/{detail_id}", json={"state": "hot", "from_state": "planned"})
    assert moved.status_code == 200 and moved.json["state"] == "hot"
    assert "from_state" not in moved.json
    # The same request again (a retry, a double click): the detail left planned already.
    again = assert_error(api.patch(f"/details/{detail_id}", json={"state": "hot", "from_state": "planned"}), 409)
    assert "hot, not planned" in again["message"]
    stale = api.patch(f"/details/{detail_id}", json={"state": "planned", "from_state": "planned", "name": "Renamed"})
    assert_error(stale, 422, "state")
    assert stored(Detail, detail_id)["name"] == "Northwind CEO London"
    assert [(p["previous"], p["state"]) for p in _events(world, "detail_state")] == [("planned", "hot")]
    # A body that sends back the state the detail is in, without from_state, moves nothing.
    same = api.patch(f"/details/{detail_id}", json={"state": "hot", "name": "Northwind CEO, London"})
    assert same.status_code == 200 and stored(Detail, detail_id)["name"] == "Northwind CEO, London"
    assert len(_events(world, "detail_state")) == 1


def test_a_state_change_and_a_refused_field_store_neither(api, world):
    refused = api.patch(
        f"/details/{world.detail.id}",
        json={"state": "hot", "from_state": "planned", "ends_at": iso(world.detail.starts_at - timedelta(hours=1))},
    )
    assert_error(refused, 422, "ends_at")
    assert stored(Detail, world.detail.id)["state"] == "planned"
    assert _events(world, "detail_state") == []
