"""What every table of the detail domain shares: UTC times, the coordinate checks, the SQL for "one of
these values", and the signals codes and the geofence speak in.

Times are stored in UTC, on every backend: UTCDateTime refuses a naive time and gives back an aware
one, SQLite included. Intel's tables use these helpers too, so both packages' rules read alike.
"""

from datetime import datetime, timezone

import sqlalchemy as sa

# What the alert rules read a code as; codes themselves are the organisation's to name.
CODE_SIGNALS = ("moving", "on_station", "hot", "returning", "clear", "duress")
# What an agent leaving a venue becomes: on the move again, or done.
GEOFENCE_LEAVE_SIGNALS = ("moving", "clear")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(sa.types.TypeDecorator):
    """A timezone-aware UTC datetime on every backend (SQLite drops the zone otherwise)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC time is required")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def latlon_checks(prefix: str = "") -> tuple:
    """The range checks of a (prefix)latitude and (prefix)longitude pair, named after the columns."""
    lat, lon = f"{prefix}latitude", f"{prefix}longitude"
    return (
        sa.CheckConstraint(f"{lat} >= -90 AND {lat} <= 90", name=f"{prefix}latitude_range"),
        sa.CheckConstraint(f"{lon} >= -180 AND {lon} <= 180", name=f"{prefix}longitude_range"),
    )


def one_of(column: str, values: tuple) -> str:
    """A check constraint's SQL: the column holds one of these values."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"
