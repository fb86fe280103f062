"""Intel pages for coordinators: the feed registry and its health, advisory review, the question box, rules.

Handlers are thin: validate the form, call the domain function, commit once, publish, redirect.
"""

import math
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp, ValidationError

from detail.domain import live
from detail.domain.scoping import get_owned, owned
from detail.extensions import db
from detail.models import Client, Detail, Organisation, Site, User
from detail.web.auth import staff_required
from detail.web.kit import Ask, ConfirmForm, strip, unconfirmed
from intel.domain import advisories, gazetteer, geocoders, nearby
from intel.domain import digests as digest
from intel.domain import review as review_queue
from intel.domain.fetch import address_problem, allow_list
from intel.domain.poller import ensure_default_rules
from intel.models import (
    ADVISORY_STATUSES,
    CATEGORIES,
    RULE_FIELDS,
    SEVERITIES,
    Advisory,
    ClassificationRule,
    Digest,
    Feed,
    WatchArea,
)
from intel.web import bp

CATEGORY_CHOICES = [SelectChoice(c, c.replace("_", " ")) for c in CATEGORIES]


def _http_url(form, field):
    parts = urlsplit(field.data or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError("Use an http:// or https:// URL.")


class FeedForm(FlaskForm):
    url = StringField("Feed URL", validators=[DataRequired(), Length(max=1000), _http_url], filters=[strip])
    name = StringField("Name", validators=[DataRequired(), Length(max=120)], filters=[strip])
    region = StringField("Region", validators=[Optional(), Length(max=120)], filters=[strip])
    country_code = StringField(
        "Country (ISO code, resolves ambiguous place names)",
        validators=[Optional(), Regexp(r"^[A-Za-z]{2}$", message="Two letters, such as GB or FR.")],
        filters=[strip],
    )
    default_category = SelectField(
        "Default category", choices=[SelectChoice("", "none: classify by rules")] + CATEGORY_CHOICES, default=""
    )
    poll_interval_s = IntegerField(
        "Poll every (seconds)", default=600, validators=[InputRequired(), NumberRange(60, 86_400)]
    )
    enabled = BooleanField("Enabled", default=True)

    def validate_url(self, field):
        organisation = db.session.get(Organisation, _org())
        problem = address_problem(field.data, allow_list(organisation.feed_private_hosts))
        if problem:
            raise ValidationError(problem)


class PublishForm(FlaskForm):
    summary = TextAreaField("Summary for the client", validators=[DataRequired(), Length(max=2000)], filters=[strip])
    recommendation = TextAreaField(
        "Recommendation for the client", validators=[DataRequired(), Length(max=2000)], filters=[strip]
    )


class DismissForm(FlaskForm):
    reason = StringField("Why dismissed", validators=[DataRequired(), Length(max=500)], filters=[strip])


class MergeForm(FlaskForm):
    # Picked from the page's list of the detail's open advisories; checked again here and by the merge.
    into = IntegerField("Merge into", validators=[InputRequired(message="choose the advisory to merge into")])


class RuleForm(FlaskForm):
    category = SelectField("Category", choices=CATEGORY_CHOICES)
    pattern = StringField("Word or phrase", validators=[DataRequired(), Length(max=200)], filters=[strip])
    field = SelectField("Look in", choices=[SelectChoice(f, f) for f in RULE_FIELDS], default="any")
    weight = IntegerField(
        "Weight (negative keeps a word out)", default=1, validators=[InputRequired(), NumberRange(-10, 10)]
    )
    is_regex = BooleanField("Regular expression")

    def validate_pattern(self, field):
        if self.is_regex.data:
            import re

            try:
                re.compile(field.data)
            except re.error as exc:
                raise ValidationError(f"Not a valid regular expression: {exc}") from None


def _org() -> int:
    return current_user.organisation_id


def _feed_or_404(feed_id: int) -> Feed:
    feed = db.session.get(Feed, feed_id)
    if feed is None or feed.organisation_id != _org():
        abort(404)
    return feed


def _advisory_or_404(advisory_id: int) -> Advisory:
    advisory = db.session.get(Advisory, advisory_id)
    if advisory is None or advisory.organisation_id != _org():
        abort(404)
    return advisory


# --- feeds ------------------------------------------------------------------------------------


@bp.route("/feeds", methods=["GET", "POST"])
@staff_required
def feeds():
    """The feed registry with each feed's health, and a form to add one."""
    form = FeedForm()
    status = 200
    if form.validate_on_submit():
        exists = db.session.scalar(sa.select(Feed).where(Feed.organisation_id == _org(), Feed.url == form.url.data))
        if exists:
            form.url.errors.append("This feed is already in the registry.")
        else:
            feed = Feed(
                organisation_id=_org(),
                url=form.url.data.strip(),
                name=form.name.data.strip(),
                region=(form.region.data or "").strip(),
                country_code=(form.country_code.data or "").upper(),
                default_category=form.default_category.data or None,
                poll_interval_s=form.poll_interval_s.data,
                enabled=form.enabled.data,
            )
            db.session.add(feed)
            db.session.commit()
            flash(f"Feed {feed.name} added; it is polled within a minute.", "success")
            return redirect(url_for("intel.feeds"))
    if form.is_submitted():
        status = 400
    rows = db.session.scalars(sa.select(Feed).where(Feed.organisation_id == _org()).order_by(Feed.name)).all()
    return render_template("intel/feeds.html", feeds=rows, form=form, action=FlaskForm()), status


@bp.route("/feeds/<int:feed_id>/toggle", methods=["POST"])
@staff_required
def toggle_feed(feed_id: int):
    feed = _feed_or_404(feed_id)
    if FlaskForm().validate_on_submit():
        feed.enabled = not feed.enabled
        db.session.commit()
        flash(f"{feed.name} {'enabled' if feed.enabled else 'disabled'}.", "success")
    return redirect(url_for("intel.feeds"))


@bp.route("/feeds/<int:feed_id>/poll", methods=["POST"])
@staff_required
def poll_feed_now(feed_id: int):
    """Make the feed due now; the poller (not this web process) fetches it within seconds."""
    feed = _feed_or_404(feed_id)
    if FlaskForm().validate_on_submit():
        feed.next_poll_at = datetime.now(timezone.utc)
        db.session.commit()
        flash(f"{feed.name} will be polled within 15 seconds.", "success")
    return redirect(url_for("intel.feeds"))


# --- advisories -------------------------------------------------------------------------------


@bp.route("/advisories")
@staff_required
def review():
    """Candidates to review and what has been published, most severe first."""
    return _review_page(request.args.get("status", "candidate"), request.args.get("detail", type=int))


def _review_page(status: str, detail_id: int | None, open_id: int | None = None):
    """The queue, each advisory closed but open_id (the one whose form just came back refused)."""
    if status not in ADVISORY_STATUSES:
        status = "candidate"
    query = sa.select(Advisory).where(Advisory.organisation_id == _org(), Advisory.status == status)
    detail = None
    if detail_id:
        detail = get_owned(Detail, detail_id, _org())
        if detail is None:
            abort(404)
        query = query.where(Advisory.detail_id == detail.id)
    order = sa.case({s: i for i, s in enumerate(SEVERITIES)}, value=Advisory.severity).desc()
    rows = db.session.scalars(query.order_by(order, Advisory.starts_at).limit(200)).all()
    return render_template(
        "intel/advisories.html",
        advisories=rows,
        status=status,
        detail=detail,
        statuses=ADVISORY_STATUSES,
        publish_form=PublishForm(),
        dismiss_form=DismissForm(),
        merge_form=MergeForm(),
        merge_targets=review_queue.merge_targets(rows),
        advisory_zone=review_queue.advisory_zone,
        open_id=open_id,
    )


def _review_step(advisory_id: int, form: FlaskForm, step):
    advisory = _advisory_or_404(advisory_id)
    if not form.validate_on_submit():
        messages = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        flash(f"Not saved: {messages}", "error")
        return _review_page(advisory.status, advisory.detail_id, advisory.id), 400
    try:
        event = step(advisory)
    except advisories.ReviewError as exc:
        db.session.rollback()
        flash(f"Not saved: {exc}", "error")
        return _review_page(advisory.status, advisory.detail_id, advisory.id), 409
    db.session.commit()
    live.publish([event])
    flash(f"Advisory #{advisory.id} {advisory.status}.", "success")
    return redirect(url_for("intel.review", detail=advisory.detail_id))


@bp.route("/advisories/<int:advisory_id>/publish", methods=["POST"])
@staff_required
def publish(advisory_id: int):
    form = PublishForm()
    return _review_step(
        advisory_id, form, lambda a: advisories.publish(a, current_user, form.summary.data, form.recommendation.data)
    )


@bp.route("/advisories/<int:advisory_id>/dismiss", methods=["POST"])
@staff_required
def dismiss(advisory_id: int):
    form = DismissForm()
    return _review_step(advisory_id, form, lambda a: advisories.dismiss(a, current_user, form.reason.data))


@bp.route("/advisories/<int:advisory_id>/merge", methods=["POST"])
@staff_required
def merge(advisory_id: int):
    form = MergeForm()

    def step(advisory):
        into = db.session.get(Advisory, form.into.data)
        if into is None or into.organisation_id != _org():
            raise advisories.ReviewError(f"no advisory #{form.into.data}")
        return advisories.merge(advisory, into, current_user)

    return _review_step(advisory_id, form, step)


# --- the question box -------------------------------------------------------------------------


def _parse_day(value: str | None, end: bool = False) -> datetime | None:
    if not value:
        return None
    day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    return day + timedelta(days=1) if end else day


@bp.route("/near")
@staff_required
def near():
    """'What is near <place or venue> between <dates>?', answered from stored items with distances."""
    venues = db.session.scalars(owned(Site, _org()).order_by(Site.name)).all()
    args = request.args
    answer, error, centre = None, None, None
    if args.get("venue") or args.get("place"):
        try:
            radius_km = float(args.get("radius_km") or 10)
            if not 0 < radius_km <= 500 or math.isnan(radius_km):
                raise ValueError
            starts, ends = _parse_day(args.get("from")), _parse_day(args.get("to"), end=True)
        except ValueError:
            error = "Give a radius from 0 to 500 km and dates as YYYY-MM-DD."
        else:
            if args.get("venue"):
                site = get_owned(Site, args.get("venue", type=int), _org())
                centre = (site.name, site.latitude, site.longitude) if site else None
            else:
                place = geocoders.geocode(args["place"])
                centre = (f"{place.name}, {place.country_code}", place.latitude, place.longitude) if place else None
            if centre is None:
                error = (
                    f"No place called {args.get('place')!r} in the gazetteer."
                    if args.get("place")
                    else ("No such venue.")
                )
            else:
                answer = nearby.near(_org(), centre[1], centre[2], radius_km * 1000, starts, ends)
    return render_template(
        "intel/near.html", venues=venues, answer=answer, error=error, centre=centre, args=args
    ), 400 if error else 200


# --- rules ------------------------------------------------------------------------------------


@bp.route("/rules", methods=["GET", "POST"])
@staff_required
def rules():
    """Classification rules: words that put an item in a category. Data, edited here."""

    ensure_default_rules(_org())
    db.session.commit()
    form = RuleForm()
    if form.validate_on_submit():
        db.session.add(
            ClassificationRule(
                organisation_id=_org(),
                category=form.category.data,
                pattern=form.pattern.data.strip(),
                field=form.field.data,
                weight=form.weight.data,
                is_regex=form.is_regex.data,
            )
        )
        db.session.commit()
        flash("Rule added; it applies to items stored from now on.", "success")
        return redirect(url_for("intel.rules"))
    rows = db.session.scalars(
        sa.select(ClassificationRule)
        .where(ClassificationRule.organisation_id == _org())
        .order_by(ClassificationRule.category, ClassificationRule.pattern)
    ).all()
    return render_template("intel/rules.html", rules=rows, form=form, action=FlaskForm()), (
        400 if form.is_submitted() else 200
    )


@bp.route("/rules/<int:rule_id>/toggle", methods=["POST"])
@staff_required
def toggle_rule(rule_id: int):
    rule = db.session.get(ClassificationRule, rule_id)
    if rule is None or rule.organisation_id != _org():
        abort(404)
    if FlaskForm().validate_on_submit():
        rule.enabled = not rule.enabled
        db.session.commit()
    return redirect(url_for("intel.rules"))


# --- watch areas --------------------------------------------------------------------------------


class WatchAreaForm(FlaskForm):
    place = StringField("Place (a city, or a country)", validators=[DataRequired(), Length(max=120)], filters=[strip])
    name = StringField("Name shown to the client (optional)", validators=[Optional(), Length(max=120)], filters=[strip])
    radius_km = IntegerField("Radius (km), for a city", default=25, validators=[InputRequired(), NumberRange(1, 500)])


def _client_or_404(client_id: int):
    client = get_owned(Client, client_id, _org())
    if client is None:
        abort(404)
    return client


@bp.route("/clients/<int:client_id>/watch-areas", methods=["GET", "POST"])
@staff_required
def watch_areas(client_id: int):
    """Places a client cares about with no detail scheduled; intel there becomes candidates like a venue's."""
    client = _client_or_404(client_id)
    form = WatchAreaForm()
    status = 200
    if form.validate_on_submit():
        place = geocoders.geocode(form.place.data)
        if place is None:
            form.place.errors.append(f"No place called {form.place.data!r} in the gazetteer.")
        else:
            area = WatchArea(
                client_id=client.id,
                name=(form.name.data or gazetteer.place_label(place)).strip(),
                timezone=place.timezone or "UTC",
            )
            if place.kind == "country":
                area.country_code = place.country_code
            else:
                area.latitude, area.longitude = place.latitude, place.longitude
                area.radius_m = form.radius_km.data * 1000
            db.session.add(area)
            db.session.commit()
            flash(f"Watching {area.name}.", "success")
            return redirect(url_for("intel.watch_areas", client_id=client.id))
    if form.is_submitted():
        status = 400
    areas = db.session.scalars(sa.select(WatchArea).where(WatchArea.client_id == client.id).order_by(WatchArea.name))
    return render_template(
        "intel/watch_areas.html",
        client=client,
        areas=list(areas),
        form=form,
        action=ConfirmForm(),
        removal=watch_area_removal,
    ), status


def watch_area_removal(area: WatchArea) -> Ask:
    """What removing a watch area does, asked before it is done (the page's dialog or a page of its own)."""
    return Ask(
        f"Stop watching {area.name}?",
        f"Intel near {area.name} stops becoming candidates for {area.client.name}, and the advisories "
        "already made for it are deleted with it. This cannot be undone: add the area again to watch it again.",
        "Stop watching",
        url_for("intel.watch_areas", client_id=area.client_id),
    )


@bp.route("/clients/<int:client_id>/watch-areas/<int:area_id>/delete", methods=["GET", "POST"])
@staff_required
def delete_watch_area(client_id: int, area_id: int):
    """Stop watching an area, once confirmed."""
    client = _client_or_404(client_id)
    area = db.session.get(WatchArea, area_id)
    if area is None or area.client_id != client.id:
        abort(404)
    if (page := unconfirmed(watch_area_removal(area))) is not None:
        return page
    db.session.delete(area)
    db.session.commit()
    flash(f"No longer watching {area.name}.", "success")
    return redirect(url_for("intel.watch_areas", client_id=client.id))


# --- digests ------------------------------------------------------------------------------------


def _contact_or_404(user_id: int):
    user = db.session.get(User, user_id)
    if user is None or user.role != "client" or user.organisation_id != _org():
        abort(404)
    return user


@bp.route("/digests")
@staff_required
def digests():
    """Every client contact with their preferences, and the organisation's recent digests."""
    contacts = db.session.scalars(
        sa.select(User).where(User.organisation_id == _org(), User.role == "client").order_by(User.client_id, User.name)
    ).all()
    recent = db.session.scalars(
        sa.select(Digest)
        .join(User, Digest.user_id == User.id)
        .where(User.organisation_id == _org())
        .order_by(Digest.created_at.desc())
        .limit(100)
    ).all()
    return render_template("intel/digests.html", contacts=contacts, recent=recent, action=FlaskForm())


@bp.route("/digests/<int:user_id>/preview")
@staff_required
def digest_preview(user_id: int):
    """The contact's next digest as it would be sent now; nothing is recorded."""

    user = _contact_or_404(user_id)
    rendered = digest.preview(user, datetime.now(timezone.utc))
    return render_template("intel/digest_preview.html", user=user, rendered=rendered, action=FlaskForm())


@bp.route("/digests/<int:user_id>/send", methods=["POST"])
@staff_required
def digest_send_now(user_id: int):

    user = _contact_or_404(user_id)
    if FlaskForm().validate_on_submit():
        sent = digest.send_now(user, datetime.now(timezone.utc))
        if sent is None:
            flash(f"Nothing new to send to {user.name}.", "info")
        else:
            flash(f"Digest to {sent.email}: {sent.status}.", "success" if sent.status == "sent" else "error")
    return redirect(url_for("intel.digests"))


@bp.route("/digests/resend/<int:digest_id>", methods=["POST"])
@staff_required
def digest_resend(digest_id: int):
    """Send an uncertain or failed digest again, on purpose (it may arrive twice if the first did arrive)."""

    row = db.session.get(Digest, digest_id)
    if row is None or db.session.get(User, row.user_id).organisation_id != _org():
        abort(404)
    if FlaskForm().validate_on_submit():
        status = digest.resend(row.id)
        if status == "sent":
            flash(f"Digest #{row.id} sent again.", "success")
        else:
            flash(f"Digest #{row.id} not sent: {status or 'it was already sent or is being sent'}.", "error")
    return redirect(url_for("intel.digests"))
