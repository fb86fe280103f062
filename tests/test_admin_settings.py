"""Settings and status code pages: what is stored, what is refused, who may do what."""

import html
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from detail.domain.statuses import record_status
from detail.extensions import db
from detail.models import Organisation, StatusCode
from tests import conftest


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def path_of(response) -> str:
    return urlsplit(response.headers["Location"]).path


@pytest.fixture
def coordinator(world, as_user):
    return as_user(world.coordinator)


@pytest.fixture
def admin(world, as_user):
    return as_user(world.admin)


def code(world, letters: str, org=None) -> StatusCode:
    organisation = org or world.org
    return db.session.scalars(
        sa.select(StatusCode).where(StatusCode.organisation_id == organisation.id, StatusCode.code == letters)
    ).one()


def codes_of(org) -> list[StatusCode]:
    return list(db.session.scalars(sa.select(StatusCode).where(StatusCode.organisation_id == org.id)))


def code_data(row: StatusCode | None = None, **changes) -> dict:
    """A complete code form: the row's values (or a new routine code), with changes."""
    data = {
        "code": "QRX",
        "spoken_name": "Quebec Romeo",
        "meaning": "Standing by",
        "kind": "routine",
        "signal": "",
        "colour": "#123abc",
        "sort_order": "10",
    }
    if row is not None:
        data = {
            "code": row.code,
            "spoken_name": row.spoken_name,
            "meaning": row.meaning,
            "kind": row.kind,
            "signal": row.signal or "",
            "colour": row.colour,
            "sort_order": str(row.sort_order),
        }
        if row.needs_position:
            data["needs_position"] = "y"
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def settings_data(**changes) -> dict:
    data = {
        "timezone": "Europe/London",
        "om_lead_minutes": "30",
        "silent_after_minutes": "10",
        "geofence_dwell_seconds": "120",
        "geofence_leave_signal": "moving",
        "manual_precedence_minutes": "10",
        "travel_speed_kmh": "50",
        "travel_buffer_minutes": "30",
        "request_alert_minutes": "15",
    }
    data.update(changes)
    return data


def send(world, letters: str) -> None:
    record_status(world.agent, code(world, letters), client_id="x", now=conftest.T0)
    db.session.commit()


# --- settings -----------------------------------------------------------------------------------


def test_settings_change_is_stored(world, coordinator):
    page = text(coordinator.get("/admin/settings"))
    assert "Only an admin can rename the organisation" in page and 'name="name"' not in page

    r = coordinator.post(
        "/admin/settings",
        data=settings_data(
            timezone="America/New_York",
            om_lead_minutes="45",
            silent_after_minutes="5",
            geofence_dwell_seconds="300",
            geofence_leave_signal="clear",
            manual_precedence_minutes="20",
            travel_speed_kmh="80",
            travel_buffer_minutes="45",
            request_alert_minutes="25",
        ),
    )
    assert r.status_code == 302 and path_of(r) == "/admin/settings"
    org = db.session.get(Organisation, world.org.id)
    assert (org.timezone, org.om_lead_minutes, org.silent_after_minutes) == ("America/New_York", 45, 5)
    assert (org.geofence_dwell_seconds, org.geofence_leave_signal, org.manual_precedence_minutes) == (300, "clear", 20)
    assert (org.travel_speed_kmh, org.travel_buffer_minutes, org.request_alert_minutes) == (80, 45, 25)
    assert org.name == "Aegis Protective"
    assert "Settings saved." in text(coordinator.get("/admin/settings"))


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("om_lead_minutes", "241", "between 0 and 240"),
        ("om_lead_minutes", "-1", "between 0 and 240"),
        ("om_lead_minutes", "", "This field is required"),
        ("silent_after_minutes", "0", "between 1 and 240"),
        ("silent_after_minutes", "241", "between 1 and 240"),
        ("silent_after_minutes", "ten", "Not a valid integer"),
        ("geofence_dwell_seconds", "1801", "between 0 and 1800"),
        ("geofence_leave_signal", "teleport", "Not a valid choice"),
        ("manual_precedence_minutes", "-5", "between 0 and 240"),
        ("timezone", "Mars/Olympus_Mons", "Not a known time zone"),
        ("timezone", "localtime", "Not a known time zone"),
    ],
)
def test_bad_settings_are_refused(world, coordinator, field, value, message):
    r = coordinator.post("/admin/settings", data=settings_data(**{field: value}))
    assert r.status_code == 400
    assert message in text(r)
    org = db.session.get(Organisation, world.org.id)
    assert (org.timezone, org.om_lead_minutes, org.silent_after_minutes) == ("Europe/London", 30, 10)


