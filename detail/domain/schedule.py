"""A detail's schedule: the principal's visits and movements in one list, in time order, each with the
zone of the venue it happens at. The client's portal and the detail file read it; what of each stop a
reader sees (a movement's notes are the team's) is the page's to choose. Reads only.
"""

from dataclasses import dataclass
from datetime import datetime

from detail.domain.timefmt import known_zone
from detail.models import Detail, Movement, Visit


@dataclass
class Stop:
    """A visit (at a venue) or a movement (between two), with when it starts."""

    starts_at: datetime
    kind: str  # "visit" or "movement"
    item: Visit | Movement

    @property
    def zone(self) -> str:
        site = self.item.site if isinstance(self.item, Visit) else self.item.from_site
        return known_zone(site.timezone)


def in_time_order(detail: Detail) -> list[Stop]:
    """Visits and movements together, by start (a movement leaving as a visit starts comes first)."""
    stops = [Stop(v.arrives_at, "visit", v) for v in detail.visits]
    stops += [Stop(m.departs_at, "movement", m) for m in detail.movements]
    return sorted(stops, key=lambda s: (s.starts_at, s.kind != "movement", s.item.id or 0))
