"""Intel tables: feeds, the items they bring, classification rules, and advisories for details.

Internal fields (``info={"internal": True}``, as in detail.models): the raw intel (feeds, their items as
fetched, classification rules) and a coordinator's reasons for dismissing an advisory are the team's
own; a client contact reads only what a coordinator published, in the words written for the client.
"""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from detail.extensions import db
from detail.models import Client, ClientRequest, Detail, Organisation, Site, User
from detail.models.base import UTCDateTime, latlon_checks, one_of, utcnow

# Categories, severities and rule fields: one list each, read by the check constraints and by
# intel.domain.classify, which gives them their labels and weights.
CATEGORIES = (
    "protest",
    "civil_unrest",
    "crime",
    "terrorism",
    "security",
    "weather",
    "natural_hazard",
    "transport",
    "health",
    "other",
)
FIELDS = ("title", "summary", "categories", "any")
SEVERITIES = ("info", "low", "moderate", "high", "critical")
RULE_FIELDS = FIELDS
ADVISORY_STATUSES = ("candidate", "published", "dismissed", "merged")


class Feed(db.Model):
    """A regional protest or threat feed the organisation polls, and its health."""

    __table_args__ = (
        sa.UniqueConstraint("organisation_id", "url"),
        sa.CheckConstraint("poll_interval_s >= 60", name="poll_interval_at_least_a_minute"),
        sa.CheckConstraint(
            f"default_category IS NULL OR {one_of('default_category', CATEGORIES)}", name="category_known"
        ),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    organisation_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("organisation.id"), index=True)
    url: so.Mapped[str] = so.mapped_column(sa.String(1000), info={"internal": True})
    name: so.Mapped[str] = so.mapped_column(sa.String(120), info={"internal": True})
    region: so.Mapped[str] = so.mapped_column(sa.String(120), default="", info={"internal": True})
    country_code: so.Mapped[str] = so.mapped_column(sa.String(2), default="")  # resolves ambiguous place names
    default_category: so.Mapped[str | None] = so.mapped_column(sa.String(20))
    poll_interval_s: so.Mapped[int] = so.mapped_column(default=600)
    enabled: so.Mapped[bool] = so.mapped_column(default=True)
    etag: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    modified: so.Mapped[str | None] = so.mapped_column(sa.String(100))
    next_poll_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, index=True)
    last_polled_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    last_success_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    last_error: so.Mapped[str | None] = so.mapped_column(sa.Text, info={"internal": True})
    last_error_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    last_problems: so.Mapped[list[str]] = so.mapped_column(sa.JSON, default=list)
    consecutive_failures: so.Mapped[int] = so.mapped_column(default=0)
    items_seen: so.Mapped[int] = so.mapped_column(default=0)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    organisation: so.Mapped[Organisation] = so.relationship()

    @property
    def healthy(self) -> bool:
        return self.consecutive_failures == 0 and self.last_success_at is not None


class FeedItem(db.Model):
    """One entry of a feed, stored once (guid per feed), placed on the map when it can be."""

    __table_args__ = (
        sa.UniqueConstraint("feed_id", "guid"),
        *latlon_checks(),
        sa.CheckConstraint(one_of("category", CATEGORIES), name="category_known"),
        sa.CheckConstraint(
            f"source_severity IS NULL OR {one_of('source_severity', SEVERITIES)}", name="severity_known"
        ),
        sa.CheckConstraint("ends_at >= starts_at", name="ends_after_start"),
        sa.Index("ix_feed_item_latitude_longitude", "latitude", "longitude"),
        # The items still waiting to be matched: few, looked for by the matching job every round.
        sa.Index(
            "ix_feed_item_unmatched",
            "feed_id",
            sqlite_where=sa.text("matched_at IS NULL"),
            postgresql_where=sa.text("matched_at IS NULL"),
        ),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    feed_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("feed.id", ondelete="CASCADE"), index=True)
    guid: so.Mapped[str] = so.mapped_column(sa.String(500), info={"internal": True})
    link: so.Mapped[str | None] = so.mapped_column(sa.String(1000), info={"internal": True})
    title: so.Mapped[str] = so.mapped_column(sa.String(500), info={"internal": True})
    summary_html: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})  # sanitised
    summary_text: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})
    category: so.Mapped[str] = so.mapped_column(sa.String(20), default="other")
    source_severity: so.Mapped[str | None] = so.mapped_column(sa.String(10))
    latitude: so.Mapped[float | None]
    longitude: so.Mapped[float | None]
    geometry: so.Mapped[dict[str, Any] | None] = so.mapped_column(sa.JSON)  # coordinates as (lat, lon)
    located_by: so.Mapped[str | None] = so.mapped_column(sa.String(20))  # "feed", "gazetteer", or None: unlocated
    place_name: so.Mapped[str] = so.mapped_column(sa.String(200), default="", info={"internal": True})
    published_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime, index=True)
    starts_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)  # when the event is relevant
    ends_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    # Why starts_at..ends_at, in words: "stated: Wed 9 Dec 18:00 CET", "CAP onset–expires" (intel.domain.event_time)
    time_basis: so.Mapped[str] = so.mapped_column(sa.String(120), default="", server_default="")
    details: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON, default=dict)  # CAP, GDACS, USGS fields
    fetched_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    # When it was matched against the details and watch areas of its arrival; None while it waits
    # for the matching job (a poll matches at most poller.MATCH_PER_POLL of its new items).
    matched_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    feed: so.Mapped[Feed] = so.relationship()

    @property
    def located(self) -> bool:
        return self.latitude is not None


