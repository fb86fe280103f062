"""JSON refusals shaped like the API's everywhere JSON is spoken (API, phone page, board actions)."""

import marshmallow as ma
from flask import jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from .status import Refused


def json_error(status: int, message: str, field: str | None = None, **extra):
    """A 4xx body: {code, status, message, errors?, ...extra}."""
    body = {"code": status, "status": HTTP_STATUS_CODES.get(status, "Error"), "message": message, **extra}
    if field:
        body["errors"] = {"json": {field: [message]}}
    return jsonify(body), status


def refused(exc: Refused):
    return json_error(exc.status, exc.message, exc.field, **exc.extra)


class BadJSON(HTTPException):
    code = 422


def load_json(schema: ma.Schema) -> dict:
    """The request's JSON body validated by the schema; raises a 4xx that names every bad field."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        response = json_error(400, "the body must be a JSON object (Content-Type: application/json)")[0]
        response.status_code = 400
        raise BadJSON(response=response)
    try:
        return schema.load(data)
    except ma.ValidationError as exc:
        fields = ", ".join(sorted(exc.messages)) if isinstance(exc.messages, dict) else "body"
        response = jsonify(
            {
                "code": 422,
                "status": "Unprocessable Entity",
                "message": f"invalid fields: {fields}",
                "errors": {"json": exc.messages},
            }
        )
        response.status_code = 422
        raise BadJSON(response=response) from None
