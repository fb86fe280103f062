"""How a person is reached off the board: email addresses and mobile numbers, each used for alarms
only once verified (a 6-digit code sent to it and typed back).

The code itself is never stored or logged: the channel keeps a hash of it bound to the channel and
its address, when it was sent and how many tries were made. A code lasts CODE_LIFETIME and allows
MAX_TRIES wrong entries; after that only a new code helps, and a new one can be asked for at most
once every RESEND_AFTER, so guessing stays hopeless. The message carrying the code goes out like
every other: a Notice row for the "notices" job (email), a TextMessage for the "texts" job (sms).

Numbers are stored in E.164 (+447700900123), read with Google's libphonenumber rules (the
phonenumbers package) in the region of the organisation's time zone unless typed with their +.

Flushes, never commits.
"""

import functools
import hashlib
import hmac
import importlib.resources
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email

from detail.domain import notices, texts
from detail.extensions import db
from detail.models import CONTACT_KINDS, ContactChannel, User, utcnow

CODE_LIFETIME = timedelta(minutes=15)
MAX_TRIES = 5
RESEND_AFTER = timedelta(seconds=60)
CODE_DIGITS = 6
KIND_NAMES = {"email": "email address", "sms": "mobile number"}


class ContactRefused(ValueError):
    """An address or number that cannot be added, or a code that cannot be sent; says why."""


@dataclass(frozen=True)
class Verification:
    """What typing a code did: verified, or the reason it did not (and how many tries are left)."""

    verified: bool
    message: str


# --- addresses ----------------------------------------------------------------------------------


@functools.cache
def _zone_countries() -> dict[str, str]:
    # zone.tab, shipped with the tzdata package: "GB\t+513030-0000731\tEurope/London".
    text = importlib.resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text()
    countries = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            country, _coordinates, zone, *_ = line.split("\t")
            countries[zone] = country
    return countries


def region_for_zone(zone: str | None) -> str | None:
    """The country (ISO 3166 code) of an IANA zone: GB for Europe/London. Numbers typed without their
    + are read as that country's."""
    return _zone_countries().get(zone or "")


