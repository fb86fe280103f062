"""Advance and site surveys: the advance agent's work at each venue before the principal arrives.

Filled in on the phone by the detail's agents (a draft kept on the phone while offline), submitted,
then approved or returned with a note by the detail lead (or a coordinator). Once approved it is
shown on the detail's agents' phones and on the board. Clients see none of it unless a coordinator
shares a summary. A new survey starts as a copy of the last one of the same venue.

Functions here flush and return the events they appended; the caller commits and publishes.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import url_for

from detail.domain import live
from detail.domain.names import strip
from detail.domain.timefmt import CLOCK, local_time
from detail.extensions import db
from detail.models import Detail, Event, Site, Survey, SurveyRoute, User, utcnow


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # text (several lines), line (one line), phone, minutes


SECTIONS: list[tuple[str, list[Field]]] = [
    ("Venue", [Field("venue_contact", "Venue contact (name, role, phone)")]),
    (
        "Arrival and departure",
        [
            Field("arrival_primary", "Primary arrival point"),
            Field("arrival_alternate", "Alternate arrival point"),
            Field("departure_primary", "Primary departure point"),
            Field("departure_alternate", "Alternate departure point"),
            Field("principal_route", "The principal's route through the venue"),
        ],
    ),
    (
        "Safety",
        [
            Field("safe_room", "Safe room"),
            Field("fire_exits", "Fire exits"),
            Field("parking", "Parking"),
            Field("standby_car", "Standby car (where, driver)"),
        ],
    ),
    (
        "Venue security",
        [Field("security_contact", "Venue security contact"), Field("radio_channel", "Radio channel", "line")],
    ),
    (
        "Nearest hospital",
        [
            Field("hospital_name", "Hospital", "line"),
            Field("hospital_address", "Address", "line"),
            Field("hospital_phone", "Phone", "phone"),
            Field("hospital_minutes", "Travel time (minutes)", "minutes"),
        ],
    ),
    (
        "Nearest police station",
        [
            Field("police_name", "Police station", "line"),
            Field("police_address", "Address", "line"),
            Field("police_phone", "Phone", "phone"),
            Field("police_minutes", "Travel time (minutes)", "minutes"),
        ],
    ),
    ("Notes", [Field("notes", "Notes")]),
]
FIELDS = [f for _, fields in SECTIONS for f in fields]
TEXT_LIMITS = {"text": 5000, "line": 300, "phone": 40}
ROUTE_TEXT_LIMIT = 2000
MINUTES_LIMIT = 600
# A travel time measured more than this far from the movement's time of day is flagged.
MEASURED_TOLERANCE = timedelta(hours=1)


class SurveyError(ValueError):
    """What is wrong with submitted survey data, by field name."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


# ---------------------------------------------------------------- who may do what


def on_detail(user: User, detail: Detail) -> bool:
    agent = user.agent if user.role == "agent" else None
    return agent is not None and any(a.agent_id == agent.id for a in detail.assignments)


def may_edit(user: User, survey: Survey) -> bool:
    """The detail's agents edit until it is approved; coordinators of the organisation always."""
    if user.role in ("admin", "coordinator"):
        return user.organisation_id == survey.detail.client.organisation_id
    return on_detail(user, survey.detail) and survey.status != "approved"


def may_review(user: User, detail: Detail) -> bool:
    """The detail lead, or a coordinator of the organisation."""
    if user.role in ("admin", "coordinator"):
        return user.organisation_id == detail.client.organisation_id
    lead = detail.lead
    return user.role == "agent" and lead is not None and user.agent is not None and lead.id == user.agent.id


# ---------------------------------------------------------------- lifecycle


def find(detail: Detail, site: Site) -> Survey | None:
    return db.session.scalar(sa.select(Survey).where(Survey.detail_id == detail.id, Survey.site_id == site.id))


def last_for_venue(site: Site, before: Survey | None = None) -> Survey | None:
    query = sa.select(Survey).where(Survey.site_id == site.id)
    if before is not None and before.id is not None:
        query = query.where(Survey.id != before.id)
    return db.session.scalar(query.order_by(Survey.updated_at.desc(), Survey.id.desc()).limit(1))


def start(detail: Detail, site: Site, author: User) -> Survey:
    """A new draft for the venue, copied from the venue's last survey when there is one."""
    survey = Survey(detail=detail, site=site, author=author, status="draft")
    previous = last_for_venue(site)
    if previous is not None:
        survey.copied_from_id = previous.id
        for f in FIELDS:
            setattr(survey, f.name, getattr(previous, f.name))
        others = {s.id for s in detail.sites}
        for route in previous.routes:
            if route.to_site_id in others:
                survey.routes.append(
                    SurveyRoute(
                        to_site_id=route.to_site_id,
                        primary_route=route.primary_route,
                        alternate_route=route.alternate_route,
                        # Times are kept as a guide but must be measured again for this movement.
                        primary_minutes=route.primary_minutes,
                        alternate_minutes=route.alternate_minutes,
                        measured_at=route.measured_at,
                    )
                )
    db.session.add(survey)
    db.session.flush()
    return survey


def _minutes(raw: str, field: str, errors: dict) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        errors[field] = "give whole minutes, such as 12"
        return None
    if not 0 <= value <= MINUTES_LIMIT:
        errors[field] = f"must be between 0 and {MINUTES_LIMIT} minutes"
        return None
    return value


def _text(raw: str | None, limit: int, field: str, errors: dict) -> str:
    value = strip(raw or "") or ""
    if len(value) > limit:
        errors[field] = f"at most {limit} characters"
    return value