class ClassificationRule(db.Model):
    """A word or pattern that puts an item in a category: data a coordinator edits, not code."""

    __table_args__ = (
        sa.CheckConstraint(one_of("category", CATEGORIES), name="category_known"),
        sa.CheckConstraint(one_of("field", RULE_FIELDS), name="field_known"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    organisation_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("organisation.id"), index=True)
    category: so.Mapped[str] = so.mapped_column(sa.String(20))
    pattern: so.Mapped[str] = so.mapped_column(sa.String(200), info={"internal": True})
    field: so.Mapped[str] = so.mapped_column(sa.String(12), default="any")
    weight: so.Mapped[int] = so.mapped_column(default=1)
    is_regex: so.Mapped[bool] = so.mapped_column(default=False)
    enabled: so.Mapped[bool] = so.mapped_column(default=True)


class Advisory(db.Model):
    """What an item (or several alike) means for a detail: severity in context, the reason, and its review."""

    __table_args__ = (
        sa.CheckConstraint(one_of("status", ADVISORY_STATUSES), name="status_known"),
        sa.CheckConstraint(one_of("severity", SEVERITIES), name="severity_known"),
        sa.CheckConstraint(one_of("category", CATEGORIES), name="category_known"),
        sa.Index("ix_advisory_organisation_id_status", "organisation_id", "status"),
        sa.CheckConstraint("(detail_id IS NULL) <> (watch_area_id IS NULL)", name="for_detail_or_watch_area"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    organisation_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("organisation.id"))
    detail_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("detail.id", ondelete="CASCADE"), index=True)
    watch_area_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("watch_area.id", ondelete="CASCADE"), index=True
    )
    site_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("site.id"))
    title: so.Mapped[str] = so.mapped_column(sa.String(500))
    category: so.Mapped[str] = so.mapped_column(sa.String(20))
    severity: so.Mapped[str] = so.mapped_column(sa.String(10))
    reason: so.Mapped[str] = so.mapped_column(sa.String(500))
    distance_m: so.Mapped[float | None]
    starts_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    ends_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    status: so.Mapped[str] = so.mapped_column(sa.String(12), default="candidate")
    summary: so.Mapped[str] = so.mapped_column(sa.Text, default="")  # written for the client
    recommendation: so.Mapped[str] = so.mapped_column(sa.Text, default="")  # written for the client
    dismiss_reason: so.Mapped[str] = so.mapped_column(sa.String(500), default="", info={"internal": True})
    merged_into_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("advisory.id"))
    reviewed_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"))
    reviewed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    published_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime, index=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    detail: so.Mapped[Detail | None] = so.relationship()
    watch_area: so.Mapped["WatchArea | None"] = so.relationship()
    site: so.Mapped[Site | None] = so.relationship()
    reviewed_by: so.Mapped[User | None] = so.relationship()
    sources: so.Mapped[list["AdvisorySource"]] = so.relationship(
        back_populates="advisory", cascade="all, delete-orphan", order_by="AdvisorySource.id"
    )


class AdvisorySource(db.Model):
    """An item behind an advisory; an item counts once per detail (or watch area), however many feeds carried it."""

    __table_args__ = (sa.UniqueConstraint("detail_id", "item_id"), sa.UniqueConstraint("watch_area_id", "item_id"))

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    advisory_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("advisory.id", ondelete="CASCADE"), index=True)
    detail_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("detail.id", ondelete="CASCADE"))
    watch_area_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("watch_area.id", ondelete="CASCADE"))
    item_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("feed_item.id", ondelete="CASCADE"), index=True)

    advisory: so.Mapped[Advisory] = so.relationship(back_populates="sources")
    item: so.Mapped[FeedItem] = so.relationship()


class ClientRequestAdvisory(db.Model):
    """An advisory a coordinator attached to the answer to a client's request: the client reads it
    with the answer. Only that client's advisories, and only published ones (attaching a candidate
    publishes it): intel.domain.answers keeps both rules."""

    request_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("client_request.id", ondelete="CASCADE"), primary_key=True
    )
    advisory_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("advisory.id", ondelete="CASCADE"), primary_key=True, index=True
    )

    request: so.Mapped[ClientRequest] = so.relationship()
    advisory: so.Mapped[Advisory] = so.relationship()


