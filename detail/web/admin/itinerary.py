"""The detail page (the detail's file) and its itinerary: the principal's visits and movements, and the
team's assignments. The file's other sections are read by detail/domain/detail_file.py and link to the
pages that edit them.

Times are typed and shown in the zone of the venue they happen at: a visit in its venue's,
a movement's departure in the venue it leaves and its arrival in the one it reaches, an
assignment's times in its reporting venue's (the organisation's when it has none).
The add forms sit on the detail page; a bad one re-renders that page with its messages.
Removing a row asks first (Ask) and can be undone for a short while (domain/removals.py).
"""

import functools

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import orm as so
from wtforms import SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from detail import hooks
from detail.domain import detail_file, lifecycle, live, removals
from detail.domain.after_action import lessons_for
from detail.domain.history import details_for_client
from detail.domain.itinerary import Invalid, check_assignment, check_movement, check_visit
from detail.domain.scoping import owned
from detail.domain.timefmt import detail_zone
from detail.extensions import db
from detail.models import ASSIGNMENT_ROLE_LABELS, Agent, Assignment, Detail, Movement, Removal, Site, User, Visit
from detail.web.admin.base import (
    Ask,
    ConfirmForm,
    bp,
    done,
    form_page,
    local_datetime,
    org_id,
    org_zone,
    owned_or_404,
    save,
    site_zone,
    to_local,
    unconfirmed,
    utc_times,
)
from detail.web.admin.details import state_change
from detail.web.auth import staff_required
from detail.web.kit import optional_id, strip

FORM_PAGE = "detail/admin/form_page.html"


class VisitForm(FlaskForm):
    site_id = SelectField("Venue", [InputRequired()], coerce=int)
    arrives_at = local_datetime("Arrives")
    departs_at = local_datetime("Departs")
    purpose = StringField("Purpose", [Length(max=200)], filters=[strip])


class MovementForm(FlaskForm):
    from_site_id = SelectField("From", [InputRequired()], coerce=int)
    to_site_id = SelectField("To", [InputRequired()], coerce=int)
    departs_at = local_datetime("Departs")
    arrives_at = local_datetime("Arrives")
    notes = TextAreaField("Notes", filters=[strip])


class AssignmentForm(FlaskForm):
    agent_id = SelectField("Agent", [InputRequired()], coerce=int)
    role = SelectField("Role", choices=[SelectChoice(role, label) for role, label in ASSIGNMENT_ROLE_LABELS.items()])
    site_id = SelectField("Reporting venue", coerce=optional_id)
    report_at = local_datetime("Report time")
    shift_starts_at = local_datetime("Shift starts")
    shift_ends_at = local_datetime("Shift ends")
    override_reason = StringField("Assign despite a staffing conflict, because", [Length(max=300)], filters=[strip])


# --- choices and forms --------------------------------------------------------------------------


def site_choices() -> list[SelectChoice]:
    """The organisation's venues, each labelled with its zone since times are typed in it."""
    sites = db.session.scalars(owned(Site, org_id()).order_by(Site.name))
    return [SelectChoice(s.id, f"{s.name} ({s.timezone})") for s in sites]


def agent_choices(keep: int | None = None, detail: Detail | None = None) -> list[SelectChoice]:
    """Active agents, plus the one already on the assignment being edited even if since deactivated.

    For a detail, the agents who already know its client come first, with how many of its details
    they have worked: a familiar face is what clients ask for."""
    agents = db.session.scalars(
        owned(Agent, org_id())
        .join(User, Agent.user_id == User.id)
        .options(so.contains_eager(Agent.user))
        .where(sa.or_(User.active, Agent.id == keep))
        .order_by(Agent.call_sign)
    ).all()
    known = details_for_client(detail.client_id, detail.starts_at) if detail is not None else {}
    agents.sort(key=lambda a: -known.get(a.id, 0))

    def label(agent: Agent) -> str:
        text = f"{agent.call_sign} — {agent.user.name}" + ("" if agent.user.active else " (inactive)")
        count = known.get(agent.id, 0)
        if count:
            text += f" · {count} {'detail' if count == 1 else 'details'} for {detail.client.name}"
        return text

    return [SelectChoice(a.id, label(a)) for a in agents]


def visit_form(visit: Visit | None = None) -> VisitForm:
    """The visit form, filled from the visit (in its venue's zone) on GET."""
    data = None
    if visit is not None:
        tz = visit.site.timezone
        data = {
            "site_id": visit.site_id,
            "arrives_at": to_local(visit.arrives_at, tz),
            "departs_at": to_local(visit.departs_at, tz),
            "purpose": visit.purpose,
        }
    form = VisitForm(prefix="visit", data=data)
    form.site_id.choices = site_choices()
    return form


