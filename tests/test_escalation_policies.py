"""The escalation policy pages: who may see and edit them, and what a bad form is told."""

import pytest
import sqlalchemy as sa

from detail.domain import escalation
from detail.extensions import db
from detail.models import EscalationPolicy, EscalationStep

from .conftest import sign_in


def steps(world, kind="duress") -> list[tuple]:
    db.session.expire_all()
    policy = db.session.scalar(
        sa.select(EscalationPolicy).where(
            EscalationPolicy.organisation_id == world.org.id, EscalationPolicy.kind == kind
        )
    )
    return [(s.delay_seconds, s.target, s.person_id, s.channels) for s in policy.steps]


def form(rows: list[dict], active=True, **extra) -> dict:
    data = {"rows": str(len(rows)), **extra}
    if active:
        data["active"] = "1"
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"step-{i}-{key}"] = value
    return data


def current_rows(world, kind="duress") -> list[dict]:
    policy = escalation.ensure_policies(world.org.id)[kind]
    db.session.commit()
    return [
        {
            "id": str(s.id),
            "order": str(i + 1),
            "delay": str(s.delay_seconds),
            "target": s.target,
            "channels": s.channel_list,
        }
        for i, s in enumerate(policy.steps)
    ]


@pytest.mark.parametrize(
    ("role", "status"), [("anonymous", 302), ("agent", 403), ("client", 403), ("coordinator", 200), ("admin", 200)]
)
def test_only_staff_see_and_edit_the_policies(client, world, role, status):
    sign_in(client, world.user(role))
    assert client.get("/admin/escalation").status_code == status
    assert client.get("/admin/escalation/duress").status_code == status
    response = client.post(
        "/admin/escalation/duress",
        data=form([{"order": "1", "delay": "0", "target": "coordinators", "channels": ["push"]}]),
    )
    assert response.status_code == (302 if role in ("coordinator", "admin") else status)


def test_the_list_shows_the_defaults(client, world):
    sign_in(client, world.coordinator)
    page = client.get("/admin/escalation").get_data(as_text=True)
    assert "Duress (the team&#39;s duress code)" in page and "On-call backup" in page and "120 s" in page
    assert len(steps(world)) == 3


def test_steps_are_added_reordered_and_removed(client, world):
    sign_in(client, world.coordinator)
    rows = current_rows(world)
    rows[0]["order"] = "2"  # the primary step after the backup's, both at 60 s
    rows[0]["delay"] = "60"
    rows[1]["order"] = "1"
    rows[2]["remove"] = "1"
    rows.append(
        {"order": "3", "delay": "300", "target": "person", "person": str(world.admin.id), "channels": ["sms", "email"]}
    )
    unconfirmed = client.post("/admin/escalation/duress", data=form(rows))
    assert unconfirmed.status_code == 400 and b"Press Save again to confirm" in unconfirmed.data
    assert steps(world)[2] == (120, "coordinators", None, "push,sms,email"), "nothing changes before confirming"
    saved = client.post("/admin/escalation/duress", data=form(rows, confirmed="1"))
    assert saved.status_code == 302
    assert steps(world) == [
        (60, "backup", None, "push,sms"),
        (60, "primary", None, "push,sms"),
        (300, "person", world.admin.id, "sms,email"),
    ]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"order": "1", "delay": "-5", "target": "primary", "channels": ["push"]}, "Delay must be a whole number"),
        ({"order": "1", "delay": "ten", "target": "primary", "channels": ["push"]}, "Delay must be a whole number"),
        ({"order": "1", "delay": "90000", "target": "primary", "channels": ["push"]}, "Delay must be a whole number"),
        ({"order": "x", "delay": "0", "target": "primary", "channels": ["push"]}, "Order must be a whole number"),
        ({"order": "1", "delay": "0", "target": "everyone", "channels": ["push"]}, "Choose who this step notifies"),
        ({"order": "1", "delay": "0", "target": "person", "channels": ["push"]}, "Choose the named person"),
        ({"order": "1", "delay": "0", "target": "primary", "channels": []}, "Tick at least one channel"),
        ({"order": "1", "delay": "0", "target": "primary", "channels": ["fax"]}, "Tick at least one channel"),
    ],
)
def test_a_bad_step_is_refused_with_its_reason_and_nothing_changes(client, world, row, message):
    sign_in(client, world.coordinator)
    before = steps(world) if current_rows(world) else None
    response = client.post("/admin/escalation/duress", data=form([row]))
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert message in text and "Nothing was saved" in text
    assert steps(world) == before


def test_a_person_of_another_organisation_cannot_be_named(client, world):
    sign_in(client, world.coordinator)
    row = {
        "order": "1",
        "delay": "0",
        "target": "person",
        "person": str(world.other_org_coordinator.id),
        "channels": ["push"],
    }
    assert client.post("/admin/escalation/late", data=form([row])).status_code == 400


def test_later_steps_cannot_come_sooner_and_an_active_policy_needs_a_step(client, world):
    sign_in(client, world.coordinator)
    rows = [
        {"order": "1", "delay": "120", "target": "primary", "channels": ["push"]},
        {"order": "2", "delay": "60", "target": "backup", "channels": ["push"]},
    ]
    response = client.post("/admin/escalation/silent", data=form(rows))
    assert response.status_code == 400 and b"Due sooner (60 s) than the step before it (120 s)" in response.data
    empty = client.post("/admin/escalation/silent", data=form([]))
    assert empty.status_code == 400 and b"An active policy needs at least one step" in empty.data
    switched_off = client.post("/admin/escalation/silent", data=form([], active=False))
    assert switched_off.status_code == 302 and steps(world, "silent") == []


def test_an_unknown_kind_or_another_policys_step_is_not_found_or_refused(client, world):
    sign_in(client, world.coordinator)
    assert client.get("/admin/escalation/fire").status_code == 404
    other = escalation.ensure_policies(world.other_org.id)["duress"].steps[0]
    db.session.commit()
    row = {"id": str(other.id), "order": "1", "delay": "0", "target": "primary", "channels": ["push"]}
    assert client.post("/admin/escalation/duress", data=form([row])).status_code == 400
    assert db.session.get(EscalationStep, other.id) is not None
