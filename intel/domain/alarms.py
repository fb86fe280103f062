"""What intel asks detail's escalation engine to escalate: a critical advisory, once published.

Registered on detail.hooks.ESCALATION_SUBJECTS by intel's init_app; the engine opens one escalation
per advisory (subject "advisory:<id>") under the organisation's "advisory" policy.
"""

from datetime import datetime

import sqlalchemy as sa

from detail.extensions import db
from detail.hooks import EscalationSubject
from intel.models import Advisory


def critical_advisories_published(organisation_id: int, since: datetime) -> list[EscalationSubject]:
    """The organisation's critical advisories published since then, each as an escalation subject."""
    advisories = db.session.scalars(
        sa.select(Advisory).where(
            Advisory.organisation_id == organisation_id,
            Advisory.status == "published",
            Advisory.severity == "critical",
            Advisory.published_at >= since,
        )
    )
    return [
        EscalationSubject(
            subject=f"advisory:{advisory.id}",
            kind="advisory",
            detail_id=advisory.detail_id,
            title=f"Critical advisory published: {advisory.title}"[:300],
            link=f"/board/details/{advisory.detail_id}" if advisory.detail_id else "/board",
            raised_at=advisory.published_at,
        )
        for advisory in advisories
    ]
