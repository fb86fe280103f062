"""Times are stored in UTC and shown in the venue's time zone."""

from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def local_time(value: datetime | None, tz: str | None = None, fmt: str = "%a %d %b %H:%M %Z") -> str:
    """Format a UTC time in the given IANA zone (UTC when none is given)."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(ZoneInfo(tz or "UTC")).strftime(fmt)


def parse_local(text: str, tz: str) -> datetime:
    """Read 'YYYY-MM-DDTHH:MM' typed for a venue's zone, return it in UTC."""
    naive = datetime.fromisoformat(text)
    if naive.tzinfo is not None:
        return naive.astimezone(timezone.utc)
    return naive.replace(tzinfo=ZoneInfo(tz)).astimezone(timezone.utc)


def known_zone(name: str | None) -> str:
    """The IANA zone name if this machine knows it, else "UTC" (a stored name may outlive its zone data)."""
    try:
        ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a folder: IsADirectoryError
        return "UTC"
    return name or "UTC"
