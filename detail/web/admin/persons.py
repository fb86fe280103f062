"""Coordinator pages for persons of interest: who came to notice, how, the assessment and its work-up.

Coordinators only. A coordinator may share a BOLO summary to a detail: its agents' phones then show
that summary (and only it: not the person's name, not the assessment). Clients never see any of this.
"""

from flask import render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import orm as so
from wtforms import BooleanField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from detail.domain.scoping import owned
from detail.extensions import db
from detail.models import Client, Detail, PersonOfInterest, utcnow
from detail.web.admin.base import Ask, ConfirmForm, bp, done, form_page, org_id, owned_or_404, save, unconfirmed
from detail.web.auth import staff_required
from detail.web.kit import optional_id, strip

ASSESSMENT_LABELS = {"non_threat": "Non-threat", "monitor": "Monitor", "elevated": "Elevated"}


class PersonForm(FlaskForm):
    client_id = SelectField("Client", [InputRequired()], coerce=int)
    detail_id = SelectField("Detail (where a BOLO would be shared)", coerce=optional_id)
    name = StringField("Name or alias", [DataRequired(), Length(max=120)], filters=[strip])
    description = TextAreaField("Description", [Length(max=5000)], filters=[strip])
    came_to_notice = TextAreaField("How they came to notice", [Length(max=5000)], filters=[strip])
    assessment = SelectField("Assessment", choices=[SelectChoice(k, v) for k, v in ASSESSMENT_LABELS.items()])
    work_up = TextAreaField("Work-up notes", [Length(max=20000)], filters=[strip])
    bolo = TextAreaField(
        "BOLO summary for the detail's agents (all they are shown: not the name, not the assessment)",
        [Length(max=500)],
        filters=[strip],
    )
    bolo_shared = BooleanField("Share the BOLO summary with the detail's agents")


def person_form(person: PersonOfInterest | None = None) -> PersonForm:
    form = PersonForm(obj=person)
    form.client_id.choices = [
        SelectChoice(c.id, c.name) for c in db.session.scalars(owned(Client, org_id()).order_by(Client.name))
    ]
    form.detail_id.choices = [SelectChoice("", "— none —")] + [
        SelectChoice(d.id, f"{d.name} ({d.client.name})")
        for d in db.session.scalars(owned(Detail, org_id()).order_by(Detail.starts_at.desc()))
    ]
    return form


def _apply(form: PersonForm, person: PersonOfInterest) -> bool:
    client = owned_or_404(Client, form.client_id.data)
    detail = owned_or_404(Detail, form.detail_id.data) if form.detail_id.data else None
    if detail is not None and detail.client_id != client.id:
        form.detail_id.errors.append(f"{detail.name} is not a detail of {client.name}.")
        return False
    if form.bolo_shared.data and (detail is None or not form.bolo.data):
        form.bolo_shared.errors.append("A BOLO is shared to a detail: choose the detail and write the summary.")
        return False
    assessed = (person.assessment, person.work_up) != (form.assessment.data, form.work_up.data or "")
    person.client_id, person.detail_id = client.id, detail.id if detail else None
    person.name, person.description = form.name.data, form.description.data or ""
    person.came_to_notice, person.assessment = form.came_to_notice.data or "", form.assessment.data
    person.work_up, person.bolo, person.bolo_shared = (
        form.work_up.data or "",
        form.bolo.data or "",
        form.bolo_shared.data,
    )
    if assessed or person.assessed_at is None:
        person.assessed_by_id, person.assessed_at = current_user.id, utcnow()
    return True


@bp.route("/persons")
@staff_required
def persons():
    """Persons of interest of the organisation's clients, elevated first."""
    rows = db.session.scalars(
        owned(PersonOfInterest, org_id()).options(so.selectinload(PersonOfInterest.assessed_by))
    ).all()
    order = {"elevated": 0, "monitor": 1, "non_threat": 2}
    rows.sort(key=lambda p: (order[p.assessment], p.name.lower()))
    return render_template(
        "detail/admin/persons.html",
        persons=rows,
        labels=ASSESSMENT_LABELS,
        confirm=ConfirmForm(),
        deletion=person_deletion,
    )


@bp.route("/persons/new", methods=["GET", "POST"])
@staff_required
def new_person():
    form = person_form()
    if form.validate_on_submit():
        person = PersonOfInterest(assessment="monitor", work_up="")
        if _apply(form, person):
            db.session.add(person)
            if save(form):
                return done(f"{person.name} added.", "admin.persons")
    return form_page(
        form,
        "detail/admin/form_page.html",
        title="New person of interest",
        submit="Add",
        back=url_for("admin.persons"),
        back_label="Persons of interest",
    )


@bp.route("/persons/<int:person_id>/edit", methods=["GET", "POST"])
@staff_required
def edit_person(person_id: int):
    person = owned_or_404(PersonOfInterest, person_id)
    form = person_form(person)
    if form.validate_on_submit() and _apply(form, person) and save(form):
        return done(f"{person.name} saved.", "admin.persons")
    return form_page(
        form,
        "detail/admin/form_page.html",
        title=person.name,
        submit="Save",
        back=url_for("admin.persons"),
        back_label="Persons of interest",
    )


def person_deletion(person: PersonOfInterest) -> Ask:
    """What deleting the file does, asked first."""
    return Ask(
        f"Delete the file on {person.name}?",
        "The file is deleted with its assessment and work-up, and a BOLO shared from it leaves the agents' "
        "phones. This cannot be undone.",
        "Delete file",
        url_for("admin.persons"),
    )


@bp.route("/persons/<int:person_id>/delete", methods=["GET", "POST"])
@staff_required
def delete_person(person_id: int):
    """Delete a person of interest's file, once confirmed."""
    person = owned_or_404(PersonOfInterest, person_id)
    if (page := unconfirmed(person_deletion(person))) is not None:
        return page
    db.session.delete(person)
    db.session.commit()
    return done("Deleted.", "admin.persons")


def bolo_section(detail: Detail) -> dict:
    """For the agents' phones: the BOLO summaries shared to this detail, and nothing else of the file.

    Not the name and not the assessment either: the coordinator writes into the summary what the
    agents need to recognise someone, and a phone can be lost or seen over a shoulder.
    """
    summaries = db.session.scalars(
        owned(PersonOfInterest, detail.client.organisation_id)
        .where(PersonOfInterest.detail_id == detail.id, PersonOfInterest.bolo_shared.is_(True))
        .with_only_columns(PersonOfInterest.bolo)
        .order_by(PersonOfInterest.id)
    )
    return {"bolos": [{"summary": summary} for summary in summaries]}
