"""Coordinator pages for the escalation policies: how each kind of alarm climbs until someone takes it.

A policy is data (detail.domain.escalation): ordered steps, each this long after the alarm, to these
people, on these channels. The edit page shows every step as a row (order, delay, who, channels,
remove) and one empty row to add; a save replaces the steps as a whole, or changes nothing and says
what is wrong row by row. Removing a step is asked first (in the page, or on the page again).
"""

from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from detail.domain import escalation, live
from detail.extensions import db
from detail.models import CHANNELS, ESCALATION_KINDS, STAFF_ROLES, STEP_TARGETS, User
from detail.web.admin.base import bp, org_id
from detail.web.auth import staff_required

PAGE = "detail/admin/escalation.html"
EDIT_PAGE = "detail/admin/escalation_edit.html"
MAX_DELAY_S = 24 * 3600
MAX_STEPS = 20


class PolicyForm(FlaskForm):
    """The CSRF token; the rows are read from the request (their number varies)."""


@dataclass
class Row:
    """One step as typed: kept as text so a refused form shows what was typed."""

    step_id: str = ""
    order: str = ""
    delay: str = ""
    target: str = ""
    person: str = ""
    channels: list[str] = field(default_factory=list)
    remove: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def blank(self) -> bool:
        return not self.step_id and not self.delay.strip() and not self.target


def _people() -> list[User]:
    return list(
        db.session.scalars(
            sa.select(User)
            .where(User.organisation_id == org_id(), User.role.in_(STAFF_ROLES), User.active.is_(True))
            .order_by(User.name)
        )
    )


def _policy_or_404(kind: str):
    if kind not in ESCALATION_KINDS:
        abort(404)
    return escalation.ensure_policies(org_id())[kind]


def _rows_of(policy) -> list[Row]:
    rows = [
        Row(
            step_id=str(s.id),
            order=str(i + 1),
            delay=str(s.delay_seconds),
            target=s.target,
            person=str(s.person_id or ""),
            channels=s.channel_list,
        )
        for i, s in enumerate(policy.steps)
    ]
    return [*rows, Row(order=str(len(rows) + 1), channels=["push"])]


def _rows_from_form() -> list[Row]:
    rows = []
    count = min(int(request.form["rows"]), MAX_STEPS + 1)
    for i in range(count):
        prefix = f"step-{i}-"
        rows.append(
            Row(
                step_id=request.form.get(prefix + "id", ""),
                order=request.form.get(prefix + "order", "").strip(),
                delay=request.form.get(prefix + "delay", "").strip(),
                target=request.form.get(prefix + "target", ""),
                person=request.form.get(prefix + "person", ""),
                channels=request.form.getlist(prefix + "channels"),
                remove=bool(request.form.get(prefix + "remove")),
            )
        )
    return rows


def _whole(text: str, low: int, high: int) -> int | None:
    try:
        value = int(text)
    except ValueError:
        return None
    return value if low <= value <= high else None


def _check_row(row: Row, people: dict[int, User]) -> tuple[int, int, User | None, list[str]]:
    """(order, delay, person, channels) of a typed row; its messages go on row.errors."""
    order = _whole(row.order, 1, 999)
    delay = _whole(row.delay, 0, MAX_DELAY_S)
    if order is None:
        row.errors.append("Order must be a whole number from 1 to 999.")
    if delay is None:
        row.errors.append(f"Delay must be a whole number of seconds from 0 to {MAX_DELAY_S} (24 hours).")
    if row.target not in STEP_TARGETS:
        row.errors.append("Choose who this step notifies.")
    person = None
    if row.target == "person":
        person = people.get(int(row.person)) if row.person.isdigit() else None
        if person is None:
            row.errors.append("Choose the named person (an active coordinator of this organisation).")
    channels = [c for c in CHANNELS if c in row.channels]
    if not channels or len(channels) != len(set(row.channels)):
        row.errors.append("Tick at least one channel: push, text or email.")
    return order or 0, delay or 0, person, channels


