"""The shared web kit: one JSON error shape, with the status in the response itself."""

import marshmallow as ma
import pytest
from werkzeug.exceptions import HTTPException

from detail.web.kit import json_error, load_json


class Body(ma.Schema):
    count = ma.fields.Integer(required=True)


def test_json_error_is_the_api_shape_with_its_status(app):
    with app.test_request_context("/"):
        response, status = json_error(409, "already acknowledged", "note", alert_id=3)
    assert status == response.status_code == 409
    assert response.json == {
        "code": 409,
        "status": "Conflict",
        "message": "already acknowledged",
        "errors": {"json": {"note": ["already acknowledged"]}},
        "alert_id": 3,
    }


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [([1, 2], 400, "the body must be a JSON object"), ({"count": "many"}, 422, "invalid fields: count")],
)
def test_load_json_raises_its_refusal_with_the_right_status(app, body, status, message):
    with app.test_request_context("/", method="POST", json=body), pytest.raises(HTTPException) as refusal:
        load_json(Body())
    response = refusal.value.response
    assert response.status_code == status
    assert response.json["code"] == status and message in response.json["message"]
