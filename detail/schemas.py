"""Marshmallow schemas for the JSON API: what a request body may hold and what a response shows.

One schema per resource serves both directions (ids and derived values are dump_only, secrets
load_only); a *Patch subclass makes every field optional for PATCH and refuses the fields that
are fixed once a row exists. Unknown fields are refused (marshmallow's RAISE default).
"""

import functools
from datetime import UTC
from zoneinfo import available_timezones

from marshmallow import Schema, ValidationError, fields, pre_load, validate

from .models import ASSIGNMENT_ROLES, DETAIL_STATES
from .names import visible

# --- fields -------------------------------------------------------------------------------------


class UTCDateTime(fields.AwareDateTime):
    """ISO 8601 with a UTC offset in, ISO 8601 in UTC out."""

    default_error_messages = {
        "invalid": "Not an ISO 8601 date and time, e.g. 2026-11-24T08:00:00Z.",
        # A naive time is ambiguous across venues in different zones, so it is refused, not guessed.
        "invalid_awareness": "Include a UTC offset, e.g. 2026-11-24T08:00:00Z or 2026-11-24T09:00:00+01:00.",
    }

    def _deserialize(self, value, attr, data, **kwargs):
        aware = super()._deserialize(value, attr, data, **kwargs)
        try:
            moment = aware.astimezone(UTC)
        except OverflowError as error:  # e.g. 0001-01-01T00:00:00+01:00 lies before year 1 in UTC
            raise self.make_error("invalid") from error
        check_plausible_time(moment)
        return moment

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else value.astimezone(UTC).isoformat()


# Times outside these years are typing mistakes, and shown in a venue's zone they overflow.
EARLIEST_YEAR, LATEST_YEAR = 1970, 2200
# Database ids are 64-bit: anything larger names nothing (and would overflow the driver).
MAX_ID = 2**63 - 1


def check_plausible_time(moment) -> None:
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise ValidationError(f"Must be a time between the years {EARLIEST_YEAR} and {LATEST_YEAR}.")


def no_control_characters(text: str) -> None:
    """Refuse NUL and lone surrogates (PostgreSQL and UTF-8 cannot store them) and other control codes."""
    for character in text:
        code = ord(character)
        if (code < 32 and character not in "\t\n\r") or 0xD800 <= code <= 0xDFFF or code == 0x7F:
            raise ValidationError(f"Contains a character that is not text (U+{code:04X}).")


class Email(fields.Email):
    """An email address, trimmed and lower-cased (sign-in compares addresses case-insensitively)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip().lower()


class Text(fields.String):
    """A string with surrounding whitespace removed, so a blank name counts as empty; text only."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        no_control_characters(text)
        return text


def _name(max_length: int, **kwargs) -> Text:
    return Text(validate=[validate.Length(min=1, max=max_length), visible], **kwargs)


def _ref(description: str, *, strict: bool = True, **kwargs) -> fields.Integer:
    # strict in bodies: "3" or 3.0 there is more likely a client bug than an id. Query strings are
    # all text, so filters pass strict=False.
    kwargs.setdefault("validate", validate.Range(min=1, max=MAX_ID))
    return fields.Integer(strict=strict, metadata={"description": description}, **kwargs)


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def iana_zone(name: str) -> None:
    """Validator: the name of an IANA time zone known to this server."""
    # A set lookup, not ZoneInfo(name): that raises OSError subclasses for names like "Europe".
    if name not in _zones():
        raise ValidationError(f"{name!r} is not an IANA time zone name, e.g. Europe/London.")


# --- patch bodies ---------------------------------------------------------------------------------


class PatchMixin:
    """PATCH: every field optional; the fields in Meta.exclude cannot change once the row exists."""

    def __init__(self, **kwargs):
        super().__init__(partial=True, **kwargs)

    @pre_load
    def _refuse_fixed_fields(self, data, **kwargs):
        # Without this the excluded fields would only be reported as "Unknown field."
        if isinstance(data, dict):
            fixed = {name: ["Cannot be changed once created."] for name in data if name in self.exclude}
            if fixed:
                raise ValidationError(fixed)
        return data


# --- resources ----------------------------------------------------------------------------------


class ClientSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = _name(120, required=True)
    notes = Text(load_default="")


class ClientPatchSchema(PatchMixin, ClientSchema):
    pass


class PrincipalSchema(Schema):
    id = fields.Integer(dump_only=True)
    client_id = _ref("The client whose protectee this is.", required=True)
    name = _name(120, required=True)
    code_name = _name(60, required=True, metadata={"description": "Used on boards and radio instead of the name."})
    notes = Text(load_default="")


class PrincipalPatchSchema(PatchMixin, PrincipalSchema):
    class Meta:
        exclude = ("client_id",)


class VenueSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = _name(120, required=True)
    address = Text(validate=validate.Length(max=300), load_default="")
    latitude = fields.Float(required=True, validate=validate.Range(min=-90, max=90))  # allow_nan is False
    longitude = fields.Float(required=True, validate=validate.Range(min=-180, max=180))
    arrival_radius_m = fields.Integer(
        strict=True,
        validate=validate.Range(min=0, min_inclusive=False, max=100_000),
        load_default=150,
        metadata={"description": "An agent within this many metres counts as arrived."},
    )
    timezone = fields.String(
        validate=iana_zone, metadata={"description": "IANA name; defaults to the organisation's time zone."}
    )


class VenuePatchSchema(PatchMixin, VenueSchema):
    pass


