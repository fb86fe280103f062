"""Persons of interest: coordinators only; a BOLO summary reaches a detail's agents when shared (the summary
alone, not the name or the assessment), and nothing of the file ever reaches a client."""

import sqlalchemy as sa

from detail.extensions import db
from detail.models import PersonOfInterest
from detail.web.auth import issue_token

from .conftest import T0, sign_in

WORK_UP = "WORKUP-SECRET: sent 14 emails from a burner account, known address in Croydon"
BOLO = "Tall, shaved head, green parka; do not engage, call the detail lead"


def _form(world, **changes):
    form = {
        "client_id": world.client.id,
        "detail_id": world.detail.id,
        "name": "Victor Vane",
        "description": "Former contractor",
        "came_to_notice": "Hostile emails to the CEO's office",
        "assessment": "elevated",
        "work_up": WORK_UP,
        "bolo": BOLO,
    }
    form.update(changes)
    return form


def test_a_coordinator_records_an_assessment_with_who_and_when(client, world, time_machine):
    time_machine.move_to(T0, tick=False)
    sign_in(client, world.coordinator)
    assert client.post("/admin/persons/new", data=_form(world)).status_code == 302
    person = db.session.scalar(sa.select(PersonOfInterest))
    assert (person.assessment, person.assessed_by_id, person.assessed_at) == ("elevated", world.coordinator.id, T0)
    assert person.bolo_shared is False
    page = client.get("/admin/persons").get_data(as_text=True)
    assert "Victor Vane" in page and "Elevated" in page and "not shared" in page


def test_sharing_needs_a_detail_and_a_summary(client, world):
    sign_in(client, world.coordinator)
    r = client.post("/admin/persons/new", data=_form(world, detail_id="", bolo_shared="y"))
    assert r.status_code == 400 and "choose the detail" in r.get_data(as_text=True)
    r = client.post("/admin/persons/new", data=_form(world, detail_id=world.other_client_detail.id))
    assert r.status_code == 400 and "is not a detail of Northwind plc" in r.get_data(as_text=True)


def test_agents_see_only_a_shared_bolo_and_clients_nothing(client, world, time_machine):
    time_machine.move_to(T0, tick=False)
    sign_in(client, world.coordinator)
    client.post("/admin/persons/new", data=_form(world))
    person = db.session.scalar(sa.select(PersonOfInterest))

    def phone_text():
        sign_in(client, world.agent_user)
        return client.get("/phone/state").get_data(as_text=True)

    assert "Victor Vane" not in phone_text()  # not shared yet
    sign_in(client, world.coordinator)
    assert client.post(f"/admin/persons/{person.id}/edit", data=_form(world, bolo_shared="y")).status_code == 302
    text = phone_text()
    assert BOLO in text
    # The summary only, never the file: not even the name or the assessment the coordinator keeps.
    assert "Victor Vane" not in text and "Elevated" not in text and "elevated" not in text
    assert WORK_UP not in text and "Hostile emails" not in text
    [bolo] = [b for a in client.get("/phone/state").json["assignments"] for b in a["bolos"]]
    assert bolo == {"summary": BOLO}
    # the agent is not let into the file itself
    assert client.get("/admin/persons").status_code == 403
    # a client contact sees none of it, anywhere
    sign_in(client, world.contact)
    for page in ("/portal", f"/portal/details/{world.detail.id}", "/portal/advisories", "/admin/persons"):
        body = client.get(page).get_data(as_text=True)
        assert "Victor Vane" not in body and BOLO not in body
    token = issue_token(world.contact, "x")
    db.session.commit()
    r = client.get(f"/api/v1/details/{world.detail.id}/board", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403