def apply(survey: Survey, form: dict, route_times: dict[int, datetime | None]) -> None:
    """Copy the posted fields onto the survey; raises SurveyError (nothing applied) when any is wrong.

    form holds the fields by name, and route-<site id>-<field> for the routes to the detail's other
    venues; route_times the measured moment per site (already read in the venue's time zone).
    """
    errors: dict[str, str] = {}
    values: dict = {}
    for f in FIELDS:
        if f.kind == "minutes":
            values[f.name] = _minutes(form.get(f.name, ""), f.name, errors)
        else:
            values[f.name] = _text(form.get(f.name), TEXT_LIMITS[f.kind], f.name, errors)
    routes = {}
    for site in route_sites(survey):
        prefix = f"route-{site.id}-"
        routes[site.id] = {
            "primary_route": _text(
                form.get(prefix + "primary_route"), ROUTE_TEXT_LIMIT, prefix + "primary_route", errors
            ),
            "alternate_route": _text(
                form.get(prefix + "alternate_route"), ROUTE_TEXT_LIMIT, prefix + "alternate_route", errors
            ),
            "primary_minutes": _minutes(form.get(prefix + "primary_minutes", ""), prefix + "primary_minutes", errors),
            "alternate_minutes": _minutes(
                form.get(prefix + "alternate_minutes", ""), prefix + "alternate_minutes", errors
            ),
            "measured_at": route_times.get(site.id),
        }
    if errors:
        raise SurveyError(errors)
    for name, value in values.items():
        setattr(survey, name, value)
    existing = {r.to_site_id: r for r in survey.routes}
    for site_id, route_values in routes.items():
        if not any(v for v in route_values.values()):
            if site_id in existing:
                survey.routes.remove(existing[site_id])
            continue
        route = existing.get(site_id) or SurveyRoute(to_site_id=site_id)
        for name, value in route_values.items():
            setattr(route, name, value)
        if site_id not in existing:
            survey.routes.append(route)
    survey.updated_at = utcnow()


def route_sites(survey: Survey) -> list[Site]:
    """The detail's other venues: where routes from this one may lead."""
    return [s for s in survey.detail.sites if s.id != survey.site_id]


def _event(survey: Survey, by: User) -> Event:
    db.session.flush()
    return live.append_event(
        survey.detail.client.organisation_id,
        survey.detail_id,
        "survey",
        {"survey_id": survey.id, "site": survey.site.name, "status": survey.status, "by": by.name},
    )


def submit(survey: Survey, by: User) -> Event:
    survey.status, survey.submitted_at = "submitted", utcnow()
    return _event(survey, by)


def review(survey: Survey, by: User, approve: bool, note: str = "") -> Event:
    survey.status = "approved" if approve else "returned"
    survey.reviewed_by, survey.reviewed_at, survey.review_note = by, utcnow(), note
    return _event(survey, by)


def reopen(survey: Survey, by: User) -> Event:
    survey.status = "draft"
    return _event(survey, by)


# ---------------------------------------------------------------- what others see


def route_warnings(survey: Survey) -> dict[int, str]:
    """Per route: a warning when its travel times were measured far from the movement's time of day."""
    warnings = {}
    for route in survey.routes:
        movement = next(
            (
                m
                for m in survey.detail.movements
                if m.from_site_id == survey.site_id and m.to_site_id == route.to_site_id
            ),
            None,
        )
        if movement is None:
            continue
        tz = survey.site.timezone
        if route.measured_at is None:
            warnings[route.id] = f"not measured; the movement leaves at {local_time(movement.departs_at, tz, CLOCK)}"
            continue
        measured = route.measured_at.astimezone(movement.departs_at.tzinfo)
        as_of_day = datetime.combine(movement.departs_at.date(), measured.timetz())
        gap = abs(as_of_day - movement.departs_at)
        gap = min(gap, timedelta(days=1) - gap)
        if gap > MEASURED_TOLERANCE:
            warnings[route.id] = (
                f"measured at {local_time(route.measured_at, tz, CLOCK)}, but the movement leaves at "
                f"{local_time(movement.departs_at, tz, CLOCK)}: measure again at that time of day"
            )
    return warnings


def for_detail(detail: Detail) -> list[Survey]:
    return list(db.session.scalars(sa.select(Survey).where(Survey.detail_id == detail.id).order_by(Survey.id)))


def phone_section(detail: Detail) -> dict:
    """For the detail's agents' phones: where the surveys are, and the approved ones' key points."""
    found = {s.site_id: s for s in for_detail(detail)}
    return {
        "surveys_url": url_for("surveys.detail_surveys", detail_id=detail.id),
        "surveys": [
            {
                "site": s.site.name,
                "status": s.status,
                "url": url_for("surveys.survey", survey_id=s.id),
                "safe_room": s.safe_room if s.status == "approved" else None,
                "hospital": s.hospital_name if s.status == "approved" else None,
                "radio_channel": s.radio_channel if s.status == "approved" else None,
            }
            for s in found.values()
        ],
    }


def board_section(detail: Detail) -> dict:
    """For the board: each venue's survey status (the survey itself is one click away)."""
    surveys = {s.site_id: s for s in for_detail(detail)}
    return {
        "surveys": [
            {
                "site": site.name,
                "status": surveys[site.id].status if site.id in surveys else "none",
                "survey_id": surveys[site.id].id if site.id in surveys else None,
            }
            for site in detail.sites
        ]
    }