def test_the_bounds_themselves_are_accepted(world, coordinator):
    r = coordinator.post("/admin/settings", data=settings_data(om_lead_minutes="0", silent_after_minutes="240"))
    assert r.status_code == 302
    org = db.session.get(Organisation, world.org.id)
    assert (org.om_lead_minutes, org.silent_after_minutes) == (0, 240)


def test_a_coordinator_cannot_rename_the_organisation(world, coordinator):
    r = coordinator.post("/admin/settings", data=settings_data(name="Coordinator Co", om_lead_minutes="20"))
    assert r.status_code == 403
    org = db.session.get(Organisation, world.org.id)
    assert (org.name, org.om_lead_minutes) == ("Aegis Protective", 30)
    # The name sent back unchanged is no rename: the rest of the form is saved.
    r = coordinator.post("/admin/settings", data=settings_data(name=" Aegis Protective ", om_lead_minutes="20"))
    assert r.status_code == 302
    org = db.session.get(Organisation, world.org.id)
    assert (org.name, org.om_lead_minutes) == ("Aegis Protective", 20)


def test_an_admin_can_rename_the_organisation(world, admin):
    page = text(admin.get("/admin/settings"))
    assert 'name="name"' in page and 'value="Aegis Protective"' in page
    r = admin.post("/admin/settings", data=settings_data(name="  Aegis   Global ", silent_after_minutes="15"))
    assert r.status_code == 302
    org = db.session.get(Organisation, world.org.id)
    assert (org.name, org.silent_after_minutes) == ("Aegis Global", 15)


def test_an_admin_cannot_take_another_organisations_name(world, admin):
    for name in ("rival security", ""):
        r = admin.post("/admin/settings", data=settings_data(name=name))
        assert r.status_code == 400
    assert "Another organisation already has this name." in text(
        admin.post("/admin/settings", data=settings_data(name="RIVAL SECURITY"))
    )
    assert db.session.get(Organisation, world.org.id).name == "Aegis Protective"


def test_settings_are_the_signed_in_users_organisation(world, as_user):
    browser = as_user(world.other_org_coordinator)
    assert "Rival Security" in text(browser.get("/admin/settings"))
    assert browser.post("/admin/settings", data=settings_data(timezone="Asia/Tokyo")).status_code == 302
    assert db.session.get(Organisation, world.other_org.id).timezone == "Asia/Tokyo"
    assert db.session.get(Organisation, world.org.id).timezone == "Europe/London"


def test_an_admin_allows_private_hosts_for_feeds(world, admin):
    page = text(admin.get("/admin/settings"))
    assert 'name="feed_private_hosts"' in page

    r = admin.post(
        "/admin/settings",
        data=settings_data(feed_private_hosts=" intranet.corp.example, 10.20.0.0/16\r\n\r\nFeeds.Local. fd00::/8 "),
    )

    assert r.status_code == 302
    org = db.session.get(Organisation, world.org.id)
    assert org.feed_private_hosts == "intranet.corp.example\n10.20.0.0/16\nfeeds.local\nfd00::/8"
    assert admin.post("/admin/settings", data=settings_data(feed_private_hosts="")).status_code == 302
    assert db.session.get(Organisation, world.org.id).feed_private_hosts == ""


@pytest.mark.parametrize("value", ["http://intranet.corp.example/", "10.0.0.0/33", "two words!", "2130706433"])
def test_private_hosts_that_are_neither_host_nor_range_are_refused(world, admin, value):
    r = admin.post("/admin/settings", data=settings_data(feed_private_hosts=value))

    assert r.status_code == 400
    assert "is not a host name, an address or a range" in text(r)
    assert db.session.get(Organisation, world.org.id).feed_private_hosts == ""