class AgentRefSchema(Schema):
    id = fields.Integer()
    call_sign = fields.String()


class DetailSchema(Schema):
    id = fields.Integer(dump_only=True)
    client_id = _ref("The client the detail is for.", required=True)
    principal_id = _ref("A principal of that client, or null.", allow_none=True, load_default=None)
    name = _name(120, required=True)
    starts_at = UTCDateTime(required=True)
    ends_at = UTCDateTime(required=True)
    state = fields.String(validate=validate.OneOf(DETAIL_STATES), load_default="planned")
    notes = Text(load_default="", metadata={"description": "Internal: never shown to clients."})
    lead = fields.Nested(
        AgentRefSchema,
        dump_only=True,
        allow_none=True,
        metadata={"description": "The agent assigned as detail lead, or null."},
    )


class DetailPatchSchema(PatchMixin, DetailSchema):
    pass


class VisitSchema(Schema):
    id = fields.Integer(dump_only=True)
    detail_id = _ref("The detail this visit belongs to.", required=True)
    site_id = _ref("The venue (see /api/v1/venues).", required=True)
    arrives_at = UTCDateTime(required=True)
    departs_at = UTCDateTime(required=True)
    purpose = Text(validate=validate.Length(max=200), load_default="")


class VisitPatchSchema(PatchMixin, VisitSchema):
    class Meta:
        exclude = ("detail_id",)


class MovementSchema(Schema):
    id = fields.Integer(dump_only=True)
    detail_id = _ref("The detail this movement belongs to.", required=True)
    from_site_id = _ref("The venue the principal leaves.", required=True)
    to_site_id = _ref("The venue the principal goes to.", required=True)
    departs_at = UTCDateTime(required=True)
    arrives_at = UTCDateTime(required=True)
    notes = Text(load_default="")


class MovementPatchSchema(PatchMixin, MovementSchema):
    class Meta:
        exclude = ("detail_id",)


class AgentSchema(Schema):
    """An agent and the sign-in account it is the profile of, shown as one record."""

    USER_FIELDS = ("email", "name", "phone", "active")

    id = fields.Integer(dump_only=True)
    user_id = fields.Integer(dump_only=True)
    email = Email(required=True, validate=validate.Length(max=254))
    name = _name(120, required=True)
    call_sign = _name(40, required=True)
    phone = Text(validate=validate.Length(max=40), load_default="")
    active = fields.Boolean(load_default=True, metadata={"description": "Inactive agents' tokens stop working."})
    password = fields.String(
        load_only=True,
        validate=validate.Length(min=10, max=256),
        metadata={"description": "Optional: lets the agent sign in to the web pages."},
    )

    def get_attribute(self, obj, attr, default):
        # The account's fields live on the User row; the schema shows them as the agent's own.
        if attr in self.USER_FIELDS:
            return getattr(obj.user, attr)
        return super().get_attribute(obj, attr, default)


class AgentPatchSchema(PatchMixin, AgentSchema):
    pass


class AssignmentSchema(Schema):
    id = fields.Integer(dump_only=True)
    detail_id = _ref("The detail the agent is assigned to.", required=True)
    agent_id = _ref("The agent.", required=True)
    role = fields.String(validate=validate.OneOf(ASSIGNMENT_ROLES), load_default="agent")
    site_id = _ref("The venue where to report, or null.", allow_none=True, load_default=None)
    report_at = UTCDateTime(required=True)
    shift_starts_at = UTCDateTime(required=True)
    shift_ends_at = UTCDateTime(required=True)
    override_reason = Text(
        load_default="",
        validate=validate.Length(max=300),
        metadata={
            "description": "Why to assign despite a staffing conflict (an overlapping shift, a venue that cannot be"
            " reached in the gap, leave or training); kept with who gave it and when. Without it a conflict is a 422."
            " A PATCH that moves the agent, the venue or the times must give it again."
        },
    )
    overridden_at = UTCDateTime(dump_only=True, allow_none=True)
    overridden_by_id = fields.Integer(dump_only=True, allow_none=True)


class AssignmentPatchSchema(PatchMixin, AssignmentSchema):
    class Meta:
        exclude = ("detail_id",)


# --- list filters (query strings) ------------------------------------------------------------------


class PrincipalFilterSchema(Schema):
    client_id = _ref("Only this client's principals.", strict=False)


class DetailFilterSchema(Schema):
    client_id = _ref("Only this client's details.", strict=False)
    state = fields.String(validate=validate.OneOf(DETAIL_STATES))


class ItineraryFilterSchema(Schema):
    detail_id = _ref("Only this detail's rows.", strict=False)


class AssignmentFilterSchema(Schema):
    detail_id = _ref("Only this detail's assignments.", strict=False)
    agent_id = _ref("Only this agent's assignments.", strict=False)


class DeviceSchema(Schema):
    """A tracking app's device id or a texting phone number, bound to one agent."""

    id = fields.Integer(dump_only=True)
    agent_id = fields.Integer(required=True)
    kind = fields.String(
        validate=validate.OneOf(("device", "phone")),
        metadata={"description": "device (Traccar Client, GPSLogger) or phone (texts); default: phone if it has a +"},
    )
    identifier = fields.String(required=True, validate=validate.Length(min=3, max=80))
    label = fields.String(load_default="", validate=validate.Length(max=80))
    created_at = fields.AwareDateTime(dump_only=True)
    last_seen_at = fields.AwareDateTime(dump_only=True, allow_none=True)
