"""What intel adds to a detail's board (open and published advisories) and to agents' phones (published ones)."""

import sqlalchemy as sa

from detail.extensions import db
from detail.models import Detail
from intel.domain.advisories import advisory_payload
from intel.models import SEVERITIES, Advisory


def _advisories(detail: Detail, statuses: tuple[str, ...]) -> list[Advisory]:
    rows = db.session.scalars(
        sa.select(Advisory).where(Advisory.detail_id == detail.id, Advisory.status.in_(statuses))
    ).all()
    return sorted(rows, key=lambda a: (-SEVERITIES.index(a.severity), a.starts_at))


def advisories_section(detail: Detail) -> dict:
    """For the board: candidates to review and published advisories, most severe first."""
    return {"advisories": [advisory_payload(a) for a in _advisories(detail, ("candidate", "published"))]}


def published_section(detail: Detail) -> dict:
    """For the detail's agents: published advisories only, as written for the client."""
    return {"advisories": [advisory_payload(a, for_client=True) for a in _advisories(detail, ("published",))]}
