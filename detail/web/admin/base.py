"""The `admin` blueprint and what its pages share: organisation scoping, form fields for times
typed in a venue's zone, and the one way a page saves (checks, one commit, errors back onto the form).

Every handler follows the same shape: validate the form, build or change rows, run the
itinerary checks, commit once, redirect with a flash. Bad input re-renders the form with
status 400 and a message per field; nothing is stored.
"""

import functools
import math
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError
from wtforms import DateTimeLocalField
from wtforms.validators import InputRequired, ValidationError

from detail.domain.itinerary import Invalid
from detail.domain.scoping import get_owned
from detail.domain.timefmt import parse_local, zone_names
from detail.extensions import db
from detail.models import Site, User
from detail.web.auth import staff_required
from detail.web.kit import Ask, ConfirmForm, unconfirmed  # noqa: F401  (the pages import them from here)

bp = Blueprint("admin", __name__, url_prefix="/admin")

# What a datetime-local input sends; the first one is also how values are written back into it.
LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]

CLASH_MESSAGE = (
    "Nothing was saved: this clashes with something already stored (perhaps saved by someone else "
    "a moment ago). Check the values and try again."
)


# --- scope --------------------------------------------------------------------------------------


def org_id() -> int:
    """The signed-in coordinator's organisation id."""
    return current_user.organisation_id


def org_zone() -> str:
    """The organisation's time zone, used where no venue says otherwise."""
    return current_user.organisation.timezone


def owned_or_404(model, row_id: int):
    """The organisation's row with that id; another organisation's rows do not exist here."""
    row = get_owned(model, row_id, org_id())
    if row is None:
        abort(404)
    return row


# --- form fields and validators -----------------------------------------------------------------


def local_datetime(label: str) -> DateTimeLocalField:
    """A required datetime-local input; the view reads it in the right zone (see utc_times)."""
    return DateTimeLocalField(label, [InputRequired()], format=LOCAL_FORMATS)


@functools.cache
def time_zone_names() -> tuple[str, ...]:
    """IANA zone names this server knows (timefmt.zone_names, the one list), sorted for the picker."""
    return tuple(sorted(zone_names()))


def valid_time_zone(form, field) -> None:
    """Validator: the field names an IANA time zone."""
    if field.data not in time_zone_names():
        raise ValidationError("Not a known time zone: use an IANA name such as Europe/London.")


def finite(form, field) -> None:
    """Validator: reject NaN and infinity, which float() accepts and range checks let through."""
    if field.data is not None and not math.isfinite(field.data):
        raise ValidationError("Must be an ordinary number.")


# Asking first (Ask, ConfirmForm, unconfirmed) lives in the kit: intel's pages ask the same way.


# --- times --------------------------------------------------------------------------------------


def to_local(value: datetime | None, tz: str) -> datetime | None:
    """A stored UTC time as the naive wall-clock time a datetime-local input shows for zone tz."""
    if value is None:
        return None
    return value.astimezone(ZoneInfo(tz)).replace(tzinfo=None)


def utc_times(form, zones: dict[str, str]) -> dict[str, datetime] | None:
    """The named datetime-local fields read in their zones, as UTC; None after marking any bad field."""
    result: dict[str, datetime] = {}
    for name, tz in zones.items():
        field = form[name]
        try:
            value = parse_local(field.data.isoformat(), tz)
            # On the night the clocks go forward a stretch of wall-clock time never happens;
            # zoneinfo would quietly shift it, so say so instead of storing a time nobody typed.
            if to_local(value, tz) != field.data:
                field.errors.append(f"{field.data:%H:%M} does not exist in {tz} that day (the clocks go forward).")
                continue
        except (OverflowError, ValueError):
            field.errors.append("This date is out of range.")
            continue
        result[name] = value
    return result if len(result) == len(zones) else None


def site_zone(site_id: int | None, default: str) -> str:
    """The zone of the organisation's venue with that id, or the default when there is none."""
    site = get_owned(Site, site_id, org_id())
    return site.timezone if site is not None else default


class EditingForm(FlaskForm):
    """A form that knows the row it edits (None when it creates one), for checks such as "name already used"."""

    def __init__(self, *args, editing=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.editing = editing


def other_than(query: sa.Select, model, row) -> sa.Select:
    """Narrow a uniqueness query to rows other than the one being edited."""
    return query if row is None else query.where(model.id != row.id)


def email_in_use(email: str, user_id: int | None = None) -> bool:
    """Whether another account has this email, in any organisation: an email is how one person signs in."""
    query = sa.select(User.id).where(sa.func.lower(User.email) == email.lower())
    if user_id is not None:
        query = query.where(User.id != user_id)
    return db.session.scalar(query) is not None


# --- saving -------------------------------------------------------------------------------------


def add_errors(form, errors: dict[str, str]) -> None:
    """Put an itinerary check's messages on the matching fields (form-level when there is no such field)."""
    for name, message in errors.items():
        field = form._fields.get(name)
        if field is None:
            form.form_errors.append(f"{name.replace('_', ' ')}: {message}")
        else:
            field.errors = [*field.errors, message]


def save(form, *checks) -> bool:
    """Run (check, row) pairs, then commit once; on failure roll back, put messages on the form, return False."""
    try:
        for check, row in checks:
            check(row)
        db.session.commit()
    except Invalid as exc:
        db.session.rollback()
        add_errors(form, exc.errors)
        return False
    except IntegrityError:
        # The checks cover the rules people can break; this is the race they cannot see.
        db.session.rollback()
        form.form_errors.append(CLASH_MESSAGE)
        return False
    return True


def rejected(template: str, **context):
    """Re-render a form page with its messages, as a 400."""
    db.session.rollback()  # whatever the handler changed on loaded rows must not linger
    return render_template(template, **context), 400


def form_page(form, template: str, **context):
    """Render a form page: 400 with the messages when it was submitted (and so failed), else 200."""
    if form.is_submitted():
        return rejected(template, form=form, **context)
    return render_template(template, form=form, **context)


def done(message: str, endpoint: str, **values):
    """Flash the success and redirect (post/redirect/get)."""
    flash(message, "success")
    return redirect(url_for(endpoint, **values))


@bp.route("/")
@staff_required
def index():
    """The coordinator home is the details list."""
    return redirect(url_for("admin.details"))
