"""The client portal: a client contact's details, readiness, published advisories, digests, preferences.

Nothing internal reaches it: no agent positions, internal notes, unpublished intel, nothing of
other clients. A contact also gets an Atom feed of the client's published advisories at a secret
URL (revocable), and a one-click unsubscribe link in every digest.
"""

import hashlib
import secrets
from datetime import datetime, timezone

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length, ValidationError

from detail.domain.handoff import latest as latest_handoff
from detail.domain.schedule import in_time_order
from detail.domain.surveys import for_detail as surveys_for
from detail.domain.timefmt import closest_zone, zone_names
from detail.extensions import csrf, db
from detail.models import Detail, User, utcnow
from detail.web.auth import roles_required
from detail.web.kit import Ask, strip, unconfirmed
from detail.web.security import guessing_limit, not_found
from intel.domain.preferences import preference_for as kept_preference
from intel.domain.preferences import preference_or_default, user_id_from_unsubscribe_token
from intel.domain.readiness import readiness_lines
from intel.models import SEVERITIES, Advisory, ContactPreference, Digest, WatchArea

bp = Blueprint("portal", __name__, url_prefix="/portal")
client_required = roles_required("client")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def contact_zone(user: User) -> str:
    """The zone the contact reads times in: their preference's, or the default's (nothing is stored)."""
    return preference_or_default(user, utcnow()).timezone


def preference_for(user: User) -> ContactPreference:
    """The contact's preferences, the defaults added to the session on first use: for a handler that commits."""
    return kept_preference(user, utcnow())


def published_for_client(client_id: int, detail_id: int | None = None) -> list[Advisory]:
    """The client's published advisories (its details' and its watch areas'), newest first."""
    query = (
        sa.select(Advisory)
        .outerjoin(Detail, Advisory.detail_id == Detail.id)
        .outerjoin(WatchArea, Advisory.watch_area_id == WatchArea.id)
        .where(Advisory.status == "published", sa.or_(Detail.client_id == client_id, WatchArea.client_id == client_id))
    )
    if detail_id is not None:
        query = query.where(Advisory.detail_id == detail_id)
    return list(db.session.scalars(query.order_by(Advisory.published_at.desc())))


def _own_detail(detail_id: int) -> Detail:
    detail = db.session.get(Detail, detail_id)
    # Another client's detail is answered as if it did not exist.
    if detail is None or detail.client_id != current_user.client_id:
        abort(404)
    return detail


def _readiness(detail: Detail) -> list[str]:
    return readiness_lines(detail, utcnow())


@bp.route("")
@client_required
def index():
    """The client's details, soonest first, with their readiness, and recent advisories."""
    now = utcnow()
    details = db.session.scalars(
        sa.select(Detail).where(Detail.client_id == current_user.client_id).order_by(Detail.starts_at)
    ).all()
    upcoming = [d for d in details if d.ends_at >= now and d.state != "complete"]
    past = [d for d in details if d not in upcoming]
    return render_template(
        "intel/portal/index.html",
        upcoming=upcoming,
        past=past[-10:],
        readiness={d.id: _readiness(d) for d in upcoming},
        advisories=published_for_client(current_user.client_id)[:10],
        zone=contact_zone(current_user),
    )


@bp.route("/details/<int:detail_id>")
@client_required
def detail(detail_id: int):
    """A detail's schedule in time order in its venues' time zones, readiness, and its published advisories."""
    found = _own_detail(detail_id)
    return render_template(
        "intel/portal/detail.html",
        detail=found,
        readiness=_readiness(found),
        schedule=in_time_order(found),
        advisories=published_for_client(current_user.client_id, found.id),
        handoff=latest_handoff(found),
        surveys=[s for s in surveys_for(found) if s.summary_shared and s.client_summary],
    )


@bp.route("/advisories")
@client_required
def advisories():
    return render_template(
        "intel/portal/advisories.html",
        advisories=published_for_client(current_user.client_id),
        zone=contact_zone(current_user),
    )


