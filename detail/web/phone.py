"""The agent's phone page: assignments, one button per code, an offline queue; installable.

The page posts JSON with the session cookie and the CSRF token in a header; it shares its
validation (status_schemas) and recording (status.submit_status) with the token API.
"""

from datetime import timedelta

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_login import current_user

from detail import hooks
from detail.domain import detail_file, lifecycle, live, surveys
from detail.domain.handoff import latest
from detail.domain.positions import publish_position, record_position
from detail.domain.statuses import (
    Refused,
    agent_of,
    cover_code,
    keep_loaded_after_commit,
    latest_report,
    organisation_codes,
    submit_status,
)
from detail.domain.timefmt import CLOCK, DEFAULT_FORMAT, assignment_zone, detail_zone, local_time
from detail.extensions import db, limiter
from detail.models import Assignment, Detail, utcnow
from detail.web.admin.handoff import handoff_form, perform
from detail.web.api.status_schemas import PositionIn, StatusIn
from detail.web.auth import roles_required
from detail.web.calendar import issue_link
from detail.web.kit import load_json, refused
from detail.web.security import STATUS_PER_AGENT, agent_or_address, configured

bp = Blueprint("phone", __name__, url_prefix="/phone")


# Other packages (intel: published advisories) add to each assignment the phone shows.
@bp.route("/")
@roles_required("agent")
def page():
    return render_template("detail/phone.html", moves=lifecycle.moves_payload(current_user.organisation))


@bp.route("/manifest.webmanifest")
def manifest():
    body = {
        "name": "Oscar Mike",
        "short_name": "Oscar Mike",
        "start_url": url_for("phone.page"),
        "scope": url_for("phone.page"),
        "display": "standalone",
        "background_color": "#14202e",
        "theme_color": "#14202e",
        "icons": [{"src": url_for("static", filename="icons/om.svg"), "sizes": "any", "type": "image/svg+xml"}],
    }
    return current_app.response_class(current_app.json.dumps(body), mimetype="application/manifest+json")


