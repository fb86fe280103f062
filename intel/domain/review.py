"""What the review queue shows beside each advisory: the clock it is read on, and the advisories a
candidate may be merged into.

A candidate merges into another open advisory (a candidate or a published one) of the same detail or
watch area; advisories.merge keeps that rule, and the queue offers exactly those, so nobody types
a number that the merge would refuse. Reads only.
"""

from collections import defaultdict

import sqlalchemy as sa

from detail.domain.timefmt import detail_zone
from detail.extensions import db
from intel.models import SEVERITIES, Advisory

OPEN = ("candidate", "published")


def advisory_zone(advisory: Advisory) -> str:
    """An advisory is read on its detail's clock, or its watch area's."""
    if advisory.detail is not None:
        return detail_zone(advisory.detail)
    return advisory.watch_area.timezone if advisory.watch_area is not None else "UTC"


def _place(advisory: Advisory) -> tuple[int | None, int | None]:
    return advisory.detail_id, advisory.watch_area_id


def merge_targets(shown: list[Advisory]) -> dict[int, list[Advisory]]:
    """For each candidate shown, the other open advisories of its detail or watch area, most severe first."""
    candidates = [a for a in shown if a.status == "candidate"]
    if not candidates:
        return {}
    details = {a.detail_id for a in candidates if a.detail_id is not None}
    areas = {a.watch_area_id for a in candidates if a.watch_area_id is not None}
    severity = sa.case({s: i for i, s in enumerate(SEVERITIES)}, value=Advisory.severity).desc()
    rows = db.session.scalars(
        sa.select(Advisory)
        .where(
            Advisory.organisation_id == candidates[0].organisation_id,
            Advisory.status.in_(OPEN),
            sa.or_(Advisory.detail_id.in_(details), Advisory.watch_area_id.in_(areas)),
        )
        .order_by(severity, Advisory.starts_at, Advisory.id)
    )
    by_place: dict[tuple[int | None, int | None], list[Advisory]] = defaultdict(list)
    for row in rows:
        by_place[_place(row)].append(row)
    return {a.id: [o for o in by_place[_place(a)] if o.id != a.id] for a in candidates}
