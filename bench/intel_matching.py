"""Benchmark: match 10,000 feed items against the details of an organisation with 1,000 venues.

Times intel.domain.matching.match_items(items, details) on objects already loaded (the spatial
prefilter, the time window, then exact distances from each item's shape), and a naive baseline that
measures every item x place pair exactly (exposures.reach_m: the geodesic to a venue or a route, from
an area's edge), on a random sample of items, extrapolated to all of them. The baseline keeps
match_items' own rules (time window, radius, weighing, best exposure per detail), so its matches on
the sample must be the same: the run checks that too. match_items is timed on the wall clock and in the
process's CPU time, which other work on a shared machine inflates less.

    .venv/bin/python bench/intel_matching.py                 # the issue's sizes
    .venv/bin/python bench/intel_matching.py --profile 15    # and cProfile's top 15 of one run
    .venv/bin/python bench/intel_matching.py --stages 5      # and the CPU of each stage, least of 5 runs
    .venv/bin/python bench/intel_matching.py --items 2000 --naive-sample 100 --json
"""

import argparse
import cProfile
import gc
import io
import json
import math
import os
import pstats
import random
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench import world as bw
from detail.domain.distance import distance_m, geodesic_m, geodesics_m, haversine_m
from detail.extensions import db
from intel.domain import exposures, geometry, matching, severity
from intel.domain.exposures import DetailIndex
from intel.domain.matching import Match
from intel.domain.severity import REACH
from intel.models import SEVERITIES, FeedItem


def measure_everywhere(shape, index: DetailIndex) -> list[tuple[float, bool]]:
    """reach_m from one item's shape to every place of the index: venues in one call, routes in another."""
    venues = np.flatnonzero(index.places.kinds == geometry.POINT)
    routes = np.flatnonzero(index.places.kinds != geometry.POINT)
    one = geometry.Shapes.of([shape])
    distances = np.zeros(len(index.places))
    inside = np.zeros(len(index.places), dtype=bool)
    distances[venues], inside[venues] = geometry.edge_distances_m(
        one, np.zeros(len(venues), dtype=np.int64), *index.places.first_points(venues)
    )
    distances[routes], inside[routes] = geometry.distances_to_lines_m(
        one, np.zeros(len(routes), dtype=np.int64), index.places, routes
    )
    return list(zip(distances.tolist(), inside.tolist(), strict=True))


def naive_match_items(items: list[FeedItem], details) -> tuple[list[Match], int]:
    """match_items without the prefilter: every item x place pair measured exactly (reach_m), first, then the
    time window and weigh() pair by pair.

    Returns the matches and the number of distances computed.
    """
    index = DetailIndex(details)
    computed = 0
    matches: list[Match] = []
    for item in items:
        if not item.located:
            continue
        reach = REACH.get(item.category, REACH["other"])
        measured = measure_everywhere(exposures.item_shape(item), index)
        computed += len(measured)
        best: dict[int, tuple[tuple, Match]] = {}
        for i, exposure in enumerate(index.exposures):
            detail = index.details[exposure.detail_id]
            distance, inside = measured[index.place_of[i]]
            window = (detail.starts_at - matching.MARGIN, detail.ends_at + matching.MARGIN)
            if not exposures.overlaps(item.starts_at, item.ends_at, *window):
                continue
            if distance > reach.radius_m and not inside:
                continue
            rank, reason = severity.weigh(item, exposure, distance, inside, detail)
            match = Match(item.id, detail.id, exposure.site_id, SEVERITIES[rank], reason, distance, rank)
            current = best.get(detail.id)
            key = (match.rank, exposure.point is not None, -match.distance_m)
            if current is None or key > current[0]:
                best[detail.id] = (key, match)
        matches.extend(match for _, match in best.values())
    return matches, computed


