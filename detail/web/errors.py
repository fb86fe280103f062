"""The app's error answers: JSON for the API, ingest and JSON callers, a page for everyone else.

They never fail themselves. Each first rolls back what the failed request left in the session (after
a failed flush, or in an aborted PostgreSQL transaction, the page's own reads would fail too, and the
visitor would get Werkzeug's bare "Internal Server Error"); the 500 page reads nothing (no signed-in
user, no database: either may be what failed); and any page that still cannot be drawn falls back to
that plain one, with its own status kept.
"""

import sqlalchemy as sa
from flask import Flask, current_app, render_template, request
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError, MethodNotAllowed, ServiceUnavailable

from detail.extensions import db, rest
from detail.web import security
from detail.web.api.base import describe_http_error
from detail.web.kit import json_error

SERVER_ERROR = "Something failed on our side. Try again; if it goes on, tell an administrator."
UNAVAILABLE = "the service is briefly unavailable; send again shortly"


def init_app(app: Flask) -> None:
    app.register_error_handler(InternalServerError, server_error)
    for database_fault in (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError):
        app.register_error_handler(database_fault, database_unavailable)
    for unstorable_input in (OverflowError, UnicodeEncodeError, sa.exc.DataError, sa.exc.StatementError):
        app.register_error_handler(unstorable_input, unstorable)
    app.register_error_handler(HTTPException, http_error)


def forget_failed_work() -> None:
    """Roll back the request's session: nothing of what failed is kept, and the page may read again."""
    try:
        db.session.rollback()
    except Exception:  # a connection already gone: the plain page needs none
        current_app.logger.exception("rolling back after an error failed")


def error_page(template: str, error: HTTPException, code: int, headers: dict | None = None):
    """The error's page; if drawing it fails too (its layout reads the signed-in user), the plain one."""
    try:
        return render_template(template, error=error), code, headers or {}
    except Exception:
        current_app.logger.exception("the %s page failed; answering with the plain one", code)
        forget_failed_work()
    try:
        return render_template("errors/plain.html", error=error), code, headers or {}
    except Exception:
        current_app.logger.exception("the plain %s page failed too", code)
        text = f"{code} {error.name}\n\n{error.description}\n"
        return text, code, {**(headers or {}), "Content-Type": "text/plain; charset=utf-8"}


def answers_in_json() -> bool:
    return request.path.startswith(("/api/", "/ingest/")) or request.is_json or _wants_json()


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def server_error(error: InternalServerError):
    """Anything a view let through (Flask hands it over as a 500)."""
    forget_failed_work()
    if answers_in_json():
        return json_error(500, SERVER_ERROR)
    error.description = SERVER_ERROR
    return error_page("errors/500.html", error, 500)


def database_unavailable(error):
    # A fault of ours, not the sender's: 503 so phones and apps keep the report and send it again.
    current_app.logger.error("database unavailable: %s", error.__class__.__name__)
    forget_failed_work()
    if request.path.startswith(("/api/", "/ingest/", "/phone/")) or request.is_json:
        response = current_app.make_response({"code": 503, "status": "Service Unavailable", "message": UNAVAILABLE})
        response.status_code = 503
    else:
        response = current_app.make_response(error_page("errors/generic.html", ServiceUnavailable(UNAVAILABLE), 503))
    response.headers["Retry-After"] = "30"
    return response


def unstorable(error):
    # The last line of defence for input the schemas let through but the database cannot
    # hold (a number beyond 64 bits, NUL, a lone surrogate): the sender's fault, and nothing
    # of it is kept. Any other statement error is ours: a 500.
    if isinstance(error, sa.exc.StatementError) and not isinstance(
        error.orig, (OverflowError, UnicodeEncodeError, ValueError)
    ):
        raise error
    forget_failed_work()
    current_app.logger.warning("refused unstorable input: %s", error.__class__.__name__)
    return http_error(BadRequest("A value in the request cannot be stored (too large, or not text)."))


def http_error(error: HTTPException):
    if error.response is not None:
        return error.response
    forget_failed_work()
    if error.code == 429:
        return _too_many_requests(error)
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        # The pages below would drop the exception's own headers, and Allow with them.
        allow = {"Allow": ", ".join(sorted(error.valid_methods))}
        error.data = {**(getattr(error, "data", None) or {}), "headers": allow}
    else:
        allow = {}
    if answers_in_json():
        if not (getattr(error, "data", None) or {}).get("message"):
            error.data = {**(getattr(error, "data", None) or {}), "message": error.description}
        return rest.handle_http_exception(error)
    template = f"errors/{error.code}.html" if error.code in (403, 404) else "errors/generic.html"
    return error_page(template, error, error.code, allow)


def _too_many_requests(error: HTTPException):
    error.description = describe_http_error(error)
    if request.path.startswith(("/api/", "/ingest/", "/phone/")) or request.is_json:
        response = current_app.make_response(rest.handle_http_exception(error))
    else:
        response = current_app.make_response(error_page("errors/generic.html", error, 429))
    response.headers["Retry-After"] = security.retry_after()
    return response
