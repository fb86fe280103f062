"""JSON API under /api/v1 with bearer-token auth, documented at /api/v1/openapi.json.

Every endpoint here is for admin and coordinator accounts. Each request goes the same way:
authenticate (ApiBlueprint's before_request), validate the body with a schema from
detail.schemas, look every id up through detail.scoping (so another organisation's rows are
"not found", whether in the path or in the body), build or change the row, run the itinerary
rule for it, commit once. Any refusal rolls the session back, so nothing stored changes.
Errors are JSON: {code, status, message, errors}, where errors is {"json": {field: [message]}}.
"""

import functools

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Flask, g, request
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import RAISE
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import HTTPException

from . import schemas
from .auth import bearer_token, user_for_token
from .devices import BindingError, bind
from .extensions import csrf, db, rest
from .itinerary import Invalid, check_assignment, check_detail, check_movement, check_visit
from .models import STAFF_ROLES, Agent, Assignment, Client, Detail, Device, Movement, Principal, Site, User, Visit
from .scoping import get_owned, owned

PREFIX = "/api/v1"

NOUNS = {
    Client: "client",
    Principal: "principal",
    Site: "venue",
    Detail: "detail",
    Visit: "visit",
    Movement: "movement",
    Agent: "agent",
    Assignment: "assignment",
    Device: "device binding",
}

# Body fields that name another row, and the table they name: each is looked up in the caller's organisation.
REFERENCES = {
    "client_id": Client,
    "principal_id": Principal,
    "detail_id": Detail,
    "site_id": Site,
    "from_site_id": Site,
    "to_site_id": Site,
    "agent_id": Agent,
}


# --- errors -------------------------------------------------------------------------------------


def describe(errors) -> str:
    """Marshmallow's nested error messages as one line: "field: message; other: message"."""
    parts: list[str] = []

    def walk(node, path: list[str]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, path if key == "_schema" else [*path, str(key)])
        elif isinstance(node, list) and all(isinstance(item, str) for item in node):
            parts.append(f"{'.'.join(path) or 'body'}: {' '.join(node)}")
        elif isinstance(node, list):
            for item in node:
                walk(item, path)
        else:
            parts.append(f"{'.'.join(path) or 'body'}: {node}")

    walk(errors, [])
    return "; ".join(parts)


def refuse(status: int, message: str, errors: dict[str, list[str]] | None = None):
    """Roll back whatever this request changed in the session, then answer with a JSON error."""
    # In tests (and any code sharing the app context) the session outlives the request, so a
    # half-applied change must not stay in it to be flushed by someone else.
    db.session.rollback()
    if errors is None:
        abort(status, message=message)
    abort(status, message=message, errors={"json": errors})


def json_error(error: HTTPException):
    """Errors raised in an API view, as JSON with a message even when Werkzeug raised them (e.g. 413)."""
    data = getattr(error, "data", None) or {}
    if "message" not in data:
        # flask-smorest only writes "message" when abort() was given one.
        error.data = data = {**data, "message": describe_http_error(error)}
    if error.code == 429:
        from .security import retry_after

        error.data = {**data, "headers": {**data.get("headers", {}), "Retry-After": retry_after()}}
    return rest.handle_http_exception(error)


def describe_http_error(error: HTTPException) -> str:
    if error.code == 429:
        # Flask-Limiter describes the limit only ("3 per 1 minute"); say what happened.
        return f"Too many requests: the limit is {error.description}. Wait and try again."
    return error.description


class ApiParser(FlaskParser):
    """webargs' parser with a message on every refusal, and a JSON body required where one is expected."""

    def _raw_load_json(self, req):
        # webargs would read a non-JSON body as {}, making a form post an empty PATCH that "succeeds".
        if not is_json_request(req):
            abort(415, message="Send the body as JSON, with Content-Type: application/json.")
        if not req.get_data(cache=True):
            abort(400, message="The request body is empty: send a JSON object.")
        # The app's one JSON reader, which refuses what does not parse or nests too deep (detail/bodies.py).
        return req.get_json()

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        # error.messages is {location: {field: [message]}}; the message names the fields.
        details = "; ".join(describe(messages) for messages in error.messages.values())
        extra = {"headers": error_headers} if error_headers else {}
        abort(error_status_code or 422, message=f"Invalid request: {details}", errors=error.messages, **extra)