@bp.route("/sw.js")
def service_worker():
    # Served from /phone/ so that its scope covers the phone page.
    response = send_from_directory(current_app.static_folder, "js/phone-sw.js", mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    return response


def _handoff_to(assignment: Assignment) -> dict | None:
    """The notes of the handoff that made this agent the lead, for him alone."""

    last = latest(assignment.detail)
    if last is None or last.to_agent_id != assignment.agent_id:
        return None
    return {"from": last.from_agent.name if last.from_agent else None, "notes": last.notes, "at": last.at.isoformat()}


@bp.route("/state")
@roles_required("agent")
def state():
    """The agent's assignments of today and ahead, the codes, and the current code per detail."""
    try:
        agent = agent_of(current_user)
    except Refused as exc:
        return refused(exc)
    now = utcnow()
    codes = organisation_codes(agent.organisation_id)
    cover = cover_code(codes)  # the phone must never show that duress was sent
    assignments = db.session.scalars(
        sa.select(Assignment)
        .join(Detail)
        .where(
            Assignment.agent_id == agent.id,
            Detail.state != "complete",
            Assignment.shift_ends_at >= now - timedelta(hours=6),
        )
        .order_by(Assignment.report_at)
    ).all()
    rows = []
    for a in assignments:
        tz = assignment_zone(a)
        is_lead = a.role == "detail_lead"
        report = latest_report(agent.id, a.detail_id)
        code = report.status_code if report else None
        if code is not None and code.is_duress:
            code = cover  # the phone must never show that duress was sent
        rows.append(
            {
                "detail_id": a.detail_id,
                "detail": a.detail.name,
                "detail_state": a.detail.state,
                "is_lead": is_lead,
                "role": a.role_label,
                "site": a.site.name if a.site else None,
                "address": a.site.address if a.site else None,
                "report_at": a.report_at.isoformat(),
                "timezone": tz,
                "report_at_local": local_time(a.report_at, tz, DEFAULT_FORMAT),
                "shift_ends_at": a.shift_ends_at.isoformat(),
                "current_code": code.code if code else None,
                "handoff_url": url_for("phone.handoff", detail_id=a.detail_id) if a.role == "detail_lead" else None,
                "file_url": url_for("phone.detail_file_page", detail_id=a.detail_id) if is_lead else None,
                "handoff": _handoff_to(a) if a.role == "detail_lead" else None,
                "since": report.reported_at.isoformat() if report else None,
            }
        )
        for section in hooks.ASSIGNMENT_SECTIONS:
            rows[-1].update(section(a.detail))
    return {
        "agent": {"call_sign": agent.call_sign, "name": agent.name},
        "codes": [c.as_dict() for c in codes if not c.is_duress],
        "cover_code": cover.code,
        "assignments": rows,
    }


@bp.route("/status", methods=["POST"])
@limiter.limit(configured(STATUS_PER_AGENT), key_func=agent_or_address)
@roles_required("agent")
def post_status():
    """One tap: store the report once (a retry with the same client_id gets the same answer)."""
    data = load_json(StatusIn())
    keep_loaded_after_commit()
    try:
        recorded = submit_status(current_user, data, source="phone")
    except Refused as exc:
        db.session.rollback()
        return refused(exc)
    db.session.commit()
    live.publish(recorded.events)
    # The answer names no code: a duress report reads exactly like any other.
    report = recorded.report
    zone = detail_zone(report.detail) if report.detail else current_user.organisation.timezone
    body = {
        "id": report.id,
        "client_id": report.client_id,
        "stored": True,
        "late_upload": report.late_upload,
        # The tap's time as the board and the after-action report show it.
        "reported_at_local": local_time(report.reported_at, zone, CLOCK),
    }
    return body, 201 if recorded.created else 200


@bp.route("/calendar", methods=["POST"])
@roles_required("agent")
def calendar_link():
    """A new private calendar link for the signed-in agent, shown once (the old one stops working)."""

    try:
        agent = agent_of(current_user)
    except Refused:
        abort(403)
    path = issue_link(agent)
    db.session.commit()
    response = make_response(
        render_template(
            "detail/admin/calendar_issued.html",
            agent=agent,
            url=request.host_url.rstrip("/") + path,
            back=url_for("phone.page"),
        ),
        201,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/position", methods=["POST"])
@limiter.limit(configured(STATUS_PER_AGENT), key_func=agent_or_address)
@roles_required("agent")
def post_position():
    data = load_json(PositionIn())
    keep_loaded_after_commit()
    try:
        agent = agent_of(current_user)
        recorded = record_position(agent, source="phone", **data)
    except Refused as exc:
        db.session.rollback()
        return refused(exc)
    db.session.commit()
    live.publish(recorded.events)
    if recorded.created:
        publish_position(agent, recorded.position)
    return {"id": recorded.position.id, "stored": True}, 201 if recorded.created else 200


@bp.route("/details/<int:detail_id>")
@roles_required("agent")
def detail_file_page(detail_id: int):
    """The detail's file for its lead, without what only coordinators see (detail_file.read, for_lead).

    A detail the agent is not on is not there for him (404, as every detail outside an agent's own
    assignments); an agent on it who does not lead it is refused (403)."""
    detail = db.session.get(Detail, detail_id)
    if detail is None or not surveys.on_detail(current_user, detail):
        abort(404)
    if not detail_file.is_lead(current_user, detail):
        abort(403)
    sections = detail_file.plugged_sections(detail, hooks.ASSIGNMENT_SECTIONS)
    return render_template(
        "detail/phone_file.html",
        detail=detail,
        f=detail_file.read(detail, for_lead=True),
        advisories=detail_file.advisory_rows(sections.get("advisories", []), detail_zone(detail)),
    )


@bp.route("/details/<int:detail_id>/handoff", methods=["GET", "POST"])
@roles_required("agent")
def handoff(detail_id: int):
    """The detail's current lead hands it to another agent, with notes (the coordinators' page does the same)."""

    try:
        agent = agent_of(current_user)
    except Refused:
        abort(403)
    detail = db.session.get(Detail, detail_id)
    # Only the detail's lead may hand it over; to anyone else the detail is not there.
    if detail is None or detail.lead is None or detail.lead.id != agent.id:
        abort(404)
    form = handoff_form(detail, agent.organisation_id)
    if form.validate_on_submit() and perform(detail, form):
        return redirect(url_for("phone.page"))
    page = render_template("detail/phone_handoff.html", detail=detail, form=form, back=url_for("phone.page"))
    return page, 400 if form.is_submitted() else 200