def test_a_coordinator_cannot_allow_private_hosts_for_feeds(world, coordinator):
    world.org.feed_private_hosts = "intranet.corp.example"
    db.session.commit()
    page = text(coordinator.get("/admin/settings"))
    assert 'name="feed_private_hosts"' not in page and "intranet.corp.example" in page

    r = coordinator.post("/admin/settings", data=settings_data(feed_private_hosts="127.0.0.0/8", om_lead_minutes="20"))

    assert r.status_code == 403
    org = db.session.get(Organisation, world.org.id)
    assert (org.feed_private_hosts, org.om_lead_minutes) == ("intranet.corp.example", 30)
    # Saving the other settings leaves the list as it is.
    assert coordinator.post("/admin/settings", data=settings_data(om_lead_minutes="20")).status_code == 302
    assert db.session.get(Organisation, world.org.id).feed_private_hosts == "intranet.corp.example"


# --- codes: listing and scope -------------------------------------------------------------------


def test_codes_are_listed_in_order_with_swatches_and_signals(world, coordinator):
    om = code(world, "OM")
    om.sort_order = 99
    db.session.commit()
    page = text(coordinator.get("/admin/codes"))
    assert page.index(">OS<") < page.index(">DUR<") < page.index(">OM<")
    assert "background: #1565c0; color: #ffffff" in page
    assert "counts as OM" in page and "covert duress" in page
    assert "cannot be deleted" in page
    assert "has no duress code" not in page
    assert f"/admin/codes/{om.id}/edit" in page
    rival = code(world, "OM", world.other_org)
    assert f"/admin/codes/{rival.id}/edit" not in page


def test_another_organisations_code_is_not_found(world, coordinator):
    rival = code(world, "OS", world.other_org)
    assert coordinator.get(f"/admin/codes/{rival.id}/edit").status_code == 404
    r = coordinator.post(f"/admin/codes/{rival.id}/edit", data=code_data(rival, meaning="Hijacked"))
    assert r.status_code == 404
    assert code(world, "OS", world.other_org).meaning == "In position at the assigned post"
    assert coordinator.get("/admin/codes/999999/edit").status_code == 404


# --- codes: create and edit ---------------------------------------------------------------------


def test_create_a_code(world, coordinator):
    page = text(coordinator.get("/admin/codes/new"))
    assert 'value="6"' in page  # next order after the six defaults
    r = coordinator.post(
        "/admin/codes/new",
        data=code_data(
            code="  Code  4 ", spoken_name="Code four", colour="#ABCDEF", signal="moving", needs_position="y"
        ),
    )
    assert r.status_code == 302 and path_of(r) == "/admin/codes"
    row = code(world, "Code 4")
    assert (row.spoken_name, row.colour, row.signal, row.kind, row.sort_order, row.needs_position) == (
        "Code four",
        "#abcdef",
        "moving",
        "routine",
        10,
        True,
    )
    assert row.organisation_id == world.org.id
    assert len(codes_of(world.other_org)) == 6


