"""A detail's life: planned → hot → complete, the moves allowed between those states, what each
move does, and the one function that makes a move.

A move names the state it starts from as well as the one it goes to, and is made only if the
detail is still in that state when its row is locked: a second request for the same move, a
double click or a retry, finds the state already moved and changes nothing, so one click can
never carry a detail two steps. The way back exists for each step forward (back to planned, reopen),
which is why there is no undo timer here. Flushes, never commits.
"""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from detail.domain import live, push
from detail.extensions import db
from detail.models import Detail, Event, Organisation, User, utcnow


@dataclass(frozen=True)
class Move:
    """One allowed move: its button's label and what it does, in the coordinators' words."""

    from_state: str
    to_state: str
    label: str
    effect: str  # may name {silent} (the organisation's silent-agent minutes)


MOVES = (
    Move(
        "planned",
        "hot",
        "Go hot",
        "The detail goes live: the board starts timing reports (an agent silent for more than {silent} min "
        "once the shift has begun raises an alert) and keeps the detail on it until it is completed; "
        "the agents' phones are told.",
    ),
    Move(
        "hot",
        "complete",
        "Complete",
        "The detail is over: it leaves the agents' phones, no more late or silent alerts are raised for it, "
        "status reports no longer go to it, intel stops matching it and the client's portal lists it as past.",
    ),
    Move(
        "hot",
        "planned",
        "Back to planned",
        "The detail is no longer live: the board stops timing reports (late OM and late on-station alerts "
        "still hold before report times); the agents' phones are told.",
    ),
    Move(
        "complete",
        "hot",
        "Reopen",
        "The detail is live again: it comes back to the agents' phones, alerts and intel matching resume, "
        "and the board times reports again; the agents' phones are told.",
    ),
)
_MOVES = {(m.from_state, m.to_state): m for m in MOVES}


class NotAMove(ValueError):
    """No such move between these two states."""


def moves_from(state: str) -> list[Move]:
    """The moves a detail in this state may make."""
    return [m for m in MOVES if m.from_state == state]


def move_between(from_state: str, to_state: str) -> Move:
    """The move from one state to another; NotAMove when there is none."""
    try:
        return _MOVES[(from_state, to_state)]
    except KeyError:
        raise NotAMove(f"a detail cannot go from {from_state} to {to_state}") from None


def effect(move: Move, organisation: Organisation) -> str:
    """What the move does, with the organisation's own figures."""
    return move.effect.format(silent=organisation.silent_after_minutes)


def moves_payload(organisation: Organisation) -> list[dict]:
    """Every move with what it does, for the board's and the phone's confirmation dialog."""
    return [
        {"from": m.from_state, "to": m.to_state, "label": m.label, "effect": effect(m, organisation)} for m in MOVES
    ]


def change_state(detail: Detail, from_state: str, to_state: str, by: User, now: datetime | None = None) -> Event | None:
    """Move the detail from from_state to to_state; None (nothing changed) when it was no longer in
    from_state, e.g. a second click of the same button. Raises NotAMove for a move that does not exist."""
    move_between(from_state, to_state)
    now = now or utcnow()
    # Compare first, in the database: this UPDATE changes nothing but takes the row's write lock
    # (PostgreSQL's row lock, SQLite's database lock), so of two requests racing each other the
    # second waits for the first to commit and then finds the state no longer from_state.
    still_there = db.session.execute(
        sa.update(Detail)
        .where(Detail.id == detail.id, Detail.state == from_state)
        .values(state=from_state)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(detail, ["state"])
    if not still_there:
        return None
    # Then set through the ORM: the flush is what the socket guard watches (phones leave a completed detail).
    detail.state = to_state
    db.session.flush()
    if to_state == "hot":
        _tell_agents_hot(detail, by)
    return live.append_event(
        detail.client.organisation_id,
        detail.id,
        "detail_state",
        {
            "detail_id": detail.id,
            "name": detail.name,
            "state": to_state,
            "previous": from_state,
            "by": by.name,
            "at": now.isoformat(),
        },
    )


def _tell_agents_hot(detail: Detail, by: User) -> None:
    """Each agent on the detail hears on the phone, even with the page closed, that it went hot."""
    message = push.PushMessage(
        title=f"{detail.name} is hot",
        body=f"{by.name} took the detail hot: report as assigned.",
        url=push.PHONE_PAGE,
        tag=f"detail-{detail.id}-state",
    )
    push.queue_for_detail(detail.id, message)