# --- authentication -----------------------------------------------------------------------------


def authenticate(roles: tuple[str, ...], read_roles: tuple[str, ...]) -> None:
    """Before every API request: the bearer token must be live and its account of an allowed role."""
    token = bearer_token()
    user = user_for_token(token) if token else None
    if user is None:
        challenge = 'Bearer realm="Oscar Mike"' + (', error="invalid_token"' if token else "")
        message = (
            "This token is not valid, has been revoked, or its account is inactive."
            if token
            else "No bearer token: send the header Authorization: Bearer <token>."
        )
        abort(401, message=message, headers={"WWW-Authenticate": challenge})
    # Commit the token's last_used_at now, so reads and refused writes record the use too (it
    # changes at most once a minute; otherwise there is nothing to commit, and nothing to reload).
    if db.session.dirty:
        db.session.commit()
    allowed = read_roles if request.method in ("GET", "HEAD") else roles
    if user.role not in allowed:
        names = " and ".join(allowed)
        abort(403, message=f"Only {names} accounts may use this endpoint; this token's account is a {user.role!r} one.")
    g.user = user


class ApiBlueprint(Blueprint):
    """A resource's blueprint: every request authenticated, every operation documented as such."""

    ARGUMENTS_PARSER = ApiParser()

    def __init__(self, name: str, description: str, roles=STAFF_ROLES, read_roles=None):
        super().__init__(name, __name__, url_prefix=f"{PREFIX}/{name}", description=description)
        self.before_request(functools.partial(authenticate, tuple(roles), tuple(read_roles or roles)))
        self.register_error_handler(HTTPException, json_error)

    def route(self, rule, **options):
        """Register a MethodView, documenting the bearer security and the errors every operation may answer."""
        register = super().route(rule, **options)

        def decorator(view):
            for method in view.methods:
                name = method.lower()
                documented = self.doc(security=[{"bearerAuth": []}], responses=_error_responses(rule, method))
                setattr(view, name, documented(getattr(view, name)))
            return register(view)

        return decorator

    def arguments(self, schema, **kwargs):
        # An instance, made once: given a class, the parser would build a schema for every request.
        return super().arguments(schema() if isinstance(schema, type) else schema, **kwargs)


def _error_responses(rule: str, method: str) -> dict[int, str]:
    # Names of the responses flask-smorest registers for each HTTP status.
    responses = {401: "UNAUTHORIZED", 403: "FORBIDDEN", 429: "TOO_MANY_REQUESTS"}
    if "<" in rule:
        responses[404] = "NOT_FOUND"
    if method in ("POST", "PATCH"):
        responses |= {
            400: "BAD_REQUEST",
            409: "CONFLICT",
            413: "REQUEST_ENTITY_TOO_LARGE",
            415: "UNSUPPORTED_MEDIA_TYPE",
            422: "UNPROCESSABLE_ENTITY",
        }
    return responses


# --- the shared flow ----------------------------------------------------------------------------


def found(model, row_id: int):
    """The caller's organisation's row with that id, or 404 (also when it is another organisation's)."""
    row = get_owned(model, row_id, g.user.organisation_id)
    if row is None:
        refuse(404, f"No such {NOUNS[model]} in your organisation.")
    return row


def listed(model, filters: dict, order_by, *options) -> list:
    """The organisation's rows matching the equality filters from the query string."""
    query = owned(model, g.user.organisation_id).where(*(getattr(model, k) == v for k, v in filters.items()))
    return db.session.scalars(query.options(*options).order_by(order_by, model.id)).all()


