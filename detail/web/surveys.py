"""Survey pages, shared by the detail's agents (on their phones) and coordinators: the form with its
offline draft, review by the detail lead, photos, and the summary a coordinator may share with the client.

Who may do what is decided per survey (surveys.may_edit, may_review): an agent reaches only the
details he is on; another organisation's rows are not found.
"""

from datetime import timedelta

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from detail.domain import live, surveys
from detail.domain.scoping import get_owned
from detail.domain.timefmt import parse_local
from detail.extensions import db
from detail.models import Detail, Site, Survey, SurveyPhoto, utcnow
from detail.web.admin.base import to_local
from detail.web.auth import roles_required
from detail.web.bodies import FORM_OVERHEAD_BYTES, accepts_body_up_to
from detail.web.kit import strip

bp = Blueprint("surveys", __name__, url_prefix="/surveys")
team_required = roles_required("admin", "coordinator", "agent")
PHOTO_TYPES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}
PHOTO_MAX_BYTES = 8 * 1024 * 1024
PHOTOS_PER_SURVEY = 30


def _may_see(detail: Detail) -> bool:
    if current_user.role in ("admin", "coordinator"):
        return current_user.organisation_id == detail.client.organisation_id
    return surveys.on_detail(current_user, detail)


def _detail_or_404(detail_id: int) -> Detail:
    detail = get_owned(Detail, detail_id, current_user.organisation_id)
    if detail is None or not _may_see(detail):
        abort(404)
    return detail


def _survey_or_404(survey_id: int) -> Survey:
    survey = db.session.get(Survey, survey_id)
    if survey is None or survey.detail.client.organisation_id != current_user.organisation_id:
        abort(404)
    if not _may_see(survey.detail):
        abort(404)
    return survey


def _site_of(detail: Detail, site_id: int) -> Site:
    site = next((s for s in detail.sites if s.id == site_id), None)
    if site is None:
        abort(404)
    return site


def _back(detail: Detail) -> str:
    return url_for("surveys.detail_surveys", detail_id=detail.id)


@bp.route("/details/<int:detail_id>")
@team_required
def detail_surveys(detail_id: int):
    """The detail's venues and the state of each one's survey."""
    detail = _detail_or_404(detail_id)
    found = {s.site_id: s for s in surveys.for_detail(detail)}
    home = url_for("phone.page") if current_user.role == "agent" else url_for("admin.detail", detail_id=detail.id)
    return render_template(
        "detail/surveys.html",
        detail=detail,
        found=found,
        home=home,
        confirm=FlaskForm(),
        last={s.id: surveys.last_for_venue(s) for s in detail.sites if s.id not in found},
    )


