"""Marshmallow schemas for the JSON API: what a request body may hold and what a response shows.

One schema per resource serves both directions (ids and derived values are dump_only, secrets
load_only); a *Patch subclass makes every field optional for PATCH and refuses the fields that
are fixed once a row exists. Unknown fields are refused (marshmallow's RAISE default).
"""

import functools
import re
from datetime import UTC
from zoneinfo import available_timezones

from marshmallow import Schema, ValidationError, fields, pre_load, validate

from detail.domain.bounds import EARLIEST_YEAR, LATEST_YEAR, MAX_ID
from detail.domain.names import HIDDEN_CLASS, visible
from detail.models import ASSIGNMENT_ROLES, DETAIL_STATES

# --- fields -------------------------------------------------------------------------------------


# The rules below, as the OpenAPI document states them (apispec copies these metadata keys into it).
# Years as written, EARLIEST_YEAR to LATEST_YEAR.
YEAR_PATTERN = r"^(19[7-9][0-9]|2[01][0-9][0-9]|2200)-"
# C0 control codes but tab, line feed and carriage return; and DEL (see no_control_characters).
CONTROL = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f"
TEXT_PATTERN = rf"^[^{CONTROL}]*$"
# What str.strip() removes, spelled out: regex engines differ on \s.
SPACE = r"\t\n\u000b\u000c\r\u001c-\u001f\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Text with at least one character that is neither white space nor a control code: a name.
# ... and no character that does not show or that reorders the text (detail/domain/names.py; the
# zero-width joiners are allowed where they are spelling, between two letters of scripts that use them).
NAME_PATTERN = rf"^[^{CONTROL}{HIDDEN_CLASS}]*[^{SPACE}{CONTROL}{HIDDEN_CLASS}][^{CONTROL}{HIDDEN_CLASS}]*$"


# A device id as the apps show it, or a phone number as + and digits, written as people write
# them ("+44 (0)7700 900-123"; detail/domain/devices.py drops the spaces, brackets and the trunk 0).
IDENTIFIER_PATTERN = r"^([A-Za-z0-9._:@-]{3,80}|\+([ ().\-/]*[0-9]){6,16}[ ().\-/]*)$"


def matches(pattern: str):
    """Validator: the whole value matches the pattern, stated in the document as the field's pattern."""
    compiled = re.compile(pattern)

    def check(value: str) -> None:
        # fullmatch: a "$" alone would let a trailing newline through, which the document's pattern refuses.
        if compiled.fullmatch(value) is None:
            raise ValidationError(f"Does not match the pattern {pattern}.")

    check.pattern = pattern
    return check


class StrictBoolean(fields.Boolean):
    """JSON true or false only: 0, 1, "yes" or "true" are refused, as the document's type boolean says."""

    def _deserialize(self, value, attr, data, **kwargs):
        # Not truthy={True}: 1 == True, so a set of True holds 1 as well.
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class UTCDateTime(fields.AwareDateTime):
    """ISO 8601 with a UTC offset in, ISO 8601 in UTC out."""

    default_error_messages = {
        "invalid": "Not an ISO 8601 date and time, e.g. 2026-11-24T08:00:00Z.",
        # A naive time is ambiguous across venues in different zones, so it is refused, not guessed.
        "invalid_awareness": "Include a UTC offset, e.g. 2026-11-24T08:00:00Z or 2026-11-24T09:00:00+01:00.",
    }

    def __init__(self, **kwargs):
        metadata = kwargs.setdefault("metadata", {})
        metadata.setdefault("pattern", YEAR_PATTERN)
        years = f"A time in the years {EARLIEST_YEAR} to {LATEST_YEAR}, written and in UTC."
        metadata["description"] = f"{metadata['description']} {years}" if "description" in metadata else years
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        aware = super()._deserialize(value, attr, data, **kwargs)
        check_plausible_time(aware)  # the year as written, as the document's pattern says
        try:
            moment = aware.astimezone(UTC)
        except OverflowError as error:  # e.g. 0001-01-01T00:00:00+01:00 lies before year 1 in UTC
            raise self.not_in_utc() from error
        check_plausible_time(moment)
        return moment

    def not_in_utc(self) -> ValidationError:
        return self.make_error("invalid")

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else value.astimezone(UTC).isoformat()


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
    """A string with surrounding whitespace removed, so a blank name counts as empty; text only.

    A Length validator's maximum holds for the text as sent too, as the document's maxLength says.
    """

    def __init__(self, *, pattern: str = TEXT_PATTERN, **kwargs):
        kwargs.setdefault("metadata", {}).setdefault("pattern", pattern)
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        raw = super()._deserialize(value, attr, data, **kwargs)
        for validator in self.validators:
            if isinstance(validator, validate.Length) and validator.max is not None and len(raw) > validator.max:
                raise ValidationError(f"Longer than maximum length {validator.max}.")
        text = raw.strip()
        no_control_characters(text)
        return text


