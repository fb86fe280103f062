"""Which agent a tracking app's device id or a texting phone number belongs to.

A coordinator binds them (web page, API, `flask bind-device`); the ingest endpoints look them up.
Identifiers are unique across organisations because the apps send nothing else to tell them apart.
"""

import re

import sqlalchemy as sa

from detail.extensions import db
from detail.models import Agent, Device, User, utcnow


class BindingError(ValueError):
    """The identifier cannot be bound as asked; the message says why."""


_PHONE_NOISE = re.compile(r"[\s().\-/]")


def normalise_phone(number: str) -> str:
    """'+44 (0)7700 900-123' and '+447700900123' are one number: '+' and digits, the trunk 0 dropped."""
    text = _PHONE_NOISE.sub("", (number or "").strip().replace("(0)", ""))
    if text.startswith("00"):
        text = "+" + text[2:]
    return text


def is_phone_number(identifier: str) -> bool:
    return bool(re.fullmatch(r"\+\d{6,15}", normalise_phone(identifier)))


def clean_identifier(identifier: str, kind: str) -> str:
    identifier = (identifier or "").strip()
    if kind == "phone":
        number = normalise_phone(identifier)
        if not is_phone_number(number):
            raise BindingError(f"{identifier!r} is not a phone number in international form, such as +447700900123")
        return number
    if not re.fullmatch(r"[A-Za-z0-9._:@\-]{3,80}", identifier):
        raise BindingError("a device id is 3 to 80 letters, digits or . _ : @ - (as the app shows it, such as 123456)")
    return identifier


def bind(agent: Agent, identifier: str, kind: str | None = None, label: str = "") -> Device:
    """Bind a device id or phone number to the agent (flushes); binding it again to the same agent is a no-op."""
    kind = kind or ("phone" if (identifier or "").strip().startswith("+") else "device")
    if kind not in ("device", "phone"):
        raise BindingError("kind is device (a tracking app's id) or phone (a number that texts)")
    identifier = clean_identifier(identifier, kind)
    existing = db.session.scalar(sa.select(Device).where(Device.identifier == identifier))
    if existing is not None:
        if existing.agent_id != agent.id:
            raise BindingError(f"{identifier} is already bound to another agent; unbind it there first")
        if label:
            existing.label = label[:80]
        return existing
    device = Device(
        organisation_id=agent.organisation_id, agent=agent, kind=kind, identifier=identifier, label=(label or "")[:80]
    )
    db.session.add(device)
    db.session.flush()
    return device


def agent_for_device(identifier: str) -> Agent | None:
    """The active agent a tracking app's device id is bound to; stamps when it was last heard."""
    identifier = (identifier or "").strip()
    return _seen(db.session.scalar(sa.select(Device).where(Device.kind == "device", Device.identifier == identifier)))


def agent_for_number(number: str) -> Agent | None:
    """The active agent who texts from this number: a bound number, else a unique match on agents' profiles."""
    number = normalise_phone(number)
    if not is_phone_number(number):
        return None
    device = db.session.scalar(sa.select(Device).where(Device.kind == "phone", Device.identifier == number))
    if device is not None:
        return _seen(device)
    # A number on the agent's profile works without a binding, unless two profiles share it.
    matches = [
        agent
        for agent, phone in db.session.execute(
            sa.select(Agent, User.phone).join(User, Agent.user_id == User.id).where(User.phone != "", User.active)
        )
        if normalise_phone(phone) == number
    ]
    return matches[0] if len(matches) == 1 else None


def _seen(device: Device | None) -> Agent | None:
    if device is None or not device.agent.user.active:
        return None
    now = utcnow()
    if device.last_seen_at is None or (now - device.last_seen_at).total_seconds() > 60:
        device.last_seen_at = now
    return device.agent
