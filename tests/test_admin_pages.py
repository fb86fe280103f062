"""Coordinator pages: building a detail end to end, refusing bad input, scoping, roles and tokens."""

import html
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from detail.extensions import db
from detail.models import Agent, ApiToken, Assignment, Client, Detail, Movement, Principal, Site, User, Visit
from detail.web.auth import user_for_token
from tests.conftest import build_world, make_app, sign_in

UTC = timezone.utc


def text(response) -> str:
    """The page as a reader sees it (entities such as &#39; decoded)."""
    return html.unescape(response.get_data(as_text=True))


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def only(model, *where):
    return db.session.scalars(sa.select(model).where(*where)).one()


def path_of(response) -> str:
    return urlsplit(response.headers["Location"]).path


@pytest.fixture
def coordinator(world, as_user):
    return as_user(world.coordinator)


@pytest.fixture
def new_york(world):
    site = Site(
        organisation=world.org, name="Lotte Palace", latitude=40.758, longitude=-73.975, timezone="America/New_York"
    )
    db.session.add(site)
    db.session.commit()
    return site


def other_org_site(world) -> Site:
    return world.other_org_detail.visits[0].site


def assignment_data(
    agent_id, role="agent", site_id="", report="2026-11-24T07:30", start="2026-11-24T07:00", end="2026-11-24T20:00"
):
    return {
        "assignment-agent_id": agent_id,
        "assignment-role": role,
        "assignment-site_id": site_id,
        "assignment-report_at": report,
        "assignment-shift_starts_at": start,
        "assignment-shift_ends_at": end,
    }


# --- the whole journey --------------------------------------------------------------------------


