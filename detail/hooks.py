"""What other packages plug into detail, in one place: the sections intel adds to a detail's board
and to an agent's phone, the demo's extra steps, and the gazetteer the venue pages look places up in.

Detail never imports intel outside create_app (import-linter checks it): intel's init_app hands
these in, detail's pages and domain read them. (Periodic jobs are added the same way, to the job
runner's own list: detail.jobs.register_job.) This module imports nothing of ours.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# detail -> {name: ...}: what a detail's board shows below its agents.
DETAIL_SECTIONS: list[Callable[[Any], dict]] = []
# detail -> {name: ...}: what an agent's phone shows for a detail it is assigned to.
ASSIGNMENT_SECTIONS: list[Callable[[Any], dict]] = []
# organisation -> None: run by `flask demo` after the demo's own rows.
DEMO_STEPS: list[Callable[[Any], None]] = []


@dataclass(frozen=True)
class Gazetteer:
    """What the venue pages ask of a gazetteer: the places a query may mean (best first), a place's
    one-line label, and the IANA time zone at a point (ValueError for a point out of range)."""

    geocode_all: Callable[[str], list]
    place_label: Callable[[Any], str]
    timezone_at: Callable[[float, float], str | None]


class _GivenGazetteer:
    """The gazetteer intel gives (intel.domain's gazetteer, geocoders and time zones), once given."""

    given: Gazetteer | None = None

    def __getattr__(self, name: str):
        if self.given is None:
            raise RuntimeError("no gazetteer: intel is not registered on this app")
        return getattr(self.given, name)


gazetteer = _GivenGazetteer()


def add(registry: list, item) -> None:
    """Add to a registry once (create_app runs for every test app)."""
    if item not in registry:
        registry.append(item)


def use_gazetteer(given: Gazetteer) -> None:
    gazetteer.given = given
