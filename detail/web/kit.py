"""What every blueprint of both packages shares: form filters and validators, and JSON refusals
shaped like the API's everywhere JSON is spoken (API, phone page, board actions, intel's pages)."""

from dataclasses import dataclass, field

import marshmallow as ma
import wtforms
from flask import abort, jsonify, render_template, request
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from detail.domain.names import invisible_character, strip
from detail.domain.statuses import Refused
from detail.domain.timefmt import DEFAULT_FORMAT, local_time

__all__ = [
    "strip",
    "optional_id",
    "visible_field",
    "json_error",
    "refused",
    "load_json",
    "local_filter",
    "Ask",
    "ConfirmForm",
    "unconfirmed",
]


def local_filter(value, tz: str | None = None, fmt: str = DEFAULT_FORMAT) -> str:
    """The templates' `local` filter: a page that names no zone reads in its reader's organisation's
    zone, never in the server's UTC."""
    if tz is None and current_user and getattr(current_user, "is_authenticated", False):
        tz = current_user.organisation.timezone
    return local_time(value, tz, fmt)


def json_error(status: int, message: str, field: str | None = None, **extra):
    """A 4xx answer in the one JSON error shape, {code, status, message, errors?, ...extra}: the
    shape flask-smorest gives the API's refusals, so a caller reads every refusal the same way."""
    body = {"code": status, "status": HTTP_STATUS_CODES.get(status, "Error"), "message": message, **extra}
    if field:
        body["errors"] = {"json": {field: [message]}}
    response = jsonify(body)
    response.status_code = status  # also when raised inside an exception, as load_json does
    return response, status


def refused(exc: Refused):
    return json_error(exc.status, exc.message, exc.field, **exc.extra)


class BadJSON(HTTPException):
    code = 422


def load_json(schema: ma.Schema) -> dict:
    """The request's JSON body validated by the schema; raises a 4xx that names every bad field."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadJSON(response=json_error(400, "the body must be a JSON object (Content-Type: application/json)")[0])
    try:
        return schema.load(data)
    except ma.ValidationError as exc:
        fields = ", ".join(sorted(exc.messages)) if isinstance(exc.messages, dict) else "body"
        raise BadJSON(response=json_error(422, f"invalid fields: {fields}", errors={"json": exc.messages})[0]) from None


# --- forms ---------------------------------------------------------------------------------------


def optional_id(value) -> int | None:
    """Coerce a select's value to an id, with the blank option meaning none."""
    if value in (None, "", "None"):
        return None
    return int(value)


def visible_field(form, field) -> None:
    """WTForms validator for names, call signs and codes: checks what was sent, before a filter tidied it."""
    for text in [*(field.raw_data or []), field.data]:
        problem = invisible_character(text) if isinstance(text, str) else None
        if problem:
            raise wtforms.validators.ValidationError(problem)


# --- asking first -------------------------------------------------------------------------------


class ConfirmForm(FlaskForm):
    """A form with nothing but its CSRF token, behind remove and revoke buttons."""


@dataclass(frozen=True)
class Ask:
    """What a coordinator is asked before a change a slip must not make: the question, what will
    happen, the button that does it, and where Cancel goes. The page's dialog and the server's own
    confirmation page both show it, so the two never say different things."""

    title: str  # "Remove the visit to The Savoy?"
    effect: str  # what happens, in full sentences
    button: str  # "Remove visit"
    back: str  # the page the button was on
    fields: dict = field(default_factory=dict)  # what the confirmed POST carries besides confirmed=1
    danger: bool = True


def unconfirmed(ask: Ask):
    """The confirmation page, unless this is a POST carrying confirmed (sent by the page's dialog or
    by this page's own button); None when the change may go ahead. Nothing is changed before that."""
    if request.method == "POST" and request.form.get("confirmed"):
        if not ConfirmForm().validate_on_submit():
            abort(400)
        return None
    return render_template("detail/admin/confirm.html", ask=ask, action=request.path, confirm=ConfirmForm())
