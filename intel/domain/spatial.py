"""Which shapes may lie within some metres of others, asked for many at once: the spatial prefilter.

ShapeTree holds shapes (intel.domain.geometry) in shapely's STRtree by longitude and latitude. A
question is a list of shapes' bounds, each with a radius in metres; each is widened into a box in
degrees that holds every point within that radius of the bounds (search_boxes), and the tree answers
with the shapes whose envelopes touch a box, all boxes at once.

The rule it keeps: its answer is a superset of the shapes within the radius, never fewer. A point
within r metres (WGS84 geodesic) of a point B is within r / 110,574 degrees of B's latitude (no degree
of latitude is shorter), so never poleward of the widened bounds' latitude L; and along that geodesic
a degree of longitude is at least 111,319.49·cos(L) metres long (the prime vertical radius is never
under the equatorial one). Boxes reaching a pole take every longitude. Boxes are split at the
antimeridian, and a shape reaching past 180 degrees is held again a turn west, so crossing it loses
nothing. Exact distances are the caller's, for what this lets through.
"""

from __future__ import annotations

import numpy as np
import shapely

from intel.domain.geometry import CIRCLE, LINE, Shapes

# The shortest degree of latitude (at the equator) and the equator's degree of longitude, on WGS84.
_MIN_METRES_PER_DEGREE_LAT = 110_574.0
_METRES_PER_DEGREE_LON_AT_EQUATOR = 111_319.49
# Slack on the boxes: relative, and in degrees (a few centimetres), against rounding.
_SLACK = 1e-6
_SLACK_DEG = 1e-6
# A line is held in the tree as runs of this many edges (routes' edges are 5 km at most).
_RUN = 8


def search_boxes(bounds: np.ndarray, radii_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boxes in degrees holding everything within radii_m of each of the bounds (south, west, north, east;
    west in [-180, 180), east past 180 for a shape across the antimeridian). Returns (shapely boxes, the
    index of the bounds each box is for): one box each, two where one crosses the antimeridian."""
    bounds = np.asarray(bounds, dtype=float).reshape(-1, 4)
    radii = np.asarray(radii_m, dtype=float).reshape(-1)
    if np.any(~np.isfinite(radii)) or np.any(radii < 0):
        raise ValueError("radii must be finite distances of 0 m or more")
    south, west, north, east = bounds.T
    dlat = radii / _MIN_METRES_PER_DEGREE_LAT * (1 + _SLACK) + _SLACK_DEG
    south, north = south - dlat, north + dlat
    farthest = np.maximum(np.abs(south), np.abs(north))
    with np.errstate(divide="ignore"):
        dlon = radii / (_METRES_PER_DEGREE_LON_AT_EQUATOR * np.cos(np.radians(np.minimum(farthest, 90.0))))
    dlon = dlon * (1 + _SLACK) + _SLACK_DEG
    west, east = west - dlon, east + dlon
    every_longitude = (farthest >= 90.0) | ~np.isfinite(dlon) | (east - west >= 360.0)
    turn = 360.0 * np.floor((west + 180.0) / 360.0)
    west, east = np.where(every_longitude, -180.0, west - turn), np.where(every_longitude, 180.0, east - turn)
    south, north = np.maximum(south, -90.0), np.minimum(north, 90.0)
    crossing = east > 180.0
    owners = np.concatenate((np.arange(len(bounds)), np.flatnonzero(crossing)))
    boxes = shapely.box(
        np.concatenate((west, np.full(crossing.sum(), -180.0))),
        np.concatenate((south, south[crossing])),
        np.concatenate((np.minimum(east, 180.0), east[crossing] - 360.0)),
        np.concatenate((north, north[crossing])),
    )
    return boxes, owners


class ShapeTree:
    """Shapes (intel.domain.geometry.Shapes) for bulk "within r metres of" questions.

    The tree compares envelopes only (a predicate on a long route costs ten times the look-up), so each
    shape is held by envelopes that hug it: a line as runs of _RUN edges, a circle as the box of degrees
    that holds it (search_boxes around its centre), which a question's box meets whenever the question's
    point is within r of the circle.
    """

    def __init__(self, shapes: Shapes):
        kinds = shapes.kinds
        whole = np.flatnonzero((kinds != CIRCLE) & (kinds != LINE))
        circles = np.flatnonzero(kinds == CIRCLE)
        boxes, circle_of = search_boxes(shapes.bounds[circles], shapes.radii[circles])
        runs, run_of = _runs_of_lines(shapes, np.flatnonzero(kinds == LINE))
        geoms = np.concatenate((shapes.geoms[whole], boxes, runs))
        owners = np.concatenate((whole, circles[circle_of], run_of)).astype(np.int64)
        # Across the antimeridian: a copy a turn west.
        east = np.flatnonzero(shapely.bounds(geoms)[:, 2] > 180.0)
        parts = np.concatenate((geoms, shapely.transform(geoms[east], lambda xy: xy - (360.0, 0.0))))
        self.size = len(shapes)
        self._owners = np.concatenate((owners, owners[east]))
        self._copied = np.bincount(self._owners, minlength=self.size) > 1
        self._tree = shapely.STRtree(parts)

    def __len__(self) -> int:
        return self.size

    def query(self, bounds: np.ndarray, radii_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(question, shape) index pairs, each pair once: a superset of the shapes within each question's
        radius of its bounds."""
        if self.size == 0 or len(radii_m) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        boxes, askers = search_boxes(bounds, radii_m)
        box_index, part_index = self._tree.query(boxes)
        split = np.zeros(len(radii_m), dtype=bool)
        split[askers[len(radii_m) :]] = True
        askers, owners = askers[box_index], self._owners[part_index]
        # A pair can come twice only from a box split at the antimeridian or a shape held more than once.
        twice = np.flatnonzero(split[askers] | self._copied[owners])
        if len(twice):
            keys = np.unique(askers[twice] * self.size + owners[twice])
            once = np.ones(len(askers), dtype=bool)
            once[twice] = False
            askers = np.concatenate((askers[once], keys // self.size))
            owners = np.concatenate((owners[once], keys % self.size))
        return askers, owners


def _runs_of_lines(shapes: Shapes, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lines as LineStrings of _RUN edges at most (each run shares its last vertex with the next), and
    the line each run is of."""
    first, last = shapes.offsets[lines], shapes.offsets[lines + 1] - 1
    runs = -(-(last - first) // _RUN)
    run_of = np.repeat(lines, runs)
    nth = np.arange(len(run_of)) - np.repeat(np.cumsum(runs) - runs, runs)
    starts = np.repeat(first, runs) + nth * _RUN
    sizes = np.minimum(starts + _RUN, np.repeat(last, runs)) - starts + 1
    index = np.repeat(np.arange(len(run_of)), sizes)
    vertex = np.repeat(starts, sizes) + np.arange(len(index)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    if not len(run_of):
        return np.zeros(0, dtype=object), run_of.astype(np.int64)
    return shapely.linestrings(shapes.lons[vertex], shapes.lats[vertex], indices=index), run_of.astype(np.int64)
