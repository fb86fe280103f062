"""Coordinator page for texts out: those that need a person (failed for good, undelivered, uncertain)
with a deliberate "Send again", and the organisation's recent texts with what became of each.

Sending again only makes the text due: the "texts" job sends it, as it sends every text.
"""

from datetime import timedelta

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from sqlalchemy import orm as so

from detail.domain import texts
from detail.extensions import db
from detail.models import TextMessage, utcnow
from detail.web.admin.base import Ask, ConfirmForm, bp, done, org_id, org_zone, unconfirmed
from detail.web.auth import staff_required

# How far back the page looks for texts that need attention, and how many recent texts it lists.
ATTENTION_WINDOW = timedelta(days=7)
RECENT = 50


def resending(text: TextMessage) -> Ask:
    """What sending a text again does, asked first: an uncertain one may arrive twice."""
    who = text.user.name if text.user else text.to_number
    effect = f"The text goes to {text.to_number} again within seconds."
    if text.status == "uncertain":
        effect += (
            " It may have arrived already: the sender stopped without knowing. Check the provider's "
            "message log first, or the person may get it twice."
        )
    return Ask(f"Send the text to {who} again?", effect, "Send again", url_for("admin.texts"), danger=False)


@bp.route("/texts", endpoint="texts")
@staff_required
def texts_page():
    """Texts that need attention, and the recent ones."""
    recent = db.session.scalars(
        sa.select(TextMessage)
        .where(TextMessage.organisation_id == org_id())
        .options(so.selectinload(TextMessage.user))
        .order_by(TextMessage.id.desc())
        .limit(RECENT)
    ).all()
    return render_template(
        "detail/admin/texts.html",
        attention=texts.texts_needing_attention(org_id(), utcnow() - ATTENTION_WINDOW),
        recent=recent,
        zone=org_zone(),
        confirm=ConfirmForm(),
        resending=resending,
        shown_body=texts.shown_body,
    )


@bp.route("/texts/<int:text_id>/resend", methods=["GET", "POST"], endpoint="resend_text")
@staff_required
def resend_text(text_id: int):
    """Make a failed, undelivered or uncertain text due again, once confirmed."""
    text = db.session.get(TextMessage, text_id)
    if text is None or text.organisation_id != org_id():
        abort(404)  # another organisation's texts do not exist here
    if (page := unconfirmed(resending(text))) is not None:
        return page
    if not texts.resend(text.id):
        flash(f"The text to {text.to_number} is {text.status}: nothing to send again.", "info")
        return redirect(url_for("admin.texts"))
    return done(f"The text to {text.to_number} goes again within seconds.", "admin.texts")
