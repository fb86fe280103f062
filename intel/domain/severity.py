"""How much an item matters to one exposure, and why in words.

Severity starts from the source's own (CAP, GDACS, USGS) or the category's usual one and moves
with distance and timing, and the reason says why in words:

    a protest 500 m from the venue during arrival  -> critical
    the same 40 km away, or the day after          -> low

Each category's reach (REACH) says what is near and how far is worth a look. The rule it keeps:
an item placed from a city name is only as close as "in that city", so it gets no bonus for
nearness. Pure functions: nothing here reads or writes the database.
"""

import functools
from dataclasses import dataclass

import numpy as np

from detail.domain.timefmt import local_time
from detail.models import Detail
from intel.domain.classify import impact_phrase
from intel.domain.exposures import Exposure, area_extent_m
from intel.models import SEVERITIES, Advisory, FeedItem

MAX_REASON = Advisory.__table__.c.reason.type.length


@dataclass(frozen=True)
class Reach:
    """How far a category matters: `near_m` is close, `radius_m` the farthest it is worth a look."""

    near_m: float
    radius_m: float
    usual_severity: str


REACH = {
    "protest": Reach(1_000, 50_000, "moderate"),
    "civil_unrest": Reach(2_000, 75_000, "high"),
    "crime": Reach(500, 10_000, "low"),
    "terrorism": Reach(5_000, 100_000, "high"),
    "security": Reach(1_000, 25_000, "moderate"),
    "weather": Reach(10_000, 150_000, "moderate"),
    "natural_hazard": Reach(25_000, 300_000, "moderate"),
    "transport": Reach(2_000, 50_000, "low"),
    "health": Reach(10_000, 100_000, "low"),
    "other": Reach(1_000, 20_000, "info"),
}


def rank_of(severity: str) -> int:
    """A severity's place on the scale, 0 for the mildest (intel.models.SEVERITIES)."""
    return SEVERITIES.index(severity)


def distance_text(metres: float) -> str:
    """A distance as a reason says it: metres under a kilometre, else kilometres."""
    return f"{metres:.0f} m" if metres < 1000 else f"{metres / 1000:.1f} km"


# Matching writes the same exposure's window into the reasons of many items.
@functools.lru_cache(maxsize=8192)
def _window_text(exposure: Exposure) -> str:
    start = local_time(exposure.starts_at, exposure.timezone, "%H:%M")
    end = local_time(exposure.ends_at, exposure.timezone, "%H:%M %Z")
    day = local_time(exposure.starts_at, exposure.timezone, "%a %d %b")
    return f"{day} {start}–{end}"


def timings(item_starts, item_ends, exposure_starts, exposure_ends, detail_starts, detail_ends) -> np.ndarray:
    """timing_of for many pairs at once: arrays of comparable times (or single times), 1, 0 or -1 each."""
    during = (item_starts <= exposure_ends) & (exposure_starts <= item_ends)
    in_detail = (item_starts <= detail_ends) & (detail_starts <= item_ends)
    return np.where(during, 1, np.where(in_detail, 0, -1))


def timing_of(item: FeedItem, exposure: Exposure, detail: Detail) -> int:
    """How the item's time meets the exposure: 1 during it, 0 elsewhere in the detail, -1 outside the detail."""
    return int(
        timings(item.starts_at, item.ends_at, exposure.starts_at, exposure.ends_at, detail.starts_at, detail.ends_at)
    )


def item_basis(item: FeedItem) -> tuple[int, float, float, bool]:
    """What an item's rank starts from: the source's (or its category's usual) severity rank, the category's
    near_m and radius_m, and whether it was placed from a city name."""
    reach = REACH.get(item.category, REACH["other"])
    return (
        rank_of(item.source_severity or reach.usual_severity),
        reach.near_m,
        reach.radius_m,
        item.located_by == "gazetteer",
    )


def severity_ranks(start, near_m, radius_m, city_level, extent_m, distances, inside, timing, weights) -> np.ndarray:
    """severity_rank for many (item, exposure) pairs at once. Each argument is an array with an entry a pair,
    or one value for all: item_basis's four, the item's area_extent_m, then the distance, whether the
    exposure is inside the item's area, the timing (timings) and the exposure's weight."""
    nearness = np.select(
        [inside, distances > radius_m / 4, city_level, distances <= near_m / 2, distances <= near_m],
        # A cordon around the venue is pointed; a warning area over a region already carries its severity.
        # Placed from a city name, an item is only as close as "in that city": no bonus for nearness.
        [np.where(extent_m <= near_m, 2, 0), -2, 0, 2, 1],
        0,
    )
    when = np.select([timing == 1, timing == 0], [weights, -1], -3)
    return np.clip(start + nearness + when, 0, len(SEVERITIES) - 1)


def severity_rank(item: FeedItem, exposure: Exposure, distance: float, inside: bool, timing: int) -> int:
    """The severity rank of an item against one exposure: the source's (or the category's), moved by
    distance and timing."""
    extent = area_extent_m(item) if inside else 0.0
    return int(severity_ranks(*item_basis(item), extent, distance, inside, timing, exposure.weight))


def reason(item: FeedItem, exposure: Exposure, distance: float, inside: bool, detail: Detail, timing: int) -> str:
    """Why, in words: where the item is against the exposure, and when."""
    if timing == 1:
        when = f"{exposure.moment} {_window_text(exposure)}"
    elif timing == 0:
        when = "during the detail, while the principal is elsewhere"
    else:
        gap = min(abs(item.starts_at - detail.ends_at), abs(detail.starts_at - item.ends_at))
        side = "after" if item.starts_at > detail.ends_at else "before"
        when = f"{gap.total_seconds() / 3600:.0f} h {side} the detail"
    if inside:
        where = f"inside the area of the alert, covering {exposure.label}"
    elif item.located_by == "gazetteer":
        where = (
            f"in {item.place_name or 'the same city'}, about {distance_text(distance)} from {exposure.label} "
            "(placed from its text)"
        )
    else:
        where = f"{distance_text(distance)} from {exposure.label}"
    text = f"{where}, {when}"
    if impacts := impact_phrase((item.details or {}).get("impacts")):  # a general strike also stops the trains
        text = f"{text}, with {impacts}"
    if item.time_basis:  # how the item's own time was read: "stated: Wed 9 Dec 18:00 CET"
        text = f"{text}; {item.time_basis}"
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def weigh(item: FeedItem, exposure: Exposure, distance: float, inside: bool, detail: Detail) -> tuple[int, str]:
    """Severity rank and reason for an item against one exposure."""
    timing = timing_of(item, exposure, detail)
    return severity_rank(item, exposure, distance, inside, timing), reason(
        item, exposure, distance, inside, detail, timing
    )
