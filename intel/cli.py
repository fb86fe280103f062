"""flask intel poll [--loop], flask intel add-feed URL, flask intel send-digests [--loop] [--dry-run]."""

from urllib.parse import urlsplit

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from detail.cli import default_organisation
from detail.extensions import db
from detail.jobs import Job, loop
from detail.models import utcnow
from intel.domain import digests as digest
from intel.domain import poller
from intel.domain.digest_content import build_content
from intel.domain.fetch import address_problem, allow_list
from intel.models import CATEGORIES, Feed

intel_cli = AppGroup("intel", help="Feeds and advisories.")


@intel_cli.command("poll")
@click.option("--loop", "forever", is_flag=True, help="Keep polling due feeds (a production process).")
@click.option("--every", default=15.0, show_default=True, help="Seconds between looks for due feeds, with --loop.")
def poll_command(forever: bool, every: float) -> None:
    """Poll every due feed once and report, or keep polling with --loop."""
    app = current_app._get_current_object()
    if forever:
        loop(app, [Job("feeds", every, lambda: _report_polls(app, poller.poll_due(app)))])
        return
    if not _report_polls(app, poller.poll_due(app, progress=True)):
        click.echo("no feed is due")


def _report_polls(app, results: list[poller.PollResult]) -> int:
    """A line for each feed polled; returns how many."""
    for result in results:
        with app.app_context():
            feed = db.session.get(Feed, result.feed_id)
            name = feed.name if feed else result.feed_id
        line = f"{name}: {result.status}"
        if result.status == "ok":
            line += f", {result.new_items} new items"
            if result.waiting:
                line += f" ({result.waiting} left to the matching job)"
        if result.error:
            line += f" ({result.error})"
        click.echo(line)
    return len(results)


@intel_cli.command("add-feed")
@click.argument("url")
@click.option("--name", help="Defaults to the URL's host.")
@click.option("--region", default="")
@click.option("--country", "country_code", default="", help="ISO 3166 code: resolves ambiguous place names.")
@click.option("--category", "default_category", type=click.Choice(CATEGORIES), default=None)
@click.option("--interval", "poll_interval_s", default=600, show_default=True, help="Seconds between polls (60+).")
@click.option("--organisation", help="The organisation's name, where there are several.")
def add_feed_command(url, name, region, country_code, default_category, poll_interval_s, organisation) -> None:
    """Add a feed to the registry; it is polled on the next round."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter("use an http:// or https:// URL", param_hint="URL")
    if poll_interval_s < 60:
        raise click.BadParameter("poll at most once a minute", param_hint="--interval")
    if len(country_code) not in (0, 2):
        raise click.BadParameter("a two-letter ISO country code", param_hint="--country")
    org = default_organisation(organisation)
    problem = address_problem(url, allow_list(org.feed_private_hosts))
    if problem:
        raise click.BadParameter(problem, param_hint="URL")
    if db.session.scalar(sa.select(Feed).where(Feed.organisation_id == org.id, Feed.url == url)) if org.id else None:
        raise click.BadParameter("this feed is already in the registry", param_hint="URL")
    feed = Feed(
        organisation=org,
        url=url,
        name=name or parts.netloc,
        region=region,
        country_code=country_code.upper(),
        default_category=default_category,
        poll_interval_s=poll_interval_s,
    )
    db.session.add(feed)
    db.session.commit()
    click.echo(f"Added feed {feed.id}: {feed.name} <{feed.url}>, polled every {feed.poll_interval_s} s.")


@intel_cli.command("send-digests")
@click.option("--loop", "forever", is_flag=True, help="Keep sending due digests every minute (a production process).")
@click.option("--dry-run", is_flag=True, help="Show who would get what now; record and send nothing.")
def send_digests_command(forever: bool, dry_run: bool) -> None:
    """Send the client digests that are due once and report, or keep sending with --loop."""
    if dry_run:
        _print_dry_run()
        return
    app = current_app._get_current_object()
    if forever:
        # The job runner gives each round its own app context and logs a failed round, then tries again.
        loop(app, [Job("digests", DIGEST_EVERY_S, _send_digests_round)])
        return
    with app.app_context():
        if not _send_digests_round():
            click.echo("no digest is due")


def _send_digests_round() -> int:
    """Send the digests that are due, a line for each; returns how many."""
    outcomes = digest.run_digests()
    for outcome in outcomes:
        line = f"{outcome.status}: #{outcome.digest_id} to {outcome.email}: {outcome.subject}"
        if outcome.status != "sent" and outcome.error:
            line += f" ({outcome.error})"
        click.echo(line)
    return len(outcomes)


DIGEST_EVERY_S = 60


def _print_dry_run() -> None:
    now = utcnow()
    for user, preference, plan, why in digest.dry_run(now):
        if plan is None:
            click.echo(f"{preference.email} ({user.client.name}, {preference.cadence}): nothing to send: {why}")
            continue
        content = build_content(user, preference.email, preference.timezone, plan.cadence, plan.advisories, now)
        click.echo(f"{preference.email} ({user.client.name}, {preference.cadence}): {content.subject}")
        for advisory in plan.advisories:
            click.echo(f"  - [{advisory.severity}] {advisory.title}")
    for waiting in digest.waiting_for_retry(now):
        click.echo(f"to retry: #{waiting.id} to {waiting.email} ({waiting.status}): {waiting.subject}")