def test_coordinator_builds_a_detail_through_the_pages(world, coordinator, new_york):
    r = coordinator.post("/admin/clients/new", data={"name": "Globex", "notes": "Pays on time"})
    assert r.status_code == 302
    globex = only(Client, Client.name == "Globex")
    assert globex.organisation_id == world.org.id
    assert path_of(r) == f"/admin/clients/{globex.id}"

    r = coordinator.post(
        f"/admin/clients/{globex.id}/contacts",
        data={
            "contact-name": "Hank Scorpio",
            "contact-email": "hank@globex.example",
            "contact-title": "CEO",
            "contact-phone": "+1 555 0100",
            "contact-password": "a long enough password",
        },
    )
    assert r.status_code == 302
    contact = only(User, User.email == "hank@globex.example")
    assert (contact.role, contact.client_id, contact.organisation_id) == ("client", globex.id, world.org.id)
    assert contact.check_password("a long enough password")

    r = coordinator.post(
        f"/admin/clients/{globex.id}/principals",
        data={"principal-name": "Hank Scorpio", "principal-code_name": "VOLCANO", "principal-notes": ""},
    )
    assert r.status_code == 302
    principal = only(Principal, Principal.code_name == "VOLCANO")
    assert principal.client_id == globex.id

    r = coordinator.post(
        "/admin/sites/new",
        data={
            "name": "The Savoy",
            "address": "Strand, London",
            "latitude": "51.5104",
            "longitude": "-0.1204",
            "arrival_radius_m": "120",
            "timezone": "Europe/London",
        },
    )
    assert r.status_code == 302
    savoy = only(Site, Site.name == "The Savoy")
    assert (savoy.organisation_id, savoy.latitude, savoy.longitude) == (world.org.id, 51.5104, -0.1204)
    assert (savoy.arrival_radius_m, savoy.timezone) == (120, "Europe/London")

    r = coordinator.post(
        "/admin/agents/new",
        data={
            "name": "Casey Jones",
            "email": "casey@aegis.example",
            "call_sign": "Charlie 2",
            "phone": "",
            "password": "",
        },
    )
    assert r.status_code == 302
    agent = only(Agent, Agent.call_sign == "Charlie 2")
    assert (agent.organisation_id, agent.user.role, agent.user.email) == (world.org.id, "agent", "casey@aegis.example")
    assert agent.user.password_hash is None  # signs in with tokens only

    # The organisation's zone is Europe/London: 09:00 typed in July is 08:00 UTC (BST).
    r = coordinator.post(
        "/admin/details/new",
        data={
            "name": "Globex London summit",
            "client_id": globex.id,
            "principal_id": principal.id,
            "starts_at": "2026-07-01T09:00",
            "ends_at": "2026-07-02T18:00",
            "state": "planned",
            "notes": "Avoid the Strand at noon",
        },
    )
    assert r.status_code == 302
    detail = only(Detail, Detail.name == "Globex London summit")
    assert path_of(r) == f"/admin/details/{detail.id}"
    assert (detail.client_id, detail.principal_id, detail.state) == (globex.id, principal.id, "planned")
    assert detail.starts_at == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    assert detail.ends_at == datetime(2026, 7, 2, 17, 0, tzinfo=UTC)

    r = coordinator.post(
        f"/admin/details/{detail.id}/visits",
        data={
            "visit-site_id": savoy.id,
            "visit-arrives_at": "2026-07-01T09:00",
            "visit-departs_at": "2026-07-01T11:00",
            "visit-purpose": "Breakfast meeting",
        },
    )
    assert r.status_code == 302
    visit = only(Visit, Visit.detail_id == detail.id)
    assert (visit.site_id, visit.purpose) == (savoy.id, "Breakfast meeting")
    assert visit.arrives_at == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    assert visit.departs_at == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)

    # Each end of a movement is typed in its own venue's zone.
    r = coordinator.post(
        f"/admin/details/{detail.id}/movements",
        data={
            "movement-from_site_id": savoy.id,
            "movement-to_site_id": new_york.id,
            "movement-departs_at": "2026-07-01T12:00",
            "movement-arrives_at": "2026-07-01T15:00",
            "movement-notes": "Private jet from Farnborough",
        },
    )
    assert r.status_code == 302
    movement = only(Movement, Movement.detail_id == detail.id)
    assert (movement.from_site_id, movement.to_site_id) == (savoy.id, new_york.id)
    assert movement.departs_at == datetime(2026, 7, 1, 11, 0, tzinfo=UTC)  # 12:00 BST
    assert movement.arrives_at == datetime(2026, 7, 1, 19, 0, tzinfo=UTC)  # 15:00 EDT

    r = coordinator.post(
        f"/admin/details/{detail.id}/assignments",
        data=assignment_data(
            agent.id, "detail_lead", savoy.id, "2026-07-01T08:30", "2026-07-01T08:00", "2026-07-01T20:00"
        ),
    )
    assert r.status_code == 302
    assignment = only(Assignment, Assignment.detail_id == detail.id)
    assert (assignment.agent_id, assignment.role, assignment.site_id) == (agent.id, "detail_lead", savoy.id)
    assert assignment.report_at == datetime(2026, 7, 1, 7, 30, tzinfo=UTC)
    assert assignment.shift_starts_at == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)
    assert assignment.shift_ends_at == datetime(2026, 7, 1, 19, 0, tzinfo=UTC)
    assert detail.lead is agent

    page = text(coordinator.get(f"/admin/details/{detail.id}"))
    assert "Charlie 2" in page and "Detail lead" in page and "The Savoy" in page
    assert "Wed 01 Jul 08:30 BST" in page  # report time, back in the venue's zone
    assert "Wed 01 Jul 15:00 EDT" in page  # arrival in New York, in New York's zone
    assert "VOLCANO" in page and "Avoid the Strand at noon" in page


