"""Nothing internal reaches a client contact: not a portal page, not a mail, not a feed.

What it guarantees
------------------
* The internal fields are found by walking every model's columns for ``info={"internal": True}``
  (see the docstrings of detail.models and intel.models), so a field marked later is checked too.
* The world has a row of every model with an internal field, each on the client's own detail or
  organisation and reachable from what the client reads (a handoff and a shared survey summary on the
  detail, a published advisory fed by an item, a movement on the schedule, ...). Every internal field
  of every row holds a marker of its own.
* Every GET page under /portal (read from the url_map: a new one is read too), the Atom feed at its
  real secret, the unsubscribe page at its real link, every mail a client contact was sent (a digest,
  the handoff notice, a request acknowledged and answered with an advisory attached: delivered to a
  real SMTP server) carries none of the markers, as typed or escaped.
* Controls: the same answers do show what is meant for the client (the handoff's client notice, the
  survey's shared summary, the published advisory, the answer to the request), so a page that failed
  to render the rows could not pass.

The agents' calendar feed (/calendar/<secret>.ics) is an agent's, never a client's: it is not read here.
"""

import html
import json
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from detail.domain import handoff, notices
from detail.domain import requests as requests_inbox
from detail.domain.statuses import find_code, record_status
from detail.extensions import db
from detail.models import (
    ActionItem,
    AfterAction,
    Alert,
    Device,
    Escalation,
    PersonOfInterest,
    Risk,
    Survey,
    SurveyPhoto,
    SurveyRoute,
    TextMessage,
    Unavailability,
    utcnow,
)
from intel.domain import answers
from intel.domain import digests as digest
from intel.domain.preferences import preference_for, unsubscribe_token
from intel.models import Advisory, AdvisorySource, ClassificationRule, Feed, FeedItem
from intel.web.portal import _feed_hash

from .conftest import T0, sign_in
from .test_access_matrix import PARAMETER

NOW = T0 - timedelta(hours=2)  # before the detail: its schedule, readiness and advisories are all current


def internal_columns() -> list[tuple[type, str]]:
    """(model, attribute) for every column marked internal, in every model."""
    found = []
    for mapper in db.Model.registry.mappers:
        for attribute in mapper.column_attrs:
            column = attribute.columns[0]
            if column.info.get("internal"):
                found.append((mapper.class_, attribute.key))
    return sorted(found, key=lambda pair: (pair[0].__name__, pair[1]))


def marker(model: type, attribute: str) -> str:
    # Unique per field, and a substring of no other marker (the closing bracket ends each).
    return f"INTERNAL[{model.__name__}.{attribute}]"


def fill_internal_fields(every_model: bool = True) -> dict[str, str]:
    """Write each internal field's marker into every row that has it; returns {marker: field}."""
    markers = {}
    for model, attribute in internal_columns():
        text = marker(model, attribute)
        markers[text] = f"{model.__name__}.{attribute}"
        rows = db.session.scalars(sa.select(model)).all()
        assert rows or not every_model, (
            f"add a {model.__name__} on the client's detail to _internal_world(): its fields are internal"
        )
        column = model.__table__.columns[getattr(model, attribute).property.columns[0].name]
        assert isinstance(column.type, sa.String), f"{markers[text]} is marked internal but holds no text"
        assert not column.type.length or len(text) <= column.type.length, f"{markers[text]}: a shorter marker"
        for row in rows:
            setattr(row, attribute, text)
    return markers


