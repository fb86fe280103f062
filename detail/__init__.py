"""Oscar Mike: executive-protection detail coordination.

create_app only wires things together: it writes nothing, fetches nothing, migrates nothing.
"""

import os

import sqlalchemy as sa
from flask import Flask
from werkzeug.routing import IntegerConverter

from detail import config as config_module
from detail import database_limits, hooks
from detail.cli import register
from detail.domain import escalation, notices, surveys, team_messages, texts
from detail.domain import push as push_sending
from detail.domain.live import NAMESPACE, PHONE_NAMESPACE, client_manager
from detail.domain.timefmt import detail_zone, local_end
from detail.extensions import csrf, db, login_manager, migrate, rest, socketio
from detail.models import UTCDateTime
from detail.web import ack, admin, auth, bodies, calendar, contacts, errors, ingest, pages, phone, push, security
from detail.web import board as board_views
from detail.web import messages as message_views
from detail.web import surveys as survey_views
from detail.web.admin.persons import bolo_section
from detail.web.api import register_api
from detail.web.kit import local_filter
from detail.web.security import INGEST_PER_DEVICE, device_or_address, limit_blueprint, limit_guessing, refused_caller
from detail.web.sockets import BoardNamespace, PhoneNamespace


def create_app(config: dict | None = None) -> Flask:
    """Build the app from the environment, or from the given mapping (tests)."""
    app = Flask(
        __name__.split(".")[0],
        instance_relative_config=True,
        root_path=_project_root(),
        template_folder="templates",
        static_folder="static",
    )
    os.makedirs(app.instance_path, exist_ok=True)
    # Before any route is added: an <int:…> beyond 64 bits names no row, so it is "not found".
    app.url_map.converters["int"] = BoundedIntegerConverter
    app.config.update(config_module.STATIC)
    app.config.update(config if config is not None else config_module.from_environment(app.instance_path))
    register_extensions(app)
    register_blueprints(app)
    errors.init_app(app)
    register_commands(app)
    register_template_helpers(app)
    register_listeners()
    return app


class BoundedIntegerConverter(IntegerConverter):
    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


def _project_root() -> str:
    # templates/ and static/ sit beside the packages, at the top of the project.
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def register_extensions(app: Flask) -> None:
    database_limits.set_engine_options(app)
    db.init_app(app)
    database_limits.init_app(app)
    migrate.init_app(app, db, render_as_batch=True, compare_type=True, render_item=_render_migration_item)
    login_manager.init_app(app)
    csrf.init_app(app)
    security.init_app(app)
    bodies.init_app(app)
    rest.init_app(app, spec_kwargs={"servers": [{"url": "/"}]})
    rest.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    register_socket_namespaces()

    # A manager of our own choosing (each app its own: tests build many): it also carries the
    # rights notices that move sockets between rooms when rights change (detail/web/socket_guard.py).
    socketio.init_app(
        app,
        client_manager=client_manager(app.config["SOCKETIO_MESSAGE_QUEUE"], app.config["SOCKETIO_CHANNEL"]),
        async_mode=app.config.get("SOCKETIO_ASYNC_MODE") or _async_mode(),
    )


def register_socket_namespaces() -> None:

    # Registered once on the shared SocketIO object; each init_app hands them to its new server.
    for handler_class, namespace in ((BoardNamespace, NAMESPACE), (PhoneNamespace, PHONE_NAMESPACE)):
        if not any(isinstance(handler, handler_class) for handler in socketio.namespace_handlers):
            socketio.on_namespace(handler_class(namespace))


def _render_migration_item(type_, obj, autogen_context):
    # Migrations spell UTCDateTime as the column type it is in the database, so they never
    # import application code that may change after they are written.

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _async_mode() -> str:
    # gevent only where wsgi.py (or gunicorn's gevent worker) has patched the standard library;
    # imported here because it is optional where nothing patches (tests run threaded).
    try:
        from gevent import monkey
    except ImportError:
        return "threading"
    return "gevent" if monkey.is_module_patched("socket") else "threading"


def register_blueprints(app: Flask) -> None:

    csrf.exempt(ingest.bp)  # the apps authenticate with tokens, device ids or signatures, never cookies
    limit_blueprint(ingest.bp, INGEST_PER_DEVICE, device_or_address)
    # Each guessed device id would have a counter of its own: refusals are also counted per address.
    limit_guessing(ingest.bp, refused_caller)
    app.register_blueprint(ingest.bp)
    app.register_blueprint(calendar.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(contacts.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(ack.bp)
    app.register_blueprint(board_views.bp)
    app.register_blueprint(phone.bp)
    app.register_blueprint(push.bp)
    app.register_blueprint(survey_views.bp)
    app.register_blueprint(message_views.bp)

    hooks.add(hooks.ASSIGNMENT_SECTIONS, bolo_section)
    hooks.add(hooks.ASSIGNMENT_SECTIONS, surveys.phone_section)
    hooks.add(hooks.DETAIL_SECTIONS, surveys.board_section)
    register_api(app)

    # The one place detail imports intel (an import-linter contract keeps it so): the rest of
    # detail never depends on intel, which plugs in through detail/hooks.py when an app is built.
    import intel

    intel.init_app(app)


def register_listeners() -> None:
    """Rows that follow another's fate: an escalation's text and email attempts follow their text's and
    mail's status, and a team message counts as delivered when its push is handed to the push service."""
    hooks.add(texts.STATUS_LISTENERS, escalation.follow_text)
    hooks.add(notices.STATUS_LISTENERS, escalation.follow_notice)
    hooks.add(push_sending.HANDOVER_LISTENERS, team_messages.push_handed_over)


def register_commands(app: Flask) -> None:

    register(app)


def register_template_helpers(app: Flask) -> None:

    app.jinja_env.filters["local"] = local_filter
    app.jinja_env.filters["local_end"] = local_end
    app.jinja_env.globals["detail_zone"] = detail_zone


@sa.event.listens_for(sa.engine.Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        # SQLite ignores foreign keys unless asked on every connection.
        cursor.execute("PRAGMA foreign_keys=ON")
        # The embedded default serves under gevent, where a commit waiting for the disk stalls every
        # socket: with a write-ahead log a commit appends and syncs only at checkpoints (a crash
        # may lose the last moments, never the database), and readers no longer wait for the writer.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()
