"""A Web Push service on loopback, for the tests: what a browser's push service does with our POST.

It takes RFC 8030 POSTs at /push/<token>, checks the VAPID Authorization header (RFC 8292:
"vapid t=<JWT>,k=<public key>": the JWT's ES256 signature against k, its aud and exp claims),
and decrypts the body (RFC 8188 aes128gcm, RFC 8291 keys) with the subscription's own private key
and auth secret, made here as a browser makes them. So a test reads what the phone would show.

Each token answers 201 unless told otherwise (answer_with), as a real service answers 404 or 410
for a subscription that is gone and 5xx when it is in trouble; or misbehaves: DRIBBLE answers a byte
at a time without end, FLOOD answers 500 with a body without end.
"""

import base64
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

DRIBBLE, FLOOD = -1, -2


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Received:
    """One POST as the push service saw it, and what it made of it."""

    token: str
    headers: dict  # names in lower case
    vapid_key: str | None = None  # k: the application server key that signed
    claims: dict = field(default_factory=dict)
    vapid_error: str | None = None  # why the Authorization header was refused, None when it was good
    message: dict | None = None  # the decrypted JSON
    answered: int = 0


@dataclass
class BrowserSubscription:
    """What a browser keeps for one subscription (its private key, its auth secret) and what it hands over."""

    token: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @property
    def p256dh(self) -> str:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(point)

    def as_json(self) -> dict:
        """PushSubscription.toJSON(), as the page posts it."""
        keys = {"p256dh": self.p256dh, "auth": b64url(self.auth)}
        return {"endpoint": self.endpoint, "expirationTime": None, "keys": keys}


class PushService:
    def __init__(self):
        self.received: list[Received] = []
        self.subscriptions: dict[str, BrowserSubscription] = {}
        self.answers: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802  (the standard library's name)
                service._take(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="push-service", daemon=True)

    def start(self) -> "PushService":
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def subscribe(self, token: str | None = None) -> BrowserSubscription:
        """A new subscription at this service, with keys made as a browser makes them."""
        token = token or b64url(os.urandom(12))
        subscription = BrowserSubscription(
            token=token,
            endpoint=f"{self.origin}/push/{token}",
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth=os.urandom(16),
        )
        self.subscriptions[token] = subscription
        return subscription

    def answer_with(self, subscription: BrowserSubscription, status: int) -> None:
        """The HTTP status the subscription's POSTs get from now on, or DRIBBLE or FLOOD."""
        self.answers[subscription.token] = status

    def messages(self, subscription: BrowserSubscription) -> list[dict]:
        """What the subscription's device would show, in order."""
        return [r.message for r in self.received if r.token == subscription.token and r.message is not None]

    # --- the service's side ---

    def _take(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        token = request.path.rpartition("/")[2]
        seen = Received(token=token, headers={k.lower(): v for k, v in request.headers.items()})
        subscription = self.subscriptions.get(token)
        self._check_vapid(request.headers.get("Authorization", ""), seen)
        if subscription is None:
            status = 404
        elif seen.vapid_error:
            status = 401
        else:
            try:
                plain = http_ece.decrypt(
                    body, private_key=subscription.private_key, auth_secret=subscription.auth, version="aes128gcm"
                )
                seen.message = json.loads(plain)
                status = self.answers.get(token, 201)
            except Exception as exc:  # a body that does not decrypt is the sender's fault
                seen.vapid_error = f"could not decrypt: {exc!r}"
                status = 400
        seen.answered = status
        with self._lock:
            self.received.append(seen)
        if status in (DRIBBLE, FLOOD):
            self._misbehave(request, status)
            return
        request.send_response(status)
        request.send_header("Content-Length", "0")
        request.end_headers()

    def _misbehave(self, request: BaseHTTPRequestHandler, how: int) -> None:
        request.send_response(201 if how == DRIBBLE else 500)
        request.send_header("Content-Length", str(10**9))
        request.end_headers()
        try:
            while not self._stopping.is_set():
                request.wfile.write(b"x" if how == DRIBBLE else b"y" * 65536)
                request.wfile.flush()
                if how == DRIBBLE:
                    self._stopping.wait(0.2)
        except OSError:
            pass  # the sender hung up, as it should

    def _check_vapid(self, header: str, seen: Received) -> None:
        scheme, _, rest = header.partition(" ")
        if scheme.lower() != "vapid":
            seen.vapid_error = f"not a vapid Authorization header: {header!r}"
            return
        parts = dict(part.strip().split("=", 1) for part in rest.split(",") if "=" in part)
        token, key = parts.get("t", ""), parts.get("k", "")
        seen.vapid_key = key
        try:
            signed, _, signature = token.rpartition(".")
            raw = unb64url(signature)
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
            der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
            public.verify(der, signed.encode(), ec.ECDSA(hashes.SHA256()))
            head, payload = (json.loads(unb64url(p)) for p in signed.split("."))
        except (InvalidSignature, ValueError) as exc:
            seen.vapid_error = f"bad VAPID token: {exc!r}"
            return
        seen.claims = payload
        if head.get("alg") != "ES256":
            seen.vapid_error = f"alg {head.get('alg')!r}, not ES256"
        elif payload.get("aud") != self.origin:
            seen.vapid_error = f"aud {payload.get('aud')!r}, not {self.origin!r}"
        elif not time.time() < payload.get("exp", 0) <= time.time() + 24 * 3600:
            seen.vapid_error = "exp not within the next 24 hours"
        elif not str(payload.get("sub", "")).startswith(("mailto:", "https:")):
            seen.vapid_error = f"sub {payload.get('sub')!r} is no contact"