def _internal_world(world) -> dict:
    """A row of each model with internal fields, all where the client's pages, mail and feed look."""
    detail, org = world.detail, world.org
    survey = Survey(
        detail=detail,
        site=world.hotel,
        status="approved",
        client_summary="Shared venue summary: the hotel is ready",
        summary_shared=True,
    )
    survey.routes.append(SurveyRoute(to_site_id=world.venue.id))
    survey.photos.append(SurveyPhoto(content_type="image/png", data=b"\x89PNG\r\n\x1a\n"))
    after = AfterAction(detail=detail)
    after.items.append(ActionItem(text="x", due_on=T0.date()))
    feed = Feed(organisation_id=org.id, url="https://feeds.example/wire.xml", name="Wire")
    item = FeedItem(feed=feed, guid="g-1", title="t", starts_at=T0, ends_at=T0 + timedelta(hours=4))
    advisory = Advisory(
        organisation_id=org.id,
        detail_id=detail.id,
        site_id=world.hotel.id,
        title="Published: march past the Grand Hotel",
        category="protest",
        severity="critical",
        reason="within 300 m of the Grand Hotel",
        summary="Shared summary of the march",
        recommendation="Use the rear entrance",
        starts_at=T0,
        ends_at=T0 + timedelta(hours=4),
        status="published",
        published_at=NOW - timedelta(minutes=30),
    )
    advisory.sources.append(AdvisorySource(detail_id=detail.id, item=item))
    db.session.add_all(
        [
            survey,
            after,
            feed,
            advisory,
            ClassificationRule(organisation_id=org.id, category="protest", pattern="march"),
            Risk(client=world.client, detail=detail, title="x", likelihood=2, impact=3, review_on=T0.date()),
            PersonOfInterest(client=world.client, detail=detail, name="x", bolo_shared=True),
            Device(organisation_id=org.id, agent=world.agent, kind="device", identifier="x"),
            Unavailability(agent=world.agent, starts_at=T0 + timedelta(days=2), ends_at=T0 + timedelta(days=3)),
        ]
    )
    db.session.flush()
    # The team on station before the detail, with a note: the readiness line is built from it.
    record_status(world.agent, find_code(org.id, "OS"), client_id="os-1", now=NOW - timedelta(minutes=5))
    db.session.add(
        Alert(organisation_id=org.id, detail=detail, agent=world.agent, kind="late_om", message="x", raised_at=NOW)
    )
    world.assignment.override_reason = "x"
    request, _ = requests_inbox.log_request(
        client=world.client, subject="Is the route safe?", contact=world.contact, detail=detail, received_at=NOW
    )
    # An alarm climbing its escalation on the client's detail, and the text it sent a coordinator.
    db.session.add_all(
        [
            Escalation(
                organisation_id=org.id, kind="late", subject="alert:x", detail_id=detail.id, title="x", ack_code="1234"
            ),
            TextMessage(organisation_id=org.id, user_id=world.coordinator.id, to_number="+447700900001", body="x"),
        ]
    )
    db.session.flush()
    return {"request": request, "advisory": advisory}


@pytest.fixture
def leaky_world(app, world, mailbox):
    with time_machine.travel(NOW, tick=False):
        rows = _internal_world(world)
        markers = fill_internal_fields(every_model=False)
        # What a contact is mailed is written when it happens: the handoff and the request's
        # acknowledgment and answer are made after the fields hold their markers.
        handoff.hand_off(world.detail, world.idle_agent_user.agent, marker_text(markers, "Handoff.notes"), world.admin)
        requests_inbox.acknowledge(rows["request"], world.coordinator, "We are on it")
        # The published advisory goes with the answer: the portal's request page and the mail show it.
        answers.attach(rows["request"], world.coordinator, [rows["advisory"].id], {})
        requests_inbox.answer(rows["request"], world.coordinator, "Yes: the rear entrance is clear")
        markers = fill_internal_fields()  # the handoff row made just now
        db.session.commit()
        notices.send_due()
        sent = digest.send_now(world.contact, NOW)
        assert sent is not None and sent.status == "sent", "the contact's digest was not sent"
    return markers, rows


def marker_text(markers: dict[str, str], field: str) -> str:
    return next(text for text, name in markers.items() if name == field)


def leaks(markers: dict[str, str], body: str) -> list[str]:
    forms = lambda text: {text, html.escape(text), html.escape(text, quote=False), json.dumps(text)[1:-1]}  # noqa: E731
    return [name for text, name in markers.items() if any(form in body for form in forms(text))]


