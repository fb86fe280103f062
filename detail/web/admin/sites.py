"""Coordinator pages for venues: the organisation's catalogue, which later details reuse.

A venue's position may come from the intel gazetteer: with latitude and longitude both left empty,
submitting the form looks the address (else the name) up and shows the form again, nothing saved,
with the place's coordinates and time zone filled in and up to five other places of that name to
choose from. Gazetteer places are cities, so the page says the position is city-level: an arrival
radius of 150 m around a city centre is of no use until someone types or drags the venue's own
position. Given coordinates and an empty time zone, the zone is filled from the position.
"""

from dataclasses import dataclass, field

from flask import current_app, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import FloatField, IntegerField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, StopValidation

from detail.domain.scoping import owned
from detail.extensions import db
from detail.hooks import gazetteer
from detail.models import Site
from detail.web.admin.base import (
    add_errors,
    bp,
    done,
    finite,
    form_page,
    org_id,
    org_zone,
    owned_or_404,
    rejected,
    save,
    time_zone_names,
    valid_time_zone,
)
from detail.web.auth import staff_required
from detail.web.kit import strip, visible_field

SITE_FORM = "detail/admin/site_form.html"
ALTERNATIVES = 5  # other places of the same name offered after a look-up
BOTH_COORDINATES = "Give both latitude and longitude, or leave both empty to look the address up."


def zone_given(form, field) -> None:
    """Validator: a time zone is needed; an empty one is filled from valid coordinates before this runs."""
    if not field.data:
        raise StopValidation("Type a time zone, or give a valid position and leave this empty to have it filled in.")


class SiteForm(FlaskForm):
    name = StringField("Name", [DataRequired(), Length(max=120), visible_field], filters=[strip])
    address = StringField("Address", [Length(max=300)], filters=[strip])
    # step=any: without it a browser refuses every coordinate that is not a whole number.
    # Optional, not required: both empty means "look the address up" (see _position).
    latitude = FloatField(
        "Latitude",
        [Optional(), finite, NumberRange(-90, 90, "Latitude must be between -90 and 90.")],
        render_kw={"step": "any"},
    )
    longitude = FloatField(
        "Longitude",
        [Optional(), finite, NumberRange(-180, 180, "Longitude must be between -180 and 180.")],
        render_kw={"step": "any"},
    )
    arrival_radius_m = IntegerField(
        "Arrival radius (metres)",
        [InputRequired(), NumberRange(1, 100_000, "The radius must be between 1 and 100000 metres.")],
        default=150,
    )
    # Not DataRequired: that would make the browser refuse an empty zone, which the server fills in.
    timezone = StringField("Time zone", [zone_given, valid_time_zone], filters=[strip])


@dataclass
class Found:
    """A place the gazetteer gave for the form's query, now in the form, and the others it could be."""

    query: str
    label: str
    country: bool  # a country: the position is its capital's
    alternatives: list[tuple[int, str]] = field(default_factory=list)  # (index among the results, label)
    zone_filled: str = ""  # the zone this look-up put in the form ("" when the typed one was kept)
    zone_note: str = ""


def _page(site: Site | None) -> dict:
    return {
        "title": f"Edit {site.name}" if site else "New venue",
        "submit": "Save venue" if site else "Add venue",
        "back": url_for("admin.sites"),
        "back_label": "Venues",
        "hints": {
            "address": "leave latitude and longitude empty to find its city in the gazetteer",
            "timezone": "IANA name such as Europe/London, found from the position when left empty; "
            "times at this venue are typed and shown in it",
            "arrival_radius_m": "an agent within this distance counts as arrived",
        },
        "attrs": {"timezone": {"list": "zones", "autocomplete": "off"}},
        "zones": time_zone_names(),
        "tile_url": current_app.config["MAP_TILE_URL"],
        "tile_attribution": current_app.config["MAP_TILE_ATTRIBUTION"],
    }


def _fill(site: Site, form: SiteForm) -> None:
    site.name, site.address = form.name.data, form.address.data or ""
    site.latitude, site.longitude = form.latitude.data, form.longitude.data
    site.arrival_radius_m, site.timezone = form.arrival_radius_m.data, form.timezone.data


# --- position from the gazetteer ----------------------------------------------------------------


def _empty(f) -> bool:
    return not (f.raw_data and str(f.raw_data[0]).strip())


def _set(f, value: float) -> None:
    """Put a number into a float field as if it had been typed, so that it is validated and shown."""
    f.data, f.raw_data = value, [str(value)]
    f.process_errors = []  # "Not a valid float value." from the empty input


def _zone_at(lat: float, lon: float) -> str | None:
    """The time zone at a point, if the point is valid and this server knows the zone."""
    try:
        zone = gazetteer.timezone_at(lat, lon)
    except (TypeError, ValueError):  # NaN, out of range: the field validators say so
        return None
    return zone if zone in time_zone_names() else None


def _label(place, with_position: bool = False) -> str:
    label = gazetteer.place_label(place)
    if with_position:
        label += f" ({place.latitude:.4f}, {place.longitude:.4f})"
    return label


