"""A client's request answered from intel: what is known near the client's venues and routes over
the window the request is about, and the advisories a coordinator attaches to the answer.

What bears on a request (intel_for_request), for the coordinator only:
* the client's advisories, candidate or published, whose time overlaps the window: its details'
  and its watch areas', most severe first;
* stored feed items near the venues and routes of the details in the window, over the window,
  that no advisory of the client holds yet (dismissed ones included: that was a decision). "Near"
  is each category's reach (intel.domain.severity.REACH), the distance the matcher weighs too.

Attaching (attach) keeps two rules: only the request's client's own advisories, published or
candidate (a dismissed or merged one is refused), and a candidate is published with the answer,
with its summary and recommendation written for the client. Each advisory is attached once
(the pair is the table's key). Refusals are hooks.AnswerRefused: 403 for another client's
advisory, 422 for the rest, each with the message for the coordinator.

The client reads only attached advisories that are published (attached_for_client), in the words
written for the client, never the items behind them. Functions here flush and never commit;
attach returns the board events for the caller to publish after its commit.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from detail.domain.distance import distance_m
from detail.domain.storage import insert_once
from detail.extensions import db
from detail.hooks import AnswerRefused
from detail.models import ClientRequest, Detail, Site
from intel.domain import advisories, nearby
from intel.domain.classify import CATEGORY_LABELS, SEVERITY_LABELS
from intel.domain.exposures import item_shape, reach_m
from intel.domain.geometry import route
from intel.domain.request_window import RequestWindow, request_window
from intel.domain.severity import REACH
from intel.domain.travel_advisories import advisory_when
from intel.models import SEVERITIES, Advisory, AdvisorySource, ClientRequestAdvisory, FeedItem, WatchArea

OPEN = ("candidate", "published")
# The farthest any category reaches: stored items are looked for this far out, then each is held
# to its own category's reach.
FARTHEST_REACH_M = max(reach.radius_m for reach in REACH.values())
ITEMS_SHOWN = 30
# The client's other open advisories, offered for attaching when the window was read too narrowly.
OTHERS_SHOWN = 30
MOST_ATTACHED = 20
KEY = ("request_id", "advisory_id")


@dataclass(frozen=True)
class NearbyItem:
    """A stored item no advisory of the client holds, how far it is, and from which venue or route."""

    item: FeedItem
    distance_m: float
    near: str


@dataclass(frozen=True)
class RequestIntel:
    """What intel knows that bears on a request: the window, the advisories in it, the items with none."""

    window: RequestWindow
    advisories: list[Advisory]
    items: list[NearbyItem]
    others: list[Advisory]  # the client's open advisories outside the window


def _client_advisories(client_id: int):
    """The query of a client's advisories: its details' and its watch areas'."""
    return (
        sa.select(Advisory)
        .outerjoin(Detail, Advisory.detail_id == Detail.id)
        .outerjoin(WatchArea, Advisory.watch_area_id == WatchArea.id)
        .where(sa.or_(Detail.client_id == client_id, WatchArea.client_id == client_id))
    )


def _most_severe_first(rows) -> list[Advisory]:
    return sorted(rows, key=lambda a: (-SEVERITIES.index(a.severity), a.starts_at, a.id))


def _known_item_ids(client_id: int) -> set[int]:
    """Items some advisory of the client holds already, whatever became of it."""
    query = (
        sa.select(AdvisorySource.item_id)
        .join(Advisory, AdvisorySource.advisory_id == Advisory.id)
        .outerjoin(Detail, Advisory.detail_id == Detail.id)
        .outerjoin(WatchArea, Advisory.watch_area_id == WatchArea.id)
        .where(sa.or_(Detail.client_id == client_id, WatchArea.client_id == client_id))
    )
    return set(db.session.scalars(query))


def _reach_m(item: FeedItem) -> float:
    return REACH.get(item.category, REACH["other"]).radius_m


def _venues(details) -> list[Site]:
    """The details' venues: where the principal stays, where movements start and end, and the posts."""
    seen: dict[int, Site] = {}
    for detail in details:
        for site in detail.sites:
            seen.setdefault(site.id, site)
        for assignment in detail.assignments:
            if assignment.site is not None:
                seen.setdefault(assignment.site_id, assignment.site)
    return list(seen.values())


def _routes(details) -> list[tuple[str, tuple[float, float], tuple[float, float]]]:
    seen = {}
    for detail in details:
        for movement in detail.movements:
            a, b = movement.from_site, movement.to_site
            ends = ((a.latitude, a.longitude), (b.latitude, b.longitude))
            seen.setdefault((a.id, b.id), (f"the route {a.name} → {b.name}", *ends))
    return list(seen.values())


def nearby_items(organisation_id: int, window: RequestWindow, known: set[int]) -> list[NearbyItem]:
    """Stored items within their category's reach of the window's venues and routes, over the window,
    that are not in `known`; nearest first, each once (at the venue or route it is nearest)."""
    best: dict[int, NearbyItem] = {}

    def keep(item: FeedItem, distance: float, near: str) -> None:
        if item.id in known or distance > _reach_m(item):
            return
        if item.id not in best or distance < best[item.id].distance_m:
            best[item.id] = NearbyItem(item, distance, near)

    start, end = window.starts_at, window.ends_at
    for site in _venues(window.details):
        for item, distance in nearby.near(organisation_id, site.latitude, site.longitude, FARTHEST_REACH_M, start, end):
            keep(item, distance, site.name)
    for label, a, b in _routes(window.details):
        path = route(a, b)
        reach = distance_m(*a, *b) + FARTHEST_REACH_M
        for item, _ in nearby.near(organisation_id, *a, reach, start, end):
            keep(item, reach_m(item_shape(item), path)[0], label)
    return sorted(best.values(), key=lambda found: (found.distance_m, found.item.id))[:ITEMS_SHOWN]