def test_times_follow_the_chosen_venue_or_else_the_organisation(world, coordinator, new_york):
    r = coordinator.post(
        f"/admin/details/{world.detail.id}/assignments",
        data=assignment_data(
            world.idle_agent_user.agent.id,
            "advance",
            new_york.id,
            "2026-11-24T09:00",
            "2026-11-24T08:00",
            "2026-11-24T17:00",
        ),
    )
    assert r.status_code == 302
    at_venue = only(Assignment, Assignment.agent_id == world.idle_agent_user.agent.id)
    assert at_venue.report_at == datetime(2026, 11, 24, 14, 0, tzinfo=UTC)  # 09:00 EST

    r = coordinator.post(
        f"/admin/details/{world.detail.id}/assignments/{at_venue.id}/edit",
        data=assignment_data(
            world.idle_agent_user.agent.id, "advance", "", "2026-11-24T09:00", "2026-11-24T08:00", "2026-11-24T17:00"
        ),
    )
    assert r.status_code == 302
    assert at_venue.report_at == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # Europe/London is GMT in November


def test_edit_forms_show_stored_times_in_the_venue_zone(world, coordinator, new_york):
    visit = world.detail.visits[0]  # the Grand Hotel, London, from 08:00 UTC on 24 November
    page = text(coordinator.get(f"/admin/details/{world.detail.id}/visits/{visit.id}/edit"))
    assert 'value="2026-11-24T08:00"' in page
    assert "Europe/London" in page

    coordinator.post(
        f"/admin/details/{world.detail.id}/visits/{visit.id}/edit",
        data={
            "visit-site_id": new_york.id,
            "visit-arrives_at": "2026-11-24T08:00",
            "visit-departs_at": "2026-11-24T10:00",
            "visit-purpose": "Moved to New York",
        },
    )
    page = text(coordinator.get(f"/admin/details/{world.detail.id}/visits/{visit.id}/edit"))
    assert 'value="2026-11-24T08:00"' in page and "America/New_York" in page
    assert visit.arrives_at == datetime(2026, 11, 24, 13, 0, tzinfo=UTC)


def test_details_list_puts_hot_first_and_shows_the_organisation_zone(world, coordinator):
    world.other_client_detail.state = "hot"
    world.other_client_detail.starts_at = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    world.other_client_detail.ends_at = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    db.session.add(
        Detail(
            client=world.client,
            name="Last year's",
            state="complete",
            starts_at=datetime(2025, 7, 1, 8, tzinfo=UTC),
            ends_at=datetime(2025, 7, 1, 9, tzinfo=UTC),
        )
    )
    db.session.commit()
    page = text(coordinator.get("/admin/details"))
    hot, planned, past = (page.index(n) for n in ("Contoso board visit", "Northwind CEO London", "Last year's"))
    assert hot < planned < past
    assert "Fabrikam NYC" not in page  # another organisation's
    assert "Tue 24 Nov 08:00 GMT" in page
    assert "Tue 01 Jul 09:00 BST" in page


# --- refusing bad input -------------------------------------------------------------------------


def test_detail_ending_before_it_starts_is_refused(world, coordinator):
    before = count(Detail)
    r = coordinator.post(
        "/admin/details/new",
        data={
            "name": "Backwards",
            "client_id": world.client.id,
            "principal_id": "",
            "starts_at": "2026-07-01T18:00",
            "ends_at": "2026-07-01T09:00",
            "state": "planned",
        },
    )
    assert r.status_code == 400
    assert "must be after the start" in text(r)
    assert count(Detail) == before


def test_editing_a_detail_badly_keeps_what_was_stored(world, coordinator):
    starts, ends = world.detail.starts_at, world.detail.ends_at
    r = coordinator.post(
        f"/admin/details/{world.detail.id}/edit",
        data={
            "name": "Renamed",
            "client_id": world.client.id,
            "principal_id": world.principal.id,
            "starts_at": "2026-11-24T18:00",
            "ends_at": "2026-11-24T09:00",
            "state": "hot",
        },
    )
    assert r.status_code == 400
    assert "must be after the start" in text(r)
    assert (world.detail.name, world.detail.state) == ("Northwind CEO London", "planned")
    assert (world.detail.starts_at, world.detail.ends_at) == (starts, ends)