class IntelRematch(db.Model):
    """A detail or watch area whose exposures changed (a visit, movement, venue, post or area created or
    changed): the stored items still current are matched against it again by the matching job.

    One row per target, refreshed by each change; the job deletes it only once done, and only if no
    change came while it worked, so a restart or a crash loses nothing (claimed_until is its lease).
    """

    __table_args__ = (
        sa.CheckConstraint("(detail_id IS NULL) <> (watch_area_id IS NULL)", name="for_detail_or_watch_area"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    detail_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("detail.id", ondelete="CASCADE"), unique=True)
    watch_area_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("watch_area.id", ondelete="CASCADE"), unique=True
    )
    requested_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    claimed_until: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)


CADENCES = ("immediate", "daily", "weekly")
DIGEST_STATUSES = ("pending", "sending", "sent", "failed", "uncertain")


class ContactPreference(db.Model):
    """How a client contact hears from the team: where, how often, from which severity, in which zone."""

    __table_args__ = (
        sa.CheckConstraint(one_of("cadence", CADENCES), name="cadence_known"),
        sa.CheckConstraint(one_of("min_severity", SEVERITIES), name="severity_known"),
        sa.CheckConstraint("daily_at_minute >= 0 AND daily_at_minute < 1440", name="daily_at_in_day"),
        sa.CheckConstraint("weekly_day >= 0 AND weekly_day <= 6", name="weekly_day_in_week"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), unique=True)
    email: so.Mapped[str] = so.mapped_column(sa.String(254))
    cadence: so.Mapped[str] = so.mapped_column(sa.String(10), default="daily")
    daily_at_minute: so.Mapped[int] = so.mapped_column(default=7 * 60)  # local time of the daily digest
    weekly_day: so.Mapped[int] = so.mapped_column(default=0)  # Monday, for the weekly digest
    min_severity: so.Mapped[str] = so.mapped_column(sa.String(10), default="moderate")
    timezone: so.Mapped[str] = so.mapped_column(sa.String(64), default="UTC")
    all_quiet: so.Mapped[bool] = so.mapped_column(default=False)  # a daily note even with nothing new
    paused: so.Mapped[bool] = so.mapped_column(default=False)  # set by List-Unsubscribe; the portal resumes
    feed_token_hash: so.Mapped[str | None] = so.mapped_column(sa.String(64), unique=True)  # Atom feed secret
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    user: so.Mapped[User] = so.relationship()


class WatchArea(db.Model):
    """A place a client cares about with no detail scheduled: an office, a home city, a country."""

    __table_args__ = (
        *latlon_checks(),
        sa.CheckConstraint("radius_m > 0", name="radius_positive"),
        sa.CheckConstraint(
            "(country_code IS NOT NULL) OR (latitude IS NOT NULL AND longitude IS NOT NULL)", name="place_or_country"
        ),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    client_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("client.id", ondelete="CASCADE"), index=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(120))
    latitude: so.Mapped[float | None]
    longitude: so.Mapped[float | None]
    radius_m: so.Mapped[int] = so.mapped_column(default=25_000)
    country_code: so.Mapped[str | None] = so.mapped_column(sa.String(2))  # a whole country, when set
    timezone: so.Mapped[str] = so.mapped_column(sa.String(64), default="UTC")
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    client: so.Mapped[Client] = so.relationship()


class Digest(db.Model):
    """One message to one contact. Written (with its Message-ID) before sending, so a crash cannot send it twice."""

    __table_args__ = (
        sa.CheckConstraint(one_of("status", DIGEST_STATUSES), name="status_known"),
        sa.CheckConstraint(one_of("cadence", CADENCES), name="cadence_known"),
        sa.Index("ix_digest_status_next_attempt_at", "status", "next_attempt_at"),
        # One daily digest a day and one weekly a week per contact, however many senders run.
        sa.UniqueConstraint("user_id", "cadence", "period_key"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    cadence: so.Mapped[str] = so.mapped_column(sa.String(10))
    period_key: so.Mapped[str | None] = so.mapped_column(sa.String(20))  # "2026-11-24", "2026-W48"; none: immediate
    email: so.Mapped[str] = so.mapped_column(sa.String(254))
    subject: so.Mapped[str] = so.mapped_column(sa.String(300))
    message_id: so.Mapped[str] = so.mapped_column(sa.String(300), unique=True)
    status: so.Mapped[str] = so.mapped_column(sa.String(10), default="pending")
    all_quiet: so.Mapped[bool] = so.mapped_column(default=False)
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    next_attempt_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    last_error: so.Mapped[str | None] = so.mapped_column(sa.Text)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    sent_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    user: so.Mapped[User] = so.relationship()
    entries: so.Mapped[list["DigestEntry"]] = so.relationship(back_populates="digest", cascade="all, delete-orphan")


class DigestEntry(db.Model):
    """An advisory in a digest: unique per contact and cadence, so none is sent twice and each is accounted for."""

    __table_args__ = (sa.UniqueConstraint("user_id", "cadence", "advisory_id"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    digest_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("digest.id", ondelete="CASCADE"), index=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    cadence: so.Mapped[str] = so.mapped_column(sa.String(10))
    advisory_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("advisory.id", ondelete="CASCADE"), index=True)

    digest: so.Mapped[Digest] = so.relationship(back_populates="entries")
    advisory: so.Mapped[Advisory] = so.relationship()