def test_edit_a_code(world, coordinator):
    rtb = code(world, "RTB")
    assert coordinator.get(f"/admin/codes/{rtb.id}/edit").status_code == 200
    r = coordinator.post(
        f"/admin/codes/{rtb.id}/edit",
        data=code_data(rtb, code="RTH", spoken_name="Return to hotel", kind="attention", signal="", colour="#000000"),
    )
    assert r.status_code == 302
    row = db.session.get(StatusCode, rtb.id)
    assert (row.code, row.spoken_name, row.kind, row.signal, row.colour) == (
        "RTH",
        "Return to hotel",
        "attention",
        None,
        "#000000",
    )


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"code": ""}, "This field is required"),
        ({"code": "A" * 17}, "At most 16 characters"),
        ({"code": "OM!"}, "letters A–Z, digits, spaces and dashes"),
        ({"code": "Ü1"}, "letters A–Z, digits, spaces and dashes"),
        ({"code": "om"}, "Already taken by OM (Oscar Mike)"),
        ({"spoken_name": "OSCAR MIKE"}, "Already taken by OM (Oscar Mike)"),
        ({"code": "clear"}, "Already taken by CLR (Clear)"),  # another code's spoken name
        ({"spoken_name": "rtb"}, "Already taken by RTB (Return to base)"),  # another code's letters
        ({"spoken_name": ""}, "This field is required"),
        ({"meaning": ""}, "This field is required"),
        ({"colour": "red"}, "# and six hex digits"),
        ({"colour": "#12345"}, "# and six hex digits"),
        ({"colour": "#12345g"}, "# and six hex digits"),
        ({"kind": "panic"}, "Not a valid choice"),
        ({"signal": "asleep"}, "Not a valid choice"),
        ({"sort_order": "1000"}, "between 0 and 999"),
        ({"sort_order": "-1"}, "between 0 and 999"),
        ({"kind": "emergency", "signal": "moving"}, "must have the duress signal"),
        ({"kind": "routine", "signal": "duress"}, "Only the emergency code can have the duress signal"),
    ],
)
def test_bad_codes_are_refused(world, coordinator, changes, message):
    r = coordinator.post("/admin/codes/new", data=code_data(**changes))
    assert r.status_code == 400
    assert message in text(r)
    assert len(codes_of(world.org)) == 6


def test_a_second_duress_code_is_refused(world, coordinator):
    r = coordinator.post("/admin/codes/new", data=code_data(kind="emergency", signal="duress"))
    assert r.status_code == 400
    assert "DUR (Duress) is already the organisation's duress code" in text(r)
    assert len(codes_of(world.org)) == 6

    hot = code(world, "HOT")
    r = coordinator.post(f"/admin/codes/{hot.id}/edit", data=code_data(hot, kind="emergency", signal="duress"))
    assert r.status_code == 400 and "already the organisation's duress code" in text(r)
    assert (code(world, "HOT").kind, code(world, "HOT").signal) == ("attention", "hot")


def test_the_last_duress_code_cannot_be_removed(world, coordinator):
    dur = code(world, "DUR")
    for changes in ({"kind": "routine", "signal": ""}, {"kind": "attention", "signal": "duress"}):
        r = coordinator.post(f"/admin/codes/{dur.id}/edit", data=code_data(dur, **changes))
        assert r.status_code == 400
    r = coordinator.post(f"/admin/codes/{dur.id}/edit", data=code_data(dur, kind="routine", signal=""))
    assert "only duress code" in text(r)
    r = coordinator.post(f"/admin/codes/{dur.id}/edit", data=code_data(dur, kind="emergency", signal=""))
    assert r.status_code == 400 and "must have the duress signal" in text(r)
    row = db.session.get(StatusCode, dur.id)
    assert (row.kind, row.signal) == ("emergency", "duress")

    # The duress code itself can still be renamed and recoloured.
    r = coordinator.post(f"/admin/codes/{dur.id}/edit", data=code_data(dur, code="RED", spoken_name="Code red"))
    assert r.status_code == 302
    assert db.session.get(StatusCode, dur.id).code == "RED"


def test_a_missing_duress_code_is_flagged_and_can_be_added(world, coordinator):
    dur = code(world, "DUR")
    dur.kind, dur.signal = "attention", None  # as if stored before the rules existed
    db.session.commit()
    assert "has no duress code" in text(coordinator.get("/admin/codes"))
    r = coordinator.post("/admin/codes/new", data=code_data(code="SOS", kind="emergency", signal="duress"))
    assert r.status_code == 302
    assert code(world, "SOS").is_duress
    assert "has no duress code" not in text(coordinator.get("/admin/codes"))


