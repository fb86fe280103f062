"""A detail's timeline as people read it: each event of its log as one line, for the coordinators or
for the detail's team (its lead's file on the phone, the new lead's handoff mail). Reads only.

The team's lines leave out what only coordinators handle: a duress status or alarm (covert: the phone
that sent it shows a plain code, and a teammate's screen can be seen by the same people), and intel not
yet published (candidates, dismissals).
"""

from dataclasses import dataclass
from datetime import datetime

from detail.domain import live
from detail.domain.timefmt import DEFAULT_FORMAT, local_time

# What only coordinators read of the log.
COORDINATOR_KINDS = frozenset({"advisory_candidate", "advisory_dismissed"})


def _is_duress(kind: str, p: dict) -> bool:
    if kind == "status":
        return (p.get("code") or {}).get("kind") == "emergency"
    return kind.startswith("alert") and p.get("kind") == "duress"


def describe(kind: str, p: dict, for_team: bool = False) -> str | None:
    """One event as a line; None for what its reader need not (or must not) read."""
    if for_team and (kind in COORDINATOR_KINDS or _is_duress(kind, p)):
        return None
    if kind == "status":
        return f"{p.get('call_sign')} {(p.get('code') or {}).get('code')} {p.get('note') or ''}".strip()
    if kind in ("alert", "alert_acknowledged"):
        return f"{'alert' if kind == 'alert' else 'alert acknowledged'}: {p.get('message')}"
    if kind == "detail_state":
        return f"detail {p.get('state')}"
    if kind == "advisory_published":
        return f"advisory ({p.get('severity')}): {p.get('title')}"
    if kind == "advisory_candidate":
        return f"candidate advisory ({p.get('severity')}): {p.get('title')}"
    if kind == "advisory_dismissed":
        return f"advisory dismissed: {p.get('title')}"
    if kind == "handoff":
        return f"lead handed from {p.get('from') or 'nobody'} to {p.get('to')}"
    if kind in ("request", "request_acknowledged", "request_answered"):
        step = {"request": "", "request_acknowledged": " acknowledged", "request_answered": " answered"}[kind]
        return f"client request{step}: {p.get('subject')}"
    if kind in ("itinerary_removed", "itinerary_restored"):
        return f"{'removed' if kind == 'itinerary_removed' else 'put back'}: {p.get('what')} (by {p.get('by')})"
    if kind == "survey":
        return f"survey of {p.get('site')} {p.get('status')}"
    return None


@dataclass(frozen=True)
class Line:
    at: datetime
    at_local: str
    text: str


def lines(organisation_id: int, detail_id: int, tz: str, for_team: bool = False, count: int = 200) -> list[Line]:
    """The detail's recent timeline, newest first, in the zone given."""
    found = []
    for event in live.recent_events(organisation_id, detail_id, count):
        text = describe(event["kind"], event["payload"], for_team)
        if text is not None:
            at = datetime.fromisoformat(event["created_at"])
            found.append(Line(at, local_time(at, tz, DEFAULT_FORMAT), text))
    return found[::-1]
