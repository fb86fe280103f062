"""Coordinator page for the on-call rota: who is primary and backup now, the next 14 days, and
adding, changing and removing shifts. Times are typed and shown in the organisation's zone.

Also the small JSON answer the board reads every minute to keep its "On call now" line current.
"""

from flask import abort, jsonify, url_for
from flask_login import current_user
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import InputRequired, Length

from detail.domain import live, oncall
from detail.domain.itinerary import Invalid
from detail.domain.timefmt import local_time
from detail.extensions import db
from detail.models import ON_CALL_ROLES, OnCallShift
from detail.web.admin.base import (
    Ask,
    ConfirmForm,
    EditingForm,
    add_errors,
    bp,
    done,
    form_page,
    local_datetime,
    org_id,
    org_zone,
    to_local,
    unconfirmed,
    utc_times,
)
from detail.web.auth import staff_required
from detail.web.kit import strip

ROTA_PAGE = "detail/admin/on_call.html"
ROLE_CHOICES = [SelectChoice(role, role.title()) for role in ON_CALL_ROLES]


class ShiftForm(EditingForm):
    user_id = SelectField("Person", [InputRequired()], coerce=int)
    role = SelectField("Role", choices=ROLE_CHOICES, default="primary")
    starts_at = local_datetime("Starts")
    ends_at = local_datetime("Ends")
    note = StringField("Note", [Length(max=oncall.NOTE_LENGTH)], filters=[strip])


def shift_form(shift: OnCallShift | None = None) -> ShiftForm:
    """The add (or edit) form, offering the organisation's active coordinators and admins."""
    if shift is None:
        form = ShiftForm()
    else:
        zone = org_zone()
        data = {
            "user_id": shift.user_id,
            "role": shift.role,
            "starts_at": to_local(shift.starts_at, zone),
            "ends_at": to_local(shift.ends_at, zone),
            "note": shift.note,
        }
        form = ShiftForm(data=data, editing=shift)
    form.user_id.choices = [SelectChoice(u.id, f"{u.name} ({u.role})") for u in oncall.staff_for_rota(org_id())]
    return form


def shift_removal(shift: OnCallShift) -> Ask:
    """What removing the shift does, asked first."""
    zone = org_zone()
    return Ask(
        f"Remove {shift.user.name}'s {shift.role} shift?",
        f"{shift.user.name} will no longer be {shift.role} on call from {local_time(shift.starts_at, zone)} "
        f"to {local_time(shift.ends_at, zone)}; alarms in that time go to whoever else is on call, "
        "or to every coordinator when nobody is.",
        "Remove shift",
        url_for("admin.on_call"),
    )


def _listing() -> dict:
    zone = org_zone()
    return {
        "zone": zone,
        "now": oncall.summary(org_id(), zone),
        "shifts": oncall.upcoming_shifts(org_id()),
        "days": oncall.UPCOMING_DAYS,
        "confirm": ConfirmForm(),
        "removal": shift_removal,
    }


def _times(form: ShiftForm) -> dict | None:
    zone = org_zone()
    return utc_times(form, {"starts_at": zone, "ends_at": zone})


def _values(form: ShiftForm) -> dict:
    return {"user_id": form.user_id.data, "role": form.role.data, "note": form.note.data or ""}


def _commit(events: list) -> None:
    db.session.commit()
    live.publish(events)


@bp.route("/on-call")
@staff_required
def on_call():
    """The rota: on call now, the next two weeks, and the form to add a shift."""
    return form_page(shift_form(), ROTA_PAGE, **_listing())


@bp.route("/on-call", methods=["POST"], endpoint="add_shift")
@staff_required
def add_shift_page():
    """Put a person on call; bad input comes back on the form and nothing is stored."""
    form = shift_form()
    if form.validate_on_submit() and (times := _times(form)) is not None:
        try:
            _shift, events = oncall.add_shift(org_id(), by=current_user, **_values(form), **times)
        except Invalid as invalid:
            db.session.rollback()
            add_errors(form, invalid.errors)
        else:
            _commit(events)
            return _done_shift("Shift added.")
    return form_page(form, ROTA_PAGE, **_listing())


def _done_shift(message: str):
    return done(message, "admin.on_call")


@bp.route("/on-call/<int:shift_id>/edit", methods=["GET", "POST"])
@staff_required
def edit_shift(shift_id: int):
    """Change a shift's person, role, times or note."""
    shift = _shift_or_404(shift_id)
    form = shift_form(shift)
    if form.validate_on_submit() and (times := _times(form)) is not None:
        try:
            events = oncall.edit_shift(shift, by=current_user, **_values(form), **times)
        except Invalid as invalid:
            db.session.rollback()
            add_errors(form, invalid.errors)
        else:
            _commit(events)
            return _done_shift("Shift saved.")
    return form_page(
        form,
        "detail/admin/form_page.html",
        title=f"{shift.user.name}, {shift.role} on call",
        submit="Save shift",
        back=url_for("admin.on_call"),
        back_label="On call",
        hints={"starts_at": f"in {org_zone()}", "ends_at": f"in {org_zone()}"},
    )


@bp.route("/on-call/<int:shift_id>/remove", methods=["GET", "POST"])
@staff_required
def remove_shift(shift_id: int):
    """Take a shift off the rota, once confirmed."""
    shift = _shift_or_404(shift_id)
    if (page := unconfirmed(shift_removal(shift))) is not None:
        return page
    name, role = shift.user.name, shift.role
    _commit(oncall.remove_shift(shift, by=current_user))
    return _done_shift(f"{name}'s {role} shift removed.")


@bp.route("/on-call/now")
@staff_required
def on_call_now():
    """Who is on call now, for the board's line (it asks every minute: shifts begin and end with no event)."""
    return jsonify(oncall.summary(org_id(), org_zone()))


def _shift_or_404(shift_id: int) -> OnCallShift:
    shift = db.session.get(OnCallShift, shift_id)
    if shift is None or shift.organisation_id != org_id():
        abort(404)
    return shift
