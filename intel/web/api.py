"""Intel's JSON API for coordinators: feeds and their health, items near a point, advisories and their review."""

import math
import re

import marshmallow as ma
import sqlalchemy as sa
from flask import g
from flask.views import MethodView
from marshmallow import RAISE, fields, validate

from detail.domain import live
from detail.extensions import db
from detail.models import Detail
from detail.web.api.base import ApiBlueprint, found, refuse
from detail.web.api.schemas import CONTROL, MAX_ID, NAME_PATTERN, SPACE, StrictBoolean, Text, UTCDateTime, matches
from intel.domain import advisories, nearby
from intel.domain.fetch import address_problem, allow_list
from intel.models import ADVISORY_STATUSES, CATEGORIES, Advisory, Feed

# A feed's address (after surrounding white space is trimmed): http or https, a host, then anything but spaces.
URL_BODY = rf"[Hh][Tt][Tt][Pp][Ss]?://[^{SPACE}{CONTROL}/?#]+([/?#][^{SPACE}{CONTROL}]*)?"
URL_PATTERN = rf"^[{SPACE}]*{URL_BODY}[{SPACE}]*$"
COUNTRY_PATTERN = r"^([A-Za-z]{2})?$"
# "LAT,LON" in decimal degrees, each within its range (no exponents, no spaces).
LATITUDE = r"[+-]?(90(\.0*)?|[1-8]?[0-9](\.[0-9]*)?|\.[0-9]+)"
LONGITUDE = r"[+-]?(180(\.0*)?|(1[0-7][0-9]|[1-9]?[0-9])(\.[0-9]*)?|\.[0-9]+)"
POINT_PATTERN = rf"^{LATITUDE},{LONGITUDE}$"


class FeedSchema(ma.Schema):
    class Meta:
        unknown = RAISE

    id = fields.Integer(dump_only=True)
    url = Text(
        required=True,
        validate=validate.Length(max=1000),
        pattern=URL_PATTERN,
        metadata={"description": "An http:// or https:// URL with a host"},
    )
    name = Text(required=True, validate=validate.Length(min=1, max=120), pattern=NAME_PATTERN)
    region = Text(load_default="", validate=validate.Length(max=120))
    country_code = fields.String(
        load_default="", validate=matches(COUNTRY_PATTERN), metadata={"pattern": COUNTRY_PATTERN}
    )
    default_category = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(CATEGORIES))
    poll_interval_s = fields.Integer(load_default=600, validate=validate.Range(60, 86_400))
    enabled = StrictBoolean(load_default=True)
    last_success_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    last_error = fields.String(dump_only=True, allow_none=True)
    last_error_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    consecutive_failures = fields.Integer(dump_only=True)
    items_seen = fields.Integer(dump_only=True)
    next_poll_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    last_problems = fields.List(fields.String(), dump_only=True)

    @ma.validates("url")
    def _http(self, value, **kwargs):
        # A regular expression, not urlsplit: that drops tabs and newlines inside the URL, and raises on "http://[".
        if re.fullmatch(URL_BODY, value) is None:
            raise ma.ValidationError("Use an http:// or https:// URL with a host, and no spaces.")


feeds_api = ApiBlueprint("feeds", "The organisation's feed registry and each feed's health.")


@feeds_api.route("")
class Feeds(MethodView):
    @feeds_api.response(200, FeedSchema(many=True))
    def get(self):
        """List feeds with their health"""
        return db.session.scalars(
            sa.select(Feed).where(Feed.organisation_id == g.user.organisation_id).order_by(Feed.name)
        ).all()

    @feeds_api.arguments(FeedSchema)
    @feeds_api.response(201, FeedSchema)
    def post(self, data):
        """Add a feed (polled on the next round)"""
        data["country_code"] = data["country_code"].upper()
        problem = address_problem(data["url"], allow_list(g.user.organisation.feed_private_hosts))
        if problem:
            refuse(422, problem, {"url": [problem]})
        if db.session.scalar(
            sa.select(Feed).where(Feed.organisation_id == g.user.organisation_id, Feed.url == data["url"])
        ):
            refuse(409, "This feed is already in the registry.", {"url": ["Already in the registry."]})
        feed = Feed(organisation_id=g.user.organisation_id, **data)
        db.session.add(feed)
        db.session.commit()
        return feed


class ItemQuery(ma.Schema):
    near = fields.String(
        required=True,
        metadata={"description": "LAT,LON in decimal degrees, e.g. 51.5101,-0.1340", "pattern": POINT_PATTERN},
    )
    radius_km = fields.Float(
        load_default=10.0,
        validate=validate.Range(min=0, max=500, min_inclusive=False),
        metadata={"exclusiveMinimum": True},
    )
    since = UTCDateTime(load_default=None)
    until = UTCDateTime(load_default=None)

    @ma.validates("near")
    def _point(self, value, **kwargs):
        parse_point(value)