def test_principal_of_another_client_is_refused(world, coordinator):
    before = count(Detail)
    r = coordinator.post(
        "/admin/details/new",
        data={
            "name": "Mixed up",
            "client_id": world.other_client.id,
            "principal_id": world.principal.id,
            "starts_at": "2026-07-01T09:00",
            "ends_at": "2026-07-01T18:00",
            "state": "planned",
        },
    )
    assert r.status_code == 400
    assert "must be a principal of the detail's client" in text(r)
    assert count(Detail) == before


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("latitude", "91", "Latitude must be between -90 and 90."),
        ("longitude", "-180.5", "Longitude must be between -180 and 180."),
        ("latitude", "nan", "Must be an ordinary number."),
        ("arrival_radius_m", "0", "The radius must be between 1 and 100000 metres."),
        ("timezone", "Mars/Olympus_Mons", "Not a known time zone"),
        ("timezone", "localtime", "Not a known time zone"),
    ],
)
def test_bad_venue_is_refused(world, coordinator, field, value, message):
    before = count(Site)
    data = {
        "name": "Somewhere",
        "address": "",
        "latitude": "51.5",
        "longitude": "-0.1",
        "arrival_radius_m": "100",
        "timezone": "Europe/London",
    }
    r = coordinator.post("/admin/sites/new", data={**data, field: value})
    assert r.status_code == 400
    assert message in text(r)
    assert count(Site) == before


def test_bad_venue_edit_keeps_the_stored_venue(world, coordinator):
    r = coordinator.post(
        f"/admin/sites/{world.hotel.id}/edit",
        data={
            "name": "Grand Hotel",
            "latitude": "91",
            "longitude": "-0.134",
            "arrival_radius_m": "150",
            "timezone": "Nowhere/Special",
        },
    )
    assert r.status_code == 400
    page = text(r)
    assert "Latitude must be between -90 and 90." in page and "Not a known time zone" in page
    assert (world.hotel.latitude, world.hotel.timezone) == (51.5101, "Europe/London")


def test_second_detail_lead_is_refused(world, coordinator):
    before = count(Assignment)
    r = coordinator.post(
        f"/admin/details/{world.detail.id}/assignments",
        data=assignment_data(world.idle_agent_user.agent.id, "detail_lead", world.hotel.id),
    )
    assert r.status_code == 400
    assert "the detail already has a lead (Bravo 1)" in text(r)
    assert count(Assignment) == before


def test_same_agent_twice_is_refused(world, coordinator):
    before = count(Assignment)
    r = coordinator.post(
        f"/admin/details/{world.detail.id}/assignments", data=assignment_data(world.agent.id, "driver")
    )
    assert r.status_code == 400
    assert "Bravo 1 is already assigned to this detail" in text(r)
    assert count(Assignment) == before


def test_shift_ending_before_it_starts_is_refused(world, coordinator):
    before = count(Assignment)
    r = coordinator.post(
        f"/admin/details/{world.detail.id}/assignments",
        data=assignment_data(world.idle_agent_user.agent.id, start="2026-11-24T20:00", end="2026-11-24T07:00"),
    )
    assert r.status_code == 400
    assert "must be after the shift start" in text(r)
    assert count(Assignment) == before


def test_movement_between_the_same_venue_is_refused(world, coordinator):
    before = count(Movement)
    r = coordinator.post(
        f"/admin/details/{world.detail.id}/movements",
        data={
            "movement-from_site_id": world.hotel.id,
            "movement-to_site_id": world.hotel.id,
            "movement-departs_at": "2026-11-24T12:00",
            "movement-arrives_at": "2026-11-24T12:30",
        },
    )
    assert r.status_code == 400
    assert "must be another venue than the one the movement leaves from" in text(r)
    assert count(Movement) == before


def test_visit_ending_before_it_starts_is_refused(world, coordinator):
    before = count(Visit)
    r = coordinator.post(
        f"/admin/details/{world.detail.id}/visits",
        data={
            "visit-site_id": world.venue.id,
            "visit-arrives_at": "2026-11-24T12:00",
            "visit-departs_at": "2026-11-24T11:00",
        },
    )
    assert r.status_code == 400
    assert "must be after the arrival" in text(r)
    assert count(Visit) == before


