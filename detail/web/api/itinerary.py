"""The itinerary resources of the JSON API: clients, principals, venues, details, visits, movements."""

import sqlalchemy.orm as so
from flask import g
from flask.views import MethodView
from marshmallow import RAISE

from detail.domain.itinerary import check_detail, check_movement, check_visit
from detail.models import Assignment, Client, Detail, Movement, Principal, Site, Visit
from detail.web.api import schemas
from detail.web.api.base import (
    ApiBlueprint,
    create,
    delete,
    found,
    listed,
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
        """Update a detail"""
        return update(found(Detail, detail_id), data, check_detail)


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
        """Delete a visit"""
        delete(found(Visit, visit_id))


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
        """Delete a movement"""
        delete(found(Movement, movement_id))


# --- agents -------------------------------------------------------------------------------------