def intel_for_request(request: ClientRequest) -> RequestIntel:
    """The intel beside a request on the coordinator's page (see the module's docstring)."""
    window = request_window(request)
    client_id = request.client_id
    open_advisories = _client_advisories(client_id).where(Advisory.status.in_(OPEN))
    in_window = _most_severe_first(
        db.session.scalars(
            open_advisories.where(Advisory.starts_at < window.ends_at, Advisory.ends_at > window.starts_at)
        )
    )
    shown = {a.id for a in in_window}
    others = [
        a
        for a in db.session.scalars(
            open_advisories.where(Advisory.ends_at >= request.received_at - timedelta(days=1))
            .order_by(Advisory.starts_at, Advisory.id)
            .limit(OTHERS_SHOWN + len(shown))
        )
        if a.id not in shown
    ][:OTHERS_SHOWN]
    items = nearby_items(request.client.organisation_id, window, _known_item_ids(client_id))
    return RequestIntel(window, in_window, items, others)


# --- attaching ----------------------------------------------------------------------------------


def belongs_to_client(advisory: Advisory, client_id: int) -> bool:
    """Whether the advisory is the client's: for one of its details or one of its watch areas."""
    if advisory.detail is not None:
        return advisory.detail.client_id == client_id
    return advisory.watch_area is not None and advisory.watch_area.client_id == client_id


def checked_attachments(
    request: ClientRequest, advisory_ids: list[int], texts: dict[int, tuple[str, str]]
) -> list[Advisory]:
    """The advisories to attach, each checked; AnswerRefused names the first that cannot go.

    texts holds, for a candidate, the summary and the recommendation written for the client."""
    ids = list(dict.fromkeys(advisory_ids))
    if len(ids) > MOST_ATTACHED:
        raise AnswerRefused(f"Attach at most {MOST_ATTACHED} advisories to one answer.")
    chosen = []
    for advisory_id in ids:
        advisory = db.session.get(Advisory, advisory_id)
        if advisory is None or advisory.organisation_id != request.client.organisation_id:
            raise AnswerRefused(f"There is no advisory #{advisory_id}.")
        if not belongs_to_client(advisory, request.client_id):
            raise AnswerRefused(
                f"Advisory #{advisory.id} is not one of {request.client.name}'s: "
                "an answer carries only its own client's advisories.",
                status=403,
            )
        if advisory.status not in OPEN:
            raise AnswerRefused(
                f"Advisory #{advisory.id} is {advisory.status}: only a published or candidate one goes."
            )
        if advisory.status == "candidate":
            summary, recommendation = texts.get(advisory.id, ("", ""))
            if not summary.strip() or not recommendation.strip():
                raise AnswerRefused(
                    f"Advisory #{advisory.id} is not published yet: write its summary and its recommendation "
                    "for the client, and it is published with the answer."
                )
        chosen.append(advisory)
    return chosen


def attach(
    request: ClientRequest,
    by,
    advisory_ids: list[int],
    texts: dict[int, tuple[str, str]],
    now: datetime | None = None,
) -> list:
    """Attach the advisories to the request's answer, publishing candidates; the board events."""
    events = []
    for advisory in checked_attachments(request, advisory_ids, texts):
        if advisory.status == "candidate":
            summary, recommendation = texts[advisory.id]
            events.append(advisories.publish(advisory, by, summary, recommendation, now))
        # Once per pair, even when the same answer is sent twice at the same moment.
        insert_once(ClientRequestAdvisory, KEY, request_id=request.id, advisory_id=advisory.id)
    db.session.flush()
    return events


def attached(request: ClientRequest) -> list[Advisory]:
    """The advisories attached to the request's answer, most severe first (coordinators' view)."""
    rows = db.session.scalars(
        sa.select(Advisory)
        .join(ClientRequestAdvisory, ClientRequestAdvisory.advisory_id == Advisory.id)
        .where(ClientRequestAdvisory.request_id == request.id)
    )
    return _most_severe_first(rows)


def attached_for_client(request: ClientRequest) -> list[Advisory]:
    """What the client reads with the answer: attached, published and its own (checked again)."""
    return [a for a in attached(request) if a.status == "published" and belongs_to_client(a, request.client_id)]


def answer_mail_lines(request: ClientRequest, zone: str) -> list[str]:
    """What the answer's mail says of the attached advisories, in the client's words only."""
    shown = attached_for_client(request)
    if not shown:
        return []
    lines = ["", f"With this answer, {len(shown)} {'advisory' if len(shown) == 1 else 'advisories'}:"]
    for a in shown:
        lines += [
            "",
            f"[{SEVERITY_LABELS[a.severity].upper()}] {a.title} ({CATEGORY_LABELS.get(a.category, a.category)})",
            f"  When: {advisory_when(a, zone)}",
            f"  Why it matters: {a.reason}",
            f"  What we know: {a.summary}",
            f"  Our recommendation: {a.recommendation}",
        ]
    return lines
