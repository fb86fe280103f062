"""Coordinator pages for the requests inbox: log a request taken by phone or email, acknowledge,
answer (with what other packages let the coordinator attach: intel's advisories, through
detail.hooks.REQUEST_ATTACHMENTS), and the monthly response figures per client."""

from datetime import timedelta

import sqlalchemy as sa
from flask import abort, flash, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import orm as so
from wtforms import DateTimeLocalField, HiddenField, SelectChoice, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from detail import hooks
from detail.domain import escalation, live
from detail.domain import requests as inbox
from detail.domain.scoping import owned
from detail.extensions import db
from detail.models import REQUEST_CHANNELS, REQUEST_PRIORITIES, Client, ClientRequest, Detail, User, utcnow
from detail.web.admin.base import LOCAL_FORMATS, bp, done, form_page, org_id, org_zone, owned_or_404, utc_times
from detail.web.auth import staff_required
from detail.web.kit import optional_id, strip

PRIORITY_CHOICES = [SelectChoice(p, inbox.PRIORITY_LABELS[p]) for p in REQUEST_PRIORITIES]


class RequestForm(FlaskForm):
    client_id = SelectField("Client", [InputRequired()], coerce=int)
    contact_id = SelectField("From (the contact to keep informed)", coerce=optional_id)
    detail_id = SelectField("About the detail", coerce=optional_id)
    channel = SelectField(
        "Came in by",
        choices=[SelectChoice(c, inbox.CHANNEL_LABELS[c]) for c in REQUEST_CHANNELS if c != "portal"],
        default="phone",
    )
    priority = SelectField("Priority", choices=PRIORITY_CHOICES, default="normal")
    subject = StringField("Request", [DataRequired(), Length(max=200)], filters=[strip])
    body = TextAreaField("Details", [Length(max=5000)], filters=[strip])
    received_at = DateTimeLocalField("Received at (empty: now)", [Optional()], format=LOCAL_FORMATS)


class AcknowledgeForm(FlaskForm):
    note = TextAreaField("Acknowledgment (optional, sent to the contact)", [Length(max=2000)], filters=[strip])


class AnswerForm(FlaskForm):
    answer = TextAreaField("Answer (sent to the contact)", [DataRequired(), Length(max=10000)], filters=[strip])
    # "yes" from the check page's send button: without it the answer is shown for checking first.
    confirmed = HiddenField()
    # The check page's "Change it": back to the page with what was typed and ticked.
    edit = SubmitField("Change it")


def request_form() -> RequestForm:
    form = RequestForm(client_id=request.args.get("client", type=int))
    clients = db.session.scalars(owned(Client, org_id()).order_by(Client.name)).all()
    form.client_id.choices = [SelectChoice(c.id, c.name) for c in clients]
    contacts = db.session.scalars(
        sa.select(User)
        .join(Client, User.client_id == Client.id)
        .where(Client.organisation_id == org_id())
        .order_by(User.name)
    ).all()
    form.contact_id.choices = [SelectChoice("", "— nobody to inform —")] + [
        SelectChoice(u.id, f"{u.name} ({u.client.name})") for u in contacts
    ]
    details = db.session.scalars(owned(Detail, org_id()).order_by(Detail.starts_at.desc()).limit(200)).all()
    form.detail_id.choices = [SelectChoice("", "— none in particular —")] + [
        SelectChoice(d.id, f"{d.name} ({d.client.name})") for d in details
    ]
    return form


def _check_and_build(form: RequestForm) -> ClientRequest | None:
    client = owned_or_404(Client, form.client_id.data)
    contact = owned_or_404(User, form.contact_id.data) if form.contact_id.data else None
    detail = owned_or_404(Detail, form.detail_id.data) if form.detail_id.data else None
    if contact is not None and contact.client_id != client.id:
        form.contact_id.errors.append(f"{contact.name} is not a contact of {client.name}.")
    if detail is not None and detail.client_id != client.id:
        form.detail_id.errors.append(f"{detail.name} is not a detail of {client.name}.")
    received_at = utcnow()
    if form.received_at.data is not None:
        times = utc_times(form, {"received_at": org_zone()})
        if times is None:
            return None
        received_at = times["received_at"]
        if received_at > utcnow() + timedelta(minutes=1):
            form.received_at.errors.append("A request cannot be received in the future.")
        elif received_at < utcnow() - timedelta(days=31):
            form.received_at.errors.append("Log requests within a month of receiving them.")
    if form.contact_id.errors or form.detail_id.errors or form.received_at.errors:
        return None
    req, event = inbox.log_request(
        client=client,
        detail=detail,
        contact=contact,
        logged_by=current_user,
        channel=form.channel.data,
        priority=form.priority.data,
        subject=form.subject.data,
        body=form.body.data or "",
        received_at=received_at,
    )
    db.session.commit()
    live.publish([event])
    return req


@bp.route("/requests")
@staff_required
def requests_inbox():
    """Waiting for acknowledgment (oldest first), then waiting for an answer, then the last answered."""
    query = (
        owned(ClientRequest, org_id())
        .options(so.selectinload(ClientRequest.contact), so.selectinload(ClientRequest.client))
        .order_by(ClientRequest.received_at, ClientRequest.id)
    )
    client_id = request.args.get("client", type=int)
    client = owned_or_404(Client, client_id) if client_id else None
    if client is not None:
        query = query.where(ClientRequest.client_id == client.id)
    rows = db.session.scalars(query.where(ClientRequest.answered_at.is_(None))).all()
    answered = db.session.scalars(
        query.where(ClientRequest.answered_at.is_not(None))
        .order_by(None)
        .order_by(ClientRequest.answered_at.desc())
        .limit(20)
    ).all()
    organisation = current_user.organisation
    now = utcnow()
    return render_template(
        "detail/admin/requests.html",
        waiting=[r for r in rows if r.acknowledged_at is None],
        acknowledged=[r for r in rows if r.acknowledged_at is not None],
        answered=answered,
        client=client,
        overdue={r.id for r in rows if inbox.overdue(r, organisation, now)},
        tz=org_zone(),
        now=now,
        minutes=inbox.minutes_between,
    )