def check_references(data: dict) -> None:
    """422 if an id in the body does not name a row of the caller's organisation."""
    errors = {
        field: [f"No such {NOUNS[model]} in your organisation."]
        for field, model in REFERENCES.items()
        if data.get(field) is not None and get_owned(model, data[field], g.user.organisation_id) is None
    }
    if errors:
        refuse(422, f"Not saved: {describe(errors)}", errors)


def save(row, check=None):
    """Run the itinerary check for the row, then commit; on a refusal nothing is stored."""
    try:
        if check is not None:
            check(row)
    except Invalid as invalid:
        refuse(422, f"Not saved: {invalid}", {field: [message] for field, message in invalid.errors.items()})
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        # Backstop for what the checks cannot see, such as a duplicate name or a concurrent change.
        refuse(409, "Not saved: it conflicts with stored data (a value that must be unique, or a row just changed).")
    return row


def create(model, data: dict, check=None):
    """Insert a row built from a validated body."""
    check_references(data)
    row = model(**data)
    db.session.add(row)
    return save(row, check)


def update(row, data: dict, check=None):
    """Apply a validated PATCH body to a row."""
    check_references(data)
    for field, value in data.items():
        setattr(row, field, value)
    return save(row, check)


def delete(row) -> None:
    """Delete a row."""
    db.session.delete(row)
    save(row)


# --- clients ------------------------------------------------------------------------------------

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

agents = ApiBlueprint("agents", "Protection agents, each with the sign-in account it is the profile of.")


def _refuse_taken(data: dict, agent: Agent | None = None) -> None:
    """409 if the email (anywhere) or the call sign (in the organisation) is another agent's already."""
    errors = {}
    if "email" in data:
        same = sa.select(User.id).where(sa.func.lower(User.email) == data["email"])
        if agent is not None:
            same = same.where(User.id != agent.user_id)
        if db.session.scalar(same) is not None:
            errors["email"] = ["Already in use by another account."]
    if "call_sign" in data:
        same = owned(Agent, g.user.organisation_id).where(Agent.call_sign == data["call_sign"])
        if agent is not None:
            same = same.where(Agent.id != agent.id)
        if db.session.scalar(same) is not None:
            errors["call_sign"] = ["Already used by another agent in your organisation."]
    if errors:
        refuse(409, f"Not saved: {describe(errors)}", errors)


def _apply_agent(agent: Agent, data: dict) -> None:
    # The body is one flat record; the account's fields go to the User row.
    password = data.pop("password", None)
    for field, value in data.items():
        setattr(agent.user if field in schemas.AgentSchema.USER_FIELDS else agent, field, value)
    if password is not None:
        agent.user.set_password(password)


@agents.route("")
class AgentList(MethodView):
    @agents.response(200, schemas.AgentSchema(many=True))
    def get(self):
        """List agents"""
        return listed(Agent, {}, Agent.call_sign, so.selectinload(Agent.user))

    @agents.arguments(schemas.AgentSchema)
    @agents.response(201, schemas.AgentSchema)
    def post(self, data):
        """Create an agent and its sign-in account"""
        _refuse_taken(data)
        organisation_id = g.user.organisation_id
        agent = Agent(organisation_id=organisation_id, user=User(organisation_id=organisation_id, role="agent"))
        _apply_agent(agent, data)
        db.session.add(agent)
        return save(agent)


@agents.route("/<int:agent_id>")
class AgentItem(MethodView):
    @agents.response(200, schemas.AgentSchema)
    def get(self, agent_id):
        """Read an agent"""
        return found(Agent, agent_id)

    @agents.arguments(schemas.AgentPatchSchema)
    @agents.response(200, schemas.AgentSchema)
    def patch(self, data, agent_id):
        """Update an agent"""
        agent = found(Agent, agent_id)
        _refuse_taken(data, agent)
        _apply_agent(agent, data)
        return save(agent)


# --- assignments --------------------------------------------------------------------------------

assignments = ApiBlueprint(
    "assignments",
    "Agents' places on details: role, where and when to report, shift. Agents may list and read their own.",
    read_roles=(*STAFF_ROLES, "agent"),
)