def _name(max_length: int, **kwargs) -> Text:
    return Text(validate=[validate.Length(min=1, max=max_length), visible], pattern=NAME_PATTERN, **kwargs)


def _ref(description: str, *, strict: bool = True, **kwargs) -> fields.Integer:
    # strict in bodies: "3" or 3.0 there is more likely a client bug than an id. Query strings are
    # all text, so filters pass strict=False.
    kwargs.setdefault("validate", validate.Range(min=1, max=MAX_ID))
    return fields.Integer(strict=strict, metadata={"description": description}, **kwargs)


class Zone(fields.String):
    """An IANA time zone name known to this server, listed in the document as an enum."""

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {})["enum"] = sorted(_zones())
        super().__init__(validate=iana_zone, **kwargs)


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
        metadata={"description": "An agent within this many metres counts as arrived.", "exclusiveMinimum": True},
    )
    timezone = Zone(metadata={"description": "IANA name; defaults to the organisation's time zone."})


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
    ends_at = UTCDateTime(required=True, metadata={"description": "After starts_at."})
    state = fields.String(validate=validate.OneOf(DETAIL_STATES), load_default="planned")
    notes = Text(load_default="", metadata={"description": "Internal: never shown to clients."})
    lead = fields.Nested(
        AgentRefSchema,
        dump_only=True,
        allow_none=True,
        metadata={"description": "The agent assigned as detail lead, or null."},
    )


class DetailPatchSchema(PatchMixin, DetailSchema):
    state = fields.String(
        validate=validate.OneOf(DETAIL_STATES),
        metadata={"description": "The state to move to (go hot, complete, back to planned, reopen); needs from_state."},
    )
    from_state = fields.String(
        load_only=True,
        validate=validate.OneOf(DETAIL_STATES),
        metadata={
            "description": "The state the detail moves from, as the caller last read it: if the detail has "
            "moved since (a retry, another coordinator), nothing changes and the answer is 409."
        },
    )


class VisitSchema(Schema):
    id = fields.Integer(dump_only=True)
    detail_id = _ref("The detail this visit belongs to.", required=True)
    site_id = _ref("The venue (see /api/v1/venues).", required=True)
    arrives_at = UTCDateTime(required=True)
    departs_at = UTCDateTime(required=True, metadata={"description": "After arrives_at."})
    purpose = Text(validate=validate.Length(max=200), load_default="")


class VisitPatchSchema(PatchMixin, VisitSchema):
    class Meta:
        exclude = ("detail_id",)


class MovementSchema(Schema):
    id = fields.Integer(dump_only=True)
    detail_id = _ref("The detail this movement belongs to.", required=True)
    from_site_id = _ref("The venue the principal leaves.", required=True)
    to_site_id = _ref("The venue the principal goes to: another than from_site_id.", required=True)
    departs_at = UTCDateTime(required=True)
    arrives_at = UTCDateTime(required=True, metadata={"description": "After departs_at."})
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
    active = StrictBoolean(load_default=True, metadata={"description": "Inactive agents' tokens stop working."})
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
    agent_id = _ref("The agent: once per detail.", required=True)
    role = fields.String(
        validate=validate.OneOf(ASSIGNMENT_ROLES),
        load_default="agent",
        metadata={"description": "One detail_lead per detail."},
    )
    site_id = _ref("The venue where to report, or null.", allow_none=True, load_default=None)
    report_at = UTCDateTime(required=True, metadata={"description": "No later than shift_ends_at."})
    shift_starts_at = UTCDateTime(required=True)
    shift_ends_at = UTCDateTime(required=True, metadata={"description": "After shift_starts_at."})
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
    agent_id = _ref("The agent the device or number belongs to.", required=True)
    kind = fields.String(
        validate=validate.OneOf(("device", "phone")),
        metadata={
            "description": "device (Traccar Client, GPSLogger) or phone (texts); default: phone if it has a +."
            " A device id has no +, a phone number is + and digits."
        },
    )
    identifier = fields.String(
        required=True,
        validate=[validate.Length(min=3, max=80), matches(IDENTIFIER_PATTERN)],
        metadata={
            "description": "A device id (letters, digits and . _ : @ -) or a phone number such as +447700900123"
            " or +44 7700 900123",
            "pattern": IDENTIFIER_PATTERN,
        },
    )
    label = Text(load_default="", validate=validate.Length(max=80))
    created_at = fields.AwareDateTime(dump_only=True)
    last_seen_at = fields.AwareDateTime(dump_only=True, allow_none=True)
