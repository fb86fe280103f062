"""What other packages plug into detail, in one place: the sections intel adds to a detail's board
and to an agent's phone, what it lets a coordinator attach to the answer to a client's request,
the demo's extra steps, what else the escalation engine escalates, and the gazetteer the venue pages look places up in.

Detail never imports intel outside create_app (import-linter checks it): intel's init_app hands
these in, detail's pages and domain read them. (Periodic jobs are added the same way, to the job
runner's own list: detail.jobs.register_job.) This module imports nothing of ours.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# detail -> {name: ...}: what a detail's board shows below its agents.
DETAIL_SECTIONS: list[Callable[[Any], dict]] = []
# detail -> {name: ...}: what an agent's phone shows for a detail it is assigned to.
ASSIGNMENT_SECTIONS: list[Callable[[Any], dict]] = []


@dataclass(frozen=True)
class RequestAttachments:
    """What a package lets a coordinator attach to the answer to a client's request (intel: advisories).

    panel(request, form data or None): HTML beside the request on its page; its fields belong to the
    answer form (form="answer-form"), and a refused or edited answer's form data keeps the choices.
    preview(request, form data): HTML of what the client will receive with the answer, for the check
    before it goes, with hidden fields carrying the choices on; raises AnswerRefused.
    attach(request, user, form data, now): as the answer is recorded, in its transaction (flushes,
    never commits); the events to publish after the commit; raises AnswerRefused.
    mail_lines(request, zone): what the answer's mail says of them, after the answer's text.
    """

    panel: Callable[[Any, Any], str]
    preview: Callable[[Any, Any], str]
    attach: Callable[[Any, Any, Any, datetime], list]
    mail_lines: Callable[[Any, str], list[str]]


class AnswerRefused(Exception):
    """What was chosen to go with an answer cannot go: the message for the coordinator, and the HTTP
    status (403 for another client's row, 422 for the rest). Nothing of the answer is stored."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.message, self.status = message, status


REQUEST_ATTACHMENTS: list[RequestAttachments] = []


@dataclass(frozen=True)
class EscalationSubject:
    """Something a package asks the escalation engine to escalate (intel: a critical advisory published).

    subject names it once and for all ("advisory:9"); kind is the escalation policy it climbs
    (detail.models.ESCALATION_KINDS); title and link are what the notifications say and open
    (the team's words, never sent to a client); raised_at is when its steps' delays count from.

    Whether a subject still needs anyone is asked of the package that offered it, through
    ESCALATION_SUBJECT_SETTLED under the subject's family (the part before the colon, "advisory").
    """

    subject: str
    kind: str
    detail_id: int | None
    title: str
    link: str
    raised_at: datetime


# (organisation id, since) -> the subjects raised since then: the escalation engine opens each once.
ESCALATION_SUBJECTS: list[Callable[[int, datetime], list[EscalationSubject]]] = []
# family -> (key, now) -> why a subject it offered needs no one any more ("the advisory was withdrawn"),
# or None while it is still live: the engine ends its escalation with that reason. Keyed by the
# subject's family: "advisory" answers for "advisory:9" with key "9".
ESCALATION_SUBJECT_SETTLED: dict[str, Callable[[str, datetime], str | None]] = {}
# organisation -> None: run by `flask demo` after the demo's own rows.
DEMO_STEPS: list[Callable[[Any], None]] = []


@dataclass(frozen=True)
class Gazetteer:
    """What the venue pages ask of a gazetteer: the places a query may mean (best first), a place's
    one-line label, and the IANA time zone at a point (ValueError for a point out of range)."""

    geocode_all: Callable[[str], list]
    place_label: Callable[[Any], str]
    timezone_at: Callable[[float, float], str | None]


class _GivenGazetteer:
    """The gazetteer intel gives (intel.domain's gazetteer, geocoders and time zones), once given."""

    given: Gazetteer | None = None

    def __getattr__(self, name: str):
        if self.given is None:
            raise RuntimeError("no gazetteer: intel is not registered on this app")
        return getattr(self.given, name)


gazetteer = _GivenGazetteer()


def add(registry: list, item) -> None:
    """Add to a registry once (create_app runs for every test app)."""
    if item not in registry:
        registry.append(item)


def use_gazetteer(given: Gazetteer) -> None:
    gazetteer.given = given
