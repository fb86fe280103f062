"""The on-call rota in the API: GET /api/v1/on-call, POST and DELETE /api/v1/on-call/shifts, for staff
tokens only, never showing or touching another organisation's shifts."""

import pytest
import sqlalchemy as sa

from detail.extensions import db
from detail.models import OnCallShift

from .conftest import T0
from .test_api import Api, token_for


@pytest.fixture
def api_as(client, world):
    return lambda user: Api(client, token_for(user))


def _body(world, **changes):
    return {
        "user_id": world.coordinator.id,
        "role": "primary",
        "starts_at": "2026-11-24T08:00:00Z",
        "ends_at": "2026-11-24T17:00:00+01:00",
        "note": " weekday days ",
    } | changes


def test_a_shift_is_added_listed_and_removed(api_as, world, time_machine):
    time_machine.move_to(T0, tick=False)
    api = api_as(world.coordinator)
    assert api.get("/on-call").get_json()["nobody"] is True
    created = api.post("/on-call/shifts", json=_body(world))
    assert created.status_code == 201, created.get_json()
    shift = created.get_json()
    assert shift["ends_at"] == "2026-11-24T16:00:00+00:00"
    assert shift["starts_local"] == "Tue 24 Nov 08:00 GMT" and shift["ends_local"] == "Tue 24 Nov 16:00 GMT"
    assert shift["note"] == "weekday days" and shift["name"] == world.coordinator.name

    now = api.get("/on-call").get_json()
    assert now["primary"] == {
        "id": world.coordinator.id,
        "name": world.coordinator.name,
        "email": world.coordinator.email,
    }
    assert now["backup"] is None and now["nobody"] is False and now["timezone"] == "Europe/London"
    assert [s["id"] for s in now["shifts"]] == [shift["id"]]
    assert api.get(f"/on-call/shifts/{shift['id']}").status_code == 200

    assert api.delete(f"/on-call/shifts/{shift['id']}").status_code == 204
    assert db.session.scalar(sa.select(sa.func.count(OnCallShift.id))) == 0
    assert api.get("/on-call").get_json()["nobody"] is True


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"ends_at": "2026-11-24T07:00:00Z"}, "ends_at"),
        ({"starts_at": "2026-11-24T08:00:00"}, "starts_at"),  # no offset: refused, not guessed
        ({"role": "boss"}, "role"),
        ({"note": "x" * 201}, "note"),
        ({"user_id": "1"}, "user_id"),
    ],
)
def test_a_bad_shift_is_refused_with_the_field_named_and_nothing_stored(api_as, world, time_machine, changes, field):
    time_machine.move_to(T0, tick=False)
    response = api_as(world.coordinator).post("/on-call/shifts", json=_body(world, **changes))
    assert response.status_code == 422
    assert field in response.get_json()["errors"]["json"]
    assert db.session.scalar(sa.select(sa.func.count(OnCallShift.id))) == 0


@pytest.mark.parametrize("who", ["agent", "client", "other_org"])
def test_only_the_organisations_staff_can_be_put_on_call(api_as, world, time_machine, who):
    time_machine.move_to(T0, tick=False)
    response = api_as(world.coordinator).post("/on-call/shifts", json=_body(world, user_id=world.user(who).id))
    assert response.status_code == 422
    assert response.get_json()["errors"]["json"]["user_id"]


@pytest.mark.parametrize("who", ["agent", "client"])
def test_agents_and_clients_are_refused(api_as, world, who, time_machine):
    time_machine.move_to(T0, tick=False)
    api = api_as(world.user(who))
    assert api.get("/on-call").status_code == 403
    assert api.post("/on-call/shifts", json=_body(world)).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count(OnCallShift.id))) == 0


def test_no_token_is_401(client, world):
    assert client.get("/api/v1/on-call").status_code == 401


def test_another_organisations_shifts_are_invisible_and_untouchable(api_as, world, time_machine):
    time_machine.move_to(T0, tick=False)
    rival = api_as(world.other_org_coordinator)
    theirs = rival.post("/on-call/shifts", json=_body(world, user_id=world.other_org_coordinator.id)).get_json()
    api = api_as(world.coordinator)
    now = api.get("/on-call").get_json()
    assert now["nobody"] is True and now["shifts"] == []
    assert api.get(f"/on-call/shifts/{theirs['id']}").status_code == 404
    assert api.delete(f"/on-call/shifts/{theirs['id']}").status_code == 404
    assert db.session.get(OnCallShift, theirs["id"]) is not None
    assert rival.get("/on-call").get_json()["primary"]["id"] == world.other_org_coordinator.id


def test_the_api_document_describes_the_rota(client, world):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"get"} <= paths["/api/v1/on-call"].keys()
    assert {"post"} <= paths["/api/v1/on-call/shifts"].keys()
    assert {"get", "delete"} <= paths["/api/v1/on-call/shifts/{shift_id}"].keys()
