"""Configuration from environment variables.

Development (the default) needs none: SQLite in the instance folder and a secret key
generated once and kept there. Production (OSCARMIKE_ENV=production) refuses to start
without a SECRET_KEY of at least 32 characters and sets secure cookie flags.
"""

import os
import secrets
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid

from detail.domain.netguard import parse_allow_list


class ConfigError(RuntimeError):
    """The environment does not describe a configuration the app can run with."""


# Anyone who guesses the key can sign cookies as any user: a short or made-up one is guessable.
MIN_SECRET_KEY_LENGTH = 32


def database_url(raw: str | None, instance_path: str) -> str:
    """The SQLAlchemy URL: DATABASE_URL with the psycopg 3 driver, or SQLite in the instance folder."""
    if not raw:
        return "sqlite:///" + str(Path(instance_path) / "oscarmike.db")
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix) :]
    return raw


def development_secret_key(instance_path: str) -> str:
    """A key generated on first start and kept in instance/secret_key, so sessions survive restarts."""
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key


def _int(env: dict, name: str, default: int) -> int:
    value = env.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {value!r}") from None


def _positive(env: dict, name: str, default: int) -> int:
    value = _int(env, name, default)
    if value < 1:
        raise ConfigError(f"{name} must be 1 or more, got {value}")
    return value


def _seconds(env: dict, name: str, default: float) -> float:
    value = env.get(name)
    if value in (None, ""):
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {value!r}") from None
    if not 0 < seconds < 3600:
        raise ConfigError(f"{name} must be more than 0 seconds and under an hour, got {value!r}")
    return seconds


def twilio_settings(env: dict) -> dict:
    """Texts out through Twilio's Messages API: all of the account, or none (texts go to instance/outbox/)."""
    sid, token = env.get("TWILIO_ACCOUNT_SID") or None, env.get("TWILIO_AUTH_TOKEN") or None
    sender, service = env.get("TWILIO_FROM") or None, env.get("TWILIO_MESSAGING_SERVICE_SID") or None
    base = (env.get("TWILIO_API_BASE") or "https://api.twilio.com").rstrip("/")
    if (sid or token or sender or service) and not (sid and token and (sender or service)):
        raise ConfigError(
            "texts through Twilio need TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM or "
            "TWILIO_MESSAGING_SERVICE_SID; set all of them, or none to write texts to instance/outbox/"
        )
    parts = urlsplit(base)
    # The token goes with every request: over plain HTTP only to this machine (a test's stand-in).
    if not (
        parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"))
    ):
        raise ConfigError(f"TWILIO_API_BASE must be an https:// address (http:// only on loopback), got {base!r}")
    return {
        "TWILIO_ACCOUNT_SID": sid,
        "TWILIO_AUTH_TOKEN": token,
        "TWILIO_FROM": sender,
        "TWILIO_MESSAGING_SERVICE_SID": service,
        "TWILIO_API_BASE": base,
    }


# Rate limits (Flask-Limiter notation, several joined by ";"), each overridable by its variable.
LIMITS = {
    # Failed sign-ins only, per address and per account (one account guessed from many addresses).
    "RATELIMIT_LOGIN_PER_ADDRESS": "10 per minute;100 per day",
    "RATELIMIT_LOGIN_PER_ACCOUNT": "20 per hour",
    # Every API request per token.
    "RATELIMIT_API_PER_TOKEN": "1200 per minute",
    # Refused secrets per address, all kinds together: API and socket tokens, calendar and feed
    # links, device ids and numbers, gateway signatures.
    "RATELIMIT_GUESSES_PER_ADDRESS": "30 per minute",
    # Statuses and positions per agent: far above tapping, or a phone flushing its offline queue.
    "RATELIMIT_STATUS_PER_AGENT": "600 per minute",
    # Agents' own apps, per device (or address).
    "RATELIMIT_INGEST_PER_DEVICE": "600 per minute",
}


DEFAULT_MAIL_FROM = "Oscar Mike <oscarmike@localhost>"


