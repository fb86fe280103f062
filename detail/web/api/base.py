"""What every resource of the JSON API shares: bearer-token authentication, the blueprint class
that documents its errors, the parser, and the way a row is found, saved and refused.

Every endpoint here is for admin and coordinator accounts. Each request goes the same way:
authenticate (ApiBlueprint's before_request), validate the body with a schema from
detail.schemas, look every id up through detail.scoping (so another organisation's rows are
"not found", whether in the path or in the body), build or change the row, run the itinerary
rule for it, commit once. Any refusal rolls the session back, so nothing stored changes.
Errors are JSON: {code, status, message, errors}, where errors is {"json": {field: [message]}}.
"""

import functools

import sqlalchemy as sa
from flask import g, request
from flask_smorest import Blueprint, abort
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import HTTPException

from detail.domain.itinerary import Invalid
from detail.domain.scoping import get_owned, owned
from detail.extensions import db, rest
from detail.models import STAFF_ROLES, Agent, Assignment, Client, Detail, Device, Movement, Principal, Site, Visit
from detail.web.auth import bearer_token, user_for_token
from detail.web.security import retry_after

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


def handle_api_error(error: HTTPException):
    """Errors raised in an API view, as JSON with a message even when Werkzeug raised them (e.g. 413)."""
    data = getattr(error, "data", None) or {}
    if "message" not in data:
        # flask-smorest only writes "message" when abort() was given one.
        error.data = data = {**data, "message": describe_http_error(error)}
    if error.code == 429:
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
        # The app's one JSON reader, which refuses what does not parse or nests too deep (detail/web/bodies.py).
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
        self.register_error_handler(HTTPException, handle_api_error)

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
