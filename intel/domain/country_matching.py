"""Country-wide items (travel advisories) against details and watch areas: everything in one of their countries.

An item placed in whole countries (located_by "country") has no point to measure from. It concerns a
detail when one of the detail's exposures lies in one of its countries (the country at the venue, or
at either end of a movement: countries.country_at) while the item is in force, at the item's own
severity (the advisory's level) whatever the distance or the moment; one match per detail, at its
first venue there, else its first route. It concerns a watch area that covers one of its countries,
or whose centre lies in one. Matches are matching.Match, so advisories stores them as it stores the
others. Reads, never writes.
"""

from detail.models import Detail
from intel.domain.countries import country_at
from intel.domain.exposures import Exposure, exposures, overlaps
from intel.domain.matching import Match
from intel.domain.severity import MAX_REASON, rank_of
from intel.domain.travel_advisories import countries_of, describe
from intel.models import FeedItem


def is_country_wide(item: FeedItem) -> bool:
    """Whether the item is placed in whole countries rather than at a point."""
    return item.located_by == "country"


def match_items(items: list[FeedItem], details: list[Detail]) -> list[Match]:
    """Each country-wide item's match per detail with an exposure in one of its countries while it is in force."""
    wide = [item for item in items if is_country_wide(item)]
    if not wide or not details:
        return []
    placed = [(detail, exposure, _countries(exposure)) for detail in details for exposure in exposures(detail)]
    matches = []
    for item in wide:
        covered = set(countries_of(item))
        best: dict[int, tuple[tuple, Exposure]] = {}
        for detail, exposure, where in placed:
            if not covered & where or not overlaps(item.starts_at, item.ends_at, exposure.starts_at, exposure.ends_at):
                continue
            key = (exposure.point is not None, -exposure.starts_at.timestamp())  # a venue before a route; earliest
            if detail.id not in best or key > best[detail.id][0]:
                best[detail.id] = (key, exposure)
        severity = item.source_severity or "info"
        for detail_id, (_, exposure) in best.items():
            reason = f"{describe(item)}, covering {exposure.label}"[:MAX_REASON]
            matches.append(Match(item.id, detail_id, exposure.site_id, severity, reason, None, rank_of(severity)))
    return matches


def watch_area_match(item: FeedItem, area) -> tuple[None, str] | None:
    """(no distance, the place phrase) when a country-wide item covers the watch area, else None."""
    where = area.country_code or country_at(area.latitude, area.longitude)
    inside = where in countries_of(item)
    return (None, f"{describe(item)}, covering {area.name}"[:MAX_REASON]) if inside else None


def _countries(exposure: Exposure) -> set[str]:
    ends = [exposure.point] if exposure.point else list(exposure.segment or ())
    return {code for code in (country_at(lat, lon) for lat, lon in ends) if code}
