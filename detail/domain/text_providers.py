"""Text providers: handing one text to a service that sends it, and telling a retry worth making from a
refusal for good, as detail.domain.mail does for SMTP.

A provider's send returns the provider's id for the message (its status callbacks name it) or raises
TextSendError with its kind:
- transient: nothing went, and trying again later may work (the service is unreachable, busy, rate
  limits us, or refuses our credentials: about the service or our settings, not this text);
- permanent: the service refused this text and always will (an invalid or unreachable number);
- unknown: the text may have gone (the connection dropped or timed out after the request left), so
  sending it again by itself risks a second copy.

The first provider is Twilio's Messages API, spoken over `requests` (see docs/development.md,
"Dependencies", for why not the twilio package). The auth token is never logged, nor a text's body.
"""

import logging
from dataclasses import dataclass
from typing import Protocol

import requests
from flask import current_app
from urllib3.exceptions import NewConnectionError

log = logging.getLogger(__name__)

TWILIO_API_BASE = "https://api.twilio.com"
CONNECT_TIMEOUT_S = 5
# Long enough for Twilio's answer (it queues the text and answers at once), short enough that a hung
# connection does not hold the jobs' loop: an alarm's next text waits behind it.
READ_TIMEOUT_S = 10
# Answers about the service or our settings rather than the text: rate limited (429), a request
# timeout (408), credentials or account refused (401, 403), a wrong account or address (404). 5xx and
# redirects (we follow none: the address is wrong) count the same.
SETTINGS_OR_BUSY = (401, 403, 404, 408, 429)


class TextSendError(Exception):
    """A text the provider did not take: kind is transient, permanent or unknown (see the module)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


class TextProvider(Protocol):
    name: str

    def send(self, to: str, body: str, status_callback_url: str | None) -> str:
        """Hand the text over; the provider's id for it. Raises TextSendError."""
        ...


@dataclass(frozen=True)
class TwilioMessages:
    """Twilio's Messages resource: POST {base}/2010-04-01/Accounts/{sid}/Messages.json, basic auth."""

    account_sid: str
    auth_token: str
    from_number: str | None = None
    messaging_service_sid: str | None = None
    base_url: str = TWILIO_API_BASE
    name: str = "twilio"

    def __repr__(self) -> str:  # never the token, in a log or a traceback
        return f"TwilioMessages(account_sid={self.account_sid!r}, base_url={self.base_url!r})"

    @property
    def messages_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    def form(self, to: str, body: str, status_callback_url: str | None) -> dict[str, str]:
        fields = {"To": to, "Body": body}
        # A Messaging Service picks the sender from its pool; otherwise the one number or sender id.
        if self.messaging_service_sid:
            fields["MessagingServiceSid"] = self.messaging_service_sid
        else:
            fields["From"] = self.from_number or ""
        if status_callback_url:
            fields["StatusCallback"] = status_callback_url
        return fields

    def send(self, to: str, body: str, status_callback_url: str | None) -> str:
        try:
            response = requests.post(
                self.messages_url,
                data=self.form(to, body, status_callback_url),
                auth=(self.account_sid, self.auth_token),
                headers={"Accept": "application/json"},
                timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise TextSendError(request_failure_kind(exc), f"Twilio: {type(exc).__name__}: {exc}") from None
        return twilio_sid(response)


def request_failure_kind(exc: requests.RequestException) -> str:
    """Whether the request can have reached the service: only failures before it was sent are transient."""
    # ConnectTimeout and SSLError are ConnectionErrors too: the request never left.
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError | requests.exceptions.InvalidURL):
        return "transient"
    if isinstance(exc, requests.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        # Refused, unresolvable, unreachable: urllib3 raised while opening the connection.
        if isinstance(reason, NewConnectionError):
            return "transient"
    # A read timeout, or a connection dropped after the request was written: it may have gone.
    return "unknown"


def twilio_sid(response: requests.Response) -> str:
    """The created message's sid from Twilio's answer, or TextSendError by the answer's kind."""
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if not isinstance(answer, dict):
        answer = {}
    status = response.status_code
    if 200 <= status < 300:
        sid = answer.get("sid")
        if isinstance(sid, str) and sid:
            return sid
        raise TextSendError("unknown", f"Twilio answered {status} without a message sid")
    code, message = answer.get("code"), str(answer.get("message") or response.reason or "")[:300]
    error = f"Twilio {status}" + (f" error {code}" if code else "") + (f": {message}" if message else "")
    # Permanent: this text (an invalid number, 21211; an unsubscribed one, 21610). Otherwise busy, down,
    # or our settings (credentials, account, address): once fixed, it goes.
    permanent = 400 <= status < 500 and status not in SETTINGS_OR_BUSY
    raise TextSendError("permanent" if permanent else "transient", error)


def configured_provider() -> TextProvider | None:
    """The provider the configuration names (TWILIO_*), or None: texts go to instance/outbox/."""
    config = current_app.config
    if not config.get("TWILIO_ACCOUNT_SID"):
        return None
    return TwilioMessages(
        account_sid=config["TWILIO_ACCOUNT_SID"],
        auth_token=config["TWILIO_AUTH_TOKEN"],
        from_number=config.get("TWILIO_FROM"),
        messaging_service_sid=config.get("TWILIO_MESSAGING_SERVICE_SID"),
        base_url=config.get("TWILIO_API_BASE") or TWILIO_API_BASE,
    )
