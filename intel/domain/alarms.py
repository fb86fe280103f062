"""What intel asks detail's escalation engine to escalate: a critical advisory, once published, while
it stays live.

Registered on detail.hooks by intel's init_app: critical_advisories_published on ESCALATION_SUBJECTS
(the engine opens one escalation per advisory, subject "advisory:<id>", under the organisation's
"advisory" policy), and advisory_settled on ESCALATION_SUBJECT_SETTLED (the engine ends that escalation
once the advisory is no longer published and critical, or its detail is complete).
"""

from datetime import datetime

import sqlalchemy as sa

from detail.extensions import db
from detail.hooks import EscalationSubject
from intel.models import Advisory

FAMILY = "advisory"


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
            subject=f"{FAMILY}:{advisory.id}",
            kind="advisory",
            detail_id=advisory.detail_id,
            title=f"Critical advisory published: {advisory.title}"[:300],
            link=f"/board/details/{advisory.detail_id}" if advisory.detail_id else "/board",
            raised_at=advisory.published_at,
        )
        for advisory in advisories
    ]


def advisory_settled(key: str, now: datetime) -> str | None:
    """Why the advisory "advisory:<key>" needs no one any more, or None while it is live: published,
    critical, and for a detail not yet complete. Any status but "published" (a review that takes it
    back to candidate, dismisses or merges it) counts as withdrawn."""
    advisory = db.session.get(Advisory, int(key)) if key.isdigit() else None
    if advisory is None:
        return "the advisory was removed"
    if advisory.status != "published":
        return "the advisory is no longer published"
    if advisory.severity != "critical":
        return "the advisory is no longer critical"
    if advisory.detail is not None and advisory.detail.state == "complete":
        return "its detail is complete"
    return None
