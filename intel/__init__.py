"""Intel: regional protest and threat feeds, placed on the map and turned into advisories."""

import re
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Flask, current_app

from detail import hooks
from detail.extensions import csrf, db, rest
from detail.jobs import Job, register_job
from detail.models import User
from detail.web.security import limit_api
from intel import models  # noqa: F401  (its tables, for migrations)
from intel.cli import intel_cli
from intel.domain import alarms, gazetteer, geocoders, rematch, rematch_requests, timezones
from intel.domain.digests import send_due_digests
from intel.domain.poller import poll_due
from intel.domain.travel_advisories import advisory_when
from intel.models import ContactPreference, Feed
from intel.web import pages, portal_requests, samples  # noqa: F401  (their routes register on bp)
from intel.web.api import BLUEPRINTS
from intel.web.board import advisories_section, published_section
from intel.web.portal import bp as portal_bp
from intel.web.request_panel import ADVISORIES as REQUEST_ADVISORIES
from intel.web.samples import sample_feed_urls


def init_app(app: Flask) -> None:
    """Register the intel tables, pages, API and commands."""
    app.register_blueprint(pages.bp)
    app.register_blueprint(portal_bp)
    app.add_template_filter(advisory_when, "advisory_when")
    hooks.add(hooks.DETAIL_SECTIONS, advisories_section)
    hooks.add(hooks.ASSIGNMENT_SECTIONS, published_section)
    hooks.add(hooks.REQUEST_ATTACHMENTS, REQUEST_ADVISORIES)
    hooks.add(hooks.ESCALATION_SUBJECTS, alarms.critical_advisories_published)
    hooks.ESCALATION_SUBJECT_SETTLED[alarms.FAMILY] = alarms.advisory_settled
    hooks.add(hooks.DEMO_STEPS, add_demo_feeds)
    hooks.add(hooks.DEMO_STEPS, add_demo_preferences)
    hooks.use_gazetteer(
        hooks.Gazetteer(
            geocode_all=geocoders.geocode_all, place_label=gazetteer.place_label, timezone_at=timezones.timezone_at
        )
    )
    app.cli.add_command(intel_cli)
    register_api()
    register_job(Job("feeds", 15, _poll_due_feeds))
    register_job(Job("matching", 10, rematch.run))
    register_job(Job("digests", 60, _send_due_digests))
    # A detail, visit, movement, venue, post or watch area created or changed asks the matching job
    # to match the stored items against it again (in the jobs, not in the request).
    rematch_requests.watch()


def _poll_due_feeds() -> int:
    return len(poll_due(current_app._get_current_object()))


def _send_due_digests() -> int:

    return send_due_digests()


def register_api() -> None:

    for blueprint in BLUEPRINTS:
        csrf.exempt(blueprint)  # bearer tokens, not cookies
        limit_api(blueprint)
        rest.register_blueprint(blueprint)


def add_demo_feeds(organisation) -> None:
    """The demo's sample feeds, served by this app at PUBLIC_URL, and that host on the organisation's
    allow-list of private feed hosts, since the demo's own address is usually loopback (idempotent)."""
    host = urlsplit(current_app.config["PUBLIC_URL"]).hostname
    allowed = [entry for entry in re.split(r"[\s,]+", organisation.feed_private_hosts or "") if entry]
    if host and host not in allowed:
        organisation.feed_private_hosts = "\n".join([*allowed, host])
    for name, url in sample_feed_urls(current_app.config["PUBLIC_URL"]):
        if db.session.scalar(sa.select(Feed).where(Feed.organisation_id == organisation.id, Feed.url == url)) is None:
            db.session.add(
                Feed(
                    organisation=organisation,
                    url=url,
                    name=name,
                    region="London",
                    country_code="GB",
                    poll_interval_s=300,
                )
            )


def add_demo_preferences(organisation) -> None:
    """The demo's client contacts: the head of security hears at once of high and critical advisories,
    the event manager gets a daily digest at 07:00 London time with an all-quiet note (idempotent)."""

    wishes = {
        "security@northwind.example": dict(cadence="immediate", min_severity="high"),
        "events@northwind.example": dict(cadence="daily", daily_at_minute=7 * 60, all_quiet=True, min_severity="low"),
    }
    for user in db.session.scalars(
        sa.select(User).where(User.organisation_id == organisation.id, User.role == "client")
    ):
        exists = db.session.scalar(sa.select(ContactPreference).where(ContactPreference.user_id == user.id))
        if exists is None and user.email in wishes:
            db.session.add(
                ContactPreference(user=user, email=user.email, timezone="Europe/London", **wishes[user.email])
            )
