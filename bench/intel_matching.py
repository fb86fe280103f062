"""Benchmark: match 10,000 feed items against the details of an organisation with 1,000 venues.

Times intel.domain.matching.match_items(items, details) on objects already loaded (the grid prefilter
then exact geodesic distances), and a naive baseline that computes the geodesic distance of every
item x exposure pair, on a random sample of items, extrapolated to all of them. The baseline keeps
match_items' own rules (time window, radius, weighing, best exposure per detail), so its matches on
the sample must be the same: the run checks that too.

    .venv/bin/python bench/intel_matching.py                 # the issue's sizes
    .venv/bin/python bench/intel_matching.py --profile 15    # and cProfile's top 15 of one run
    .venv/bin/python bench/intel_matching.py --items 2000 --naive-sample 100 --json
"""

import argparse
import cProfile
import io
import json
import math
import os
import pstats
import random
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geographiclib.geodesic import Geodesic

from bench import world as bw
from detail.domain.distance import distance_m, geodesic_m, haversine_m
from detail.extensions import db
from intel.domain import exposures, geometry, matching, severity
from intel.domain.exposures import DetailIndex
from intel.domain.matching import Match
from intel.domain.severity import REACH
from intel.models import SEVERITIES, FeedItem


def naive_match_items(items: list[FeedItem], details) -> tuple[list[Match], int]:
    """match_items without the prefilter: the geodesic distance of every item x exposure pair, first.

    Returns the matches and the number of distances computed.
    """
    index = DetailIndex(details)
    computed = 0
    matches: list[Match] = []
    for item in items:
        if not item.located:
            continue
        reach = REACH.get(item.category, REACH["other"])
        best: dict[int, tuple[tuple, Match]] = {}
        for exposure in index.exposures:
            detail = index.details[exposure.detail_id]
            if exposure.point:
                distance = distance_m(item.latitude, item.longitude, *exposure.point)
                inside = exposures.area_covers(item, exposure.point)
            else:
                distance = geometry.distance_to_segment_m(item.latitude, item.longitude, *exposure.segment)
                inside = False
            computed += 1
            window = (detail.starts_at - matching.MARGIN, detail.ends_at + matching.MARGIN)
            if not exposures.overlaps(item.starts_at, item.ends_at, *window):
                continue
            if distance > reach.radius_m and not inside:
                continue
            rank, reason = severity.weigh(item, exposure, 0.0 if inside else distance, inside, detail)
            match = Match(
                item.id, detail.id, exposure.site_id, SEVERITIES[rank], reason, 0.0 if inside else distance, rank
            )
            current = best.get(detail.id)
            key = (match.rank, exposure.point is not None, -match.distance_m)
            if current is None or key > current[0]:
                best[detail.id] = (key, match)
        matches.extend(match for _, match in best.values())
    return matches, computed


