"""Distances between two points on the Earth, in metres: the one place they are computed.

Coordinates are ``(latitude, longitude)`` in degrees. ``distance_m`` is the geodesic on WGS84 (geographiclib,
the Karney algorithm geopy uses, called directly); ``fast_distance_m`` the haversine on the mean sphere, within
``SPHERE_ERROR`` of it, for prefilters. Both check their points: NaN, infinities and values out of range raise
``ValueError``. ``geodesic_m`` and ``haversine_m`` are the same without the checks, for loops over points
already checked, ``geodesics_m`` the geodesic of many pairs at once (numpy arrays, PROJ's C implementation of
the same algorithm: within 1e-13 of geographiclib's), and ``screened_distance_m`` is the sphere's answer
wherever it cannot change a decision.
"""

import math

import numpy as np
from geographiclib.geodesic import Geodesic
from pyproj import Geod

_WGS84 = Geod(ellps="WGS84")

EARTH_MEAN_RADIUS_M = 6_371_008.8
# The haversine on the mean sphere is within 0.6 % of the geodesic on the ellipsoid.
SPHERE_ERROR = 0.006


def check_point(lat: float, lon: float) -> tuple[float, float]:
    """(lat, lon) as floats, or ValueError for NaN, infinities and values out of range."""
    try:
        lat, lon = float(lat), float(lon)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not a coordinate: ({lat!r}, {lon!r})") from exc
    if not (-90.0 <= lat <= 90.0):
        raise ValueError(f"latitude {lat!r} is not within -90..90")
    if not (-180.0 <= lon <= 180.0):
        raise ValueError(f"longitude {lon!r} is not within -180..180")
    return lat, lon


def geodesic_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Geodesic distance on WGS84 between points already checked."""
    return Geodesic.WGS84.Inverse(lat1, lon1, lat2, lon2, Geodesic.DISTANCE)["s12"]


def geodesics_m(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Geodesic distances on WGS84 between arrays of points already checked (longitudes may pass ±180)."""
    arrays = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (lon1, lat1, lon2, lat2)))
    if arrays[0].size == 0:
        return np.zeros(arrays[0].shape)
    _, _, distances = _WGS84.inv(*arrays, return_back_azimuth=False)
    return np.asarray(distances, dtype=float)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance on the mean sphere between points already checked."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlam = phi2 - phi1, math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlam / 2) ** 2
    return 2 * EARTH_MEAN_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Geodesic distance on WGS84, in metres (geographiclib directly, not through geopy's wrapper)."""
    lat1, lon1 = check_point(lat1, lon1)
    lat2, lon2 = check_point(lat2, lon2)
    return geodesic_m(lat1, lon1, lat2, lon2)


def fast_distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance on the mean sphere, in metres: within 0.6 % of the geodesic, for prefilters."""
    check_point(lat1, lon1)
    check_point(lat2, lon2)
    return haversine_m(float(lat1), float(lon1), float(lat2), float(lon2))


def screened_distance_m(lat1: float, lon1: float, lat2: float, lon2: float, *boundaries: float) -> float:
    """The distance between points already checked, exact wherever it is close enough to a boundary to matter.

    Far from every boundary the sphere's distance decides alone (it is on the same side as the geodesic's);
    near one the geodesic does, since it is many times dearer than the haversine.
    """
    d = haversine_m(lat1, lon1, lat2, lon2)
    if any(abs(d - b) <= SPHERE_ERROR * d + 1 for b in boundaries):
        return geodesic_m(lat1, lon1, lat2, lon2)
    return d
