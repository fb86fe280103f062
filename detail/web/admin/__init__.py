"""Coordinator pages: clients, contacts, principals, details, itineraries, agents, tokens, settings,
status codes, one module per area, all on the one `admin` blueprint of admin/base.py.

Every handler follows the same shape: validate the form, build or change rows, run the
itinerary checks, commit once, redirect with a flash. Bad input re-renders the form with
status 400 and a message per field; nothing is stored.
"""

# Importing the page modules registers their routes on bp.
from detail.web.admin import (  # noqa: F401
    after_action,
    agents,
    clients,
    details,
    devices,
    escalation,
    handoff,
    itinerary,
    on_call,
    persons,
    requests,
    risks,
    settings,
    sites,
    texts,
    tokens,
)
from detail.web.admin.base import bp

__all__ = ["bp"]
