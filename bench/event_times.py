"""Benchmark: the cost of reading an item's event time, per item, on the ingest benchmark's 10,000 items.

Generates bench/intel_ingest.py's feed (every summary states a time: "Reported in Paris at 14:15 local time"),
parses it once, then times, as intel.domain.poller.build_item does them:

- the place's time zone (timezones.timezone_at for a point, the gazetteer place's own zone for a name);
- intel.domain.event_time.event_window on every item;
- for comparison, dateparser's search_dates (restricted to the seven languages) on a sample of the items.

    .venv/bin/python bench/event_times.py
    .venv/bin/python bench/event_times.py --items 2000 --dateparser-sample 50 --json
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import intel_ingest
from intel.domain import event_time, parse, placement, places, timezones
from intel.domain.time_phrases import LANGUAGES


def _zones(items) -> list[str | None]:
    zones = []
    for item in items:
        if item.geometry:
            latitude, longitude = placement.representative_point(item.geometry)
            zones.append(timezones.timezone_at(latitude, longitude))
        else:
            place = places.place_from_text(f"{item.title}. {item.summary_text}")
            zones.append(place.timezone if place else None)
    return zones


def _clock(run, repeat: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each run: on a shared machine the CPU time says more."""
    wall, cpu = [], []
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        run()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return wall, cpu


def run(args: argparse.Namespace) -> dict:
    body = intel_ingest.make_feed(args.items)
    cap, parse.MAX_ITEMS = parse.MAX_ITEMS, max(parse.MAX_ITEMS, args.items)
    try:
        items = parse.parse(body).items
    finally:
        parse.MAX_ITEMS = cap
    places.place_from_text("Paris")  # the gazetteer loads once, outside the clock
    timezones.timezone_at(48.85, 2.35)
    points = [item for item in items if item.geometry]
    started = time.perf_counter()
    for item in points:
        timezones.timezone_at(*placement.representative_point(item.geometry))
    zone_lookup_s = time.perf_counter() - started
    zones = _zones(items)

    def read_all():
        return [
            event_time.event_window(item.title, item.summary_text, item.published, zone, category="protest")
            for item, zone in zip(items, zones, strict=True)
        ]

    windows = read_all()
    times, cpu = _clock(read_all, args.repeat)
    results = {
        "items": len(items),
        "items_with_a_stated_time": sum(w.basis.startswith("stated") for w in windows),
        "event_window_s": {"median": statistics.median(times), "min": min(times), "max": max(times)},
        "event_window_us_per_item": statistics.median(times) / len(items) * 1e6,
        "event_window_cpu_us_per_item": statistics.median(cpu) / len(items) * 1e6,
        "timezone_at_points": len(points),
        "timezone_at_us_per_point": zone_lookup_s / max(1, len(points)) * 1e6,
        "load_average": os.getloadavg(),
    }
    if args.dateparser_sample:
        from dateparser.search import search_dates

        sample = items[: args.dateparser_sample]
        settings = {"PREFER_DATES_FROM": "future", "RETURN_AS_TIMEZONE_AWARE": False}
        started = time.perf_counter()
        for item in sample:
            search_dates(f"{item.title}. {item.summary_text}", languages=list(LANGUAGES), settings=settings)
        results["dateparser_search_dates_us_per_item"] = (time.perf_counter() - started) / len(sample) * 1e6
    return results


def report(results: dict) -> str:
    lines = [
        f"items: {results['items']} ({results['items_with_a_stated_time']} with a stated time)",
        f"event_window: median {results['event_window_s']['median']:.3f} s for all "
        f"({results['event_window_us_per_item']:.1f} µs an item; range {results['event_window_s']['min']:.3f}–"
        f"{results['event_window_s']['max']:.3f} s); CPU {results['event_window_cpu_us_per_item']:.1f} µs an item",
        f"timezone_at: {results['timezone_at_us_per_point']:.1f} µs a point ({results['timezone_at_points']} points)",
    ]
    if "dateparser_search_dates_us_per_item" in results:
        lines.append(f"dateparser search_dates: {results['dateparser_search_dates_us_per_item']:.0f} µs an item")
    lines.append("load average: " + ", ".join(f"{x:.2f}" for x in results["load_average"]))
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, default=10_000, help="items in the feed (default 10,000)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs over all items (default 3)")
    p.add_argument("--dateparser-sample", type=int, default=200, help="items given to search_dates (default 200)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    return p


def main(argv: list[str] | None = None) -> dict:
    args = parser().parse_args(argv)
    results = run(args)
    print(json.dumps(results, indent=2, default=str) if args.json else report(results))
    return results


if __name__ == "__main__":
    main()
