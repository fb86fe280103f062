"""How much an item matters to one exposure, and why in words.

Severity starts from the source's own (CAP, GDACS, USGS) or the category's usual one and moves
with distance and timing, and the reason says why in words:

    a protest 500 m from the venue during arrival  -> critical
    the same 40 km away, or the day after          -> low

Each category's reach (REACH) says what is near and how far is worth a look. The rule it keeps:
an item placed from a city name is only as close as "in that city", so it gets no bonus for
nearness. Pure functions: nothing here reads or writes the database.
"""

from dataclasses import dataclass

from detail.domain.timefmt import local_time
from detail.models import Detail
from intel.domain.classify import impact_phrase
from intel.domain.exposures import Exposure, area_extent_m, overlaps
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


def _window_text(exposure: Exposure) -> str:
    start = local_time(exposure.starts_at, exposure.timezone, "%H:%M")
    end = local_time(exposure.ends_at, exposure.timezone, "%H:%M %Z")
    day = local_time(exposure.starts_at, exposure.timezone, "%a %d %b")
    return f"{day} {start}–{end}"


def timing_of(item: FeedItem, exposure: Exposure, detail: Detail) -> int:
    """How the item's time meets the exposure: 1 during it, 0 elsewhere in the detail, -1 outside the detail."""
    if overlaps(item.starts_at, item.ends_at, exposure.starts_at, exposure.ends_at):
        return 1
    if overlaps(item.starts_at, item.ends_at, detail.starts_at, detail.ends_at):
        return 0
    return -1


def severity_rank(item: FeedItem, exposure: Exposure, distance: float, inside: bool, timing: int) -> int:
    """The severity rank of an item against one exposure: the source's (or the category's), moved by
    distance and timing."""
    reach = REACH.get(item.category, REACH["other"])
    rank = rank_of(item.source_severity or reach.usual_severity)
    # Placed from a city name, an item is only as close as "in that city": no bonus for nearness.
    city_level = item.located_by == "gazetteer"
    if inside:
        # A cordon around the venue is pointed; a warning area over a region already carries its severity.
        rank += 2 if area_extent_m(item) <= reach.near_m else 0
    elif distance > reach.radius_m / 4:
        rank -= 2
    elif city_level:
        pass
    elif distance <= reach.near_m / 2:
        rank += 2
    elif distance <= reach.near_m:
        rank += 1
    rank += {1: exposure.weight, 0: -1, -1: -3}[timing]
    return max(0, min(rank, len(SEVERITIES) - 1))


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
    if item.time_basis:  # how the item's own time was read: "stated: Wed 9 Dec 18:00 local"
        text = f"{text}; {item.time_basis}"
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def weigh(item: FeedItem, exposure: Exposure, distance: float, inside: bool, detail: Detail) -> tuple[int, str]:
    """Severity rank and reason for an item against one exposure."""
    timing = timing_of(item, exposure, detail)
    return severity_rank(item, exposure, distance, inside, timing), reason(
        item, exposure, distance, inside, detail, timing
    )