def portal_urls(app, world, request_id: int) -> list[str]:
    """Every GET page of the portal, from the url_map, with the contact's own ids and real secrets."""
    secret = "feed-secret-for-the-leak-test"
    preference = preference_for(world.contact, utcnow())
    preference.feed_token_hash = _feed_hash(secret)
    db.session.commit()
    values = {
        "detail_id": world.detail.id,
        "request_id": request_id,
        "secret": secret,
        "token": unsubscribe_token(world.contact.id),
    }
    urls = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/portal") or "GET" not in rule.methods:
            continue
        missing = [name for _, name in PARAMETER.findall(rule.rule) if name not in values]
        assert not missing, f"give {rule.rule}'s {missing} a value in portal_urls()"
        urls.append(PARAMETER.sub(lambda m: str(values[m.group(2)]), rule.rule))
    return sorted(urls)


def test_every_internal_field_is_found_by_its_marker():
    """The marker is what the leak test walks for: the fields named in the task are among them."""
    fields = {f"{model.__name__}.{attribute}" for model, attribute in internal_columns()}
    assert {"Detail.notes", "Movement.notes", "Handoff.notes", "Survey.safe_room", "FeedItem.title"} <= fields
    assert "Handoff.client_notice" not in fields and "Survey.client_summary" not in fields


def test_no_portal_page_shows_an_internal_field(app, client, world, leaky_world):
    markers, rows = leaky_world
    shown = {}
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        sign_in(client, world.contact)
        for url in portal_urls(app, world, rows["request"].id):
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code, response.headers.get("Location"))
            body = response.get_data(as_text=True)
            shown[url] = body
            assert not leaks(markers, body), f"{url} shows {leaks(markers, body)}"
    page = html.unescape(shown[f"/portal/details/{world.detail.id}"])
    assert "now leads" in page and "Shared venue summary" in page and "Shared summary of the march" in page
    assert world.venue.name in page  # the movement is on the schedule
    request_page = html.unescape(shown[f"/portal/requests/{rows['request'].id}"])
    assert "rear entrance is clear" in request_page and "Shared summary of the march" in request_page
    feed = next(body for url, body in shown.items() if url.endswith(".atom"))
    assert "Published: march past the Grand Hotel" in feed


def test_no_mail_to_a_client_contact_carries_an_internal_field(world, mailbox, leaky_world):
    markers, _ = leaky_world
    to_contact = [m for m in mailbox.messages if m["To"] and world.contact.email in m["To"]]
    subjects = sorted(m["Subject"] for m in to_contact)
    assert len(to_contact) == 4, subjects  # the handoff, the acknowledgment, the answer, the digest
    for message in to_contact:
        text = message.as_string()
        parts = [part.get_content() for part in message.walk() if part.get_content_maintype() == "text"]
        for body in (text, *parts):
            assert not leaks(markers, body), f"{message['Subject']!r} carries {leaks(markers, body)}"
    everything = "\n".join(
        part.get_content() for m in to_contact for part in m.walk() if part.get_content_maintype() == "text"
    )
    assert "now leads" in everything and "rear entrance is clear" in everything
    assert "Published: march past the Grand Hotel" in everything
    answer = next(m.get_content() for m in to_contact if m["Subject"].startswith("Answer:"))
    assert "Shared summary of the march" in answer and "Use the rear entrance" in answer  # the attached advisory
    # The new lead, who is staff, does get the handoff notes: the marker is where it should be.
    to_lead = [m for m in mailbox.messages if world.idle_agent_user.email in (m["To"] or "")]
    assert any(marker_text(markers, "Handoff.notes") in m.get_content() for m in to_lead)


def test_the_markers_are_in_the_database(world, leaky_world):
    """Guards the guard: had the fill written nothing, the checks above would pass on empty fields."""
    markers, _ = leaky_world
    db.session.expire_all()
    assert world.detail.notes == marker_text(markers, "Detail.notes")
    assert world.detail.movements[0].notes == marker_text(markers, "Movement.notes")
    assert handoff.latest(world.detail).notes == marker_text(markers, "Handoff.notes")
    assert re.fullmatch(r"INTERNAL\[Survey\.safe_room\]", db.session.scalars(sa.select(Survey.safe_room)).one())
