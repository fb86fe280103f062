"""An entry's fields as feedparser leaves them: strings, namespaced elements, and times as aware UTC.

Every reader here returns None for a field that is missing or unreadable; none raises.
"""

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from .html import plain_text


def text(entry, key: str) -> str | None:
    """A string field of an entry; feedparser gives a dict instead for elements with attributes."""
    value = entry.get(key)
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return None


def namespaced(entry, prefixes: list[str], *names: str) -> str | None:
    """The first of `names` under any of the namespace's `prefixes`, as plain text."""
    for prefix in prefixes:
        for name in names:
            value = text(entry, f"{prefix}_{name}")
            if value:
                return plain_text(value)
    return None


def struct_to_utc(value) -> datetime | None:
    """feedparser's parsed time (a UTC struct_time) as an aware datetime."""
    if value is None:
        return None
    try:
        return datetime(*value[:6], tzinfo=timezone.utc)
    except (TypeError, ValueError, OverflowError):
        return None


def parse_when(value: str | None) -> datetime | None:
    """An ISO 8601 (CAP) or RFC 822 (GDACS) time as an aware UTC datetime; naive means UTC."""
    if not value:
        return None
    value = value.strip()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)
