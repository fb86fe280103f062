"""A real HTTP server on loopback that speaks Twilio's Messages API as the texts job uses it, and posts
signed status callbacks as Twilio does: the twilio fixture.

POST /2010-04-01/Accounts/{AccountSid}/Messages.json with HTTP basic auth (sid:token) and the form
fields To, Body, From or MessagingServiceSid, StatusCallback; answers 201 with the message's JSON
(sid "SM" + 32 hex, status "queued"), or what the test scripts: an error with Twilio's JSON shape
({"code", "message", "more_info", "status"}), a hang, or a closed connection.
"""

import base64
import hashlib
import hmac
import json
import secrets
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
import requests

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "loopback-auth-token-" + "f" * 12
FROM = "+15005550006"


def signature(token: str, url: str, fields: dict[str, str]) -> str:
    """X-Twilio-Signature as Twilio documents it: base64(HMAC-SHA1(token, url + each key+value, sorted by key))."""
    payload = url + "".join(key + fields[key] for key in sorted(fields))
    return base64.b64encode(hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


@dataclass
class Reply:
    """What the server does with the next request: answer (status, Twilio error code, message, or a
    body of the test's own), hang, or close."""

    status: int = 201
    code: int | None = None
    message: str = ""
    hang: bool = False
    close: bool = False
    body: dict | None = None  # answered as it is, with status, once the request is read


@dataclass
class Twilio:
    url: str = ""
    replies: list[Reply] = field(default_factory=list)  # taken in order; then 201
    messages: list[dict] = field(default_factory=list)  # the messages it created, with their sid
    requests: int = 0
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def message(self, sid: str) -> dict:
        return next(m for m in self.messages if m["sid"] == sid)

    def post_status(self, sid: str, status: str, error_code: str | None = None, token: str = AUTH_TOKEN):
        """Post a status callback for the message to its StatusCallback, signed as Twilio signs it."""
        created = self.message(sid)
        fields = {
            "AccountSid": ACCOUNT_SID,
            "ApiVersion": "2010-04-01",
            "From": created.get("From", FROM),
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": created["To"],
        }
        if error_code:
            fields["ErrorCode"] = error_code
        url = created["StatusCallback"]
        headers = {"X-Twilio-Signature": signature(token, url, fields), "User-Agent": "TwilioProxy/1.1"}
        return requests.post(url, data=fields, headers=headers, timeout=10)


class Handler(BaseHTTPRequestHandler):
    twilio: Twilio

    def log_message(self, *args):
        pass

    def do_POST(self):
        twilio = self.twilio
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        with twilio.lock:
            twilio.requests += 1
            reply = twilio.replies.pop(0) if twilio.replies else Reply()
        if reply.close:
            self.close_connection = True  # read, never answered: the client cannot know
            return
        if reply.body is not None:
            return self.answer(reply.status, reply.body)
        if reply.hang:
            twilio.release.wait(timeout=10)
            self.close_connection = True
            return
        if self.path != f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json":
            return self.answer_error(404, 20404, "The requested resource was not found")
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if not hmac.compare_digest(self.headers.get("Authorization", ""), expected):
            return self.answer_error(401, 20003, "Authenticate")
        form = {key: values[0] for key, values in parse_qs(body, keep_blank_values=True).items()}
        if not form.get("To"):
            return self.answer_error(400, 21604, "A 'To' phone number is required.")
        if not form.get("Body"):
            return self.answer_error(400, 21602, "Message body is required.")
        if bool(form.get("From")) == bool(form.get("MessagingServiceSid")):
            return self.answer_error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required")
        if reply.status != 201:
            return self.answer_error(reply.status, reply.code, reply.message or "Scripted failure")
        sid = "SM" + secrets.token_hex(16)
        with twilio.lock:
            twilio.messages.append({"sid": sid, **form})
        self.answer(
            201,
            {
                "sid": sid,
                "account_sid": ACCOUNT_SID,
                "to": form["To"],
                "from": form.get("From"),
                "messaging_service_sid": form.get("MessagingServiceSid"),
                "body": form["Body"],
                "status": "accepted" if form.get("MessagingServiceSid") else "queued",
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "error_code": None,
                "error_message": None,
                "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
            },
        )

    def answer_error(self, status: int, code: int | None, message: str):
        more_info = f"https://www.twilio.com/docs/errors/{code}"
        self.answer(status, {"code": code, "message": message, "more_info": more_info, "status": status})

    def answer(self, status: int, payload: dict):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def twilio_on_loopback(app):
    """The loopback Twilio, configured as the app's text provider (texts go there, not to the outbox)."""
    twilio = Twilio()
    handler = type("BoundHandler", (Handler,), {"twilio": twilio})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="twilio-loopback", daemon=True)
    thread.start()
    twilio.url = f"http://127.0.0.1:{server.server_port}"
    app.config.update(
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_FROM=FROM,
        TWILIO_MESSAGING_SERVICE_SID=None,
        TWILIO_API_BASE=twilio.url,
    )
    yield twilio
    twilio.release.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def twilio(app):
    with twilio_on_loopback(app) as twilio:
        yield twilio
