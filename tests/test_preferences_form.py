"""The client's digest preferences: each cadence's own fields in a group the page shows for that cadence
only (every group is shown without the script); the server reads only the fields the chosen cadence
uses, and checks the time zone against the IANA list, suggesting the name meant."""

import re

import sqlalchemy as sa

from detail.domain.timefmt import closest_zone, zone_names
from detail.extensions import db
from intel.models import ContactPreference

FORM = {
    "email": "hos@northwind.example",
    "cadence": "daily",
    "daily_at": "06:30",
    "weekly_day": "4",
    "min_severity": "high",
    "timezone": "Europe/London",
}


def _stored(world) -> ContactPreference:
    db.session.expire_all()
    return db.session.scalar(sa.select(ContactPreference).where(ContactPreference.user_id == world.contact.id))


def _groups(page: str) -> dict[str, str]:
    """Each cadence group's cadences and the names of the fields inside it."""
    found = {}
    for cadences, inner in re.findall(r'<fieldset[^>]*data-cadences="([^"]+)"[^>]*>(.*?)</fieldset>', page, re.S):
        found[cadences] = " ".join(sorted(set(re.findall(r'name="([a-z_]+)"', inner))))
    return found


def test_each_cadences_fields_are_grouped_for_it_and_shown_without_the_script(as_user, world):
    page = as_user(world.contact).get("/portal/preferences").get_data(as_text=True)
    assert _groups(page) == {"daily weekly": "all_quiet daily_at", "weekly": "weekly_day"}
    assert not re.search(r"<fieldset[^>]*\b(hidden|disabled)\b", page)  # the script hides; the page does not
    assert "js/preferences.js" in page


def test_the_time_zone_is_picked_from_a_list_of_iana_zones(as_user, world):
    page = as_user(world.contact).get("/portal/preferences").get_data(as_text=True)
    field = re.search(r'<input[^>]*name="timezone"[^>]*>', page).group(0)
    listed = re.search(r'list="([^"]+)"', field).group(1)
    options = re.search(rf'<datalist id="{listed}">(.*?)</datalist>', page, re.S).group(1)
    values = re.findall(r'<option value="([^"]+)"', options)
    assert values == sorted(zone_names()) and len(values) > 400
    assert "Europe/London" in values and "America/New_York" in values and "localtime" not in values


def test_at_once_needs_no_time_and_keeps_the_stored_one(as_user, world):
    client = as_user(world.contact)
    assert client.post("/portal/preferences", data=FORM).status_code == 302
    # What the page sends with the script: the timing fields are disabled, so absent.
    at_once = {k: v for k, v in FORM.items() if k not in ("daily_at", "weekly_day")} | {"cadence": "immediate"}
    assert client.post("/portal/preferences", data=at_once).status_code == 302
    stored = _stored(world)
    assert (stored.cadence, stored.daily_at_minute, stored.weekly_day) == ("immediate", 390, 0)
    # Without the script every field is sent; those that do not apply are not read, nor refused.
    everything = FORM | {"cadence": "immediate", "daily_at": "soon"}
    assert client.post("/portal/preferences", data=everything).status_code == 302
    assert _stored(world).daily_at_minute == 390


def test_daily_needs_a_time_and_weekly_a_day_too(as_user, world):
    client = as_user(world.contact)
    bad = client.post("/portal/preferences", data=FORM | {"daily_at": "25:00"})
    assert bad.status_code == 400 and "Give a time as HH:MM" in bad.get_data(as_text=True)
    daily = {k: v for k, v in FORM.items() if k != "weekly_day"}
    assert client.post("/portal/preferences", data=daily).status_code == 302
    assert (_stored(world).daily_at_minute, _stored(world).weekly_day) == (390, 0)
    assert client.post("/portal/preferences", data=FORM | {"cadence": "weekly", "weekly_day": "9"}).status_code == 400
    assert client.post("/portal/preferences", data=FORM | {"cadence": "weekly", "daily_at": "08:15"}).status_code == 302
    stored = _stored(world)
    assert (stored.cadence, stored.daily_at_minute, stored.weekly_day) == ("weekly", 495, 4)


def test_a_zone_not_on_the_list_is_refused_with_the_name_meant(as_user, world):
    client = as_user(world.contact)
    meant_by = {"london": "Europe/London", "New York": "America/New_York", "europe/paris": "Europe/Paris"}
    for typed, meant in meant_by.items():
        refused = client.post("/portal/preferences", data=FORM | {"timezone": typed})
        assert refused.status_code == 400
        assert f"Did you mean {meant}?" in refused.get_data(as_text=True)
    for typed in ("Mars/Olympus", "localtime", "Europe"):
        page = client.post("/portal/preferences", data=FORM | {"timezone": typed}).get_data(as_text=True)
        assert "Not a known time zone" in page and "Did you mean" not in page
    assert _stored(world).timezone != "localtime"


def test_closest_zone():
    assert closest_zone("tokyo") == "Asia/Tokyo"
    assert closest_zone("Sao_Paulo") == "America/Sao_Paulo"
    assert closest_zone("nowhere at all") is None
