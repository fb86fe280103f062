"""JSON API under /api/v1 with bearer-token auth, documented at /api/v1/openapi.json: the
resources (itinerary.py, team.py, status.py, messages.py, intel's in intel/web/api.py) on the base of base.py."""

from flask import Flask

from detail.extensions import csrf, rest
from detail.web.api.itinerary import clients, details, movements, principals, venues, visits
from detail.web.api.messages import team_messages
from detail.web.api.on_call import on_call
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
    team_messages,
    on_call,
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