@bp.route("/requests/new", methods=["GET", "POST"])
@staff_required
def new_request():
    form = request_form()
    if form.validate_on_submit():
        req = _check_and_build(form)
        if req is not None:
            return done("Request logged.", "admin.request_view", request_id=req.id)
    return form_page(
        form,
        "detail/admin/form_page.html",
        title="Log a request",
        submit="Log request",
        back=url_for("admin.requests_inbox"),
        back_label="Requests",
    )


def _page(req: ClientRequest, status: int = 200, formdata=None, refused: str | None = None, **forms):
    """The request's page: the request, its acknowledgment and answer, and beside it what other
    packages add (intel's panel), which keeps the choices of a refused or edited answer."""
    context = {
        "ack_form": AcknowledgeForm(prefix="ack", formdata=None),
        "answer_form": AnswerForm(prefix="answer", formdata=None),
    }
    context.update(forms)
    # The page's own answer form always asks for the check first.
    context["answer_form"].confirmed.data = ""
    return render_template(
        "detail/admin/request.html",
        req=req,
        tz=org_zone(),
        minutes=inbox.minutes_between,
        sections=[attachments.panel(req, formdata) for attachments in hooks.REQUEST_ATTACHMENTS],
        refused=refused,
        **context,
    ), status


@bp.route("/requests/<int:request_id>")
@staff_required
def request_view(request_id: int):
    return _page(owned_or_404(ClientRequest, request_id))


@bp.route("/requests/<int:request_id>/acknowledge", methods=["POST"])
@staff_required
def acknowledge_request(request_id: int):
    req = owned_or_404(ClientRequest, request_id)
    form = AcknowledgeForm(prefix="ack")
    if not form.validate_on_submit():
        return _view_again(req, ack_form=form)
    try:
        event = inbox.acknowledge(req, current_user, form.note.data or "")
    except inbox.BeforeReceipt as refused:
        return _refused(req, str(refused))
    stopped = escalation.acknowledge_request(req, current_user, "board") if event is not None else []
    db.session.commit()
    if event is None:
        return done("Already acknowledged.", "admin.request_view", request_id=req.id)
    live.publish([event, *stopped])
    return done("Acknowledged; the contact is told.", "admin.request_view", request_id=req.id)


@bp.route("/requests/<int:request_id>/answer", methods=["POST"])
@staff_required
def answer_request(request_id: int):
    """Answer in two steps: the check of what the contact will receive, then, confirmed, the answer
    with its attachments in one commit. A second send of the same answer changes nothing."""
    req = owned_or_404(ClientRequest, request_id)
    form = AnswerForm(prefix="answer")
    if not form.validate_on_submit():
        return _view_again(req, answer_form=form)
    if req.answered_at is not None:
        return done("Already answered: nothing more was sent.", "admin.request_view", request_id=req.id)
    if form.edit.data:
        return _page(req, answer_form=form, formdata=request.form)
    now = utcnow()
    try:
        if form.confirmed.data != "yes":
            previews = [attachments.preview(req, request.form) for attachments in hooks.REQUEST_ATTACHMENTS]
            form.confirmed.data = "yes"  # what the check page's send button carries
            return render_template("detail/admin/request_check.html", req=req, form=form, previews=previews)
        events = [
            event
            for attachments in hooks.REQUEST_ATTACHMENTS
            for event in attachments.attach(req, current_user, request.form, now)
        ]
    except hooks.AnswerRefused as refused:
        db.session.rollback()
        return _page(req, refused.status, request.form, refused.message, answer_form=form)
    try:
        event = inbox.answer(req, current_user, form.answer.data, now)
    except inbox.BeforeReceipt as refused:
        return _refused(req, str(refused))
    if event is None:  # answered a moment ago, by a double click or a colleague: undo what this one did
        db.session.rollback()
        return done("Already answered: nothing more was sent.", "admin.request_view", request_id=req.id)
    # The answer acknowledges the request too: its escalation stops now, not at the job's next run.
    stopped = escalation.acknowledge_request(req, req.acknowledged_by or current_user, "board", now)
    db.session.commit()
    live.publish([*events, event, *stopped])
    return done("Answered; the contact is told.", "admin.request_view", request_id=req.id)


def _refused(req: ClientRequest, message: str):
    """The request's page again with why the step was refused (409: the request's times are in the way)."""
    db.session.rollback()
    flash(message, "error")
    return _page(req, 409)


def _view_again(req: ClientRequest, **forms):
    db.session.rollback()
    return _page(req, 400, request.form, **forms)


@bp.route("/requests/figures")
@staff_required
def request_figures():
    client_id = request.args.get("client", type=int)
    client = owned_or_404(Client, client_id) if client_id else None
    if client_id is not None and client is None:
        abort(404)
    return render_template(
        "detail/admin/request_figures.html",
        rows=inbox.figures(current_user.organisation, client.id if client else None),
        client=client,
    )
