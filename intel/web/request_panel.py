"""What intel adds to a coordinator's page of a client request (detail.hooks.REQUEST_ATTACHMENTS):
the intel that bears on it, with the client's advisories to tick for the answer; the check of what the
client will read before the answer goes; and reading the ticks when it goes.

The fields live in the panel, beside the request, and belong to the answer form through their
form="answer-form" attribute: attach-advisory (an advisory's id, once per tick), and for a candidate
attach-summary-<id> and attach-recommendation-<id>, the words it is published in.

A candidate's summary and recommendation are asked for inline, never taken from the answer: once
published, the advisory is read on its own too (the portal's advisories, digests, the Atom feed,
the agents' phones), where an answer's "yes, as we said on the phone" would mean nothing, and one
answer may carry several advisories. The summary starts as the review page's does (title and
reason); the recommendation is the coordinator's to write.
"""

from flask import render_template
from markupsafe import Markup
from werkzeug.datastructures import MultiDict

from detail.hooks import AnswerRefused, RequestAttachments
from detail.models import ClientRequest
from intel.domain import answers
from intel.domain.request_window import request_window

FIELD = "attach-advisory"
TEXT_LIMIT = 2000
LARGEST_ID = 2**31 - 1


def summary_field(advisory_id: int) -> str:
    return f"attach-summary-{advisory_id}"


def recommendation_field(advisory_id: int) -> str:
    return f"attach-recommendation-{advisory_id}"


def read_choices(formdata) -> tuple[list[int], dict[int, tuple[str, str]]]:
    """The ticked advisories' ids and, for each, the client's summary and recommendation as typed."""
    formdata = formdata if formdata is not None else MultiDict()
    ids = []
    for value in formdata.getlist(FIELD):
        if not value.strip().isdigit() or not 0 < int(value) <= LARGEST_ID:
            raise AnswerRefused(f"{value[:20]!r} is not an advisory's number.")
        ids.append(int(value))
    texts = {}
    for advisory_id in ids:
        summary = formdata.get(summary_field(advisory_id), "").strip()
        recommendation = formdata.get(recommendation_field(advisory_id), "").strip()
        if len(summary) > TEXT_LIMIT or len(recommendation) > TEXT_LIMIT:
            raise AnswerRefused(
                f"Advisory #{advisory_id}: at most {TEXT_LIMIT} characters for its summary and its recommendation."
            )
        texts[advisory_id] = (summary, recommendation)
    return ids, texts


def _typed(formdata) -> tuple[set[int], dict[int, tuple[str, str]]]:
    """What a refused or edited answer had ticked and typed, to show again (nothing when unreadable)."""
    try:
        ids, texts = read_choices(formdata)
    except AnswerRefused:
        return set(), {}
    return set(ids), texts


def panel(request: ClientRequest, formdata=None) -> Markup:
    """The intel beside the request, and while it is unanswered, its advisories to tick for the answer."""
    found = answers.intel_for_request(request)
    ticked, texts = _typed(formdata)
    return Markup(
        render_template(
            "intel/request_panel.html",
            req=request,
            found=found,
            attached=answers.attached(request),
            answering=request.answered_at is None,
            ticked=ticked,
            texts=texts,
            field=FIELD,
            summary_field=summary_field,
            recommendation_field=recommendation_field,
        )
    )


def preview(request: ClientRequest, formdata) -> Markup:
    """What the client will read with the answer, checked; the choices carried on in hidden fields."""
    ids, texts = read_choices(formdata)
    chosen = answers.checked_attachments(request, ids, texts)
    return Markup(
        render_template(
            "intel/request_preview.html",
            chosen=chosen,
            texts=texts,
            zone=request_window(request).timezone,
            field=FIELD,
            summary_field=summary_field,
            recommendation_field=recommendation_field,
        )
    )


def attach(request: ClientRequest, user, formdata, now) -> list:
    ids, texts = read_choices(formdata)
    return answers.attach(request, user, ids, texts, now)


ADVISORIES = RequestAttachments(panel=panel, preview=preview, attach=attach, mail_lines=answers.answer_mail_lines)
