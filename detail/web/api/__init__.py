"""JSON API under /api/v1 with bearer-token auth, documented at /api/v1/openapi.json.

Every endpoint here is for admin and coordinator accounts. Each request goes the same way:
authenticate (ApiBlueprint's before_request), validate the body with a schema from
detail.schemas, look every id up through detail.scoping (so another organisation's rows are
"not found", whether in the path or in the body), build or change the row, run the itinerary
rule for it, commit once. Any refusal rolls the session back, so nothing stored changes.
Errors are JSON: {code, status, message, errors}, where errors is {"json": {field: [message]}}.
"""

from flask import Flask

from detail.extensions import csrf, rest
from detail.web.api.itinerary import clients, details, movements, principals, venues, visits
from detail.web.api.status import events, positions, status
from detail.web.api.team import agents, assignments, devices
from detail.web.security import STATUS_PER_AGENT, limit_api, limit_blueprint, token_or_address

BLUEPRINTS = (
    clients,
    principals,
    venues,
    details,
    visits,
    movements,
    agents,
    assignments,
    devices,
    status,
    positions,
    events,
)


def register_api(app: Flask) -> None:
    """Register the API blueprints on the app (rest was bound to it by create_app)."""

    for blueprint in (status, positions):
        limit_blueprint(blueprint, STATUS_PER_AGENT, token_or_address)
    for blueprint in BLUEPRINTS:
        # Bearer tokens, not cookies, authenticate these requests, so there is no CSRF to defend against.
        csrf.exempt(blueprint)
        limit_api(blueprint)
        rest.register_blueprint(blueprint)
