"""Coordinator pages for the organisation itself: its settings and its status codes.

Settings are the organisation's name, its time zone, the numbers the alert rules read
(alerts.evaluate) and the private hosts its feeds may be fetched from. Only an admin may rename
the organisation or allow private hosts (each opens a way for coordinators' feed URLs into the
network behind the server); coordinators may change the rest.

Status codes are the organisation's own, but the server reads them through a few rules that
must hold whatever they are called:

* a text, SMS or radio call names one code: codes and spoken names are unique ignoring case,
  and neither may be another code's code or spoken name (status.find_code matches both);
* exactly one duress code, which is the one emergency code and the only code with the "duress"
  signal: the phone's covert duress button sends it (status.duress_code);
* a code that has been sent keeps its letters, so stored reports keep their meaning.

Codes are never deleted: stored reports refer to them. The duress rules are checked with the
organisation's row locked (on PostgreSQL), so two coordinators cannot each add "the" duress code.
"""

import re

import sqlalchemy as sa
from flask import abort, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, ColorField, IntegerField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Regexp, ValidationError

from detail.domain.netguard import parse_allow_list
from detail.domain.scoping import owned
from detail.extensions import db
from detail.models import CODE_KINDS, CODE_SIGNALS, Organisation, StatusCode, StatusReport
from detail.web.admin.base import (
    EditingForm,
    bp,
    done,
    form_page,
    org_id,
    other_than,
    owned_or_404,
    save,
    time_zone_names,
    valid_time_zone,
)
from detail.web.auth import staff_required
from detail.web.kit import strip, visible_field

SETTINGS_PAGE = "detail/admin/settings.html"
CODE_FORM = "detail/admin/code_form.html"

OM_LEAD_RANGE = (0, 240)
SILENT_AFTER_RANGE = (1, 240)
DWELL_RANGE = (0, 1800)
MANUAL_RANGE = (0, 240)
SPEED_RANGE = (5, 1000)
BUFFER_RANGE = (0, 240)
REQUEST_ALERT_RANGE = (1, 240)
SORT_ORDER_RANGE = (0, 999)

# Letters and digits are ASCII on purpose: codes are typed on phone keyboards and sent by SMS.
CODE_PATTERN = r"^[A-Za-z0-9 -]+$"
COLOUR_PATTERN = r"^#[0-9a-f]{6}$"

KIND_LABELS = {
    "routine": "Routine",
    "attention": "Attention: a label for people; the server treats it as routine",
    "emergency": "Emergency: the duress code (raises a duress alarm)",
}
SIGNAL_LABELS = {
    "moving": "Moving: on the way (answers a late OM alert)",
    "on_station": "On station: in position (answers late OM and late on-station alerts)",
    "hot": "Hot: principal in our care (answers both late alerts)",
    "returning": "Returning: heading back after the detail",
    "clear": "Clear: off detail (what the phone shows after a covert duress)",
    "duress": "Duress: covert alarm (the emergency code only)",
}
# What the list page says each signal does, next to the code that carries it.
SIGNAL_NOTES = {
    "moving": "counts as OM: answers a late OM alert",
    "on_station": "counts as on station: answers late OM and late on-station alerts",
    "hot": "counts as on station with the principal: answers both late alerts",
    "returning": "read as returning; answers no late alert",
    "clear": "read as off detail; the phone shows it as sent after a covert duress",
    "duress": "the covert duress alarm: the phone's hidden duress button sends this code",
}


def squeeze(value):
    """Filter: trim and collapse runs of whitespace, as the status parser reads what agents type."""
    return " ".join(value.split()) if isinstance(value, str) else value


def lower(value):
    return value.lower() if isinstance(value, str) else value


def allow_list_lines(value):
    """Filter: one allow-list entry a line, host names in lower case without a trailing dot."""
    if not isinstance(value, str):
        return value
    return "\n".join(entry.lower().rstrip(".") for entry in re.split(r"[\s,]+", value) if entry)


def valid_allow_list(form, field):
    try:
        parse_allow_list(field.data)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def optional_signal(value):
    """Coerce the signal select: the blank option means none."""
    return value or None


# --- settings -----------------------------------------------------------------------------------


