"""Time limits on PostgreSQL for the work done for a caller: an HTTP request or a socket event.

A PostgreSQL that is down refuses connections and the caller gets its 503 at once. One that is frozen
(stopped, a hung disk, a path that silently drops packets) accepts the connection and the bytes and
answers nothing: without limits the caller waits for good, holding a pooled connection as it does.
Four limits, from the configuration (docs/configuration.md), each for a way of waiting:

- connecting: psycopg's connect_timeout, for the whole handshake (per address the name resolves to);
- a free pooled connection: the pool's timeout;
- a statement the server runs too long (a lock it waits for): statement_timeout. The server cancels
  the statement and the connection stays usable;
- an answer that never comes: a deadline kept here, on the client. statement_timeout cannot help (the
  server that would enforce it is the one not answering), and neither can TCP keepalives or
  tcp_user_timeout: the frozen host's kernel still acknowledges every packet and every probe. So each
  wait for the server during a caller's work ends at a deadline, and the connection is then closed
  (an answer may still come, to a query no one waits for) and the caller gets the database error.

Only callers' work is limited: migrations, the jobs and commands may run long statements (deleting
months of positions) and wait as long as that takes.
"""

import psycopg
import sqlalchemy as sa
from flask import Flask, current_app, has_request_context, request
from flask_socketio import ConnectionRefusedError
from psycopg.connection import _WAIT_INTERVAL
from psycopg.errors import _WaitTimeout

from detail.extensions import db, socketio

UNAVAILABLE = "the database is briefly unavailable; try again shortly"
DATABASE_ERRORS = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)


class NoAnswer(psycopg.OperationalError):
    """PostgreSQL did not answer within the caller's deadline; the connection is closed."""


class DeadlineConnection(psycopg.Connection):
    """A psycopg connection whose waits for the server end at a deadline during a caller's work.

    psycopg runs every exchange with the server (query, commit, rollback, ping) through wait(), and
    waits there in short polls, cooperatively under gevent: the one place a deadline covers them all.
    """

    answer_timeout: float | None = None

    def wait(self, gen, interval: float = _WAIT_INTERVAL, timeout: float | None = None):
        if timeout is not None or self.answer_timeout is None or not has_request_context():
            return super().wait(gen, interval, timeout)
        try:
            return super().wait(gen, interval, self.answer_timeout)
        except _WaitTimeout:
            self.close()
            raise NoAnswer(f"PostgreSQL did not answer within {self.answer_timeout:g} s") from None


def _postgres(engine: sa.Engine) -> bool:
    return engine.url.get_backend_name() == "postgresql" and engine.url.get_driver_name() == "psycopg"


def set_engine_options(app: Flask) -> None:
    """The pool's timeout for PostgreSQL; call before the engines are made. SQLite is left as it is."""
    url = sa.make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "postgresql":
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}),
            "pool_timeout": app.config["DATABASE_POOL_TIMEOUT"],
        }


def init_app(app: Flask) -> None:
    """Limits on the app's PostgreSQL engines, and an error answer for socket events the database fails."""
    with app.app_context():
        engines = [engine for engine in db.engines.values() if _postgres(engine)]
    for engine in engines:
        sa.event.listen(engine, "do_connect", _connect_with_limits(app.config))
        sa.event.listen(engine, "handle_error", _ping_unanswered)
    socketio.on_error_default(_socket_error)


def _connect_with_limits(config):
    connect_timeout = config["DATABASE_CONNECT_TIMEOUT"]
    statement_timeout = f"-c statement_timeout={round(config['DATABASE_STATEMENT_TIMEOUT'] * 1000)}"
    answer_timeout = config["DATABASE_ANSWER_TIMEOUT"]

    def connect(dialect, connection_record, cargs, cparams):
        cparams.setdefault("connect_timeout", connect_timeout)  # a connect_timeout in the URL wins
        if has_request_context():
            # Connections made for callers (all of a web process's, nearly) carry the statement limit;
            # those of the jobs and commands never do. Options already in the URL are kept.
            cparams["options"] = f"{cparams.get('options', '')} {statement_timeout}".strip()
        connection = DeadlineConnection.connect(*cargs, **cparams)
        connection.answer_timeout = answer_timeout
        return connection

    return connect


def _ping_unanswered(context: sa.engine.ExceptionContext) -> None:
    # The pool's ping found the server silent: the pool would connect again at once and wait as long
    # again for the handshake. The caller gets its error now; the next checkout connects anew.
    if context.is_pre_ping and isinstance(context.original_exception, NoAnswer):
        context.is_disconnect = False


def _socket_error(error: Exception):
    # Without this, a socket event whose database work failed would get no answer at all, and the
    # caller would wait for an acknowledgment that never comes.
    if not isinstance(error, DATABASE_ERRORS):
        raise error
    current_app.logger.error("database unavailable in socket event: %s", error.__class__.__name__)
    db.session.rollback()
    if request.event["message"] == "connect":
        raise ConnectionRefusedError(UNAVAILABLE)
    return {"ok": False, "error": UNAVAILABLE}
