"""The itinerary resources of the JSON API: clients, principals, venues, details, visits, movements."""

import sqlalchemy.orm as so
from flask import g
from flask.views import MethodView
from marshmallow import RAISE

from detail.domain import lifecycle, live, removals
from detail.domain.itinerary import check_detail, check_movement, check_visit
from detail.extensions import db
from detail.models import Assignment, Client, Detail, Movement, Principal, Site, Visit
from detail.web.api import schemas
from detail.web.api.base import (
    ApiBlueprint,
    create,
    found,
    listed,
    refuse,
    update,
)

clients = ApiBlueprint("clients", "Customer companies whose principals the organisation protects.")


@clients.route("")
class ClientList(MethodView):
    @clients.response(200, schemas.ClientSchema(many=True))
    def get(self):
        """List clients"""
        return listed(Client, {}, Client.name)

    @clients.arguments(schemas.ClientSchema)
    @clients.response(201, schemas.ClientSchema)
    def post(self, data):
        """Create a client"""
        return create(Client, {**data, "organisation_id": g.user.organisation_id})


@clients.route("/<int:client_id>")
class ClientItem(MethodView):
    @clients.response(200, schemas.ClientSchema)
    def get(self, client_id):
        """Read a client"""
        return found(Client, client_id)

    @clients.arguments(schemas.ClientPatchSchema)
    @clients.response(200, schemas.ClientSchema)
    def patch(self, data, client_id):
        """Update a client"""
        return update(found(Client, client_id), data)


# --- principals ---------------------------------------------------------------------------------

principals = ApiBlueprint("principals", "Protectees, each belonging to a client.")


@principals.route("")
class PrincipalList(MethodView):
    @principals.arguments(schemas.PrincipalFilterSchema, location="query", unknown=RAISE)
    @principals.response(200, schemas.PrincipalSchema(many=True))
    def get(self, filters):
        """List principals"""
        return listed(Principal, filters, Principal.code_name)

    @principals.arguments(schemas.PrincipalSchema)
    @principals.response(201, schemas.PrincipalSchema)
    def post(self, data):
        """Create a principal"""
        return create(Principal, data)


@principals.route("/<int:principal_id>")
class PrincipalItem(MethodView):
    @principals.response(200, schemas.PrincipalSchema)
    def get(self, principal_id):
        """Read a principal"""
        return found(Principal, principal_id)

    @principals.arguments(schemas.PrincipalPatchSchema)
    @principals.response(200, schemas.PrincipalSchema)
    def patch(self, data, principal_id):
        """Update a principal"""
        return update(found(Principal, principal_id), data)


# --- venues -------------------------------------------------------------------------------------

venues = ApiBlueprint("venues", "The organisation's catalogue of venues, reused across details.")


@venues.route("")
class VenueList(MethodView):
    @venues.response(200, schemas.VenueSchema(many=True))
    def get(self):
        """List venues"""
        return listed(Site, {}, Site.name)

    @venues.arguments(schemas.VenueSchema)
    @venues.response(201, schemas.VenueSchema)
    def post(self, data):
        """Create a venue"""
        data.setdefault("timezone", g.user.organisation.timezone)
        return create(Site, {**data, "organisation_id": g.user.organisation_id})


@venues.route("/<int:venue_id>")
class VenueItem(MethodView):
    @venues.response(200, schemas.VenueSchema)
    def get(self, venue_id):
        """Read a venue"""
        return found(Site, venue_id)

    @venues.arguments(schemas.VenuePatchSchema)
    @venues.response(200, schemas.VenueSchema)
    def patch(self, data, venue_id):
        """Update a venue"""
        return update(found(Site, venue_id), data)


# --- details ------------------------------------------------------------------------------------

details = ApiBlueprint("details", "Protective operations: a client's principal, from start to end.")

# Every detail in a list shows its lead; load them in one query rather than one per detail.
_WITH_LEAD = so.selectinload(Detail.assignments).selectinload(Assignment.agent)


@details.route("")
class DetailList(MethodView):
    @details.arguments(schemas.DetailFilterSchema, location="query", unknown=RAISE)
    @details.response(200, schemas.DetailSchema(many=True))
    def get(self, filters):
        """List details"""
        return listed(Detail, filters, Detail.starts_at, _WITH_LEAD)

    @details.arguments(schemas.DetailSchema)
    @details.response(201, schemas.DetailSchema)
    def post(self, data):
        """Create a detail"""
        return create(Detail, data, check_detail)