def test_time_skipped_by_the_clocks_going_forward_is_refused(world, coordinator):
    before = count(Visit)
    r = coordinator.post(
        f"/admin/details/{world.detail.id}/visits",
        data={
            "visit-site_id": world.venue.id,
            "visit-arrives_at": "2026-03-29T01:30",
            "visit-departs_at": "2026-03-29T04:00",
        },
    )
    assert r.status_code == 400
    assert "01:30 does not exist in Europe/London" in text(r)
    assert count(Visit) == before


def test_another_organisations_venue_cannot_be_chosen(world, coordinator):
    before = count(Visit)
    r = coordinator.post(
        f"/admin/details/{world.detail.id}/visits",
        data={
            "visit-site_id": other_org_site(world).id,
            "visit-arrives_at": "2026-11-24T12:00",
            "visit-departs_at": "2026-11-24T13:00",
        },
    )
    assert r.status_code == 400
    assert "Not a valid choice" in text(r)
    assert count(Visit) == before


def test_duplicates_are_refused_with_a_message(world, coordinator):
    users, agents = count(User), count(Agent)
    r = coordinator.post(
        "/admin/agents/new",
        data={"name": "Copy", "email": "AGENT@aegis.example", "call_sign": "bravo 1", "password": "short"},
    )
    assert r.status_code == 400
    page = text(r)
    assert "Another account already uses this email." in page
    assert "Another agent already has this call sign." in page
    assert "Use at least 10 characters." in page
    r = coordinator.post("/admin/clients/new", data={"name": "northwind PLC"})
    assert r.status_code == 400 and "Another client already has this name." in text(r)
    r = coordinator.post(
        f"/admin/clients/{world.client.id}/principals",
        data={"principal-name": "Jane", "principal-code_name": "kestrel"},
    )
    assert r.status_code == 400 and "This client already uses this code name." in text(r)
    assert (count(User), count(Agent)) == (users, agents)


def test_contact_needs_a_ten_character_password(world, coordinator):
    before = count(User)
    r = coordinator.post(
        f"/admin/clients/{world.client.id}/contacts",
        data={"contact-name": "Short", "contact-email": "short@northwind.example", "contact-password": "123456789"},
    )
    assert r.status_code == 400
    assert "Use at least 10 characters." in text(r)
    assert count(User) == before


# --- edits and removals -------------------------------------------------------------------------


def test_deactivating_people(world, coordinator, client):
    r = coordinator.post(
        f"/admin/clients/{world.client.id}/contacts/{world.contact.id}/edit",
        data={
            "name": "Northwind Security",
            "email": "security@northwind.example",
            "title": "Head of security",
            "phone": "",
            "password": "",
        },  # active left unticked
    )
    assert r.status_code == 302
    assert world.contact.active is False
    assert world.contact.title == "Head of security"
    assert world.contact.check_password("correct horse battery staple")  # blank keeps the password

    r = coordinator.post(
        f"/admin/agents/{world.agent.id}/edit", data={"name": "Sam Carter", "call_sign": "Bravo 7", "phone": "+44 7700"}
    )
    assert r.status_code == 302
    assert (world.agent.call_sign, world.agent.user.phone, world.agent.user.active) == ("Bravo 7", "+44 7700", False)


def test_removing_itinerary_rows(world, coordinator):
    d = world.detail
    visit, assignment = d.visits[0], d.assignments[0]
    for url in (
        f"/admin/details/{d.id}/visits/{visit.id}/delete",
        f"/admin/details/{d.id}/assignments/{assignment.id}/delete",
    ):
        r = coordinator.post(url, data={"confirmed": "1"})
        assert r.status_code == 302 and path_of(r) == f"/admin/details/{d.id}"
    # The movement leaving the hotel went with the hotel's visit; the other organisation's visit stays.
    assert (count(Visit), count(Movement), count(Assignment)) == (1, 0, 0)


# --- scoping and roles --------------------------------------------------------------------------


