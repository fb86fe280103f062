"""Entry point: `python wsgi.py` serves the app under gevent; `flask --app wsgi ...` runs commands.

gunicorn's gevent worker patches the standard library itself; run directly, we patch here,
first, before anything else is imported.
"""

if __name__ == "__main__":
    from gevent import monkey

    monkey.patch_all()

import os  # noqa: E402

from detail import create_app  # noqa: E402
from detail.extensions import socketio  # noqa: E402

app = create_app()

if __name__ == "__main__":
    from detail import jobs

    # The embedded default: the periodic jobs run inside this one process.
    socketio.start_background_task(jobs.loop, app)
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "5000"))
    print(f"Oscar Mike on http://{host}:{port}/", flush=True)
    socketio.run(app, host=host, port=port)
