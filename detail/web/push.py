"""Web Push subscriptions of the signed-in person (agents on the phone, coordinators on the board):
the server's public key, saving and removing a browser's subscription, and the boards' service worker.

The pages post JSON with the session cookie and the CSRF token in X-CSRFToken, as the phone and the
board do for everything else. Client contacts get none of this: alarms and team messages are internal.
"""

from flask import Blueprint, current_app, request, send_from_directory
from flask_login import current_user

from detail.domain import push, vapid
from detail.extensions import db
from detail.web.auth import current_session, roles_required
from detail.web.kit import json_error

bp = Blueprint("push", __name__, url_prefix="/push")

subscriber_required = roles_required("admin", "coordinator", "agent")


@bp.route("/key")
@subscriber_required
def key():
    """The application server key the browser subscribes with, and how many subscriptions the person has."""
    return {
        "public_key": vapid.application_server_key(),
        "subscriptions": push.subscription_count(current_user.id),
    }


def _body() -> dict | None:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else None


@bp.route("/subscriptions", methods=["POST"])
@subscriber_required
def subscribe():
    """Save this browser's subscription (PushSubscription.toJSON(): endpoint and keys) for the signed-in person."""
    data = _body()
    if data is None:
        return json_error(400, "the body must be a JSON object (Content-Type: application/json)")
    keys = data.get("keys")
    if not isinstance(keys, dict):
        return json_error(422, "keys with p256dh and auth are required", "keys")
    try:
        subscription, created = push.subscribe(
            current_user,
            data.get("endpoint"),
            keys.get("p256dh"),
            keys.get("auth"),
            request.headers.get("User-Agent", ""),
            session.id if (session := current_session()) is not None else None,
        )
    except push.SubscriptionRefused as exc:
        db.session.rollback()
        return json_error(exc.status, exc.message, exc.field)
    db.session.commit()
    return {"id": subscription.id, "stored": True}, 201 if created else 200


@bp.route("/subscriptions", methods=["DELETE"])
@subscriber_required
def unsubscribe():
    """Forget this browser's subscription ({"endpoint": ...}); only the person's own."""
    data = _body()
    if data is None:
        return json_error(400, "the body must be a JSON object (Content-Type: application/json)")
    endpoint = data.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        return json_error(422, "endpoint is required", "endpoint")
    if not push.unsubscribe(current_user, endpoint):
        return json_error(404, "no subscription of yours at this endpoint", "endpoint")
    db.session.commit()
    return "", 204


@bp.route("/sw.js")
def service_worker():
    # The boards' service worker: served from here with a header that lets it control /board/.
    response = send_from_directory(current_app.static_folder, "js/push-sw.js", mimetype="text/javascript")
    response.headers["Service-Worker-Allowed"] = "/board/"
    response.headers["Cache-Control"] = "no-cache"
    return response