@bp.route("/digests")
@client_required
def digests():
    """Past digests sent to this contact."""
    rows = db.session.scalars(
        sa.select(Digest).where(Digest.user_id == current_user.id).order_by(Digest.created_at.desc()).limit(100)
    ).all()
    return render_template("intel/portal/digests.html", digests=rows, zone=contact_zone(current_user))


def _zone(form, field):
    if field.data in zone_names():
        return
    meant = closest_zone(field.data or "")
    if meant:
        raise ValidationError(f"Not a known time zone. Did you mean {meant}?")
    raise ValidationError("Not a known time zone: pick one from the list, such as Europe/London.")


# Which fields each cadence uses. The page shows (and sends) only those; the server reads only those,
# so a field the page hid, or one sent anyway without the script, changes nothing.
TIMED = ("daily", "weekly")


class PreferencesForm(FlaskForm):
    email = EmailField("Send digests to", validators=[DataRequired(), Email(), Length(max=254)], filters=[strip])
    cadence = SelectField(
        "How often",
        choices=[
            SelectChoice("immediate", "At once, for high and critical advisories"),
            SelectChoice("daily", "Daily"),
            SelectChoice("weekly", "Weekly"),
        ],
    )
    daily_at = StringField("Time of day (HH:MM)", default="07:00", filters=[strip])
    weekly_day = SelectField(
        "Day of the week", choices=[SelectChoice(str(i), day) for i, day in enumerate(WEEKDAYS)], default="0"
    )
    min_severity = SelectField("From severity", choices=[SelectChoice(s, s) for s in SEVERITIES], default="moderate")
    timezone = StringField("Time zone", validators=[DataRequired(), _zone], filters=[strip])
    all_quiet = BooleanField("Send a note even when all is quiet")
    paused = BooleanField("Pause digests")

    def validate_daily_at(self, field):
        if self.cadence.data not in TIMED:
            return
        try:
            datetime.strptime(field.data or "", "%H:%M")
        except ValueError:
            raise ValidationError("Give a time as HH:MM, such as 07:00.") from None


@bp.route("/preferences", methods=["GET", "POST"])
@client_required
def preferences():
    """Where, how often and from which severity this contact hears from the team; the Atom feed."""
    pref = preference_for(current_user)
    form = PreferencesForm()
    if request.method == "GET":
        form.process(
            data={
                "email": pref.email,
                "cadence": pref.cadence,
                "daily_at": f"{pref.daily_at_minute // 60:02d}:{pref.daily_at_minute % 60:02d}",
                "weekly_day": str(pref.weekly_day),
                "min_severity": pref.min_severity,
                "timezone": pref.timezone,
                "all_quiet": pref.all_quiet,
                "paused": pref.paused,
            }
        )
    elif form.validate_on_submit():
        pref.email = form.email.data.strip()
        pref.cadence = form.cadence.data
        if pref.cadence in TIMED:
            hours, minutes = (int(part) for part in form.daily_at.data.split(":"))
            pref.daily_at_minute = hours * 60 + minutes
            pref.all_quiet = form.all_quiet.data
        if pref.cadence == "weekly":
            pref.weekly_day = int(form.weekly_day.data)
        pref.min_severity = form.min_severity.data
        pref.timezone = form.timezone.data
        pref.paused = form.paused.data
        db.session.commit()
        flash("Preferences saved.", "success")
        return redirect(url_for("portal.preferences"))
    db.session.commit()  # keeps the defaults from the first visit on: the form shows what is stored
    status = 400 if request.method == "POST" else 200
    return _preferences_page(form, pref, feed_url=None), status


def _preferences_page(form: PreferencesForm, pref: ContactPreference, feed_url: str | None) -> str:
    return render_template(
        "intel/portal/preferences.html",
        form=form,
        pref=pref,
        action=FlaskForm(),
        revocation=feed_revocation(),
        replacement=feed_replacement(),
        feed_url=feed_url,
        zone_names=sorted(zone_names()),
    )