class WhatIfIndex:
    """What match_items could do instead, to size the fix proposed in bench/README.md (intel/ is untouched).

    The same exposures, time window, distances, weighing and choice of the best exposure per detail, with:
    the time window tested before any distance; one geodesic per pair (geographiclib's WGS84 Inverse, as
    GridIndex.near already calls it, instead of building a geopy `geodesic` per call, and never twice);
    routes cut into their 5 km pieces once, when the index is built, with the pieces in a grid of their
    own, so an item looks only at the pieces near it rather than box-testing every route and walking
    every piece of the ones that pass.
    """

    def __init__(self, details, exact: bool = True):
        self.distance = geodesic_m if exact else haversine_m
        self.details = {d.id: d for d in details}
        self.exposures = [e for d in details for e in exposures.exposures(d)]
        windows = {d.id: (d.starts_at - matching.MARGIN, d.ends_at + matching.MARGIN) for d in details}
        self.windows = [windows[e.detail_id] for e in self.exposures]
        self.points = geometry.GridIndex([(i, *e.point) for i, e in enumerate(self.exposures) if e.point], cell_km=25)
        self.routes: dict[int, list[tuple[float, float]]] = {}
        pieces = []
        for i, exposure in enumerate(self.exposures):
            if exposure.segment:
                vertices = _route_vertices(*exposure.segment)
                self.routes[i] = vertices
                for j, (a, b) in enumerate(zip(vertices, vertices[1:], strict=False)):
                    mid_lon = geometry._wrap_lon(a[1] + geometry._wrap_lon(b[1] - a[1]) / 2)
                    pieces.append(((i, j), (a[0] + b[0]) / 2, mid_lon))
        self.pieces = geometry.GridIndex(pieces, cell_km=25)

    def in_window(self, i: int, item: FeedItem) -> bool:
        low, high = self.windows[i]
        return item.starts_at <= high and low <= item.ends_at

    def near_points(self, item: FeedItem, radius_m: float, extent_m: float) -> list[tuple[int, float, bool]]:
        """(exposure, distance, inside) for venues in the time window within the radius or inside the area."""
        lat, lon = item.latitude, item.longitude
        area = extent_m > 0
        search = radius_m + extent_m
        found = []
        for i, p_lat, p_lon in self.points._candidates(lat, lon, search):
            if not self.in_window(i, item):
                continue
            if haversine_m(lat, lon, p_lat, p_lon) > search * (1 + geometry._HAVERSINE_MARGIN) + 1.0:
                continue
            distance = self.distance(lat, lon, p_lat, p_lon)
            inside = area and exposures.area_covers(item, (p_lat, p_lon))
            if distance <= radius_m or inside:
                found.append((i, distance, inside))
        return found

    def near_routes(self, item: FeedItem, radius_m: float) -> list[tuple[int, float, bool]]:
        """(exposure, distance, False) for routes in the time window within the radius.

        The nearest piece of a route within r has its midpoint within r + half a piece, so it is among the
        pieces the grid gives: the minimum over those is distance_to_segment_m's minimum over all pieces.
        """
        lat, lon = item.latitude, item.longitude
        search = radius_m + _PIECE_REACH_M
        hits: dict[int, list[int]] = {}
        for (i, j), p_lat, p_lon in self.pieces._candidates(lat, lon, search):
            if i not in hits and not self.in_window(i, item):
                continue
            if haversine_m(lat, lon, p_lat, p_lon) <= search * (1 + geometry._HAVERSINE_MARGIN) + 1.0:
                hits.setdefault(i, []).append(j)
        found = []
        for i, pieces in hits.items():
            vertices = self.routes[i]
            _, c_lat, c_lon = min(geometry._closest_on_piece(lat, lon, vertices[j], vertices[j + 1]) for j in pieces)
            distance = self.distance(lat, lon, c_lat, c_lon)
            if distance <= radius_m:
                found.append((i, distance, False))
        return found


# Half a route piece (at most 5 km long) and some slack: a route within r has a piece midpoint within r + this.
_PIECE_REACH_M = 3_500.0


def _route_vertices(start, end) -> list[tuple[float, float]]:
    """The vertices geometry.distance_to_segment_m cuts a route into (the same code, run once per route)."""
    line = Geodesic.WGS84.InverseLine(start[0], start[1], end[0], end[1])
    pieces = min(geometry._SEGMENT_MAX_PIECES, max(1, math.ceil(line.s13 / geometry._SEGMENT_PIECE_M)))
    vertices = [tuple(start)]
    for i in range(1, pieces):
        position = line.Position(line.s13 * i / pieces)
        vertices.append((position["lat2"], geometry._wrap_lon(position["lon2"])))
    vertices.append(tuple(end))
    return vertices


def _no_window_text(exposure) -> str:
    return ""


