"""Texts out: a text is written whole (a TextMessage row) before it is sent, like mail in the outbox.

queue_text records one; the "texts" job sends what is due through the configured provider, or into
instance/outbox/ when none is configured; the provider's status callbacks update the row and tell
the listeners (an escalation's notification attempt follows its text).
"""

from collections.abc import Callable

from detail.extensions import db
from detail.models import TextMessage, utcnow

# Called with a TextMessage whose status changed; each returns the events it appended (the caller
# commits and publishes). Registered by the modules whose rows follow a text.
STATUS_LISTENERS: list[Callable[[TextMessage], list]] = []


def queue_text(*, organisation_id: int, to_number: str, body: str, user_id: int | None = None) -> TextMessage:
    """Record a text to send (flushes; the caller commits); the "texts" job sends it."""
    text = TextMessage(
        organisation_id=organisation_id,
        user_id=user_id,
        to_number=to_number,
        body=body,
        status="pending",
        next_attempt_at=utcnow(),
    )
    db.session.add(text)
    db.session.flush()
    return text