def _feed_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@bp.route("/preferences/feed", methods=["GET", "POST"])
@client_required
def new_feed_url():
    """A new secret Atom feed URL, shown once; replacing one that works (the old one stops working)
    is asked first."""
    pref = preference_for(current_user)
    if pref.feed_token_hash is not None:
        if (page := unconfirmed(feed_replacement())) is not None:
            return page
    elif request.method != "POST":
        return redirect(url_for("portal.preferences"))
    elif not FlaskForm().validate_on_submit():
        abort(400)
    secret = secrets.token_urlsafe(24)
    pref.feed_token_hash = _feed_hash(secret)
    db.session.commit()
    url = url_for("portal.atom_feed", secret=secret, _external=True)
    form = PreferencesForm(formdata=None, obj=None)
    form.process(
        data={
            "email": pref.email,
            "cadence": pref.cadence,
            "timezone": pref.timezone,
            "min_severity": pref.min_severity,
            "weekly_day": str(pref.weekly_day),
            "daily_at": f"{pref.daily_at_minute // 60:02d}:{pref.daily_at_minute % 60:02d}",
            "all_quiet": pref.all_quiet,
            "paused": pref.paused,
        }
    )
    response = current_app.make_response(_preferences_page(form, pref, feed_url=url))
    response.headers["Cache-Control"] = "no-store"
    return response


def feed_replacement() -> Ask:
    """What making a new feed URL does while one works, asked before it is done."""
    return Ask(
        "Replace the feed URL?",
        "A new private URL is made and shown once. The URL your feed reader uses now stops working at "
        "once and never works again: give the reader the new one.",
        "Make a new feed URL",
        url_for("portal.preferences"),
    )


def feed_revocation() -> Ask:
    """What revoking the feed URL does, asked before it is done."""
    return Ask(
        "Revoke the feed URL?",
        "Your feed reader stops receiving advisories from this URL at once. You can make a new URL "
        "afterwards; the old one never works again.",
        "Revoke the feed URL",
        url_for("portal.preferences"),
    )


@bp.route("/preferences/feed/revoke", methods=["GET", "POST"])
@client_required
def revoke_feed_url():
    """Stop the contact's feed URL working, once confirmed."""
    if (page := unconfirmed(feed_revocation())) is not None:
        return page
    preference_for(current_user).feed_token_hash = None
    db.session.commit()
    flash("The feed URL no longer works.", "success")
    return redirect(url_for("portal.preferences"))


@bp.route("/feed/<secret>.atom")
@guessing_limit(not_found)
def atom_feed(secret: str):
    """The client's published advisories for a feed reader; the secret in the URL is the key."""
    pref = db.session.scalar(
        sa.select(ContactPreference).where(ContactPreference.feed_token_hash == _feed_hash(secret))
    )
    if pref is None or not pref.user.active:
        abort(404)
    rows = published_for_client(pref.user.client_id)[:100]
    updated = max((a.published_at for a in rows), default=datetime(2020, 1, 1, tzinfo=timezone.utc))
    body = render_template(
        "intel/portal/feed.atom.xml",
        advisories=rows,
        client=pref.user.client,
        updated=updated,
        feed_id=f"urn:oscarmike:client:{pref.user.client_id}:advisories",
    )
    return body, 200, {"Content-Type": "application/atom+xml; charset=utf-8"}


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # the signed token is the credential; mail clients post here with no session (RFC 8058)
@guessing_limit(not_found)
def unsubscribe(token: str):
    """Pause a contact's digests from the link in a digest; the portal's preferences resume them."""

    user_id = user_id_from_unsubscribe_token(token)
    user = db.session.get(User, user_id) if user_id is not None else None
    if user is None or user.role != "client":
        abort(404)
    if request.method == "POST":
        preference_for(user).paused = True
        db.session.commit()
        return render_template("intel/portal/unsubscribed.html", user=user)
    return render_template("intel/portal/unsubscribe.html", token=token, user=user)