def _found(form: SiteForm, query: str, places: list, index: int, replaceable: set[str]) -> Found:
    """Put places[index] into the form; the zone too unless the coordinator typed one of their own."""
    place = places[index]
    _set(form.latitude, place.latitude)
    _set(form.longitude, place.longitude)
    found = Found(
        query=query,
        label=_label(place),
        country=place.kind == "country",
        alternatives=[(i, _label(p, True)) for i, p in enumerate(places) if i != index],
    )
    zone, typed = _zone_at(place.latitude, place.longitude), form.timezone.data or ""
    if zone and (not typed or typed in replaceable):
        form.timezone.data = found.zone_filled = zone
        found.zone_note = f"Time zone set to {zone}."
    elif zone and typed != zone:
        found.zone_note = f"The time zone stays {typed} as typed, though this place is in {zone}."
    return found


def _look_up(form: SiteForm, default_zone: str) -> tuple[Found | None, dict[str, str]]:
    """Look the address up, then the name; fill the form with the best place or say nothing was found."""
    queries = [q for q in (form.address.data, form.name.data) if q]
    for query in queries:
        # geocode(query) is the first of these; one call gives the place and its alternatives.
        places = gazetteer.geocode_all(query)[: ALTERNATIVES + 1]
        if places:
            return _found(form, query, places, 0, {default_zone}), {}
    if not queries:
        return None, {"address": "Type an address or place to look up, or enter latitude and longitude."}
    return None, {
        "address": f"No place called “{queries[0]}” in the gazetteer; enter latitude and longitude, "
        "or add the city to the address."
    }


def _pick(form: SiteForm, default_zone: str) -> tuple[Found | None, dict[str, str]]:
    """Take the alternative the coordinator chose from an earlier look-up's list."""
    query = request.form.get("lookup", "").strip()
    places = gazetteer.geocode_all(query)[: ALTERNATIVES + 1] if query else []
    try:
        index = int(request.form.get("pick", ""))
    except ValueError:
        index = -1
    if not 0 <= index < len(places):
        return None, {"address": "That place is no longer on offer: look the address up again."}
    # The zone the earlier look-up filled in is the gazetteer's, not the coordinator's: replace it too.
    replaceable = {default_zone, request.form.get("lookup_zone", "")} - {""}
    return _found(form, query, places, index, replaceable), {}


def _position(form: SiteForm, default_zone: str) -> tuple[Found | None, dict[str, str]]:
    """Before validation: a chosen alternative, a look-up, or the zone filled from typed coordinates.

    Returns the place put into the form, if any (the page then shows it instead of saving), and messages
    for fields.
    """
    if "pick" in request.form:
        return _pick(form, default_zone)
    no_lat, no_lon = _empty(form.latitude), _empty(form.longitude)
    if no_lat and no_lon:
        return _look_up(form, default_zone)
    if no_lat or no_lon:
        return None, {"latitude" if no_lat else "longitude": BOTH_COORDINATES}
    if not form.timezone.data and form.latitude.data is not None and form.longitude.data is not None:
        form.timezone.data = _zone_at(form.latitude.data, form.longitude.data) or ""
    return None, {}


# --- pages --------------------------------------------------------------------------------------


def _site_page(form: SiteForm, site: Site | None, default_zone: str, message: str):
    """Show the form; on submit take a look-up or a choice (shown, not saved), else validate and save."""
    page = _page(site)
    if not form.is_submitted():
        return form_page(form, SITE_FORM, **page)
    found, problems = _position(form, default_zone)
    valid = form.validate()
    add_errors(form, problems)
    if found is not None:
        if valid:
            return render_template(SITE_FORM, form=form, found=found, **page)
        return rejected(SITE_FORM, form=form, found=found, **page)
    if valid and not problems:
        if site is None:
            site = Site(organisation_id=org_id())
            _fill(site, form)
            db.session.add(site)
        else:
            _fill(site, form)
        if save(form):
            return done(message.format(name=site.name), "admin.sites")
    return form_page(form, SITE_FORM, **page)


@bp.route("/sites")
@staff_required
def sites():
    """The organisation's venues."""
    rows = db.session.scalars(owned(Site, org_id()).order_by(Site.name)).all()
    return render_template("detail/admin/sites.html", sites=rows)


@bp.route("/sites/new", methods=["GET", "POST"])
@staff_required
def new_site():
    """Add a venue to the catalogue."""
    form = SiteForm(data={"timezone": org_zone()})
    return _site_page(form, None, org_zone(), "Venue {name} added.")


@bp.route("/sites/<int:site_id>/edit", methods=["GET", "POST"])
@staff_required
def edit_site(site_id: int):
    """Change a venue; its stored times stay the same instants, shown in the new zone if that changed."""
    site = owned_or_404(Site, site_id)
    form = SiteForm(obj=site)
    # The stored zone counts as untouched: a venue looked up anew takes its new place's zone.
    return _site_page(form, site, site.timezone, "Venue {name} saved.")