@details.route("/<int:detail_id>")
class DetailItem(MethodView):
    @details.response(200, schemas.DetailSchema)
    def get(self, detail_id):
        """Read a detail"""
        return found(Detail, detail_id)

    @details.arguments(schemas.DetailPatchSchema)
    @details.response(200, schemas.DetailSchema)
    def patch(self, data, detail_id):
        """Update a detail; a change of state names the state it leaves (from_state), as the pages do"""
        detail = found(Detail, detail_id)
        to_state, from_state = data.pop("state", None), data.pop("from_state", None)
        event = None
        # Sending back the state the detail is in, without from_state, moves nothing.
        if to_state is not None and not (from_state is None and to_state == detail.state):
            event = _move(detail, from_state, to_state)
        update(detail, data, check_detail)  # commits the move with the other fields, or neither
        if event is not None:
            live.publish([event])
        return detail


def _move(detail: Detail, from_state: str | None, to_state: str):
    """The detail moved from from_state to to_state (flushed); 422 for no such move, 409 when the
    detail is no longer in from_state (a retry, or another coordinator a moment earlier)."""
    if from_state is None:
        message = "name the state the detail moves from (required with state)"
        refuse(422, f"Not saved: from_state: {message}.", {"from_state": [message.capitalize() + "."]})
    try:
        lifecycle.move_between(from_state, to_state)
    except lifecycle.NotAMove as exc:
        refuse(422, f"Not saved: state: {exc}.", {"state": [f"Not a move from {from_state}."]})
    event = lifecycle.change_state(detail, from_state, to_state, g.user)
    if event is None:
        refuse(409, f"Nothing changed: the detail is {detail.state}, not {from_state}.")
    return event


# --- visits -------------------------------------------------------------------------------------

visits = ApiBlueprint("visits", "The principal's stays at venues during a detail.")


@visits.route("")
class VisitList(MethodView):
    @visits.arguments(schemas.ItineraryFilterSchema, location="query", unknown=RAISE)
    @visits.response(200, schemas.VisitSchema(many=True))
    def get(self, filters):
        """List visits"""
        return listed(Visit, filters, Visit.arrives_at)

    @visits.arguments(schemas.VisitSchema)
    @visits.response(201, schemas.VisitSchema)
    def post(self, data):
        """Create a visit"""
        return create(Visit, data, check_visit)


@visits.route("/<int:visit_id>")
class VisitItem(MethodView):
    @visits.response(200, schemas.VisitSchema)
    def get(self, visit_id):
        """Read a visit"""
        return found(Visit, visit_id)

    @visits.arguments(schemas.VisitPatchSchema)
    @visits.response(200, schemas.VisitSchema)
    def patch(self, data, visit_id):
        """Update a visit"""
        return update(found(Visit, visit_id), data, check_visit)

    @visits.response(204)
    def delete(self, visit_id):
        """Delete a visit, and the movements that bring the principal there and take the principal away

        As the detail page removes it: on the detail's timeline, and undoable on that page for a short
        while by the same user."""
        _removed(*removals.remove_visit(found(Visit, visit_id), g.user))


# --- movements ----------------------------------------------------------------------------------

movements = ApiBlueprint("movements", "The principal's moves from one venue to another during a detail.")


@movements.route("")
class MovementList(MethodView):
    @movements.arguments(schemas.ItineraryFilterSchema, location="query", unknown=RAISE)
    @movements.response(200, schemas.MovementSchema(many=True))
    def get(self, filters):
        """List movements"""
        return listed(Movement, filters, Movement.departs_at)

    @movements.arguments(schemas.MovementSchema)
    @movements.response(201, schemas.MovementSchema)
    def post(self, data):
        """Create a movement"""
        return create(Movement, data, check_movement)


@movements.route("/<int:movement_id>")
class MovementItem(MethodView):
    @movements.response(200, schemas.MovementSchema)
    def get(self, movement_id):
        """Read a movement"""
        return found(Movement, movement_id)

    @movements.arguments(schemas.MovementPatchSchema)
    @movements.response(200, schemas.MovementSchema)
    def patch(self, data, movement_id):
        """Update a movement"""
        return update(found(Movement, movement_id), data, check_movement)

    @movements.response(204)
    def delete(self, movement_id):
        """Delete a movement (on the detail's timeline, undoable on the detail page for a short while)"""
        _removed(*removals.remove_movement(found(Movement, movement_id), g.user))


def _removed(removal, event) -> None:
    db.session.commit()
    live.publish([event])


# --- agents -------------------------------------------------------------------------------------