def movement_form(movement: Movement | None = None) -> MovementForm:
    """The movement form, filled from the movement (each end in its venue's zone) on GET."""
    data = None
    if movement is not None:
        data = {
            "from_site_id": movement.from_site_id,
            "to_site_id": movement.to_site_id,
            "departs_at": to_local(movement.departs_at, movement.from_site.timezone),
            "arrives_at": to_local(movement.arrives_at, movement.to_site.timezone),
            "notes": movement.notes,
        }
    form = MovementForm(prefix="movement", data=data)
    form.from_site_id.choices = form.to_site_id.choices = site_choices()
    return form


def assignment_form(assignment: Assignment | None = None, detail: Detail | None = None) -> AssignmentForm:
    """The assignment form, filled from the assignment (in its reporting zone) on GET."""
    data = None
    if assignment is not None:
        tz = assignment.site.timezone if assignment.site else org_zone()
        data = {
            "agent_id": assignment.agent_id,
            "role": assignment.role,
            "site_id": assignment.site_id,
            "report_at": to_local(assignment.report_at, tz),
            "shift_starts_at": to_local(assignment.shift_starts_at, tz),
            "shift_ends_at": to_local(assignment.shift_ends_at, tz),
            # A reason covers the conflicts of the save it was given for: a later edit gives its own.
            "override_reason": "",
        }
    form = AssignmentForm(prefix="assignment", data=data)
    form.agent_id.choices = agent_choices(keep=assignment.agent_id if assignment else None, detail=detail)
    form.site_id.choices = [SelectChoice("", f"— no venue ({org_zone()}) —")] + site_choices()
    return form


def zone_hints(
    visit: str | None = None, departs: str | None = None, arrives: str | None = None, assignment: str | None = None
) -> dict[str, dict[str, str]]:
    """Per form, the zone each time input is typed in; the arguments name a row's current zones when editing."""

    def hint(where: str, now: str | None) -> str:
        return f"local time at {where}" + (f", now {now}" if now else "")

    at_venue = hint("the chosen venue", visit)
    report = hint(f"the chosen venue, else {org_zone()}", assignment)
    return {
        "visit": {"arrives_at": at_venue, "departs_at": at_venue},
        "movement": {"departs_at": hint("the From venue", departs), "arrives_at": hint("the To venue", arrives)},
        "assignment": dict.fromkeys(("report_at", "shift_starts_at", "shift_ends_at"), report),
    }


def _visit_times(form: VisitForm) -> dict | None:
    tz = site_zone(form.site_id.data, org_zone())
    return utc_times(form, {"arrives_at": tz, "departs_at": tz})


def _movement_times(form: MovementForm) -> dict | None:
    return utc_times(
        form,
        {
            "departs_at": site_zone(form.from_site_id.data, org_zone()),
            "arrives_at": site_zone(form.to_site_id.data, org_zone()),
        },
    )


def _assignment_times(form: AssignmentForm) -> dict | None:
    tz = site_zone(form.site_id.data, org_zone())
    return utc_times(form, {"report_at": tz, "shift_starts_at": tz, "shift_ends_at": tz})


def _part_of(model, detail_id: int, row_id: int):
    """The detail and its visit, movement or assignment; 404 unless both are the organisation's and belong together."""
    detail = owned_or_404(Detail, detail_id)
    row = owned_or_404(model, row_id)
    if row.detail_id != detail.id:
        abort(404)
    return detail, row


def _edit_page(detail: Detail, kind: str, hints: dict[str, dict[str, str]]) -> dict:
    return {
        "title": f"Edit {kind}: {detail.name}",
        "submit": f"Save {kind}",
        "back": url_for("admin.detail", detail_id=detail.id, _anchor=kind + "s"),
        "back_label": detail.name,
        "hints": hints[kind],
    }


UNDO_NOTE = f"You can undo this for {int(removals.UNDO_WINDOW.total_seconds())} seconds."


def _back(detail: Detail, anchor: str) -> str:
    return url_for("admin.detail", detail_id=detail.id, _anchor=anchor)


def visit_removal(visit: Visit) -> Ask:
    """What removing the visit does, the movements that touch it included."""
    name = removals.visit_name(visit)
    effect = " ".join([f"Remove {name}.", *removals.visit_consequences(visit), UNDO_NOTE])
    return Ask(f"Remove {name}?", effect, "Remove visit", _back(visit.detail, "visits"))


def movement_removal(movement: Movement) -> Ask:
    name = removals.movement_name(movement)
    return Ask(f"Remove {name}?", f"Remove {name}. {UNDO_NOTE}", "Remove movement", _back(movement.detail, "movements"))


def assignment_removal(assignment: Assignment) -> Ask:
    agent = assignment.agent.call_sign
    effect = (
        f"Take {agent} off {assignment.detail.name}: the detail leaves {agent}'s phone and calendar, and "
        f"{agent}'s reports no longer go to it. {UNDO_NOTE}"
    )
    title = f"Remove {removals.assignment_name(assignment)}?"
    return Ask(title, effect, "Remove assignment", _back(assignment.detail, "assignments"))