def test_another_organisations_rows_are_not_found(world, coordinator):
    rival_detail, rival_client, rival_site = (
        world.other_org_detail,
        world.other_org_detail.client,
        other_org_site(world),
    )
    rival_visit = rival_detail.visits[0]
    for url in (
        f"/admin/details/{rival_detail.id}",
        f"/admin/details/{rival_detail.id}/edit",
        f"/admin/details/{rival_detail.id}/visits/{rival_visit.id}/edit",
        f"/admin/details/{world.detail.id}/visits/{rival_visit.id}/edit",
        f"/admin/sites/{rival_site.id}/edit",
        f"/admin/clients/{rival_client.id}",
        f"/admin/clients/{rival_client.id}/edit",
        f"/admin/agents/{world.agent.id + 1000}/edit",
    ):
        assert coordinator.get(url).status_code == 404, url
    r = coordinator.post(
        f"/admin/details/{rival_detail.id}/visits",
        data={
            "visit-site_id": world.hotel.id,
            "visit-arrives_at": "2026-11-24T12:00",
            "visit-departs_at": "2026-11-24T13:00",
        },
    )
    assert r.status_code == 404
    assert coordinator.post(f"/admin/details/{rival_detail.id}/visits/{rival_visit.id}/delete").status_code == 404
    assert count(Visit) == 2


def test_a_visit_is_only_reached_through_its_own_detail(world, coordinator):
    visit = world.detail.visits[0]
    other = world.other_client_detail.id
    assert coordinator.get(f"/admin/details/{other}/visits/{visit.id}/edit").status_code == 404
    assert coordinator.post(f"/admin/details/{other}/visits/{visit.id}/delete").status_code == 404
    assert count(Visit) == 2


PAGES = ["/admin/details", "/admin/details/new", "/admin/clients", "/admin/sites", "/admin/agents", "/admin/tokens"]


@pytest.mark.parametrize("role", ["agent", "client"])
def test_agents_and_client_contacts_are_forbidden(world, as_user, role):
    browser = as_user(world.user(role))
    for url in [*PAGES, f"/admin/details/{world.detail.id}", f"/admin/clients/{world.client.id}"]:
        assert browser.get(url).status_code == 403, url
    assert browser.post("/admin/clients/new", data={"name": "Sneaky"}).status_code == 403
    assert browser.post("/admin/tokens", data={"user_id": world.admin.id}).status_code == 403
    assert count(Client) == 3 and count(ApiToken) == 0


def test_anonymous_is_sent_to_sign_in(world, client):
    for url in PAGES:
        r = client.get(url)
        assert r.status_code == 302 and path_of(r) == "/login", url
    assert client.post("/admin/clients/new", data={"name": "Sneaky"}).status_code == 302
    assert count(Client) == 3


def test_admin_uses_the_pages_too(world, as_user):
    assert as_user(world.admin).get("/admin/details").status_code == 200


def test_every_page_renders(world, coordinator):
    d, c = world.detail, world.client
    for url in [
        *PAGES,
        "/admin/clients/new",
        "/admin/sites/new",
        "/admin/agents/new",
        f"/admin/details/{d.id}",
        f"/admin/details/{d.id}/edit",
        f"/admin/details/{d.id}/visits/{d.visits[0].id}/edit",
        f"/admin/details/{d.id}/movements/{d.movements[0].id}/edit",
        f"/admin/details/{d.id}/assignments/{d.assignments[0].id}/edit",
        f"/admin/clients/{c.id}",
        f"/admin/clients/{c.id}/edit",
        f"/admin/clients/{c.id}/contacts/{world.contact.id}/edit",
        f"/admin/clients/{c.id}/principals/{world.principal.id}/edit",
        f"/admin/sites/{world.hotel.id}/edit",
        f"/admin/agents/{world.agent.id}/edit",
    ]:
        assert coordinator.get(url).status_code == 200, url


# --- tokens -------------------------------------------------------------------------------------