def _minutes(label: str, bounds: tuple[int, int]) -> IntegerField:
    low, high = bounds
    return IntegerField(label, [InputRequired(), NumberRange(low, high, f"Must be between {low} and {high} minutes.")])


class SettingsForm(FlaskForm):
    """Everything an admin may change; a coordinator's form is this without the name."""

    name = StringField("Organisation name", [DataRequired(), Length(max=120), visible_field], filters=[squeeze])
    timezone = StringField("Time zone", [DataRequired(), valid_time_zone], filters=[strip])
    om_lead_minutes = _minutes("OM lead (minutes before report time)", OM_LEAD_RANGE)
    silent_after_minutes = _minutes("Silent after (minutes)", SILENT_AFTER_RANGE)
    geofence_dwell_seconds = IntegerField(
        "Geofence dwell (seconds inside or outside a venue before it counts)",
        [InputRequired(), NumberRange(*DWELL_RANGE, f"Must be between {DWELL_RANGE[0]} and {DWELL_RANGE[1]} seconds.")],
    )
    geofence_leave_signal = SelectField(
        "Leaving a venue sets",
        choices=[SelectChoice("moving", "On the move (OM)"), SelectChoice("clear", "Clear")],
    )
    manual_precedence_minutes = _minutes("A status set by hand outranks automatic ones for (minutes)", MANUAL_RANGE)
    travel_speed_kmh = IntegerField(
        "Travel speed between venues when staffing (km/h)",
        [InputRequired(), NumberRange(*SPEED_RANGE, f"Must be between {SPEED_RANGE[0]} and {SPEED_RANGE[1]} km/h.")],
    )
    travel_buffer_minutes = _minutes("Travel buffer between shifts (minutes)", BUFFER_RANGE)
    request_alert_minutes = _minutes(
        "An urgent client request not acknowledged alerts the board after (minutes)", REQUEST_ALERT_RANGE
    )
    feed_private_hosts = TextAreaField("Private hosts for feeds", [valid_allow_list], filters=[allow_list_lines])

    def validate_name(self, field):
        # The name is unique across organisations (it is how people tell firms apart on sign-in pages).
        clash = sa.select(Organisation.id).where(
            sa.func.lower(Organisation.name) == field.data.lower(), Organisation.id != org_id()
        )
        if db.session.scalar(clash) is not None:
            raise ValidationError("Another organisation already has this name.")


# Fields only an admin may change, with the filter that makes a value sent comparable to the stored one.
ADMIN_ONLY = {"name": squeeze, "feed_private_hosts": allow_list_lines}


def settings_form(organisation: Organisation) -> SettingsForm:
    form = SettingsForm(obj=organisation)
    if current_user.role != "admin":
        for name in ADMIN_ONLY:
            delattr(form, name)
    return form


def _settings_page() -> dict:
    return {
        "hints": {
            "timezone": "IANA name such as Europe/London",
            "om_lead_minutes": f"{OM_LEAD_RANGE[0]} to {OM_LEAD_RANGE[1]}",
            "silent_after_minutes": f"{SILENT_AFTER_RANGE[0]} to {SILENT_AFTER_RANGE[1]}",
            "geofence_dwell_seconds": f"{DWELL_RANGE[0]} to {DWELL_RANGE[1]}; long enough to ignore GPS drift",
            "manual_precedence_minutes": f"{MANUAL_RANGE[0]} to {MANUAL_RANGE[1]}",
            "feed_private_hosts": "host names, addresses or ranges such as 10.20.0.0/16, one a line; "
            "empty: feeds only from public addresses",
        },
        "attrs": {
            "timezone": {"list": "zones", "autocomplete": "off"},
            "om_lead_minutes": {"min": OM_LEAD_RANGE[0], "max": OM_LEAD_RANGE[1]},
            "silent_after_minutes": {"min": SILENT_AFTER_RANGE[0], "max": SILENT_AFTER_RANGE[1]},
            "geofence_dwell_seconds": {"min": DWELL_RANGE[0], "max": DWELL_RANGE[1]},
            "manual_precedence_minutes": {"min": MANUAL_RANGE[0], "max": MANUAL_RANGE[1]},
            "feed_private_hosts": {"rows": 3, "autocomplete": "off", "spellcheck": "false"},
        },
        "zones": time_zone_names(),
        "is_admin": current_user.role == "admin",
    }