def what_if_match_items(items: list[FeedItem], details, exact: bool = True) -> list[Match]:
    """match_items' results with the changes WhatIfIndex describes (a measurement aid, not a replacement).

    The best exposure per detail is chosen on weigh's rank with the reason's time text left out (weigh
    is called with severity._window_text stubbed: three local-time formattings a call), and the reason
    is written for the winners only. With exact=False, distances are haversine (within 0.6 % of the
    geodesic) rather than geodesic: not the same results, a measure of what exactness costs.
    """
    index = WhatIfIndex(details, exact)
    window_text = severity._window_text
    matches: list[Match] = []
    try:
        for item in items:
            if not item.located:
                continue
            reach = REACH.get(item.category, REACH["other"])
            found = index.near_points(item, reach.radius_m, exposures.area_extent_m(item))
            found += index.near_routes(item, reach.radius_m)
            severity._window_text = _no_window_text
            best: dict[int, tuple[tuple, int, float, bool]] = {}
            for i, distance, inside in sorted(found):  # match_items' order: ties go to the first exposure
                exposure = index.exposures[i]
                detail = index.details[exposure.detail_id]
                shown = 0.0 if inside else distance
                rank, _ = severity.weigh(item, exposure, shown, inside, detail)
                key = (rank, exposure.point is not None, -shown)
                current = best.get(detail.id)
                if current is None or key > current[0]:
                    best[detail.id] = (key, i, shown, inside)
            severity._window_text = window_text
            for detail_id, (_, i, shown, inside) in best.items():
                exposure = index.exposures[i]
                rank, reason = severity.weigh(item, exposure, shown, inside, index.details[detail_id])
                matches.append(Match(item.id, detail_id, exposure.site_id, SEVERITIES[rank], reason, shown, rank))
    finally:
        severity._window_text = window_text
    return matches


