"""Entry point: `python wsgi.py` serves the app under gevent; `flask --app wsgi ...` runs commands.

gunicorn's gevent worker patches the standard library itself; run directly, we patch here,
first, before anything else is imported.
"""

if __name__ == "__main__":
    from gevent import monkey

    monkey.patch_all()

import gc  # noqa: E402
import os  # noqa: E402

from detail import create_app  # noqa: E402
from detail.extensions import socketio  # noqa: E402

app = create_app()
# What is loaded by now (the app, its libraries, the spec) lives as long as the process: moved out
# of the collector's sight, it no longer makes each full collection a 90 ms pause for every board.
gc.freeze()


def serve(app, host: str, port: int) -> None:
    """gevent's WSGI server on a listener with Nagle's algorithm off, as gunicorn's is.

    A board is sent small frames and answers none of them: with Nagle on, a frame written while the
    previous one waits for its (delayed) acknowledgment is held back up to 40 ms.
    """
    import socket

    from gevent import pywsgi

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.create_server((host, port), family=family, backlog=1024)
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted sockets inherit it
    print(f"Oscar Mike on http://{host}:{port}/", flush=True)
    pywsgi.WSGIServer(listener, app, log=None).serve_forever()


if __name__ == "__main__":
    from detail import jobs

    # The embedded default: the periodic jobs run inside this one process.
    socketio.start_background_task(jobs.loop, app)
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "5000"))
    serve(app, host, port)
