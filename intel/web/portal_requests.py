"""The client portal's requests: a contact asks the team (with a priority), and follows the
acknowledgment and the answer, with the advisories the team attached to it (published ones, in the
words written for the client). A contact sees the requests of its own client only."""

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from detail.domain import live
from detail.domain import requests as inbox
from detail.extensions import db
from detail.models import REQUEST_PRIORITIES, ClientRequest, Detail, utcnow
from detail.web.kit import optional_id, strip
from intel.domain.answers import attached_for_client
from intel.web.portal import bp, client_required, contact_zone

PRIORITY_HINTS = {
    "urgent": "Urgent: needs the team now",
    "normal": "Normal: today",
    "low": "Low: when convenient",
}


class PortalRequestForm(FlaskForm):
    subject = StringField("Your request or question", [DataRequired(), Length(max=200)], filters=[strip])
    body = TextAreaField("Details (optional)", [Length(max=5000)], filters=[strip])
    detail_id = SelectField("About", coerce=optional_id)
    priority = SelectField(
        "Priority", choices=[SelectChoice(p, PRIORITY_HINTS[p]) for p in REQUEST_PRIORITIES], default="normal"
    )


def _form() -> PortalRequestForm:
    form = PortalRequestForm()
    details = db.session.scalars(
        sa.select(Detail)
        .where(Detail.client_id == current_user.client_id, Detail.ends_at >= utcnow(), Detail.state != "complete")
        .order_by(Detail.starts_at)
    ).all()
    form.detail_id.choices = [SelectChoice("", "— nothing in particular —")] + [
        SelectChoice(d.id, d.name) for d in details
    ]
    return form


@bp.route("/requests", methods=["GET", "POST"])
@client_required
def requests():
    """The client's requests, newest first, and a form to make one."""
    form = _form()
    if form.validate_on_submit():
        detail = db.session.get(Detail, form.detail_id.data) if form.detail_id.data else None
        if detail is not None and detail.client_id != current_user.client_id:
            abort(404)
        req, event = inbox.log_request(
            client=current_user.client,
            detail=detail,
            contact=current_user,
            logged_by=current_user,
            channel="portal",
            priority=form.priority.data,
            subject=form.subject.data,
            body=form.body.data or "",
        )
        db.session.commit()
        live.publish([event])
        flash("Sent to your protection team. You will see their acknowledgment here and by email.", "success")
        return redirect(url_for("portal.request_view", request_id=req.id))
    rows = db.session.scalars(
        sa.select(ClientRequest)
        .where(ClientRequest.client_id == current_user.client_id)
        .order_by(ClientRequest.received_at.desc())
        .limit(100)
    ).all()
    status = 400 if form.is_submitted() else 200
    return render_template(
        "intel/portal/requests.html", form=form, requests=rows, zone=contact_zone(current_user)
    ), status


@bp.route("/requests/<int:request_id>")
@client_required
def request_view(request_id: int):
    req = db.session.get(ClientRequest, request_id)
    if req is None or req.client_id != current_user.client_id:
        abort(404)
    return render_template(
        "intel/portal/request.html",
        req=req,
        zone=contact_zone(current_user),
        minutes=inbox.minutes_between,
        advisories=attached_for_client(req) if req.answered_at else [],
    )
