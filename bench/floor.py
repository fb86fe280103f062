"""The floor for the load benchmark: a bare Flask-SocketIO server that receives a POST and emits it.

No database, no authentication, no validation: what any app on this stack costs at least. Served
like the app in production (gunicorn, one gevent worker):

    .venv/bin/gunicorn -k gevent -w 1 -b 127.0.0.1:8100 bench.floor:app

Boards connect to the default namespace and join the room; POST /status with a JSON body is
emitted to them as "event", as the app emits a status.
"""

from flask import Flask, request
from flask_socketio import SocketIO, join_room

app = Flask(__name__)
socketio = SocketIO(app, async_mode="gevent", cors_allowed_origins=[])


@socketio.on("connect")
def connect(auth=None):
    join_room("org")


@app.post("/status")
def status():
    body = request.get_json(force=True)
    socketio.emit("event", {"kind": "status", "payload": body}, to="org")
    return {"stored": True}, 201


@app.get("/healthz")
def healthz():
    return {"ok": True}
