"""What a request body may be: JSON that parses, nested within reason, and no larger than its purpose needs.

Every JSON body the app reads goes through Request.get_json here (Flask-WTF's forms, the API's
parser, the apps' endpoints, the board's actions), and a body that says it is JSON is read before
any view runs: one that does not parse, or is nested so deep that parsing it would exhaust the
stack, is a 400 in the JSON error shape on every endpoint, whoever sends it, and nothing of it is
acted on. Bodies are limited to MAX_CONTENT_LENGTH except where a view says it takes more.
"""

from typing import Any

import flask
from flask import Flask, current_app, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest

# Far deeper than any body the app takes (a GeoJSON polygon is five levels), far shallower than the
# interpreter's recursion limit, which a hostile body would otherwise reach in the parser or in
# whatever walks the parsed value next.
MAX_JSON_DEPTH = 64
# A multipart form's own bytes around a file: boundaries, part headers, the CSRF token, a caption.
FORM_OVERHEAD_BYTES = 64 * 1024


def check_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise ValueError if arrays and objects in value nest deeper than limit (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            raise ValueError(f"arrays and objects nested more than {limit} deep")
        stack.extend((child, depth + 1) for child in children)


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, with a body nested too deep for the parser (or for us) a decoding error like any other."""

    def loads(self, s, **kwargs):
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError(f"arrays and objects nested more than {MAX_JSON_DEPTH} deep") from None
        check_depth(value)
        return value


def json_refusal(error: ValueError) -> BadRequest:
    """The 400 for a body that claims to be JSON and is not: {code, status, message, errors}."""
    message = f"The request body is not valid JSON ({error})."
    refusal = BadRequest(message)
    refusal.data = {"message": message, "errors": {"json": ["Invalid JSON body."]}}
    return refusal


class Request(flask.Request):
    """Flask's request, refusing bad JSON once for every caller, with a body limit chosen per view."""

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True):
        # silent keeps its meaning for a body that does not claim to be JSON. One that claims to
        # be and is not is refused even so: a caller falling back to the form would act on a body
        # nobody read.
        if silent and not (force or self.is_json):
            return None
        return super().get_json(force=force, silent=False, cache=cache)

    def on_json_loading_failed(self, e: ValueError | None):
        if e is None:
            return super().on_json_loading_failed(e)  # not JSON at all: 415
        raise json_refusal(e)

    @property
    def max_content_length(self) -> int | None:
        if self._max_content_length is None and self.url_rule is not None and current_app:
            view = current_app.view_functions.get(self.url_rule.endpoint)
            allowed = getattr(view, "max_body_bytes", None)
            if allowed is not None:
                return allowed
        return super().max_content_length

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value


def accepts_body_up_to(max_bytes: int):
    """Decorator, directly under the route: this view takes bodies up to max_bytes, not MAX_CONTENT_LENGTH."""

    def decorate(view):
        view.max_body_bytes = max_bytes
        return view

    return decorate


def read_json_first() -> None:
    # Before any view, form or token check: a JSON body is parsed (and cached) or refused here.
    if request.is_json and (request.content_length or request.headers.get("Transfer-Encoding")):
        request.get_json()


def init_app(app: Flask) -> None:
    app.request_class = Request
    app.json = JSONProvider(app)
    # After the rate limits' and CSRF's checks, before every view's.
    app.before_request(read_json_first)
