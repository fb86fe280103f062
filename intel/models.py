"""Intel tables: feeds, the items they bring, classification rules, and advisories for details."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from detail.extensions import db
from detail.models import Detail, Organisation, Site, User, UTCDateTime, _in, _latlon_checks, utcnow

from .classify import CATEGORIES, FIELDS, SEVERITIES

# Categories, severities and rule fields are classify's: one list each, read by the check constraints too.
RULE_FIELDS = FIELDS
ADVISORY_STATUSES = ("candidate", "published", "dismissed", "merged")


class Feed(db.Model):
    """A regional protest or threat feed the organisation polls, and its health."""

    __table_args__ = (
        sa.UniqueConstraint("organisation_id", "url"),
        sa.CheckConstraint("poll_interval_s >= 60", name="poll_interval_at_least_a_minute"),
        sa.CheckConstraint(f"default_category IS NULL OR {_in('default_category', CATEGORIES)}", name="category_known"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    organisation_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("organisation.id"), index=True)
    url: so.Mapped[str] = so.mapped_column(sa.String(1000))
    name: so.Mapped[str] = so.mapped_column(sa.String(120))
    region: so.Mapped[str] = so.mapped_column(sa.String(120), default="")
    country_code: so.Mapped[str] = so.mapped_column(sa.String(2), default="")  # resolves ambiguous place names
    default_category: so.Mapped[str | None] = so.mapped_column(sa.String(20))
    poll_interval_s: so.Mapped[int] = so.mapped_column(default=600)
    enabled: so.Mapped[bool] = so.mapped_column(default=True)
    etag: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    modified: so.Mapped[str | None] = so.mapped_column(sa.String(100))
    next_poll_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, index=True)
    last_polled_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    last_success_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    last_error: so.Mapped[str | None] = so.mapped_column(sa.Text)
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
        *_latlon_checks(),
        sa.CheckConstraint(_in("category", CATEGORIES), name="category_known"),
        sa.CheckConstraint(f"source_severity IS NULL OR {_in('source_severity', SEVERITIES)}", name="severity_known"),
        sa.CheckConstraint("ends_at >= starts_at", name="ends_after_start"),
        sa.Index("ix_feed_item_latitude_longitude", "latitude", "longitude"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    feed_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("feed.id", ondelete="CASCADE"), index=True)
    guid: so.Mapped[str] = so.mapped_column(sa.String(500))
    link: so.Mapped[str | None] = so.mapped_column(sa.String(1000))
    title: so.Mapped[str] = so.mapped_column(sa.String(500))
    summary_html: so.Mapped[str] = so.mapped_column(sa.Text, default="")  # sanitised
    summary_text: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    category: so.Mapped[str] = so.mapped_column(sa.String(20), default="other")
    source_severity: so.Mapped[str | None] = so.mapped_column(sa.String(10))
    latitude: so.Mapped[float | None]
    longitude: so.Mapped[float | None]
    geometry: so.Mapped[dict[str, Any] | None] = so.mapped_column(sa.JSON)  # coordinates as (lat, lon)
    located_by: so.Mapped[str | None] = so.mapped_column(sa.String(20))  # "feed", "gazetteer", or None: unlocated
    place_name: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    published_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime, index=True)
    starts_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)  # when the event is relevant
    ends_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    details: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON, default=dict)  # CAP, GDACS, USGS fields
    fetched_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    feed: so.Mapped[Feed] = so.relationship()

    @property
    def located(self) -> bool:
        return self.latitude is not None


class ClassificationRule(db.Model):
    """A word or pattern that puts an item in a category: data a coordinator edits, not code."""

    __table_args__ = (
        sa.CheckConstraint(_in("category", CATEGORIES), name="category_known"),
        sa.CheckConstraint(_in("field", RULE_FIELDS), name="field_known"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    organisation_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("organisation.id"), index=True)
    category: so.Mapped[str] = so.mapped_column(sa.String(20))
    pattern: so.Mapped[str] = so.mapped_column(sa.String(200))
    field: so.Mapped[str] = so.mapped_column(sa.String(12), default="any")
    weight: so.Mapped[int] = so.mapped_column(default=1)
    is_regex: so.Mapped[bool] = so.mapped_column(default=False)
    enabled: so.Mapped[bool] = so.mapped_column(default=True)


class Advisory(db.Model):
    """What an item (or several alike) means for a detail: severity in context, the reason, and its review."""

    __table_args__ = (
        sa.CheckConstraint(_in("status", ADVISORY_STATUSES), name="status_known"),
        sa.CheckConstraint(_in("severity", SEVERITIES), name="severity_known"),
        sa.CheckConstraint(_in("category", CATEGORIES), name="category_known"),
        sa.Index("ix_advisory_organisation_id_status", "organisation_id", "status"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    organisation_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("organisation.id"))
    detail_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("detail.id", ondelete="CASCADE"), index=True)
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
    dismiss_reason: so.Mapped[str] = so.mapped_column(sa.String(500), default="")
    merged_into_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("advisory.id"))
    reviewed_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"))
    reviewed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    published_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime, index=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    detail: so.Mapped[Detail] = so.relationship()
    site: so.Mapped[Site | None] = so.relationship()
    reviewed_by: so.Mapped[User | None] = so.relationship()
    sources: so.Mapped[list["AdvisorySource"]] = so.relationship(
        back_populates="advisory", cascade="all, delete-orphan", order_by="AdvisorySource.id"
    )


class AdvisorySource(db.Model):
    """An item behind an advisory; an item counts once per detail, however many feeds carried it."""

    __table_args__ = (sa.UniqueConstraint("detail_id", "item_id"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    advisory_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("advisory.id", ondelete="CASCADE"), index=True)
    detail_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("detail.id", ondelete="CASCADE"))
    item_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("feed_item.id", ondelete="CASCADE"), index=True)

    advisory: so.Mapped[Advisory] = so.relationship(back_populates="sources")
    item: so.Mapped[FeedItem] = so.relationship()
