"""Rules for building a detail's itinerary and team, shared by the coordinator pages and the API.

Each check_* function looks at a row about to be flushed and raises Invalid with a message per
field. The database holds the same rules as constraints; these checks exist so that people get a
sentence about what is wrong instead of an IntegrityError. They never commit.
"""

import functools

import sqlalchemy as sa

from detail.domain.bounds import EARLIEST_YEAR, LATEST_YEAR
from detail.domain.staffing import conflicts, record_override
from detail.extensions import db
from detail.models import Agent, Assignment, Detail, Movement, Principal, Site, User, Visit


class Invalid(ValueError):
    """A row breaks a rule; errors maps field names to what is wrong."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


def _no_autoflush(check):
    # The row under check may already be in the session; flushing it early would raise
    # the IntegrityError these checks are here to prevent.
    @functools.wraps(check)
    def wrapped(row, *args, **kwargs):
        with db.session.no_autoflush:
            return check(row, *args, **kwargs)

    return wrapped


def _detail_of(row) -> Detail:
    return row.detail if row.detail is not None else db.session.get(Detail, row.detail_id)


# Typing mistakes such as year 0001 are refused; shown in a venue's zone they would overflow.
TIME_FIELDS = ("starts_at", "ends_at", "arrives_at", "departs_at", "report_at", "shift_starts_at", "shift_ends_at")


def _plausible_times(row) -> dict[str, str]:
    errors = {}
    for field in TIME_FIELDS:
        moment = getattr(row, field, None)
        if moment is not None and not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
            errors[field] = f"must be between the years {EARLIEST_YEAR} and {LATEST_YEAR}"
    return errors


def _after(errors: dict, later, earlier, field: str, message: str) -> None:
    if later is not None and earlier is not None and later <= earlier:
        errors[field] = message


@_no_autoflush
def check_detail(detail: Detail) -> None:
    errors: dict[str, str] = _plausible_times(detail)
    _after(errors, detail.ends_at, detail.starts_at, "ends_at", "must be after the start")
    if detail.principal_id is not None:
        principal = db.session.get(Principal, detail.principal_id)
        if principal is None or principal.client_id != detail.client_id:
            errors["principal_id"] = "must be a principal of the detail's client"
    if errors:
        raise Invalid(errors)


def _site_of(detail: Detail, site_id: int | None, field: str, errors: dict) -> Site | None:
    if site_id is None:
        return None
    site = db.session.get(Site, site_id)
    if site is None or site.organisation_id != detail.client.organisation_id:
        errors[field] = "no such venue in your organisation"
    return site


@_no_autoflush
def check_visit(visit: Visit) -> None:
    errors: dict[str, str] = _plausible_times(visit)
    _site_of(_detail_of(visit), visit.site_id, "site_id", errors)
    _after(errors, visit.departs_at, visit.arrives_at, "departs_at", "must be after the arrival")
    if errors:
        raise Invalid(errors)


@_no_autoflush
def check_movement(movement: Movement) -> None:
    errors: dict[str, str] = _plausible_times(movement)
    _site_of(_detail_of(movement), movement.from_site_id, "from_site_id", errors)
    _site_of(_detail_of(movement), movement.to_site_id, "to_site_id", errors)
    if movement.from_site_id is not None and movement.from_site_id == movement.to_site_id:
        errors["to_site_id"] = "must be another venue than the one the movement leaves from"
    _after(errors, movement.arrives_at, movement.departs_at, "arrives_at", "must be after the departure")
    if errors:
        raise Invalid(errors)


def _staffing(assignment: Assignment, by: User, errors: dict) -> None:

    found = conflicts(assignment)
    reason = (assignment.override_reason or "").strip()
    if found and not reason:
        errors["agent_id"] = (
            "staffing conflict: " + "; ".join(c.message for c in found) + ". Give a reason to assign anyway."
        )
        return
    assignment.override_reason = reason
    record_override(assignment, by, found)


@_no_autoflush
def check_assignment(assignment: Assignment, by: User) -> None:
    """Refuses (Invalid) what cannot be; `by` is who assigns, kept when a conflict is overridden."""
    errors: dict[str, str] = _plausible_times(assignment)
    detail = _detail_of(assignment)
    agent = db.session.get(Agent, assignment.agent_id) if assignment.agent_id is not None else None
    if agent is None or agent.organisation_id != detail.client.organisation_id:
        errors["agent_id"] = "no such agent in your organisation"
    _site_of(detail, assignment.site_id, "site_id", errors)
    _after(
        errors, assignment.shift_ends_at, assignment.shift_starts_at, "shift_ends_at", "must be after the shift start"
    )
    if assignment.report_at and assignment.shift_ends_at and assignment.report_at > assignment.shift_ends_at:
        errors["report_at"] = "must be before the end of the shift"
    if not errors and agent is not None:
        _staffing(assignment, by, errors)
    others = sa.select(Assignment).where(Assignment.detail_id == detail.id)
    if assignment.id is not None:
        others = others.where(Assignment.id != assignment.id)
    if agent is not None and db.session.scalar(others.where(Assignment.agent_id == agent.id)):
        errors["agent_id"] = f"{agent.call_sign} is already assigned to this detail"
    if assignment.role == "detail_lead":
        lead = db.session.scalar(others.where(Assignment.role == "detail_lead"))
        if lead is not None:
            errors["role"] = f"the detail already has a lead ({lead.agent.call_sign}); change that assignment first"
    if errors:
        raise Invalid(errors)
