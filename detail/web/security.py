"""Defence in depth: rate limits, security headers with a content security policy, and proxies.

Limits are counted per caller: a bearer token, an agent's session, an app's device, else the
address the request came from (behind a reverse proxy, set TRUSTED_PROXIES so that is the
client's, not the proxy's). In production the counters live in Redis (RATELIMIT_STORAGE_URI),
shared by every web process; a counter store that is down lets requests through rather than
failing them.
"""

import hashlib
import time
from urllib.parse import urlsplit

from flask import Flask, current_app, request
from flask_limiter.util import get_remote_address
from flask_login import current_user
from flask_socketio import ConnectionRefusedError
from limits import parse_many
from werkzeug.middleware.proxy_fix import ProxyFix

from detail.extensions import limiter, talisman

# The limits, by their configuration keys (config.LIMITS has the defaults and the reasons); read
# on each request, so they can be tuned without code.
LOGIN_FAILURES_PER_ADDRESS = "RATELIMIT_LOGIN_PER_ADDRESS"
LOGIN_FAILURES_PER_ACCOUNT = "RATELIMIT_LOGIN_PER_ACCOUNT"
API_PER_TOKEN = "RATELIMIT_API_PER_TOKEN"
GUESSES_PER_ADDRESS = "RATELIMIT_GUESSES_PER_ADDRESS"
STATUS_PER_AGENT = "RATELIMIT_STATUS_PER_AGENT"
INGEST_PER_DEVICE = "RATELIMIT_INGEST_PER_DEVICE"

# The one counter of refused secrets per address, whatever the secret: an API or socket token, a
# calendar or Atom feed link, a device id or phone number, a gateway's signature. Counted per
# endpoint group, each group would give a guesser its own allowance.
GUESSING = "guessing"


def configured(key: str):
    return lambda: current_app.config[key]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:24]


def token_or_address() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return "token:" + _digest(token.strip())
    return address()


def agent_or_address() -> str:
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return token_or_address()


def device_or_address() -> str:
    values = request.values
    device = values.get("id") or values.get("deviceid") or values.get("device")
    if device:
        return "device:" + _digest(device)
    if request.authorization and request.authorization.password:
        return "token:" + _digest(request.authorization.password)
    return address()


def submitted_account() -> str:
    return "account:" + (request.form.get("email") or "").strip().lower()[:254]


def failed_sign_in(response) -> bool:
    return response.status_code == 401


def unauthorized(response) -> bool:
    return response.status_code == 401


def refused_caller(response) -> bool:
    # Unknown device ids and numbers, bad credentials and signatures: what guessing looks like.
    return response.status_code in (401, 403)


def not_found(response) -> bool:
    # A secret in the path (calendar, Atom feed, unsubscribe link) that names nothing.
    return response.status_code == 404


_limited: set[tuple[str, str]] = set()


def limit_blueprint(blueprint, key: str, key_func, deduct_when=None) -> None:
    """Put a configured limit on a blueprint, once: blueprints outlive apps (tests build many), and
    a limit added again would count every request twice."""
    if (blueprint.name, key) in _limited:
        return
    _limited.add((blueprint.name, key))
    limiter.limit(configured(key), key_func=key_func, deduct_when=deduct_when)(blueprint)


def guessing_limit(refused):
    """Decorator for a view or blueprint: its answers for which refused(response) is true count as
    guesses against the address's one allowance (GUESSES_PER_ADDRESS), shared with every other."""
    return limiter.shared_limit(configured(GUESSES_PER_ADDRESS), scope=GUESSING, key_func=address, deduct_when=refused)


def limit_guessing(blueprint, refused) -> None:
    """guessing_limit on a blueprint, once (see limit_blueprint)."""
    if (blueprint.name, GUESSING) in _limited:
        return
    _limited.add((blueprint.name, GUESSING))
    guessing_limit(refused)(blueprint)


def _guessing_counters():
    # The counters Flask-Limiter keeps for guessing_limit: the same limits, keys and scope.
    prefix = getattr(limiter, "_key_prefix", "")  # the limiter's, which may predate this app's config
    keys = [prefix, address(), GUESSING] if prefix else [address(), GUESSING]
    return [(item, keys) for item in parse_many(current_app.config[GUESSES_PER_ADDRESS])]


def screen_socket_guess(user, auth):
    """A socket's connect, after the token in its auth was looked up (user None: refused). A refused
    token counts as a guess (no token at all, a board whose session ended, does not); once the
    address has used up its guesses, even a good token is refused, so the answer tells a guesser
    nothing. Returns the user to go on with, or None."""
    if not limiter.enabled:
        return user
    try:
        if user is None:
            if not (isinstance(auth, dict) and auth.get("token")):
                return None
            for item, keys in _guessing_counters():
                limiter.limiter.hit(item, *keys)
            return None
        exhausted = not all(limiter.limiter.test(item, *keys) for item, keys in _guessing_counters())
    except Exception:  # a counter store that is down lets callers through, as Flask-Limiter does here
        current_app.logger.exception("guessing counter unavailable")
        return user
    if exhausted:
        raise ConnectionRefusedError("too many refused tokens from this address: wait a minute and connect again")
    return user


def address() -> str:
    return "ip:" + _remote_address()


def _remote_address() -> str:
    # Socket.IO's requests reach the app before ProxyFix does: take the client's address the way it would.
    proxies = current_app.config.get("TRUSTED_PROXIES", 0)
    if proxies and "werkzeug.proxy_fix.orig" not in request.environ:
        forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",")]
        if len(forwarded) >= proxies and forwarded[-proxies]:
            return forwarded[-proxies]
    return get_remote_address()


def retry_after() -> str:
    """Seconds until the limit that was just hit lets the caller in again."""
    current = limiter.current_limit
    return str(max(1, int(current.reset_at - time.time())) if current else 60)


def limit_api(blueprint) -> None:
    """Every API blueprint: requests per token, and refusals for a bad token counted as guesses."""
    limit_blueprint(blueprint, API_PER_TOKEN, token_or_address)
    limit_guessing(blueprint, unauthorized)


def tile_source(tile_url: str) -> str:
    """The CSP source of the map tiles: 'https://{s}.tile.example/{z}/…' allows 'https://*.tile.example'."""
    parts = urlsplit(tile_url)
    host = parts.netloc.replace("{s}", "*")
    return f"{parts.scheme}://{host}" if parts.scheme and host else "'self'"


def content_security_policy(app: Flask) -> dict:
    # Scripts only from the app itself (no inline script, no eval); styles may be inline (the
    # templates' style attributes; styles cannot run code); images also from the map's tile server.
    return {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", tile_source(app.config["MAP_TILE_URL"])],
        "connect-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }


def init_app(app: Flask) -> None:
    proxies = app.config.get("TRUSTED_PROXIES", 0)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    limiter.init_app(app)
    production = app.config.get("OSCARMIKE_ENV") == "production"
    talisman.init_app(
        app,
        force_https=False,  # TLS ends at the reverse proxy, which redirects plain HTTP
        strict_transport_security=production,
        content_security_policy=content_security_policy(app),
        frame_options="DENY",
        referrer_policy="same-origin",
        permissions_policy={"geolocation": "(self)", "camera": "()", "microphone": "()", "browsing-topics": "()"},
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        session_cookie_http_only=True,
        session_cookie_samesite="Lax",
    )
