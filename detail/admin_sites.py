"""Coordinator pages for venues: the organisation's catalogue, which later details reuse."""

from flask import render_template, url_for
from flask_wtf import FlaskForm
from wtforms import FloatField, IntegerField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from .admin import (
    bp,
    done,
    finite,
    form_page,
    org_id,
    org_zone,
    owned_or_404,
    save,
    strip,
    time_zone_names,
    valid_time_zone,
)
from .auth import staff_required
from .extensions import db
from .models import Site
from .scoping import owned

SITE_FORM = "detail/admin/site_form.html"


class SiteForm(FlaskForm):
    name = StringField("Name", [DataRequired(), Length(max=120)], filters=[strip])
    address = StringField("Address", [Length(max=300)], filters=[strip])
    # step=any: without it a browser refuses every coordinate that is not a whole number.
    latitude = FloatField(
        "Latitude",
        [InputRequired(), finite, NumberRange(-90, 90, "Latitude must be between -90 and 90.")],
        render_kw={"step": "any"},
    )
    longitude = FloatField(
        "Longitude",
        [InputRequired(), finite, NumberRange(-180, 180, "Longitude must be between -180 and 180.")],
        render_kw={"step": "any"},
    )
    arrival_radius_m = IntegerField(
        "Arrival radius (metres)",
        [InputRequired(), NumberRange(1, 100_000, "The radius must be between 1 and 100000 metres.")],
        default=150,
    )
    timezone = StringField("Time zone", [DataRequired(), valid_time_zone], filters=[strip])


def _page(site: Site | None) -> dict:
    return {
        "title": f"Edit {site.name}" if site else "New venue",
        "submit": "Save venue" if site else "Add venue",
        "back": url_for("admin.sites"),
        "back_label": "Venues",
        "hints": {
            "timezone": "IANA name such as Europe/London; times at this venue are typed and shown in it",
            "arrival_radius_m": "an agent within this distance counts as arrived",
        },
        "attrs": {"timezone": {"list": "zones", "autocomplete": "off"}},
        "zones": time_zone_names(),
    }


def _fill(site: Site, form: SiteForm) -> None:
    site.name, site.address = form.name.data, form.address.data or ""
    site.latitude, site.longitude = form.latitude.data, form.longitude.data
    site.arrival_radius_m, site.timezone = form.arrival_radius_m.data, form.timezone.data


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
    if form.validate_on_submit():
        site = Site(organisation_id=org_id())
        _fill(site, form)
        db.session.add(site)
        if save(form):
            return done(f"Venue {site.name} added.", "admin.sites")
    return form_page(form, SITE_FORM, **_page(None))


@bp.route("/sites/<int:site_id>/edit", methods=["GET", "POST"])
@staff_required
def edit_site(site_id: int):
    """Change a venue; its stored times stay the same instants, shown in the new zone if that changed."""
    site = owned_or_404(Site, site_id)
    form = SiteForm(obj=site)
    if form.validate_on_submit():
        _fill(site, form)
        if save(form):
            return done(f"Venue {site.name} saved.", "admin.sites")
    return form_page(form, SITE_FORM, **_page(site))
