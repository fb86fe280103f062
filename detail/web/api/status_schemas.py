"""The shapes of a status report and a position as phones send them (JSON API and phone page alike)."""

import math

import marshmallow as ma
from marshmallow import fields, validate

from detail.web.api.schemas import (
    MAX_ID,
    NAME_PATTERN,
    TEXT_PATTERN,
    YEAR_PATTERN,
    StrictBoolean,
    UTCDateTime,
    no_control_characters,
)


class AwareDateTime(UTCDateTime):
    """The API's UTCDateTime, in the words the phones' refusals have always used."""

    default_error_messages = {
        "invalid": "Not a valid datetime.",
        "invalid_awareness": "Not a valid datetime: include a UTC offset, such as 'Z' or '+01:00'.",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {}).setdefault("pattern", YEAR_PATTERN)
        fields.AwareDateTime.__init__(self, **kwargs)  # no years sentence in the description

    def not_in_utc(self) -> ma.ValidationError:
        return ma.ValidationError("Not a time that exists in UTC.")


class Text(fields.String):
    """Text only: no NUL, lone surrogates or other control codes."""

    def __init__(self, *, pattern: str = TEXT_PATTERN, **kwargs):
        kwargs.setdefault("metadata", {}).setdefault("pattern", pattern)
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        no_control_characters(text)
        return text


def _finite(value: float) -> None:
    if not math.isfinite(value):
        raise ma.ValidationError("Must be a finite number.")


class StatusIn(ma.Schema):
    """A status report: a code (or a line of text such as 'om eta 0615'), optional position, note, retry key.

    Either code or text, not both.
    """

    class Meta:
        unknown = ma.RAISE

    code = Text(
        validate=validate.Length(min=1, max=60),
        pattern=NAME_PATTERN,
        metadata={"description": "One of the organisation's codes or spoken names, e.g. OM"},
    )
    text = Text(
        validate=validate.Length(min=1, max=300),
        pattern=NAME_PATTERN,
        metadata={"description": "Short-burst text instead of code, e.g. 'om eta 0615 via north gate'"},
    )
    note = Text(load_default="", validate=validate.Length(max=280))
    latitude = fields.Float(
        validate=[validate.Range(-90, 90), _finite],
        allow_nan=True,
        load_default=None,
        metadata={"description": "With longitude, or neither"},
    )
    longitude = fields.Float(validate=[validate.Range(-180, 180), _finite], allow_nan=True, load_default=None)
    accuracy = fields.Float(
        validate=[validate.Range(min=0), _finite], allow_nan=True, load_default=None, metadata={"description": "Metres"}
    )
    reported_at = AwareDateTime(
        load_default=None,
        metadata={"description": "The device's time of the report: at most 5 minutes ahead of the server's"},
    )
    client_id = Text(
        required=True,
        validate=validate.Length(min=1, max=64),
        pattern=NAME_PATTERN,
        metadata={"description": "Unique per report, made by the phone: a retry with the same id is stored once"},
    )
    detail_id = fields.Integer(
        strict=True,
        load_default=None,
        validate=validate.Range(1, MAX_ID),
        metadata={"description": "Defaults to the assignment on shift now"},
    )
    duress = StrictBoolean(
        load_default=False,
        load_only=True,
        metadata={"description": "Phone page only: send the organisation's duress code covertly"},
    )

    @ma.validates_schema
    def _one_of_code_or_text(self, data, **kwargs):
        if not data.get("duress") and bool(data.get("code")) == bool(data.get("text")):
            raise ma.ValidationError("send either code or text", "code")
        if (data.get("latitude") is None) != (data.get("longitude") is None):
            raise ma.ValidationError("send latitude and longitude together", "latitude")


class PositionIn(ma.Schema):
    """A position fix from the phone."""

    class Meta:
        unknown = ma.RAISE

    latitude = fields.Float(required=True, validate=[validate.Range(-90, 90), _finite], allow_nan=True)
    longitude = fields.Float(required=True, validate=[validate.Range(-180, 180), _finite], allow_nan=True)
    accuracy = fields.Float(validate=[validate.Range(min=0), _finite], allow_nan=True, load_default=None)
    altitude = fields.Float(validate=_finite, allow_nan=True, load_default=None)
    speed_kmh = fields.Float(validate=[validate.Range(min=0), _finite], allow_nan=True, load_default=None)
    heading = fields.Float(validate=[validate.Range(0, 360), _finite], allow_nan=True, load_default=None)
    battery = fields.Float(validate=[validate.Range(0, 100), _finite], allow_nan=True, load_default=None)
    reported_at = AwareDateTime(load_default=None)


class StatusOut(ma.Schema):
    """A stored status report, as returned to the phone (also for a retry of one already stored)."""

    id = fields.Integer()
    client_id = fields.String()
    code = fields.String(attribute="status_code.code")
    detail_id = fields.Integer(allow_none=True)
    note = fields.String()
    eta = fields.AwareDateTime(allow_none=True)
    latitude = fields.Float(allow_none=True)
    longitude = fields.Float(allow_none=True)
    reported_at = fields.AwareDateTime()
    received_at = fields.AwareDateTime()
    late_upload = fields.Boolean()
    source = fields.String()
