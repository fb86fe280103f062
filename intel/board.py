"""What intel adds to a detail's board: its open and published advisories, most severe first."""

import sqlalchemy as sa

from detail.extensions import db
from detail.models import Detail

from .advisories import advisory_payload
from .models import SEVERITIES, Advisory


def advisories_section(detail: Detail) -> dict:
    rows = db.session.scalars(
        sa.select(Advisory).where(Advisory.detail_id == detail.id, Advisory.status.in_(("candidate", "published")))
    ).all()
    rows.sort(key=lambda a: (-SEVERITIES.index(a.severity), a.starts_at))
    return {"advisories": [advisory_payload(a) for a in rows]}
