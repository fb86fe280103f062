"""A person's own contact channels: the email addresses and mobile numbers alarms reach them on,
each verified with a code sent to it (detail.domain.contacts). For staff and agents, reached from
their account page; clients' contacts receive no alarms, so they have no such page.

Every wrong code is committed as a used try before the page answers, so reloading never gives
more tries; the code itself never appears in a URL, a flash or a log. The forms name their channel
in the body (channel_id); another person's channel is not found.
"""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length

from detail.domain import contacts
from detail.extensions import db
from detail.models import ContactChannel
from detail.web.admin.base import Ask, ConfirmForm, unconfirmed
from detail.web.auth import roles_required
from detail.web.kit import strip

bp = Blueprint("contacts", __name__, url_prefix="/account/contacts")
PAGE = "auth/contacts.html"
reachable_required = roles_required("admin", "coordinator", "agent")


class AddChannelForm(FlaskForm):
    kind = SelectField(
        "Kind",
        choices=[SelectChoice("sms", "Mobile number (texts)"), SelectChoice("email", "Email address")],
        default="sms",
    )
    address = StringField("Number or address", [DataRequired(), Length(max=254)], filters=[strip])


class CodeForm(FlaskForm):
    code = StringField("Code", [DataRequired("Type the 6-digit code."), Length(max=20)], filters=[strip])


def _region() -> str | None:
    """Where a number typed without its + is read: the configured region, else the organisation's zone's country."""
    return current_app.config.get("PHONE_REGION") or contacts.region_for_zone(current_user.organisation.timezone)


def _channel_or_404() -> ContactChannel:
    """The signed-in person's channel named by the form's channel_id (400 without one, 404 if not theirs)."""
    channel_id = request.form.get("channel_id", type=int)
    if channel_id is None:
        abort(400, "Say which number or address (channel_id).")
    channel = db.session.get(ContactChannel, channel_id)
    if channel is None or channel.user_id != current_user.id:
        abort(404)
    return channel


def channel_removal(channel: ContactChannel) -> Ask:
    """What removing a channel does, asked first."""
    return Ask(
        f"Remove {channel.address}?",
        "Alarms and messages no longer reach you there. To use it again, add it and verify it anew.",
        "Remove",
        url_for("contacts.page"),
        fields={"channel_id": channel.id},
    )


def _page(add_form=None, code_errors: dict | None = None, status: int = 200):
    return render_template(
        PAGE,
        channels=contacts.channels_of(current_user.id),
        add_form=add_form or AddChannelForm(),
        code_form=CodeForm(),
        code_errors=code_errors or {},
        confirm=ConfirmForm(),
        removal=channel_removal,
        region=_region(),
        zone=current_user.organisation.timezone,
        lifetime=int(contacts.CODE_LIFETIME.total_seconds() // 60),
        tries=contacts.MAX_TRIES,
    ), status


@bp.route("")
@reachable_required
def page():
    """Your email addresses and mobile numbers for alarms, with the code form for those not yet verified."""
    return _page()


@bp.route("", methods=["POST"], endpoint="add")
@reachable_required
def add():
    """Add a number or address and send its code at once."""
    form = AddChannelForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    try:
        channel = contacts.add_channel(current_user, form.kind.data, form.address.data, _region())
        contacts.send_code(channel)
    except contacts.ContactRefused as refused:
        db.session.rollback()
        form.address.errors.append(str(refused))
        return _page(form, status=400)
    db.session.commit()
    flash(f"A code is on its way to {channel.address}: type it below.", "success")
    return redirect(url_for("contacts.page"))


@bp.route("/send", methods=["POST"])
@reachable_required
def send():
    """Send a new code (the old one stops working)."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    channel = _channel_or_404()
    try:
        contacts.send_code(channel)
    except contacts.ContactRefused as refused:
        db.session.rollback()
        return _page(code_errors={channel.id: str(refused)}, status=409)
    db.session.commit()
    flash(f"A new code is on its way to {channel.address}.", "success")
    return redirect(url_for("contacts.page"))


@bp.route("/verify", methods=["POST"])
@reachable_required
def verify():
    """Check the typed code; a wrong one uses up one of the tries."""
    form = CodeForm()
    channel = _channel_or_404()
    if not form.validate_on_submit():
        return _page(code_errors={channel.id: " ".join(form.code.errors) or "Type the code."}, status=400)
    outcome = contacts.verify(channel, form.code.data)
    db.session.commit()  # a wrong code's used try too
    if not outcome.verified:
        return _page(code_errors={channel.id: outcome.message}, status=400)
    flash(outcome.message, "success")
    return redirect(url_for("contacts.page"))


@bp.route("/remove", methods=["POST"])
@reachable_required
def remove():
    """Forget a number or address, once confirmed."""
    channel = _channel_or_404()
    if (confirmation := unconfirmed(channel_removal(channel))) is not None:
        return confirmation
    address = channel.address
    contacts.remove_channel(channel)
    db.session.commit()
    flash(f"{address} removed.", "success")
    return redirect(url_for("contacts.page"))
