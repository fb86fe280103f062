"""Coordinator pages for after-action reports: the drafted record with the team's own words and action
items, printable and as a PDF; lessons learned searchable across details."""

import sqlalchemy as sa
from flask import abort, make_response, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import DateField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from detail.domain import after_action
from detail.domain.after_action_pdf import render
from detail.domain.scoping import owned
from detail.extensions import db
from detail.models import STAFF_ROLES, ActionItem, AfterAction, Detail, User
from detail.web.admin.base import Ask, ConfirmForm, bp, done, org_id, owned_or_404, unconfirmed
from detail.web.auth import staff_required
from detail.web.kit import optional_id, strip


class AfterActionForm(FlaskForm):
    went_well = TextAreaField("What went well", [Length(max=20000)], filters=[strip])
    difficulties = TextAreaField("Difficulties", [Length(max=20000)], filters=[strip])
    lessons = TextAreaField(
        "Lessons learned (shown when staffing this client's or these venues' next details)",
        [Length(max=20000)],
        filters=[strip],
    )


class ActionItemForm(FlaskForm):
    text = StringField("Action", [DataRequired(), Length(max=500)], filters=[strip])
    owner_id = SelectField("Owner", coerce=optional_id)
    due_on = DateField("Due", [InputRequired()])


def item_form() -> ActionItemForm:
    form = ActionItemForm(prefix="item")
    staff = db.session.scalars(
        owned(User, org_id()).where(User.role.in_(STAFF_ROLES + ("agent",)), User.active).order_by(User.name)
    ).all()
    form.owner_id.choices = [SelectChoice("", "— nobody yet —")] + [SelectChoice(u.id, u.name) for u in staff]
    return form


def _after_for(detail: Detail) -> AfterAction | None:
    return db.session.scalar(sa.select(AfterAction).where(AfterAction.detail_id == detail.id))


def _page(detail: Detail, form: AfterActionForm | None = None, new_item: ActionItemForm | None = None, status=200):
    after = _after_for(detail)
    report = after_action.build(detail)
    if form is None:
        form = AfterActionForm(obj=after, formdata=None)
    return render_template(
        "detail/admin/after_action.html",
        detail=detail,
        after=after,
        report=report,
        # Built by after_action with every text escaped: safe to place as markup.
        timeline_chart=Markup(after_action.timeline_svg(report)),  # noqa: S704
        punctuality_chart=Markup(after_action.punctuality_svg(report)),  # noqa: S704
        form=form,
        item_form=new_item or item_form(),
        confirm=ConfirmForm(),
        item_removal=item_removal,
    ), status


@bp.route("/details/<int:detail_id>/after-action", methods=["GET", "POST"])
@staff_required
def after_action_report(detail_id: int):
    detail = owned_or_404(Detail, detail_id)
    if request.method == "GET":
        return _page(detail)
    form = AfterActionForm()
    if not form.validate_on_submit():
        return _page(detail, form=form, status=400)
    after = _after_for(detail) or AfterAction(detail=detail)
    after.went_well = form.went_well.data or ""
    after.difficulties = form.difficulties.data or ""
    after.lessons = form.lessons.data or ""
    after.written_by = current_user
    db.session.add(after)
    db.session.commit()
    return done("After-action report saved.", "admin.after_action_report", detail_id=detail.id)


@bp.route("/details/<int:detail_id>/after-action/items", methods=["POST"])
@staff_required
def add_action_item(detail_id: int):
    detail = owned_or_404(Detail, detail_id)
    form = item_form()
    if not form.validate_on_submit():
        return _page(detail, new_item=form, status=400)
    if form.owner_id.data is not None:
        owned_or_404(User, form.owner_id.data)
    after = _after_for(detail) or AfterAction(detail=detail, written_by=current_user)
    after.items.append(ActionItem(text=form.text.data, owner_id=form.owner_id.data, due_on=form.due_on.data))
    db.session.add(after)
    db.session.commit()
    return done("Action item added.", "admin.after_action_report", detail_id=detail.id, _anchor="items")


def _item_or_404(item_id: int) -> ActionItem:
    item = db.session.get(ActionItem, item_id)
    if item is None or item.after_action.detail.client.organisation_id != org_id():
        abort(404)
    return item


@bp.route("/after-action/items/<int:item_id>/toggle", methods=["POST"])
@staff_required
def toggle_action_item(item_id: int):
    item = _item_or_404(item_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    item.done = not item.done
    db.session.commit()
    detail_id = item.after_action.detail_id
    return done("Marked done." if item.done else "Reopened.", "admin.after_action_report", detail_id=detail_id)


def item_removal(item: ActionItem) -> Ask:
    """What removing the action item does, asked first."""
    return Ask(
        f"Remove the action item “{item.text[:80]}”?",
        "The item is deleted from the report; this cannot be undone. To keep it, mark it done instead.",
        "Remove item",
        url_for("admin.after_action_report", detail_id=item.after_action.detail_id),
    )


@bp.route("/after-action/items/<int:item_id>/delete", methods=["GET", "POST"])
@staff_required
def delete_action_item(item_id: int):
    """Remove an action item, once confirmed."""
    item = _item_or_404(item_id)
    if (page := unconfirmed(item_removal(item))) is not None:
        return page
    detail_id = item.after_action.detail_id
    db.session.delete(item)
    db.session.commit()
    return done("Action item removed.", "admin.after_action_report", detail_id=detail_id)


@bp.route("/details/<int:detail_id>/after-action.pdf")
@staff_required
def after_action_pdf(detail_id: int):

    detail = owned_or_404(Detail, detail_id)
    body = render(after_action.build(detail), _after_for(detail))
    response = make_response(body)
    response.headers["Content-Type"] = "application/pdf"
    safe = "".join(c if c.isalnum() else "-" for c in detail.name).strip("-")[:60] or "detail"
    response.headers["Content-Disposition"] = f'attachment; filename="after-action-{safe}.pdf"'
    return response


@bp.route("/lessons")
@staff_required
def lessons():
    """Search the lessons learned (and difficulties, and action items) of every after-action report."""
    words = strip(request.args.get("q", ""))[:200]
    found = after_action.search_lessons(org_id(), words)
    return render_template("detail/admin/lessons.html", words=words, found=found)