def primitive_costs(items: list[FeedItem], details, calls: int = 2_000) -> dict:
    """Microseconds per call of the building blocks, on pairs taken from this world."""
    index = DetailIndex(details)
    points = [e for e in index.exposures if e.point][:50]
    routes = [e for _, e in index.segments][:50]
    located = [i for i in items if i.located][:40]
    pairs = [(i, e) for i in located for e in points][:calls]
    route_pairs = [(i, e) for i in located for e in routes][: calls // 10]

    def per_call(fn, work) -> float | None:
        if not work:
            return None
        elapsed, _ = bw.timed(lambda: [fn(*args) for args in work])
        return round(elapsed / len(work) * 1e6, 1)

    detail = index.details[points[0].detail_id] if points else None
    return {
        "distance.distance_m": per_call(lambda i, e: distance_m(i.latitude, i.longitude, *e.point), pairs),
        "geographiclib WGS84.Inverse": per_call(lambda i, e: geodesic_m(i.latitude, i.longitude, *e.point), pairs),
        "haversine": per_call(lambda i, e: haversine_m(i.latitude, i.longitude, *e.point), pairs),
        "geometry.distance_to_segment_m": per_call(
            lambda i, e: geometry.distance_to_segment_m(i.latitude, i.longitude, *e.segment), route_pairs
        ),
        "severity.weigh": per_call(lambda i, e: severity.weigh(i, e, 1234.0, False, detail), pairs),
    }


def work_counts(items: list[FeedItem], details) -> dict:
    """What match_items does for these items, counted: grid look-ups, geodesics, route pieces, weighings."""
    index = DetailIndex(details)
    counts = dict.fromkeys(
        (
            "items",
            "grid_queries",
            "grid_points_scanned",
            "grid_points_within_reach",
            "point_candidates",
            "route_box_tests",
            "route_candidates",
            "candidates_in_time_window",
            "point_distances",
            "route_distances",
            "route_pieces_walked",
            "within_reach",
            "matches",
        ),
        0,
    )
    original_candidates = geometry.GridIndex._candidates

    def counting_candidates(self, lat, lon, radius_m):  # under near() and near_candidates() alike
        counts["grid_queries"] += 1
        for point in original_candidates(self, lat, lon, radius_m):
            counts["grid_points_scanned"] += 1
            if haversine_m(lat, lon, point[1], point[2]) <= radius_m * (1 + geometry._HAVERSINE_MARGIN) + 1.0:
                counts["grid_points_within_reach"] += 1
            yield point

    geometry.GridIndex._candidates = counting_candidates
    try:
        for item in items:
            if not item.located:
                continue
            counts["items"] += 1
            reach = REACH.get(item.category, REACH["other"])
            candidates = index.candidates(item, reach.radius_m + exposures.area_extent_m(item))
            counts["route_box_tests"] += len(index.segments)
            details_matched = set()
            for i in candidates:
                exposure = index.exposures[i]
                counts["point_candidates" if exposure.point else "route_candidates"] += 1
                detail = index.details[exposure.detail_id]
                window = (detail.starts_at - matching.MARGIN, detail.ends_at + matching.MARGIN)
                if not exposures.overlaps(item.starts_at, item.ends_at, *window):
                    continue
                counts["candidates_in_time_window"] += 1
                if exposure.point:
                    counts["point_distances"] += 1
                    distance = distance_m(item.latitude, item.longitude, *exposure.point)
                    inside = exposures.area_covers(item, exposure.point)
                else:
                    counts["route_distances"] += 1
                    counts["route_pieces_walked"] += len(_route_vertices(*exposure.segment)) - 1
                    distance = geometry.distance_to_segment_m(item.latitude, item.longitude, *exposure.segment)
                    inside = False
                if distance <= reach.radius_m or inside:
                    counts["within_reach"] += 1
                    details_matched.add(detail.id)
            counts["matches"] += len(details_matched)
    finally:
        geometry.GridIndex._candidates = original_candidates
    per_item = {f"{key}_per_item": round(value / max(1, counts["items"]), 1) for key, value in counts.items()}
    del per_item["items_per_item"]
    return {**counts, **per_item}


def compare(ours: list[Match], theirs: list[Match]) -> dict:
    """Whether two runs found the same matches: same item, detail, venue, severity and reason, and distances
    equal but for float noise (geopy computes in km, geographiclib in m: the last digits differ)."""

    def keyed(matches):
        return {(m.item_id, m.detail_id, m.site_id, m.severity, m.reason): m.distance_m for m in matches}

    a, b = keyed(ours), keyed(theirs)
    distances_differ = sum(
        1 for key in a.keys() & b.keys() if not math.isclose(a[key], b[key], rel_tol=1e-9, abs_tol=1e-6)
    )
    only_ours, only_theirs = len(a.keys() - b.keys()), len(b.keys() - a.keys())
    return {
        "same": not (only_ours or only_theirs or distances_differ),
        "only_first": only_ours,
        "only_second": only_theirs,
        "distances_differ": distances_differ,
    }


def agreement(ours: list[Match], theirs: list[Match]) -> dict:
    """compare(), and how far apart two runs are: (item, detail) pairs, and those with the same severity."""
    same = compare(ours, theirs)
    a = {(m.item_id, m.detail_id): m for m in ours}
    b = {(m.item_id, m.detail_id): m for m in theirs}
    both = a.keys() & b.keys()
    return {
        "same_matches_as_match_items": same["same"],
        "only_in_match_items": same["only_first"],
        "only_in_what_if": same["only_second"],
        "pairs_in_both": len(both),
        "pairs_only_in_match_items": len(a.keys() - b.keys()),
        "pairs_only_in_what_if": len(b.keys() - a.keys()),
        "pairs_with_another_severity": sum(1 for k in both if a[k].severity != b[k].severity),
        "largest_distance_difference_pct": max(
            (abs(a[k].distance_m - b[k].distance_m) / a[k].distance_m * 100 for k in both if a[k].distance_m),
            default=0.0,
        ),
    }


def profile_once(items, details, top: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    matching.match_items(items, details)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def exposure_counts(details) -> dict:
    index = DetailIndex(details)
    points = sum(1 for e in index.exposures if e.point)
    segments = len(index.segments)
    lengths = sorted(distance_m(*e.segment[0], *e.segment[1]) / 1000 for _, e in index.segments)
    return {
        "exposures": len(index.exposures),
        "point_exposures": points,
        "route_exposures": segments,
        "routes_over_100_km": sum(1 for km in lengths if km > 100),
        "longest_route_km": round(lengths[-1], 1) if lengths else 0.0,
    }


def run(args: argparse.Namespace) -> dict:
    tmp = bw.workdir(args.workdir)
    folder = args.workdir or tmp.name
    app = bw.app_for(folder, args.database_url)
    try:
        with app.app_context():
            world = bw.build_world(
                venues=args.venues,
                details=args.details,
                items=args.items,
                city_count=args.cities,
                seed=args.seed,
                flight_share=args.flight_share,
                long_haul_share=args.long_haul_share,
            )
            db.session.expunge_all()
            details = bw.load_details(world.organisation_id)
            items = bw.load_items(world.feed_id)
            matching.match_items(items[:200], details)  # warm-up: nothing lazy left, time zones cached

            results = {
                "sizes": {
                    "items": len(items),
                    "located_items": sum(1 for i in items if i.located),
                    "venues": world.venue_count,
                    "details": len(details),
                    "visits": world.visit_count,
                    "movements": world.movement_count,
                    "cities": len(world.cities),
                    **exposure_counts(details),
                },
                "world_build_s": round(world.build_seconds, 2),
                "seed": args.seed,
            }
            seconds = []
            matches: list[Match] = []
            for _ in range(args.repeat):
                elapsed, matches = bw.timed(matching.match_items, items, details)
                seconds.append(elapsed)
            results["match_items"] = {
                "seconds": bw.summary(seconds),
                "items_per_s": len(items) / bw.summary(seconds)["median"],
                "matches": len(matches),
                "items_with_a_match": len({m.item_id for m in matches}),
                "details_with_a_match": len({m.detail_id for m in matches}),
            }

            sample_size = min(args.naive_sample, len(items))
            if sample_size:
                sample = random.Random(args.seed + 1).sample(items, sample_size)
                naive_s, (naive, computed) = bw.timed(naive_match_items, sample, details)
                indexed_s, indexed = bw.timed(matching.match_items, sample, details)
                per_item = naive_s / sample_size
                extrapolated = per_item * len(items)
                same = compare(indexed, naive)
                results["naive"] = {
                    "sample_items": sample_size,
                    "sample_seconds": naive_s,
                    "distances_computed": computed,
                    "microseconds_per_distance": naive_s / computed * 1e6 if computed else None,
                    "extrapolated_seconds": extrapolated,
                    "items_per_s": 1 / per_item,
                    "speedup_of_match_items": extrapolated / results["match_items"]["seconds"]["median"],
                    "sample_matches": len(naive),
                    "match_items_on_sample_seconds": indexed_s,
                    "same_matches_on_sample": same["same"],
                    "only_in_match_items": same["only_first"],
                    "only_in_naive": same["only_second"],
                }
            if args.what_if:
                for name, exact in (("what_if", True), ("what_if_haversine", False)):
                    seconds = []
                    for _ in range(args.what_if_repeat or args.repeat):
                        elapsed, what_if = bw.timed(what_if_match_items, items, details, exact)
                        seconds.append(elapsed)
                    results[name] = {
                        "seconds": bw.summary(seconds),
                        "items_per_s": len(items) / bw.summary(seconds)["median"],
                        "matches": len(what_if),
                        **agreement(matches, what_if),
                    }
            if args.counts:
                sample = random.Random(args.seed + 2).sample(items, min(args.counts, len(items)))
                results["counts"] = work_counts(sample, details)
                results["microseconds_per_call"] = primitive_costs(items, details)
            if args.profile:
                results["profile"] = profile_once(items, details, args.profile)
            results["peak_rss_mb"] = bw.peak_rss_mb()
            results["load_average"] = [round(x, 2) for x in os.getloadavg()]
            db.session.remove()
            db.engine.dispose()
    finally:
        if tmp is not None:
            tmp.cleanup()
    return results


def report(results: dict) -> str:
    s, m = results["sizes"], results["match_items"]
    lines = [
        f"world: {s['items']} items ({s['located_items']} placed), {s['venues']} venues around {s['cities']} cities, "
        f"{s['details']} details ({s['visits']} visits, {s['movements']} movements): "
        f"{s['exposures']} exposures ({s['point_exposures']} at venues, {s['route_exposures']} routes, "
        f"{s['routes_over_100_km']} over 100 km, longest {s['longest_route_km']} km); built in "
        f"{results['world_build_s']} s",
        f"match_items: median {m['seconds']['median']:.3f} s (range {m['seconds']['min']:.3f}-"
        f"{m['seconds']['max']:.3f} s over {len(m['seconds']['runs'])} runs), {m['items_per_s']:,.0f} items/s, "
        f"{m['matches']} matches ({m['items_with_a_match']} items, {m['details_with_a_match']} details)",
    ]
    naive = results.get("naive")
    if naive:
        lines.append(
            f"naive (every item x exposure through geodesic): {naive['sample_seconds']:.2f} s for "
            f"{naive['sample_items']} items ({naive['distances_computed']} distances, "
            f"{naive['microseconds_per_distance']:.1f} us each) -> {naive['extrapolated_seconds']:.0f} s for "
            f"{s['items']} items, {naive['items_per_s']:.1f} items/s; match_items is "
            f"{naive['speedup_of_match_items']:.0f}x faster; same matches on the sample: "
            f"{naive['same_matches_on_sample']} ({naive['sample_matches']} matches, "
            f"{naive['only_in_match_items']} only in match_items, {naive['only_in_naive']} only in naive)"
        )
    for name, label in (("what_if", "what-if, exact"), ("what_if_haversine", "what-if, haversine")):
        w = results.get(name)
        if not w:
            continue
        lines.append(
            f"{label} (bench sketch of the fix): median {w['seconds']['median']:.3f} s (range "
            f"{w['seconds']['min']:.3f}-{w['seconds']['max']:.3f} s), {w['items_per_s']:,.0f} items/s, "
            f"{m['seconds']['median'] / w['seconds']['median']:.0f}x match_items; same matches: "
            f"{w['same_matches_as_match_items']} ({w['only_in_match_items']} only in match_items, "
            f"{w['only_in_what_if']} only in the sketch; (item, detail) pairs only in one: "
            f"{w['pairs_only_in_match_items']} + {w['pairs_only_in_what_if']}, another severity: "
            f"{w['pairs_with_another_severity']}, distances up to {w['largest_distance_difference_pct']:.2f} % apart)"
        )
    counts = results.get("counts")
    if counts:
        per_item = [f"{key.removesuffix('_per_item')} {n}" for key, n in counts.items() if key.endswith("_per_item")]
        lines.append("work per placed item (sampled): " + ", ".join(per_item))
        costs = results["microseconds_per_call"]
        lines.append("microseconds per call: " + ", ".join(f"{name} {us}" for name, us in costs.items()))
    target = "met" if m["seconds"]["median"] < 1.0 else "NOT met"
    lines.append(
        f"aim (10,000 items in under a second): {target}; peak RSS {results['peak_rss_mb']:.0f} MB; "
        f"load average at the end {results['load_average']}"
    )
    if results.get("profile"):
        lines.append(results["profile"])
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--items", type=int, default=10_000, help="feed items to match (default 10,000)")
    p.add_argument("--venues", type=int, default=1_000, help="venues of the organisation (default 1,000)")
    p.add_argument("--details", type=int, default=300, help="details, each of 2-4 visits (default 300)")
    p.add_argument("--cities", type=int, default=len(bw.CITY_NAMES), help="cities the venues cluster around")
    p.add_argument("--flight-share", type=float, default=0.12, help="details ending in a second city (0.12)")
    p.add_argument(
        "--long-haul-share",
        type=float,
        default=0.0,
        help="of those, the share flying to any city rather than one within 1,500 km (default 0)",
    )
    p.add_argument("--naive-sample", type=int, default=300, help="items the naive baseline runs on (0: skip)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs of match_items in this process")
    p.add_argument("--seed", type=int, default=bw.SEED)
    p.add_argument(
        "--what-if", action="store_true", help="also time the bench's sketch of the proposed fix (same matches?)"
    )
    p.add_argument("--what-if-repeat", type=int, default=0, metavar="N", help="timed runs of each sketch (--repeat)")
    p.add_argument("--counts", type=int, default=0, metavar="N", help="count match_items' work on N sampled items")
    p.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile one run, print the top N")
    p.add_argument("--workdir", help="keep the SQLite database here instead of a temporary folder")
    p.add_argument("--database-url", help="another database than SQLite in the work folder")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    return p


def main(argv: list[str] | None = None) -> dict:
    args = parser().parse_args(argv)
    results = run(args)
    print(json.dumps(results, indent=2, default=str) if args.json else report(results))
    return results


if __name__ == "__main__":
    main()