@bp.route("/settings", methods=["GET", "POST"])
@staff_required
def settings():
    """The organisation's name, time zone and alert rule settings."""
    organisation = db.session.get(Organisation, org_id())
    form = settings_form(organisation)
    if current_user.role != "admin" and request.method == "POST":
        # The coordinator's page has no admin-only fields: a changed value sent anyway is an attempt to change it.
        for name, normalise in ADMIN_ONLY.items():
            sent = normalise(request.form.get(name))
            if sent is not None and sent != getattr(organisation, name):
                abort(403)
    if form.validate_on_submit():
        form.populate_obj(organisation)
        if save(form):
            return done("Settings saved.", "admin.settings")
    return form_page(form, SETTINGS_PAGE, organisation=organisation, **_settings_page())


# --- status codes -------------------------------------------------------------------------------


def _times_sent(code: StatusCode) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(StatusReport).where(StatusReport.status_code_id == code.id)
    )


def _duress_codes(excluding: StatusCode | None) -> list[StatusCode]:
    """The organisation's other codes that are (or claim to be) its duress code."""
    query = owned(StatusCode, org_id()).where(sa.or_(StatusCode.kind == "emergency", StatusCode.signal == "duress"))
    return list(db.session.scalars(other_than(query, StatusCode, excluding)))


def _named(value: str, editing: StatusCode | None) -> StatusCode | None:
    """Another of the organisation's codes whose code or spoken name is value, ignoring case."""
    wanted = value.lower()
    query = owned(StatusCode, org_id()).where(
        sa.or_(sa.func.lower(StatusCode.code) == wanted, sa.func.lower(StatusCode.spoken_name) == wanted)
    )
    return db.session.scalars(other_than(query, StatusCode, editing)).first()


def _name_clash(value: str, editing: StatusCode | None) -> None:
    other = _named(value, editing)
    if other is not None:
        raise ValidationError(
            f"Already taken by {other.code} ({other.spoken_name}): an agent typing or saying it must mean one "
            "code, so codes and spoken names are unique ignoring case."
        )


class CodeForm(EditingForm):
    code = StringField(
        "Code",
        [
            DataRequired(),
            Length(max=16, message="At most 16 characters."),
            Regexp(CODE_PATTERN, message="Use letters A–Z, digits, spaces and dashes only."),
            visible_field,
        ],
        filters=[squeeze],
    )
    spoken_name = StringField("Spoken name", [DataRequired(), Length(max=60), visible_field], filters=[squeeze])
    meaning = StringField("Meaning", [DataRequired(), Length(max=200)], filters=[strip])
    kind = SelectField("Kind", choices=[SelectChoice(k, KIND_LABELS[k]) for k in CODE_KINDS], default="routine")
    signal = SelectField(
        "Signal",
        choices=[SelectChoice("", "None: the alert rules ignore this code")]
        + [SelectChoice(s, SIGNAL_LABELS[s]) for s in CODE_SIGNALS],
        coerce=optional_signal,
    )
    colour = ColorField(
        "Colour",
        [DataRequired(), Regexp(COLOUR_PATTERN, message="Use a colour such as #1e88e5 (# and six hex digits).")],
        filters=[strip, lower],
        default="#607d8b",
    )
    sort_order = IntegerField(
        "Order",
        [
            InputRequired(),
            NumberRange(*SORT_ORDER_RANGE, message=f"Must be between {SORT_ORDER_RANGE[0]} and {SORT_ORDER_RANGE[1]}."),
        ],
    )
    needs_position = BooleanField("Needs a position")

    def validate_code(self, field):
        code = self.editing
        if code is not None and field.data != code.code and _times_sent(code):
            raise ValidationError(
                f"{code.code} has already been sent, so its letters cannot change: stored reports and the board's "
                "history must keep meaning what was sent. Its colour, meaning and order can still change; for "
                "different letters add a new code."
            )
        _name_clash(field.data, code)

    def validate_spoken_name(self, field):
        _name_clash(field.data, self.editing)

    def validate(self, extra_validators=None) -> bool:
        if not super().validate(extra_validators):
            return False
        return self._duress_rules()

    def _duress_rules(self) -> bool:
        kind, signal, code = self.kind.data, self.signal.data, self.editing
        if kind == "emergency" and signal != "duress":
            self.signal.errors.append(
                "An emergency code must have the duress signal: the phone's covert duress button sends it."
            )
            return False
        if signal == "duress" and kind != "emergency":
            self.kind.errors.append("Only the emergency code can have the duress signal: choose kind Emergency.")
            return False
        others = _duress_codes(code)
        if kind == "emergency" and others:
            self.kind.errors.append(
                f"{others[0].code} ({others[0].spoken_name}) is already the organisation's duress code, and there "
                "can be only one: it is what the phone's covert duress button sends."
            )
            return False
        if code is not None and code.kind == "emergency" and kind != "emergency" and not others:
            self.kind.errors.append(
                f"{code.code} is the organisation's only duress code; it must stay an emergency code with the duress "
                "signal, or the phone's covert duress button would have nothing to send."
            )
            return False
        return True