def vapid_key_from_text(text: str) -> Vapid:
    """A VAPID key from VAPID_PRIVATE_KEY: a PEM (its line breaks may be written \\n), or base64url
    DER or raw 32 bytes, as py-vapid writes them."""
    text = text.strip().replace("\\n", "\n")
    try:
        key = Vapid.from_pem(text.encode()) if "-----BEGIN" in text else Vapid.from_string(text)
    except Exception:
        key = None
    if key is None or not isinstance(getattr(key.private_key, "curve", None), ec.SECP256R1):
        raise ConfigError("VAPID_PRIVATE_KEY is not a P-256 private key (a PEM, or base64url DER or raw 32 bytes)")
    return key


def _push_settings(env: dict, mail_from: str) -> dict:
    """Web Push: the VAPID key (else one generated into the instance folder), the contact the push
    services see, and the push hosts allowed although not public (the tests' loopback service)."""
    subject = env.get("VAPID_SUBJECT") or f"mailto:{parseaddr(mail_from)[1] or 'oscarmike@localhost'}"
    if not subject.startswith(("mailto:", "https://")):
        raise ConfigError(f"VAPID_SUBJECT must be a mailto: or https: URL, got {subject!r}")
    allowed = env.get("PUSH_ALLOWED_HOSTS") or ""
    try:
        parse_allow_list(allowed)
    except ValueError as exc:
        raise ConfigError(f"PUSH_ALLOWED_HOSTS: {exc}") from None
    if env.get("VAPID_PRIVATE_KEY"):
        vapid_key_from_text(env["VAPID_PRIVATE_KEY"])  # refuse to start with a key that does not read
    return {
        "VAPID_PRIVATE_KEY": env.get("VAPID_PRIVATE_KEY") or None,
        "VAPID_SUBJECT": subject,
        "PUSH_ALLOWED_HOSTS": allowed,
    }