def _own_assignments_only(filters: dict) -> dict:
    """An agent sees only his own assignments, whatever the filter says."""
    if g.user.role != "agent":
        return filters
    agent = db.session.scalar(sa.select(Agent).where(Agent.user_id == g.user.id))
    return {**filters, "agent_id": agent.id if agent else -1}


@assignments.route("")
class AssignmentList(MethodView):
    @assignments.arguments(schemas.AssignmentFilterSchema, location="query", unknown=RAISE)
    @assignments.response(200, schemas.AssignmentSchema(many=True))
    def get(self, filters):
        """List assignments (an agent's token: his own)"""
        return listed(Assignment, _own_assignments_only(filters), Assignment.report_at)

    @assignments.arguments(schemas.AssignmentSchema)
    @assignments.response(201, schemas.AssignmentSchema)
    def post(self, data):
        """Create an assignment"""
        return create(Assignment, data, check_assignment)


# The fields that decide an assignment's staffing conflicts.
_PLACEMENT = {"agent_id", "site_id", "report_at", "shift_starts_at", "shift_ends_at"}


@assignments.route("/<int:assignment_id>")
class AssignmentItem(MethodView):
    @assignments.response(200, schemas.AssignmentSchema)
    def get(self, assignment_id):
        """Read an assignment (an agent's token: only his own)"""
        assignment = found(Assignment, assignment_id)
        if _own_assignments_only({}).get("agent_id", assignment.agent_id) != assignment.agent_id:
            refuse(404, "No such assignment in your organisation.")
        return assignment

    @assignments.arguments(schemas.AssignmentPatchSchema)
    @assignments.response(200, schemas.AssignmentSchema)
    def patch(self, data, assignment_id):
        """Update an assignment (moving the agent, the venue or the times needs the override reason again)"""
        if "override_reason" not in data and _PLACEMENT & data.keys():
            # A reason given for the old placement's conflict does not cover whatever the new one has.
            data["override_reason"] = ""
        return update(found(Assignment, assignment_id), data, check_assignment)

    @assignments.response(204)
    def delete(self, assignment_id):
        """Delete an assignment"""
        delete(found(Assignment, assignment_id))


# --- device and number bindings -----------------------------------------------------------------

devices = ApiBlueprint(
    "devices",
    "Tracking apps' device ids (Traccar Client, GPSLogger) and texting numbers, bound to agents.",
)


@devices.route("")
class DeviceList(MethodView):
    @devices.response(200, schemas.DeviceSchema(many=True))
    def get(self):
        """List bindings"""
        return listed(Device, {}, Device.identifier)

    @devices.arguments(schemas.DeviceSchema)
    @devices.response(201, schemas.DeviceSchema)
    def post(self, data):
        """Bind a device id or phone number (+ and digits) to an agent"""
        check_references(data)
        agent = found(Agent, data["agent_id"])
        try:
            device = bind(agent, data["identifier"], data.get("kind"), data.get("label", ""))
        except BindingError as exc:
            refuse(409 if "already bound" in str(exc) else 422, str(exc), {"identifier": [str(exc)]})
        db.session.commit()
        return device


@devices.route("/<int:device_id>")
class DeviceItem(MethodView):
    @devices.response(200, schemas.DeviceSchema)
    def get(self, device_id):
        """Read a binding"""
        return found(Device, device_id)

    @devices.response(204)
    def delete(self, device_id):
        """Unbind: the device or number is refused from now on"""
        delete(found(Device, device_id))


from .api_status import events, positions, status  # noqa: E402  (they build on the helpers above)

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
    from .security import STATUS_PER_AGENT, limit_api, limit_blueprint, token_or_address

    for blueprint in (status, positions):
        limit_blueprint(blueprint, STATUS_PER_AGENT, token_or_address)
    for blueprint in BLUEPRINTS:
        # Bearer tokens, not cookies, authenticate these requests, so there is no CSRF to defend against.
        csrf.exempt(blueprint)
        limit_api(blueprint)
        rest.register_blueprint(blueprint)
