"""Web Push (RFC 8030 with VAPID, RFC 8292): notifications to a browser or phone whose page is closed.

send_to_user posts one encrypted message to each of a person's subscriptions and reports what each
push service answered; a subscription the service says is gone (404, 410) is dropped.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class PushMessage:
    title: str
    body: str
    url: str  # the page the notification opens, a path on this site
    tag: str = ""  # notifications with the same tag replace each other on the device


@dataclass(frozen=True)
class PushOutcome:
    subscription_id: int
    ok: bool
    status: int | None  # the push service's HTTP status, None when it could not be reached
    error: str = ""


def send_to_user(user_id: int, message: PushMessage) -> list[PushOutcome]:
    """Send the message to every subscription of the user; an empty list when they have none."""
    raise NotImplementedError("Web Push delivery is not built yet")