def from_environment(instance_path: str, env: dict | None = None) -> dict:
    """Build the Flask config mapping from the environment."""
    env = os.environ if env is None else env
    mode = env.get("OSCARMIKE_ENV", "development")
    if mode not in ("development", "production"):
        raise ConfigError(f"OSCARMIKE_ENV must be development or production, got {mode!r}")
    production = mode == "production"

    secret_key = env.get("SECRET_KEY")
    if production and len(secret_key or "") < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(
            f"SECRET_KEY must be set to at least {MIN_SECRET_KEY_LENGTH} random characters when "
            "OSCARMIKE_ENV=production (it signs sessions, remember cookies and CSRF tokens); make one with: "
            "python -c 'import secrets; print(secrets.token_hex(32))'"
        )
    if not secret_key:
        secret_key = development_secret_key(instance_path)

    timezone = env.get("DEFAULT_TIMEZONE", "UTC")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a folder: IsADirectoryError
        raise ConfigError(f"DEFAULT_TIMEZONE {timezone!r} is not an IANA time zone") from None

    smtp_security = env.get("SMTP_SECURITY", "none")
    if smtp_security not in ("none", "starttls", "tls"):
        raise ConfigError(f"SMTP_SECURITY must be none, starttls or tls, got {smtp_security!r}")

    # PostgreSQL's limits for callers' work (detail/database_limits.py): a status answers 503 within
    # 5 s and /healthz within 3 s with the server frozen. The client's wait outlasts the server's
    # statement limit, so that a server that does answer cancels a slow statement itself.
    database_limits = {
        "DATABASE_CONNECT_TIMEOUT": round(_seconds(env, "DATABASE_CONNECT_TIMEOUT", 2)),
        "DATABASE_POOL_TIMEOUT": _seconds(env, "DATABASE_POOL_TIMEOUT", 1),
        "DATABASE_STATEMENT_TIMEOUT": _seconds(env, "DATABASE_STATEMENT_TIMEOUT", 1.5),
        "DATABASE_ANSWER_TIMEOUT": _seconds(env, "DATABASE_ANSWER_TIMEOUT", 2),
    }
    if database_limits["DATABASE_ANSWER_TIMEOUT"] <= database_limits["DATABASE_STATEMENT_TIMEOUT"]:
        raise ConfigError("DATABASE_ANSWER_TIMEOUT must be longer than DATABASE_STATEMENT_TIMEOUT")

    push = _push_settings(env, env.get("MAIL_FROM", DEFAULT_MAIL_FROM))

    return {
        "OSCARMIKE_ENV": mode,
        "SECRET_KEY": secret_key,
        "SQLALCHEMY_DATABASE_URI": database_url(env.get("DATABASE_URL"), instance_path),
        **database_limits,
        "SOCKETIO_MESSAGE_QUEUE": env.get("SOCKETIO_MESSAGE_QUEUE") or None,
        # Several deployments may share one Redis: each needs its own channel.
        "SOCKETIO_CHANNEL": env.get("SOCKETIO_CHANNEL") or "oscarmike",
        "SMTP_HOST": env.get("SMTP_HOST") or None,
        "SMTP_PORT": _int(
            env, "SMTP_PORT", 465 if smtp_security == "tls" else 587 if smtp_security == "starttls" else 25
        ),
        "SMTP_USER": env.get("SMTP_USER") or None,
        "SMTP_PASSWORD": env.get("SMTP_PASSWORD") or None,
        "SMTP_SECURITY": smtp_security,
        "MAIL_FROM": env.get("MAIL_FROM", DEFAULT_MAIL_FROM),
        **push,
        "DEFAULT_TIMEZONE": timezone,
        "PUBLIC_URL": env.get("PUBLIC_URL") or f"http://{env.get('HOST', '127.0.0.1')}:{env.get('PORT', '5000')}",
        "MAP_TILE_URL": env.get("MAP_TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png"),
        "MAP_TILE_ATTRIBUTION": env.get("MAP_TILE_ATTRIBUTION", "© OpenStreetMap contributors"),
        "MAX_CONTENT_LENGTH": _int(env, "MAX_CONTENT_LENGTH", 1024 * 1024),
        "SMS_WEBHOOK_SECRET": env.get("SMS_WEBHOOK_SECRET") or None,
        **twilio_settings(env),
        # Where a mobile number typed without its + is read (ISO 3166 code such as GB); unset: the
        # country of the organisation's time zone.
        "PHONE_REGION": (env.get("PHONE_REGION") or "").upper() or None,
        "POSITION_RETENTION_DAYS": _positive(env, "POSITION_RETENTION_DAYS", 90),
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI") or "memory://",
        "RATELIMIT_ENABLED": env.get("RATELIMIT_ENABLED", "1") not in ("0", "false", "no"),
        # No X-RateLimit headers on every answer (a Retry-After on a 201 misleads clients); a 429
        # carries its own Retry-After (detail/__init__.py).
        "RATELIMIT_HEADERS_ENABLED": False,
        **{key: env.get(key) or default for key, default in LIMITS.items()},
        # A counter store that is down must not take sign-in and status down with it.
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "TRUSTED_PROXIES": _int(env, "TRUSTED_PROXIES", 0),
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_SECURE": production,
        "SESSION_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        # "Keep me signed in" lasts a month, not Flask-Login's year.
        "REMEMBER_COOKIE_DURATION": timedelta(days=30),
        "SESSION_COOKIE_SAMESITE": "Lax",
        "PREFERRED_URL_SCHEME": "https" if production else "http",
    }


# Settings that are not the user's to choose: the API document and its paths.
STATIC = {
    "API_TITLE": "Oscar Mike",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    "WTF_CSRF_TIME_LIMIT": None,
}


def testing(instance_path: str, **overrides) -> dict:
    """A config for tests: SQLite in the given folder unless DATABASE_URL is overridden."""
    config = from_environment(instance_path, env={"SECRET_KEY": "test-secret"})
    # Rate limits are switched on by the tests that are about them.
    config.update(TESTING=True, SOCKETIO_ASYNC_MODE="threading", RATELIMIT_ENABLED=False)
    config.update(overrides)
    return config