def parse_point(value: str) -> tuple[float, float]:
    # The pattern first: float() would also take "1e1", "1_0", " 5" and digits of other scripts.
    if re.fullmatch(POINT_PATTERN, value) is None:
        raise ma.ValidationError("Give near as LAT,LON, such as 51.5101,-0.1340.")
    lat, lon = (float(part) for part in value.split(","))
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise ma.ValidationError("Latitude must be -90..90 and longitude -180..180.")
    return lat, lon


class ItemOut(ma.Schema):
    id = fields.Integer()
    title = fields.String()
    link = fields.String(allow_none=True)
    category = fields.String()
    source_severity = fields.String(allow_none=True)
    latitude = fields.Float()
    longitude = fields.Float()
    located_by = fields.String(metadata={"description": "feed (its own coordinates) or gazetteer (its place names)"})
    place_name = fields.String()
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    feed = fields.String(attribute="feed.name")
    distance_m = fields.Float()


items_api = ApiBlueprint("items", "Stored feed items, placed on the map.")


@items_api.route("")
class Items(MethodView):
    @items_api.arguments(ItemQuery, location="query", unknown=RAISE)
    @items_api.response(200, ItemOut(many=True))
    def get(self, query):
        """Items within radius_km of a point, nearest first"""
        lat, lon = parse_point(query["near"])
        rows = nearby.near(g.user.organisation_id, lat, lon, query["radius_km"] * 1000, query["since"], query["until"])
        return [_with_distance(item, distance) for item, distance in rows]


def _with_distance(item, distance):
    item.distance_m = round(distance, 1)
    return item


class SourceOut(ma.Schema):
    title = fields.String()
    link = fields.String(allow_none=True)
    feed = fields.String()


class AdvisoryOut(ma.Schema):
    advisory_id = fields.Integer()
    detail_id = fields.Integer()
    title = fields.String()
    category = fields.String()
    severity = fields.String()
    reason = fields.String()
    distance_m = fields.Float(allow_none=True)
    starts_at = fields.String()
    ends_at = fields.String()
    status = fields.String()
    summary = fields.String()
    recommendation = fields.String()
    published_at = fields.String(allow_none=True)
    site = fields.String(allow_none=True)
    sources = fields.List(fields.Nested(SourceOut))


class AdvisoryQuery(ma.Schema):
    detail = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_ID))
    status = fields.String(load_default=None, validate=validate.OneOf(ADVISORY_STATUSES))


class PublishIn(ma.Schema):
    class Meta:
        unknown = RAISE

    summary = Text(required=True, validate=validate.Length(min=1, max=2000), pattern=NAME_PATTERN)
    recommendation = Text(required=True, validate=validate.Length(min=1, max=2000), pattern=NAME_PATTERN)


class DismissIn(ma.Schema):
    class Meta:
        unknown = RAISE

    reason = Text(required=True, validate=validate.Length(min=1, max=500), pattern=NAME_PATTERN)


advisories_api = ApiBlueprint("advisories", "Candidate and published advisories per detail, and their review.")


def _advisory(advisory_id: int) -> Advisory:
    advisory = db.session.get(Advisory, advisory_id)
    if advisory is None or advisory.organisation_id != g.user.organisation_id:
        refuse(404, "No such advisory in your organisation.")
    return advisory


def _review(advisory: Advisory, step):
    try:
        event = step()
    except advisories.ReviewError as exc:
        refuse(409, str(exc))
    db.session.commit()
    live.publish([event])
    return advisories.advisory_payload(advisory)


@advisories_api.route("")
class Advisories(MethodView):
    @advisories_api.arguments(AdvisoryQuery, location="query", unknown=RAISE)
    @advisories_api.response(200, AdvisoryOut(many=True))
    def get(self, query):
        """Advisories (candidates and published unless status says), with severity and reason"""
        statement = sa.select(Advisory).where(Advisory.organisation_id == g.user.organisation_id)
        if query["detail"] is not None:
            statement = statement.where(Advisory.detail_id == found(Detail, query["detail"]).id)
        statuses = (query["status"],) if query["status"] else ("candidate", "published")
        statement = statement.where(Advisory.status.in_(statuses)).order_by(Advisory.starts_at, Advisory.id)
        return [advisories.advisory_payload(a) for a in db.session.scalars(statement)]


@advisories_api.route("/<int:advisory_id>/publish")
class Publish(MethodView):
    @advisories_api.arguments(PublishIn)
    @advisories_api.response(200, AdvisoryOut)
    def post(self, data, advisory_id):
        """Publish for the client, with a summary and a recommendation"""
        advisory = _advisory(advisory_id)
        return _review(advisory, lambda: advisories.publish(advisory, g.user, data["summary"], data["recommendation"]))


@advisories_api.route("/<int:advisory_id>/dismiss")
class Dismiss(MethodView):
    @advisories_api.arguments(DismissIn)
    @advisories_api.response(200, AdvisoryOut)
    def post(self, data, advisory_id):
        """Dismiss a candidate, with the reason"""
        advisory = _advisory(advisory_id)
        return _review(advisory, lambda: advisories.dismiss(advisory, g.user, data["reason"]))


BLUEPRINTS = (feeds_api, items_api, advisories_api)