def normalise_number(text: str, region: str | None) -> str:
    """A mobile number in E.164 (+447700900123), or ContactRefused saying what is wrong with it."""
    typed = (text or "").strip()
    if not typed:
        raise ContactRefused("Type the mobile number.")
    if not typed.startswith("+") and not typed.startswith("00") and region is None:
        raise ContactRefused("Write the number with its country code, starting with + (as in +44 7700 900123).")
    try:
        number = phonenumbers.parse(typed, region)
    except phonenumbers.NumberParseException:
        raise ContactRefused(f"{typed} does not read as a phone number.") from None
    if not phonenumbers.is_valid_number(number):
        raise ContactRefused(f"{typed} is not a valid phone number{' in ' + region if region else ''}.")
    kind = phonenumbers.number_type(number)
    if kind not in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        raise ContactRefused(f"{typed} is not a mobile number: texts need one.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(text: str) -> str:
    """An email address, trimmed and lower-cased, or ContactRefused."""
    typed = (text or "").strip()
    if not typed:
        raise ContactRefused("Type the email address.")
    try:
        checked = validate_email(typed, check_deliverability=False)
    except EmailNotValidError as error:
        raise ContactRefused(f"{typed} is not an email address: {error}") from None
    return checked.normalized.lower()


def channels_of(user_id: int) -> list[ContactChannel]:
    """A person's channels: email first, then numbers, oldest first."""
    return db.session.scalars(
        sa.select(ContactChannel)
        .where(ContactChannel.user_id == user_id)
        .order_by(ContactChannel.kind, ContactChannel.created_at, ContactChannel.id)
    ).all()


def add_channel(user: User, kind: str, address: str, region: str | None = None) -> ContactChannel:
    """Add an unverified email address or mobile number for the person (send_code next); flushes."""
    if kind not in CONTACT_KINDS:
        raise ContactRefused(f"A channel is one of: {', '.join(CONTACT_KINDS)}.")
    address = normalise_number(address, region) if kind == "sms" else normalise_email(address)
    same = db.session.scalar(
        sa.select(ContactChannel).where(
            ContactChannel.user_id == user.id, ContactChannel.kind == kind, ContactChannel.address == address
        )
    )
    if same is not None:
        raise ContactRefused(f"{address} is already on your list.")
    if kind == "sms":
        _refuse_number_of_another(user, address)
    channel = ContactChannel(user_id=user.id, kind=kind, address=address, code_attempts=0)
    db.session.add(channel)
    db.session.flush()
    return channel


def _refuse_number_of_another(user: User, number: str) -> None:
    # A text reply ("ACK 1234") names its sender by number: one number must stand for one person.
    if _verified_number_owner(user.organisation_id, number, other_than=user.id) is not None:
        raise ContactRefused(f"{number} is already verified by someone else in your organisation.")


# --- codes --------------------------------------------------------------------------------------


def _code_hash(channel: ContactChannel, code: str) -> str:
    # Bound to the channel and its address, so a code sent to one never verifies another.
    return hashlib.sha256(f"{channel.id}:{channel.kind}:{channel.address}:{code}".encode()).hexdigest()


def send_code(channel: ContactChannel, now: datetime | None = None) -> None:
    """Make a new code, keep only its hash, and record the message carrying it (mail or text); flushes.

    Refused (ContactRefused) within RESEND_AFTER of the last code, and for a channel already verified.
    """
    now = now or utcnow()
    if channel.verified_at is not None:
        raise ContactRefused(f"{channel.address} is verified already.")
    if channel.code_sent_at is not None and now - channel.code_sent_at < RESEND_AFTER:
        wait = int((RESEND_AFTER - (now - channel.code_sent_at)).total_seconds()) + 1
        raise ContactRefused(f"A code was sent a moment ago: wait {wait} s before asking for another.")
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    channel.code_hash = _code_hash(channel, code)
    channel.code_sent_at = now
    channel.code_attempts = 0
    minutes = int(CODE_LIFETIME.total_seconds() // 60)
    user = channel.user or db.session.get(User, channel.user_id)
    if channel.kind == "sms":
        texts.queue_text(
            organisation_id=user.organisation_id,
            user_id=user.id,
            to_number=channel.address,
            body=f"Oscar Mike code: {code}. It verifies this number for alarms and lasts {minutes} min.",
            purpose="verification",
        )
    else:
        notices.queue(
            user,
            "Your Oscar Mike verification code",
            f"Your code is {code}.\n\nType it on your Oscar Mike contacts page to receive alarms at this "
            f"address. It lasts {minutes} minutes. If you did not ask for it, ignore this message.",
            address=channel.address,
        )
    db.session.flush()


def verify(channel: ContactChannel, code: str, now: datetime | None = None) -> Verification:
    """Check a typed code; a wrong one uses up a try. The caller commits whatever the outcome,
    so the count of tries survives a wrong guess."""
    now = now or utcnow()
    if channel.verified_at is not None:
        return Verification(True, f"{channel.address} is verified already.")
    if channel.code_hash is None or channel.code_sent_at is None:
        return Verification(False, "No code has been sent to this address yet: send one first.")
    if now - channel.code_sent_at > CODE_LIFETIME:
        return Verification(False, "This code has expired: send a new one.")
    if channel.code_attempts >= MAX_TRIES:
        return Verification(False, "Too many wrong codes: send a new one.")
    typed = "".join((code or "").split())
    if not hmac.compare_digest(_code_hash(channel, typed), channel.code_hash):
        channel.code_attempts += 1
        left = MAX_TRIES - channel.code_attempts
        db.session.flush()
        if left == 0:
            return Verification(False, "Wrong code, and that was the last try: send a new one.")
        return Verification(False, f"Wrong code: {left} {'try' if left == 1 else 'tries'} left.")
    if channel.kind == "sms":
        user = channel.user or db.session.get(User, channel.user_id)
        try:
            _refuse_number_of_another(user, channel.address)
        except ContactRefused as refused:
            return Verification(False, str(refused))
    channel.verified_at = now
    channel.code_hash = None
    channel.code_attempts = 0
    db.session.flush()
    return Verification(True, f"{channel.address} is verified: alarms can reach you there.")


def remove_channel(channel: ContactChannel) -> None:
    """Forget an address or number; flushes."""
    db.session.delete(channel)
    db.session.flush()


# --- what the alarms use ------------------------------------------------------------------------


def verified_addresses(user_id: int, kind: str) -> list[str]:
    """The person's verified email addresses (kind "email") or mobile numbers ("sms"), oldest first."""
    return db.session.scalars(
        sa.select(ContactChannel.address)
        .where(
            ContactChannel.user_id == user_id,
            ContactChannel.kind == kind,
            ContactChannel.verified_at.is_not(None),
        )
        .order_by(ContactChannel.verified_at, ContactChannel.id)
    ).all()


def _verified_number_owner(organisation_id: int, number: str, other_than: int | None = None) -> User | None:
    query = (
        sa.select(User)
        .join(ContactChannel, ContactChannel.user_id == User.id)
        .where(
            User.organisation_id == organisation_id,
            User.active,
            ContactChannel.kind == "sms",
            ContactChannel.address == number,
            ContactChannel.verified_at.is_not(None),
        )
    )
    if other_than is not None:
        query = query.where(User.id != other_than)
    return db.session.scalars(query.order_by(ContactChannel.verified_at, ContactChannel.id).limit(1)).first()


def user_for_verified_number(organisation_id: int, number: str) -> User | None:
    """The active person of the organisation who verified this number (E.164, as providers send it), or None.

    The number is only put in E.164 form here, not judged: it was judged when it was verified, and a
    numbering plan's rules may have changed since (or the number is from a reserved test range)."""
    try:
        number = phonenumbers.format_number(phonenumbers.parse(number or "", None), phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        return None
    return _verified_number_owner(organisation_id, number)