def _checked(rows: list[Row], policy, people: dict[int, User]) -> list[dict] | None:
    """The steps to store, in order; None after putting a message on each bad row."""
    own_ids = {str(s.id) for s in policy.steps}
    kept = []
    for number, row in enumerate(rows, start=1):
        if row.remove or row.blank:
            continue
        if row.step_id and row.step_id not in own_ids:
            abort(400)  # a row of another policy: not something this page sends
        order, delay, person, channels = _check_row(row, people)
        kept.append((order, number, row, delay, person, channels))
    if any(r.errors for r in rows):
        return None
    kept.sort(key=lambda k: (k[0], k[1]))
    steps, last_delay = [], 0
    for _, _, row, delay, person, channels in kept:
        if delay < last_delay:
            row.errors.append(
                f"Due sooner ({delay} s) than the step before it ({last_delay} s): delays count from the alarm, "
                "so a later step needs an equal or longer delay."
            )
        last_delay = max(last_delay, delay)
        steps.append({"delay_seconds": delay, "target": row.target, "person": person, "channels": ",".join(channels)})
    if any(r.errors for r in rows):
        return None
    return steps


@bp.route("/escalation")
@staff_required
def escalation_policies():
    """Every kind's policy and its steps."""
    policies = escalation.ensure_policies(org_id())
    db.session.commit()
    return render_template(
        PAGE,
        policies=[(kind, escalation.KIND_LABELS[kind], policies[kind]) for kind in ESCALATION_KINDS],
        targets=escalation.TARGET_LABELS,
        channel_labels=escalation.CHANNEL_LABELS,
    )


def _edit_page(policy, rows, form, status=200, problems=(), confirm_removal=False):
    return render_template(
        EDIT_PAGE,
        policy=policy,
        label=escalation.KIND_LABELS[policy.kind],
        rows=rows,
        form=form,
        people=_people(),
        targets=escalation.TARGET_LABELS,
        channel_labels=escalation.CHANNEL_LABELS,
        problems=problems,
        confirm_removal=confirm_removal,
        climbing=escalation.climbing(policy),
    ), status


@bp.route("/escalation/<kind>", methods=["GET", "POST"])
@staff_required
def edit_escalation_policy(kind: str):
    """Add, remove, reorder and change the steps of one kind's policy."""
    policy = _policy_or_404(kind)
    form = PolicyForm()
    if request.method == "GET":
        db.session.commit()  # the defaults, when they were missing
        return _edit_page(policy, _rows_of(policy), form)
    if not form.validate_on_submit():
        return _edit_page(policy, _rows_of(policy), form, 400, ["The form expired: nothing was saved. Try again."])
    if not request.form.get("rows", "").isdigit():
        return _edit_page(policy, _rows_of(policy), form, 400, ["The form came incomplete: nothing was saved."])
    rows = _rows_from_form()
    active = bool(request.form.get("active"))
    steps = _checked(rows, policy, {u.id: u for u in _people()})
    if steps is None:
        return _edit_page(policy, rows, form, 400, ["Nothing was saved: correct the marked steps."])
    if active and not steps:
        return _edit_page(policy, rows, form, 400, ["An active policy needs at least one step (or switch it off)."])
    removing = [r for r in rows if r.remove and r.step_id]
    if removing and not request.form.get("confirmed"):
        message = f"Remove {len(removing)} step{'s' if len(removing) > 1 else ''}? Press Save again to confirm."
        return _edit_page(policy, rows, form, 400, [message], confirm_removal=True)
    events = escalation.replace_steps(policy, steps, active, by=current_user)
    db.session.commit()
    live.publish(events)
    saved = f"Saved: {escalation.KIND_LABELS[kind]}, {len(steps)} step{'s' if len(steps) != 1 else ''}."
    if events:
        what = "ended" if not active else "now follow the new steps"
        saved += f" {len(events)} alarm{'s' if len(events) > 1 else ''} already climbing it {what}."
    flash(saved, "success")
    return redirect(url_for("admin.escalation_policies"))