def primitive_costs(items: list[FeedItem], details, calls: int = 2_000) -> dict:
    """Microseconds per distance of the building blocks, on pairs taken from this world."""
    index = DetailIndex(details)
    venues = [p for p in index.place_shapes if p.kind == "point"][:50]
    routes = [p for p in index.place_shapes if p.kind == "line"][:50]
    located = [i for i in items if i.located]
    points = [exposures.item_shape(i) for i in located if exposures.item_shape(i).kind == "point"][:40]
    areas = [exposures.item_shape(i) for i in located if exposures.item_shape(i).kind == "area"][:40]
    pairs = [(a, b) for a in points for b in venues][:calls]

    def per_call(fn, work) -> float | None:
        if not work:
            return None
        elapsed, _ = bw.timed(lambda: [fn(*args) for args in work])
        return round(elapsed / len(work) * 1e6, 1)

    def bulk(fn, work) -> float | None:
        if not work:
            return None
        lats = np.array([[a.lats[0], b.lats[0]] for a, b in work])
        lons = np.array([[a.lons[0], b.lons[0]] for a, b in work])
        elapsed, _ = bw.timed(fn, lats[:, 1], lons[:, 1], lats[:, 0], lons[:, 0])
        return round(elapsed / len(work) * 1e6, 2)

    detail = index.details[index.exposures[0].detail_id]
    exposure = index.exposures[0]
    weighings = [(i,) for i in located[:calls]]
    return {
        "geographiclib WGS84.Inverse": per_call(
            lambda a, b: geodesic_m(a.lats[0], a.lons[0], b.lats[0], b.lons[0]), pairs
        ),
        "geodesics_m, per pair in one call": bulk(geodesics_m, pairs),
        "haversine": per_call(lambda a, b: haversine_m(a.lats[0], a.lons[0], b.lats[0], b.lons[0]), pairs),
        "reach_m, point to venue": per_call(exposures.reach_m, pairs),
        "reach_m, point to route": per_call(exposures.reach_m, [(a, r) for a in points for r in routes][: calls // 10]),
        "reach_m, area to venue": per_call(exposures.reach_m, [(a, v) for a in areas for v in venues][: calls // 10]),
        "reach_m, area to route": per_call(exposures.reach_m, [(a, r) for a in areas for r in routes][: calls // 10]),
        "severity.weigh": per_call(lambda i: severity.weigh(i, exposure, 1234.0, False, detail), weighings),
    }


def work_counts(items: list[FeedItem], details) -> dict:
    """What match_items does for these items, counted: candidate (item, place) pairs from the tree, those with
    an exposure in the time window (each measured exactly), route pieces walked, the pairs within reach, the
    (item, exposure) pairs weighed, the matches kept."""
    index = DetailIndex(details)
    placed = [item for item in items if item.located]
    shapes = exposures.item_shapes(placed)
    radii = np.array([REACH.get(item.category, REACH["other"]).radius_m for item in placed])
    starts, ends = item_times(placed)
    candidate_items, candidate_places = index.candidate_places(shapes, radii)
    item_of, place_of = matching._in_window(index, starts, ends, candidate_items, candidate_places)
    distances, inside = matching._measure(index, shapes, item_of, place_of)
    routes = index.places.kinds[place_of] != geometry.POINT
    within = (distances <= radii[item_of]) | inside
    weighed = matching._exposures_in_window(
        index, starts, ends, item_of[within], place_of[within], distances[within], inside[within]
    )
    counts = {
        "items": len(placed),
        "area_items": int((shapes.kinds != geometry.POINT).sum()),
        "candidate_item_places": len(candidate_items),
        "item_places_in_time_window_measured": len(item_of),
        "item_routes_measured": int(routes.sum()),
        "route_pieces_walked": int((np.diff(index.places.offsets)[place_of[routes]] - 1).sum()),
        "item_places_within_reach": int(within.sum()),
        "item_exposures_weighed": len(weighed[0]),
        "matches": len(matching.match_items(items, details)),
    }
    per_item = {f"{key}_per_item": round(value / max(1, counts["items"]), 1) for key, value in counts.items()}
    del per_item["items_per_item"]
    return {**counts, **per_item}


def item_times(placed: list[FeedItem]) -> tuple[np.ndarray, np.ndarray]:
    """The items' starts and ends in micros(), as match_items reads them."""
    starts = np.array([exposures.micros(item.starts_at) for item in placed], dtype=np.int64)
    return starts, np.array([exposures.micros(item.ends_at) for item in placed], dtype=np.int64)


def stage_cpu_ms(items: list[FeedItem], details, repeat: int = 3) -> dict:
    """match_items' stages one by one, as it runs them: the least CPU milliseconds of each over `repeat` runs.
    Other work on the machine inflates CPU time less than the wall clock; the least is the least disturbed."""

    spent: dict[str, list[float]] = {}

    def stage(name, fn, *args):
        started = time.process_time()
        result = fn(*args)
        spent.setdefault(name, []).append((time.process_time() - started) * 1000)
        return result

    def rank(index, starts, ends, basis, item_of, exposure_of, distances, inside, placed):
        extents = np.zeros(len(placed))
        for i in np.unique(item_of[inside]).tolist():
            extents[i] = exposures.area_extent_m(placed[i])
        t = index.table
        e = exposure_of
        timing = severity.timings(
            starts[item_of], ends[item_of], t.starts[e], t.ends[e], t.detail_starts[e], t.detail_ends[e]
        )
        ranks = severity.severity_ranks(
            *(c[item_of] for c in basis), extents[item_of], distances, inside, timing, t.weights[e]
        )
        return timing, ranks

    for _ in range(repeat):
        index = stage("index of the details", DetailIndex, details)
        placed = [item for item in items if item.located]
        shapes = stage("items' shapes", exposures.item_shapes, placed)
        basis = stage("items' severity basis", matching._basis, placed)
        starts, ends = stage("items' times", item_times, placed)
        item_of, place_of = stage("tree", index.candidate_places, shapes, basis[2])
        item_of, place_of = stage("time window", matching._in_window, index, starts, ends, item_of, place_of)
        distances, inside = stage("exact distances", matching._measure, index, shapes, item_of, place_of)
        within = (distances <= basis[2][item_of]) | inside
        item_of, exposure_of, distances, inside = stage(
            "(item, exposure) pairs",
            matching._exposures_in_window,
            index,
            starts,
            ends,
            item_of[within],
            place_of[within],
            distances[within],
            inside[within],
        )
        timing, ranks = stage(
            "severity", rank, index, starts, ends, basis, item_of, exposure_of, distances, inside, placed
        )
        winners = stage(
            "best per detail",
            matching._best_per_detail,
            item_of,
            index.table.detail_order[exposure_of],
            exposure_of,
            ranks,
            index.table,
            distances,
        )
        stage(
            "reasons and matches",
            matching._matches,
            index,
            placed,
            winners,
            item_of,
            exposure_of,
            distances,
            inside,
            timing,
            ranks,
        )
    return {name: round(min(values), 1) for name, values in spent.items()}


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
    segments = [e.segment for e in index.exposures if e.segment]
    lengths = sorted(distance_m(*start, *end) / 1000 for start, end in segments)
    return {
        "exposures": len(index.exposures),
        "point_exposures": points,
        "route_exposures": len(segments),
        "places": len(index.places),
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
            # As wsgi.py does at start, and the other benchmarks: what is loaded by now (the world, the gazetteer,
            # the libraries) is kept out of the collector's way. Otherwise a full collection, which the matches
            # of every second run or so set off, adds 0.2-0.25 s of CPU to that run whatever matching does.
            gc.collect()
            gc.freeze()

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
            seconds, cpu_seconds = [], []
            matches: list[Match] = []
            for _ in range(args.repeat):
                cpu_started = time.process_time()
                elapsed, matches = bw.timed(matching.match_items, items, details)
                cpu_seconds.append(time.process_time() - cpu_started)
                seconds.append(elapsed)
            results["match_items"] = {
                "seconds": bw.summary(seconds),
                "cpu_seconds": bw.summary(cpu_seconds),
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
            if args.counts:
                sample = random.Random(args.seed + 2).sample(items, min(args.counts, len(items)))
                results["counts"] = work_counts(sample, details)
                results["microseconds_per_call"] = primitive_costs(items, details)
            if args.stages:
                results["stage_cpu_ms"] = stage_cpu_ms(items, details, args.stages)
                results["stage_runs"] = args.stages
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
        f"{m['seconds']['max']:.3f} s over {len(m['seconds']['runs'])} runs; CPU median "
        f"{m['cpu_seconds']['median']:.3f} s), {m['items_per_s']:,.0f} items/s, "
        f"{m['matches']} matches ({m['items_with_a_match']} items, {m['details_with_a_match']} details)",
    ]
    naive = results.get("naive")
    if naive:
        lines.append(
            f"naive (every item x place measured exactly): {naive['sample_seconds']:.2f} s for "
            f"{naive['sample_items']} items ({naive['distances_computed']} distances, "
            f"{naive['microseconds_per_distance']:.1f} us each) -> {naive['extrapolated_seconds']:.0f} s for "
            f"{s['items']} items, {naive['items_per_s']:.1f} items/s; match_items is "
            f"{naive['speedup_of_match_items']:.0f}x faster; same matches on the sample: "
            f"{naive['same_matches_on_sample']} ({naive['sample_matches']} matches, "
            f"{naive['only_in_match_items']} only in match_items, {naive['only_in_naive']} only in naive)"
        )
    counts = results.get("counts")
    if counts:
        per_item = [f"{key.removesuffix('_per_item')} {n}" for key, n in counts.items() if key.endswith("_per_item")]
        lines.append("work per placed item (sampled): " + ", ".join(per_item))
        costs = results["microseconds_per_call"]
        lines.append("microseconds per call: " + ", ".join(f"{name} {us}" for name, us in costs.items()))
    stages = results.get("stage_cpu_ms")
    if stages:
        lines.append(
            f"CPU ms per stage (least of {results['stage_runs']} runs): "
            + ", ".join(f"{name} {ms}" for name, ms in stages.items())
            + f"; sum {sum(stages.values()):.0f}"
        )
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
    p.add_argument("--counts", type=int, default=0, metavar="N", help="count match_items' work on N sampled items")
    p.add_argument("--stages", type=int, default=0, metavar="N", help="CPU of each stage, least of N runs")
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