@bp.route("/details/<int:detail_id>/sites/<int:site_id>/start", methods=["POST"])
@team_required
def start(detail_id: int, site_id: int):
    detail = _detail_or_404(detail_id)
    site = _site_of(detail, site_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    survey = surveys.find(detail, site) or surveys.start(detail, site, current_user)
    db.session.commit()
    return redirect(url_for("surveys.survey", survey_id=survey.id))


def _route_times(survey: Survey) -> tuple[dict, dict[str, str]]:
    times, errors = {}, {}
    for site in surveys.route_sites(survey):
        name = f"route-{site.id}-measured_at"
        raw = (request.form.get(name) or "").strip()
        if not raw:
            times[site.id] = None
            continue
        try:
            times[site.id] = parse_local(raw, survey.site.timezone)
        except (ValueError, OverflowError):
            errors[name] = "give a date and time, such as 2026-11-24T08:30"
            continue
        if times[site.id] > utcnow() + timedelta(minutes=5):
            errors[name] = "a travel time cannot be measured in the future"
    return times, errors


def _page(survey: Survey, errors: dict | None = None, form: dict | None = None, status: int = 200):
    tz = survey.site.timezone
    values = form or {f.name: getattr(survey, f.name) for f in surveys.FIELDS}
    if form is None:
        for route in survey.routes:
            prefix = f"route-{route.to_site_id}-"
            values[prefix + "primary_route"] = route.primary_route
            values[prefix + "alternate_route"] = route.alternate_route
            values[prefix + "primary_minutes"] = route.primary_minutes
            values[prefix + "alternate_minutes"] = route.alternate_minutes
            measured = to_local(route.measured_at, tz)
            values[prefix + "measured_at"] = measured.strftime("%Y-%m-%dT%H:%M") if measured else ""
    page = render_template(
        "detail/survey.html",
        survey=survey,
        sections=surveys.SECTIONS,
        values=values,
        errors=errors or {},
        route_sites=surveys.route_sites(survey),
        warnings=surveys.route_warnings(survey),
        editable=surveys.may_edit(current_user, survey),
        reviewer=surveys.may_review(current_user, survey.detail),
        staff=current_user.role in ("admin", "coordinator"),
        confirm=FlaskForm(),
        back=_back(survey.detail),
        tz=tz,
    )
    return page, status


@bp.route("/<int:survey_id>", methods=["GET", "POST"])
@team_required
def survey(survey_id: int):
    """The survey: a form for those who may edit it, a read-only page for the rest of the team."""
    found = _survey_or_404(survey_id)
    if request.method == "GET":
        return _page(found)
    if not surveys.may_edit(current_user, found):
        abort(403)
    if not FlaskForm().validate_on_submit():
        abort(400)
    times, errors = _route_times(found)
    try:
        if errors:
            raise surveys.SurveyError(errors)
        surveys.apply(found, request.form, times)
    except surveys.SurveyError as exc:
        db.session.rollback()
        return _page(found, exc.errors, request.form.to_dict(), 400)
    events = []
    if request.form.get("action") == "submit":
        events.append(surveys.submit(found, current_user))
    db.session.commit()
    live.publish(events)
    flash("Submitted for review." if events else "Saved.", "success")
    return redirect(url_for("surveys.survey", survey_id=found.id))


@bp.route("/<int:survey_id>/review", methods=["POST"])
@team_required
def review(survey_id: int):
    found = _survey_or_404(survey_id)
    if not surveys.may_review(current_user, found.detail):
        abort(403)
    if not FlaskForm().validate_on_submit():
        abort(400)
    action = request.form.get("action")
    note = strip(request.form.get("note", "")) or ""
    if action not in ("approve", "return", "reopen") or len(note) > 2000:
        abort(400)
    if action == "return" and not note:
        flash("Say what needs doing when you return a survey.", "error")
        return _page(found, status=400)
    if action == "reopen":
        event = surveys.reopen(found, current_user)
    else:
        event = surveys.review(found, current_user, approve=action == "approve", note=note)
    db.session.commit()
    live.publish([event])
    flash({"approve": "Approved.", "return": "Returned to the team.", "reopen": "Reopened."}[action], "success")
    return redirect(url_for("surveys.survey", survey_id=found.id))


@bp.route("/<int:survey_id>/summary", methods=["POST"])
@roles_required("admin", "coordinator")
def summary(survey_id: int):
    """What the client may read of the survey, and whether it is shown in their portal."""
    found = _survey_or_404(survey_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    text = strip(request.form.get("client_summary", "")) or ""
    if len(text) > 5000:
        abort(400)
    found.client_summary = text
    found.summary_shared = bool(request.form.get("summary_shared")) and bool(text)
    db.session.commit()
    flash("Shared with the client." if found.summary_shared else "Summary saved; not shown to the client.", "success")
    return redirect(url_for("surveys.survey", survey_id=found.id))


@bp.route("/<int:survey_id>/photos", methods=["POST"])
@accepts_body_up_to(PHOTO_MAX_BYTES + FORM_OVERHEAD_BYTES)
@team_required
def add_photo(survey_id: int):
    found = _survey_or_404(survey_id)
    if not surveys.may_edit(current_user, found):
        abort(403)
    if not FlaskForm().validate_on_submit():
        abort(400)
    upload = request.files.get("photo")
    data = upload.read(PHOTO_MAX_BYTES + 1) if upload else b""
    kind = next((t for magic, t in PHOTO_TYPES.items() if data.startswith(magic)), None)
    problem = None
    if not data:
        problem = "Choose a photo to upload."
    elif len(data) > PHOTO_MAX_BYTES:
        problem = f"A photo may be at most {PHOTO_MAX_BYTES // (1024 * 1024)} MB."
    elif kind is None:
        problem = "Only JPEG and PNG photos are taken."
    elif len(found.photos) >= PHOTOS_PER_SURVEY:
        problem = f"A survey holds at most {PHOTOS_PER_SURVEY} photos."
    if problem:
        flash(problem, "error")
        return _page(found, status=400)
    caption = (strip(request.form.get("caption", "")) or "")[:200]
    found.photos.append(SurveyPhoto(caption=caption, content_type=kind, data=data, uploaded_by_id=current_user.id))
    db.session.commit()
    flash("Photo added.", "success")
    return redirect(url_for("surveys.survey", survey_id=found.id, _anchor="photos"))


@bp.route("/photos/<int:photo_id>")
@team_required
def photo(photo_id: int):
    found = db.session.get(SurveyPhoto, photo_id)
    if found is None:
        abort(404)
    _survey_or_404(found.survey_id)
    response = make_response(found.data)
    response.headers["Content-Type"] = found.content_type
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