def _removed(detail: Detail, removal: Removal, event, anchor: str):
    # No flash: the detail page shows the removal itself, with its Undo button (undo notices).
    db.session.commit()
    live.publish([event])
    return redirect(_back(detail, anchor))


# --- the detail page ----------------------------------------------------------------------------


def detail_page(detail: Detail, **failed):
    """Render the detail page; a form passed in failed, so it is shown with its messages and a 400."""
    if failed:
        db.session.rollback()  # drop the rejected row before the page lists the detail's rows
    forms = {
        "visit_form": visit_form(),
        "movement_form": movement_form(),
        "assignment_form": assignment_form(detail=detail),
        **failed,
    }
    sections = detail_file.plugged_sections(detail, hooks.DETAIL_SECTIONS)
    advisories = detail_file.advisory_rows(sections.get("advisories", []), detail_zone(detail))
    page = render_template(
        "detail/admin/detail.html",
        detail=detail,
        f=detail_file.read(detail),
        advisories=advisories,
        candidates=sum(1 for a in advisories if a["status"] == "candidate"),
        zone=org_zone(),
        confirm=ConfirmForm(),
        hints=zone_hints(),
        lessons=lessons_for(detail),
        state_moves={m.to_state: state_change(detail, m) for m in lifecycle.moves_from(detail.state)},
        visit_removal=visit_removal,
        movement_removal=movement_removal,
        assignment_removal=assignment_removal,
        undo=[(r, removals.seconds_left(r)) for r in removals.undoable(detail, current_user)],
        **forms,
    )
    return page, 400 if failed else 200


@bp.route("/details/<int:detail_id>")
@staff_required
def detail(detail_id: int):
    """The detail's file: its itinerary and team (with forms to add to each), the live state, intel,
    requests, risks, surveys, handoffs and timeline, each linking to the page that edits it."""
    return detail_page(owned_or_404(Detail, detail_id))


# --- visits -------------------------------------------------------------------------------------


@bp.route("/details/<int:detail_id>/visits", methods=["POST"])
@staff_required
def add_visit(detail_id: int):
    """Add a visit of the principal to one of the organisation's venues."""
    detail = owned_or_404(Detail, detail_id)
    form = visit_form()
    if form.validate_on_submit() and (times := _visit_times(form)) is not None:
        visit = Visit(detail_id=detail.id, site_id=form.site_id.data, purpose=form.purpose.data or "", **times)
        db.session.add(visit)
        if save(form, (check_visit, visit)):
            return done("Visit added.", "admin.detail", detail_id=detail.id, _anchor="visits")
    return detail_page(detail, visit_form=form)


@bp.route("/details/<int:detail_id>/visits/<int:visit_id>/edit", methods=["GET", "POST"])
@staff_required
def edit_visit(detail_id: int, visit_id: int):
    """Change a visit's venue, times or purpose."""
    detail, visit = _part_of(Visit, detail_id, visit_id)
    hints = zone_hints(visit=visit.site.timezone)
    form = visit_form(visit)
    if form.validate_on_submit() and (times := _visit_times(form)) is not None:
        visit.site_id = form.site_id.data
        visit.arrives_at, visit.departs_at = times["arrives_at"], times["departs_at"]
        visit.purpose = form.purpose.data or ""
        if save(form, (check_visit, visit)):
            return done("Visit saved.", "admin.detail", detail_id=detail.id, _anchor="visits")
    return form_page(form, FORM_PAGE, **_edit_page(detail, "visit", hints))


@bp.route("/details/<int:detail_id>/visits/<int:visit_id>/delete", methods=["GET", "POST"])
@staff_required
def delete_visit(detail_id: int, visit_id: int):
    """Remove a visit and the movements that touch it, once confirmed; undoable for a while."""
    detail, visit = _part_of(Visit, detail_id, visit_id)
    if (page := unconfirmed(visit_removal(visit))) is not None:
        return page
    return _removed(detail, *removals.remove_visit(visit, current_user), "visits")


# --- movements ----------------------------------------------------------------------------------


@bp.route("/details/<int:detail_id>/movements", methods=["POST"])
@staff_required
def add_movement(detail_id: int):
    """Add a movement of the principal between two of the organisation's venues."""
    detail = owned_or_404(Detail, detail_id)
    form = movement_form()
    if form.validate_on_submit() and (times := _movement_times(form)) is not None:
        movement = Movement(
            detail_id=detail.id,
            from_site_id=form.from_site_id.data,
            to_site_id=form.to_site_id.data,
            notes=form.notes.data or "",
            **times,
        )
        db.session.add(movement)
        if save(form, (check_movement, movement)):
            return done("Movement added.", "admin.detail", detail_id=detail.id, _anchor="movements")
    return detail_page(detail, movement_form=form)


