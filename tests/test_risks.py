"""The risk register: per client and per detail, overdue reviews first, internal to the organisation."""

from datetime import date, timedelta

import sqlalchemy as sa

from detail.extensions import db
from detail.models import Risk

from .conftest import sign_in


def _form(world, **changes):
    form = {
        "client_id": world.client.id,
        "detail_id": "",
        "title": "Disgruntled former employee",
        "likelihood": "2",
        "impact": "4",
        "mitigation": "Photo with venue security; agent at the door",
        "owner_id": world.coordinator.id,
        "status": "open",
        "review_on": "2026-12-01",
    }
    form.update(changes)
    return form


def test_a_coordinator_adds_and_edits_a_risk(client, world):
    sign_in(client, world.coordinator)
    assert client.get(f"/admin/risks/new?client={world.client.id}").status_code == 200
    r = client.post("/admin/risks/new", data=_form(world, detail_id=world.detail.id))
    assert r.status_code == 302
    risk = db.session.scalar(sa.select(Risk))
    assert (risk.client_id, risk.detail_id, risk.score, risk.owner_id) == (
        world.client.id,
        world.detail.id,
        8,
        world.coordinator.id,
    )
    r = client.post(f"/admin/risks/{risk.id}/edit", data=_form(world, status="mitigated", likelihood="1"))
    assert r.status_code == 302
    db.session.expire_all()
    assert (risk.status, risk.score, risk.detail_id) == ("mitigated", 4, None)


def test_a_detail_of_another_client_is_refused(client, world):
    sign_in(client, world.coordinator)
    r = client.post("/admin/risks/new", data=_form(world, detail_id=world.other_client_detail.id))
    assert r.status_code == 400 and "is not a detail of Northwind plc" in r.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Risk)) == 0


def test_the_register_lists_overdue_reviews_first_and_hides_closed(client, world, time_machine):
    time_machine.move_to("2026-11-24T12:00:00+00:00", tick=False)
    db.session.add_all(
        [
            Risk(client=world.client, title="High but reviewed", likelihood=5, impact=5, review_on=date(2026, 12, 20)),
            Risk(client=world.client, title="Low and overdue", likelihood=1, impact=1, review_on=date(2026, 11, 1)),
            Risk(
                client=world.client,
                title="Closed long ago",
                likelihood=3,
                impact=3,
                status="closed",
                review_on=date(2026, 1, 1),
            ),
            Risk(client=world.other_client, title="Contoso risk", likelihood=2, impact=2, review_on=date(2026, 12, 1)),
        ]
    )
    db.session.commit()
    sign_in(client, world.coordinator)
    page = client.get(f"/admin/risks?client={world.client.id}").get_data(as_text=True)
    assert page.index("Low and overdue") < page.index("High but reviewed")
    assert "overdue" in page and "Closed long ago" not in page and "Contoso risk" not in page
    assert "Closed long ago" in client.get(f"/admin/risks?client={world.client.id}&all=1").get_data(as_text=True)


def test_clients_and_agents_never_see_the_register(client, world, time_machine):
    time_machine.move_to(world.detail.starts_at - timedelta(minutes=30), tick=False)  # the agent is on shift
    db.session.add(
        Risk(
            client=world.client,
            detail=world.detail,
            title="Stalker sighted",
            likelihood=3,
            impact=5,
            mitigation="Photo with the hotel's security",
            review_on=date(2026, 12, 1),
        )
    )
    db.session.commit()
    # Each reads the pages that are theirs (200: a refused page would hide nothing), and each page
    # is about the detail the risk is on.
    pages = {
        world.contact: ("/portal", f"/portal/details/{world.detail.id}", "/portal/advisories"),
        world.agent_user: ("/phone/", "/phone/state", f"/phone/details/{world.detail.id}/handoff"),
    }
    for user, urls in pages.items():
        sign_in(client, user)
        assert client.get("/admin/risks").status_code == 403
        assert client.get(f"/admin/risks?client={world.client.id}").status_code == 403
        for url in urls:
            response = client.get(url)
            body = response.get_data(as_text=True)
            assert response.status_code == 200, (user.role, url, response.status_code)
            if url not in ("/portal/advisories", "/phone/"):  # a list that may be empty; a page its script fills
                assert world.detail.name in body or world.principal.code_name in body, (user.role, url)
            assert "Stalker sighted" not in body and "hotel&#39;s security" not in body, (user.role, url)
