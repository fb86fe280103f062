"""Coordinator pages for details: the list (the coordinator's home), create, edit, and the moves
between a detail's states (go hot, complete, back to planned, reopen).

A detail's own start and end are typed and shown in the organisation's time zone; its
visits, movements and team are managed on the detail page (admin_itinerary). Its state is not
on the edit form: it changes only by a move, asked first and named by the state it leaves
(domain/lifecycle.py), so a slip or a double click cannot carry a detail a step too far.
"""

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import orm as so
from wtforms import SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from detail.domain import lifecycle, live
from detail.domain.itinerary import check_detail
from detail.domain.scoping import owned
from detail.extensions import db
from detail.models import Assignment, Client, Detail, Principal, utcnow
from detail.web.admin.base import (
    Ask,
    bp,
    done,
    form_page,
    local_datetime,
    org_id,
    org_zone,
    owned_or_404,
    save,
    to_local,
    unconfirmed,
    utc_times,
)
from detail.web.auth import staff_required
from detail.web.kit import optional_id, strip, visible_field

FORM_PAGE = "detail/admin/form_page.html"


class DetailForm(FlaskForm):
    name = StringField("Name", [DataRequired(), Length(max=120), visible_field], filters=[strip])
    client_id = SelectField("Client", [InputRequired()], coerce=int)
    principal_id = SelectField("Principal", coerce=optional_id)
    starts_at = local_datetime("Starts")
    ends_at = local_datetime("Ends")
    notes = TextAreaField("Internal notes (never shown to the client)", filters=[strip])


def detail_form(detail: Detail | None = None) -> DetailForm:
    """The form offering this organisation's clients and principals, filled from the detail on GET."""
    data = None
    if detail is not None:
        zone = org_zone()
        data = {
            "name": detail.name,
            "client_id": detail.client_id,
            "principal_id": detail.principal_id,
            "starts_at": to_local(detail.starts_at, zone),
            "ends_at": to_local(detail.ends_at, zone),
            "notes": detail.notes,
        }
    form = DetailForm(data=data)
    form.client_id.choices = [
        SelectChoice(c.id, c.name) for c in db.session.scalars(owned(Client, org_id()).order_by(Client.name))
    ]
    principals = db.session.scalars(
        owned(Principal, org_id())
        .options(so.contains_eager(Principal.client))
        .order_by(Client.name, Principal.code_name)
    )
    # Every principal is offered, labelled with its client; check_detail refuses another client's.
    form.principal_id.choices = [SelectChoice("", "— none —")] + [
        SelectChoice(p.id, f"{p.code_name} — {p.name} ({p.client.name})") for p in principals
    ]
    return form


def _page(detail: Detail | None) -> dict:
    zone = org_zone()
    return {
        "title": f"Edit {detail.name}" if detail else "New detail",
        "submit": "Save detail" if detail else "Create detail",
        "back": url_for("admin.detail", detail_id=detail.id) if detail else url_for("admin.details"),
        "back_label": detail.name if detail else "Details",
        "hints": {"starts_at": f"local time, {zone}", "ends_at": f"local time, {zone}"},
    }


def _fill(detail: Detail, form: DetailForm, times: dict) -> None:
    detail.name = form.name.data
    detail.client_id = form.client_id.data
    detail.principal_id = form.principal_id.data
    detail.starts_at = times["starts_at"]
    detail.ends_at = times["ends_at"]
    detail.notes = form.notes.data or ""


def _times(form: DetailForm) -> dict | None:
    zone = org_zone()
    return utc_times(form, {"starts_at": zone, "ends_at": zone})


def _home_order(detail: Detail, now) -> tuple[int, float]:
    # Hot first, then what is still to come (soonest first), then the rest (latest first).
    if detail.state == "hot":
        return (0, detail.starts_at.timestamp())
    if detail.state == "planned" and detail.ends_at >= now:
        return (1, detail.starts_at.timestamp())
    return (2, -detail.starts_at.timestamp())


@bp.route("/details")
@staff_required
def details():
    """The organisation's details, hot and upcoming first: the coordinator's home."""
    rows = db.session.scalars(
        owned(Detail, org_id()).options(
            so.contains_eager(Detail.client),
            so.selectinload(Detail.principal),
            so.selectinload(Detail.assignments).selectinload(Assignment.agent),
        )
    ).all()
    now = utcnow()
    rows = sorted(rows, key=lambda d: _home_order(d, now))
    current = [d for d in rows if _home_order(d, now)[0] < 2]
    past = [d for d in rows if _home_order(d, now)[0] == 2]
    return render_template("detail/admin/details.html", current=current, past=past, zone=org_zone())


@bp.route("/details/new", methods=["GET", "POST"])
@staff_required
def new_detail():
    """Create a detail for one of the organisation's clients."""
    form = detail_form()
    if form.validate_on_submit() and (times := _times(form)) is not None:
        detail = Detail()
        _fill(detail, form, times)
        db.session.add(detail)
        if save(form, (check_detail, detail)):
            return done(f"Detail {detail.name} created.", "admin.detail", detail_id=detail.id)
    return form_page(form, FORM_PAGE, **_page(detail=None))


@bp.route("/details/<int:detail_id>/edit", methods=["GET", "POST"])
@staff_required
def edit_detail(detail_id: int):
    """Change a detail's name, client, principal, times or notes (its state changes by a move)."""
    detail = owned_or_404(Detail, detail_id)
    form = detail_form(detail)
    if form.validate_on_submit() and (times := _times(form)) is not None:
        _fill(detail, form, times)
        if save(form, (check_detail, detail)):
            return done(f"Detail {detail.name} saved.", "admin.detail", detail_id=detail.id)
    return form_page(form, FORM_PAGE, **_page(detail))


# --- the detail's state -------------------------------------------------------------------------


def state_change(detail: Detail, move: lifecycle.Move) -> Ask:
    """What moving the detail does, asked before it is done."""
    return Ask(
        f"{move.label}: {detail.name}?",
        lifecycle.effect(move, detail.client.organisation),
        move.label,
        url_for("admin.detail", detail_id=detail.id),
        fields={"to": move.to_state, "from_state": move.from_state},
        danger=move.to_state != "planned",
    )


@bp.route("/details/<int:detail_id>/state", methods=["GET", "POST"])
@staff_required
def change_detail_state(detail_id: int):
    """Go hot, complete, go back to planned or reopen, once confirmed.

    The request names the state it moves from: a second one (a double click, a retry, another
    coordinator a moment earlier) finds the detail already moved and changes nothing."""
    detail = owned_or_404(Detail, detail_id)
    to_state = request.values.get("to", "")
    from_state = request.form.get("from_state") or detail.state
    try:
        move = lifecycle.move_between(from_state, to_state)
    except lifecycle.NotAMove:
        flash(f"Nothing changed: a {detail.state} detail cannot be moved to “{to_state}”.", "error")
        return redirect(url_for("admin.detail", detail_id=detail.id))
    if (page := unconfirmed(state_change(detail, move))) is not None:
        return page
    event = lifecycle.change_state(detail, from_state, to_state, current_user)
    db.session.commit()
    if event is None:
        flash(f"Nothing changed: the detail was already {detail.state}, not {from_state}.", "error")
    else:
        live.publish([event])
        flash(f"{detail.name} is {detail.state}.", "success")
    return redirect(url_for("admin.detail", detail_id=detail.id))