@bp.route("/details/<int:detail_id>/movements/<int:movement_id>/edit", methods=["GET", "POST"])
@staff_required
def edit_movement(detail_id: int, movement_id: int):
    """Change a movement's venues, times or notes."""
    detail, movement = _part_of(Movement, detail_id, movement_id)
    hints = zone_hints(departs=movement.from_site.timezone, arrives=movement.to_site.timezone)
    form = movement_form(movement)
    if form.validate_on_submit() and (times := _movement_times(form)) is not None:
        movement.from_site_id, movement.to_site_id = form.from_site_id.data, form.to_site_id.data
        movement.departs_at, movement.arrives_at = times["departs_at"], times["arrives_at"]
        movement.notes = form.notes.data or ""
        if save(form, (check_movement, movement)):
            return done("Movement saved.", "admin.detail", detail_id=detail.id, _anchor="movements")
    return form_page(form, FORM_PAGE, **_edit_page(detail, "movement", hints))


@bp.route("/details/<int:detail_id>/movements/<int:movement_id>/delete", methods=["GET", "POST"])
@staff_required
def delete_movement(detail_id: int, movement_id: int):
    """Remove a movement, once confirmed; undoable for a while."""
    detail, movement = _part_of(Movement, detail_id, movement_id)
    if (page := unconfirmed(movement_removal(movement))) is not None:
        return page
    return _removed(detail, *removals.remove_movement(movement, current_user), "movements")


# --- assignments --------------------------------------------------------------------------------


@bp.route("/details/<int:detail_id>/assignments", methods=["POST"])
@staff_required
def add_assignment(detail_id: int):
    """Put an agent on the detail in a role, with where and when to report and the shift."""
    detail = owned_or_404(Detail, detail_id)
    form = assignment_form(detail=detail)
    if form.validate_on_submit() and (times := _assignment_times(form)) is not None:
        assignment = Assignment(
            detail_id=detail.id,
            agent_id=form.agent_id.data,
            role=form.role.data,
            site_id=form.site_id.data,
            override_reason=form.override_reason.data or "",
            **times,
        )
        db.session.add(assignment)
        if save(form, (functools.partial(check_assignment, by=current_user), assignment)):
            return done("Assignment added.", "admin.detail", detail_id=detail.id, _anchor="assignments")
    return detail_page(detail, assignment_form=form)


@bp.route("/details/<int:detail_id>/assignments/<int:assignment_id>/edit", methods=["GET", "POST"])
@staff_required
def edit_assignment(detail_id: int, assignment_id: int):
    """Change an assignment's agent, role, venue or times."""
    detail, assignment = _part_of(Assignment, detail_id, assignment_id)
    hints = zone_hints(assignment=assignment.site.timezone if assignment.site else org_zone())
    form = assignment_form(assignment, detail=detail)
    if form.validate_on_submit() and (times := _assignment_times(form)) is not None:
        assignment.agent_id, assignment.role = form.agent_id.data, form.role.data
        assignment.site_id = form.site_id.data
        assignment.override_reason = form.override_reason.data or ""
        for name, value in times.items():
            setattr(assignment, name, value)
        if save(form, (functools.partial(check_assignment, by=current_user), assignment)):
            return done("Assignment saved.", "admin.detail", detail_id=detail.id, _anchor="assignments")
    return form_page(form, FORM_PAGE, **_edit_page(detail, "assignment", hints))


@bp.route("/details/<int:detail_id>/assignments/<int:assignment_id>/delete", methods=["GET", "POST"])
@staff_required
def delete_assignment(detail_id: int, assignment_id: int):
    """Take an agent off the detail, once confirmed; undoable for a while."""
    detail, assignment = _part_of(Assignment, detail_id, assignment_id)
    if (page := unconfirmed(assignment_removal(assignment))) is not None:
        return page
    return _removed(detail, *removals.remove_assignment(assignment, current_user), "assignments")


# --- undo ---------------------------------------------------------------------------------------


@bp.route("/details/<int:detail_id>/removals/<int:removal_id>/undo", methods=["POST"])
@staff_required
def undo_removal(detail_id: int, removal_id: int):
    """Put back what was just removed, within the undo window and once."""
    detail, removal = _part_of(Removal, detail_id, removal_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    anchor = removal.kind + "s"
    try:
        event = removals.undo(removal, current_user)
        db.session.commit()
    except removals.CannotUndo as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(_back(detail, anchor))
    except Invalid as exc:
        db.session.rollback()
        flash("Could not put it back: " + "; ".join(exc.errors.values()) + ".", "error")
        return redirect(_back(detail, anchor))
    live.publish([event])
    flash(f"Put back {removal.summary}.", "success")
    return redirect(_back(detail, anchor))
