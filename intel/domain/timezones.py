"""The time zone at a point, offline (timezonefinder, its data pinned as timezonefinder-data)."""

import threading

from timezonefinder import TimezoneFinder

from detail.domain.distance import check_point

_timezone_finder: TimezoneFinder | None = None
_timezone_lock = threading.Lock()


def timezone_at(lat: float, lon: float) -> str | None:
    """The IANA time zone at (lat, lon), offline ("Etc/GMT+N" at sea); None where there is none."""
    global _timezone_finder
    lat, lon = check_point(lat, lon)
    # One finder per process, used under a lock: timezonefinder instances are not thread-safe, and one
    # per thread (or per greenlet, under gevent) would load its data again each time.
    with _timezone_lock:
        if _timezone_finder is None:
            _timezone_finder = TimezoneFinder()
        return _timezone_finder.timezone_at(lng=lon, lat=lat)
