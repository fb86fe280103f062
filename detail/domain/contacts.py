"""How each person is reached: their verified email addresses and mobile numbers.

(A minimal version for the escalation engine; the contact channels' own module replaces it.)
"""

import sqlalchemy as sa

from detail.extensions import db
from detail.models import ContactChannel, User


def verified_addresses(user_id: int, kind: str) -> list[str]:
    """The person's verified addresses of a kind ("email" or "sms"), oldest first."""
    return list(
        db.session.scalars(
            sa.select(ContactChannel.address)
            .where(
                ContactChannel.user_id == user_id, ContactChannel.kind == kind, ContactChannel.verified_at.is_not(None)
            )
            .order_by(ContactChannel.id)
        )
    )


def user_for_verified_number(organisation_id: int, number: str) -> User | None:
    """The active person of the organisation whose verified mobile number this is."""
    return db.session.scalar(
        sa.select(User)
        .join(ContactChannel, ContactChannel.user_id == User.id)
        .where(
            User.organisation_id == organisation_id,
            User.active.is_(True),
            ContactChannel.kind == "sms",
            ContactChannel.address == number.strip(),
            ContactChannel.verified_at.is_not(None),
        )
        .limit(1)
    )