def test_a_used_codes_letters_cannot_change(world, coordinator):
    send(world, "OM")
    om = code(world, "OM")
    page = text(coordinator.get(f"/admin/codes/{om.id}/edit"))
    assert "already sent, so it cannot change" in page and "readonly" in page
    listing = text(coordinator.get("/admin/codes"))
    om_row = listing[listing.index(">OM<") : listing.index(">OS<")]
    assert "<td>1</td>" in om_row and "never" not in om_row  # sent once

    for letters in ("OMX", "om"):
        r = coordinator.post(f"/admin/codes/{om.id}/edit", data=code_data(om, code=letters, meaning="Changed"))
        assert r.status_code == 400
        assert "history must keep meaning what was sent" in text(r)
    row = db.session.get(StatusCode, om.id)
    assert (row.code, row.meaning) == ("OM", "On the move, en route")

    # Colour, meaning and order still can.
    r = coordinator.post(
        f"/admin/codes/{om.id}/edit", data=code_data(om, meaning="Moving", colour="#00ff00", sort_order="7")
    )
    assert r.status_code == 302
    row = db.session.get(StatusCode, om.id)
    assert (row.code, row.meaning, row.colour, row.sort_order) == ("OM", "Moving", "#00ff00", 7)

    # An unsent code's letters can change.
    os_ = code(world, "OS")
    assert coordinator.post(f"/admin/codes/{os_.id}/edit", data=code_data(os_, code="ONS")).status_code == 302
    assert db.session.get(StatusCode, os_.id).code == "ONS"


def test_a_codes_own_names_do_not_clash_with_themselves(world, coordinator):
    hot = code(world, "HOT")  # code "HOT", spoken name "Hot"
    r = coordinator.post(f"/admin/codes/{hot.id}/edit", data=code_data(hot, spoken_name="HOT"))
    assert r.status_code == 302
    row = db.session.get(StatusCode, hot.id)
    assert (row.code, row.spoken_name) == ("HOT", "HOT")


# --- who may ------------------------------------------------------------------------------------

PAGES = ["/admin/settings", "/admin/codes", "/admin/codes/new"]


@pytest.mark.parametrize("role", ["agent", "client"])
def test_agents_and_client_contacts_are_forbidden(world, as_user, role):
    browser = as_user(world.user(role))
    om = code(world, "OM")
    for url in [*PAGES, f"/admin/codes/{om.id}/edit"]:
        assert browser.get(url).status_code == 403, url
    assert browser.post("/admin/settings", data=settings_data(om_lead_minutes="1")).status_code == 403
    assert browser.post("/admin/codes/new", data=code_data()).status_code == 403
    assert browser.post(f"/admin/codes/{om.id}/edit", data=code_data(om, meaning="x")).status_code == 403
    db.session.expire_all()
    assert db.session.get(Organisation, world.org.id).om_lead_minutes == 30
    assert len(codes_of(world.org)) == 6 and code(world, "OM").meaning == "On the move, en route"


def test_anonymous_is_sent_to_sign_in(world, client):
    om = code(world, "OM")
    for url in [*PAGES, f"/admin/codes/{om.id}/edit"]:
        r = client.get(url)
        assert r.status_code == 302 and path_of(r) == "/login", url
    assert client.post("/admin/codes/new", data=code_data()).status_code == 302
    assert client.post("/admin/settings", data=settings_data(om_lead_minutes="1")).status_code == 302
    db.session.expire_all()
    assert len(codes_of(world.org)) == 6
    assert db.session.get(Organisation, world.org.id).om_lead_minutes == 30


def test_staff_see_the_nav_links(world, coordinator):
    page = text(coordinator.get("/admin/codes"))
    assert 'href="/admin/settings"' in page and 'href="/admin/codes"' in page


def test_the_forms_carry_and_require_a_csrf_token(tmp_path):
    app = conftest.make_app(tmp_path, WTF_CSRF_ENABLED=True)
    with app.app_context():
        db.create_all()
        world = conftest.build_world()
        browser = app.test_client()
        conftest.sign_in(browser, world.coordinator)
        for url in ("/admin/settings", "/admin/codes/new"):
            assert 'name="csrf_token" type="hidden"' in browser.get(url).get_data(as_text=True), url
        assert browser.post("/admin/settings", data=settings_data(om_lead_minutes="1")).status_code == 400
        assert browser.post("/admin/codes/new", data=code_data()).status_code == 400
        db.session.expire_all()
        assert db.session.get(Organisation, world.org.id).om_lead_minutes == 30
        assert len(codes_of(world.org)) == 6
        db.session.remove()
        db.engine.dispose()