def test_token_is_shown_once_and_revocation_is_immediate(world, coordinator):
    r = coordinator.post("/admin/tokens", data={"user_id": world.agent_user.id, "name": "Sam's phone"})
    assert r.status_code == 201
    assert r.headers["Cache-Control"] == "no-store"
    page = text(r)
    assert "not shown again" in page
    token = re.search(r"om_[A-Za-z0-9_-]{40,}", page).group(0)
    assert user_for_token(token) is world.agent_user
    db.session.commit()  # user_for_token noted the use; SQLite would otherwise stay locked for the next request

    listing = text(coordinator.get("/admin/tokens"))
    assert "Sam's phone" in listing and "live" in listing
    assert token not in listing

    row = only(ApiToken, ApiToken.name == "Sam's phone")
    r = coordinator.post(f"/admin/tokens/{row.id}/revoke", data={"confirmed": "1"})
    assert r.status_code == 302 and path_of(r) == "/admin/tokens"
    assert row.revoked_at is not None
    assert user_for_token(token) is None


def test_token_scoping(world, coordinator):
    # A coordinator may not mint a token that acts as an admin, nor one for another organisation's user.
    for user in (world.admin, world.other_org_coordinator):
        r = coordinator.post("/admin/tokens", data={"user_id": user.id, "name": "x"})
        assert r.status_code == 400 and "Not a valid choice" in text(r)
    assert count(ApiToken) == 0

    rival = ApiToken(user=world.other_org_coordinator, name="rival", token_hash=ApiToken.hash("om_rival"))
    db.session.add(rival)
    db.session.commit()
    assert coordinator.post(f"/admin/tokens/{rival.id}/revoke").status_code == 404
    assert rival.revoked_at is None
    assert "rival" not in text(coordinator.get("/admin/tokens"))


def test_an_admin_may_issue_an_admin_token(world, as_user):
    assert as_user(world.admin).post("/admin/tokens", data={"user_id": world.admin.id}).status_code == 201
    assert only(ApiToken).user_id == world.admin.id


def test_revoked_tokens_stay_listed_as_revoked(world, coordinator):
    coordinator.post("/admin/tokens", data={"user_id": world.agent_user.id, "name": "old phone"})
    row = only(ApiToken, ApiToken.name == "old phone")
    row.revoked_at = datetime.now(UTC) - timedelta(minutes=1)
    db.session.commit()
    page = text(coordinator.get("/admin/tokens"))
    assert "old phone" in page and "revoked" in page
    assert f"/admin/tokens/{row.id}/revoke" not in page


# --- safety nets --------------------------------------------------------------------------------


def test_a_clash_the_checks_miss_is_caught_and_nothing_is_stored(world, coordinator, monkeypatch):
    # As if another coordinator had made someone lead between this page's check and its commit.
    monkeypatch.setattr("detail.web.admin.itinerary.check_assignment", lambda assignment, by: None)
    before = count(Assignment)
    r = coordinator.post(
        f"/admin/details/{world.detail.id}/assignments",
        data=assignment_data(world.idle_agent_user.agent.id, "detail_lead"),
    )
    assert r.status_code == 400
    assert "Nothing was saved" in text(r)
    assert count(Assignment) == before
    assert world.detail.lead is world.agent


def test_forms_carry_and_require_a_csrf_token(tmp_path):
    app = make_app(tmp_path, WTF_CSRF_ENABLED=True)
    with app.app_context():
        db.create_all()
        world = build_world()
        browser = app.test_client()
        sign_in(browser, world.coordinator)
        page = browser.get("/admin/clients/new").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        assert browser.post("/admin/clients/new", data={"name": "No token"}).status_code == 400
        assert browser.post("/admin/clients/new", data={"name": "With token", "csrf_token": token}).status_code == 302
        assert [c.name for c in db.session.scalars(sa.select(Client).where(Client.name.like("%token")))] == [
            "With token"
        ]

        # Three add forms, a remove button per visit, movement and assignment, and Go hot.
        page = browser.get(f"/admin/details/{world.detail.id}").get_data(as_text=True)
        assert len(re.findall(r'name="[a-z-]*csrf_token" type="hidden" value="[^"]+"', page)) == 7
        db.session.remove()
        db.engine.dispose()