def _code_page(code: StatusCode | None) -> dict:
    used = bool(code is not None and _times_sent(code))
    return {
        "title": f"Edit {code.code}" if code else "New status code",
        "submit": "Save code" if code else "Add code",
        "back": url_for("admin.codes"),
        "back_label": "Status codes",
        "hints": {
            "code": "1 to 16 letters, digits, spaces or dashes; what agents type or send"
            + ("; already sent, so it cannot change" if used else ""),
            "spoken_name": "how it is said on the radio; agents may type this instead of the code",
            "sort_order": "codes are listed and shown on the phone in this order, lowest first",
            "colour": "how the code is shown on the board and the phone",
            "needs_position": "marks a code that says where the agent is (on the move, on station, duress); "
            "a marker only: a report without a position is not refused",
        },
        "attrs": {"code": {"readonly": True}} if used else {},
        "signal_notes": SIGNAL_NOTES,
    }


def _fill(code: StatusCode, form: CodeForm) -> None:
    form.populate_obj(code)


def _lock_codes() -> None:
    """Serialise changes to the organisation's codes (PostgreSQL; SQLite writes one at a time anyway)."""
    db.session.execute(sa.select(Organisation.id).where(Organisation.id == org_id()).with_for_update())


@bp.route("/codes")
@staff_required
def codes():
    """The organisation's status codes in their order, with how often each has been sent."""
    rows = db.session.scalars(owned(StatusCode, org_id()).order_by(StatusCode.sort_order, StatusCode.code)).all()
    sent = dict(
        db.session.execute(
            sa.select(StatusReport.status_code_id, sa.func.count())
            .where(StatusReport.status_code_id.in_([c.id for c in rows]))
            .group_by(StatusReport.status_code_id)
        ).all()
    )
    duress = [c for c in rows if c.kind == "emergency"]
    return render_template(
        "detail/admin/codes.html",
        codes=rows,
        sent=sent,
        duress=duress,
        signal_notes=SIGNAL_NOTES,
        kind_labels=KIND_LABELS,
    )


@bp.route("/codes/new", methods=["GET", "POST"])
@staff_required
def new_code():
    """Add a status code."""
    if request.method == "POST":
        _lock_codes()
    last = db.session.scalar(
        sa.select(sa.func.max(StatusCode.sort_order)).where(StatusCode.organisation_id == org_id())
    )
    next_order = min((last + 1) if last is not None else 0, SORT_ORDER_RANGE[1])
    form = CodeForm(data={"sort_order": next_order})
    if form.validate_on_submit():
        code = StatusCode(organisation_id=org_id())
        _fill(code, form)
        db.session.add(code)
        if save(form):
            return done(f"Status code {code.code} added.", "admin.codes")
    return form_page(form, CODE_FORM, **_code_page(None))


@bp.route("/codes/<int:code_id>/edit", methods=["GET", "POST"])
@staff_required
def edit_code(code_id: int):
    """Change a status code; its letters are fixed once it has been sent."""
    if request.method == "POST":
        _lock_codes()
    code = owned_or_404(StatusCode, code_id)
    form = CodeForm(obj=code, editing=code)
    if form.validate_on_submit():
        _fill(code, form)
        if save(form):
            return done(f"Status code {code.code} saved.", "admin.codes")
    return form_page(form, CODE_FORM, **_code_page(code))
