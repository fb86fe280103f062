"""Contact channels: numbers read into E.164, a code sent to each (by real mail over loopback SMTP, or
as a text row) and typed back on the person's own page; wrong, expired and too many codes; only
verified channels are used, and a verified number names its person."""

import logging
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from detail.domain import contacts, notices
from detail.extensions import db
from detail.models import ContactChannel, Notice, TextMessage

from .conftest import T0

CODE = re.compile(r"\b(\d{6})\b")


def _channel(user, kind="sms") -> ContactChannel:
    return db.session.scalar(
        sa.select(ContactChannel).where(ContactChannel.user_id == user.id, ContactChannel.kind == kind)
    )


def _texted_code(number: str) -> str:
    text = db.session.scalars(
        sa.select(TextMessage).where(TextMessage.to_number == number).order_by(TextMessage.id.desc())
    ).first()
    return CODE.search(text.body).group(1)


def _our_logs(caplog) -> str:
    # The test's SMTP server (aiosmtpd's "mail.log") logs what it receives; the app's own loggers must not.
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail.log"))


# --- numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, region, expected",
    [
        ("07911 123456", "GB", "+447911123456"),
        ("+44 (0)7911 123-456", None, "+447911123456"),
        ("0044 7911 123456", "GB", "+447911123456"),
        ("(201) 555-0123", "US", "+12015550123"),
        ("+1 201 555 0123", "GB", "+12015550123"),
    ],
)
def test_numbers_are_stored_in_e164(typed, region, expected):
    assert contacts.normalise_number(typed, region) == expected


@pytest.mark.parametrize(
    "typed, region, says",
    [
        ("07911 123456", None, "country code"),
        ("call me", "GB", "does not read as a phone number"),
        ("+44 20 7946 0000", None, "not a mobile number"),
        ("+44 7911", None, "not a valid phone number"),
        ("", "GB", "Type the mobile number"),
    ],
)
def test_numbers_that_cannot_take_texts_are_refused_with_the_reason(typed, region, says):
    with pytest.raises(contacts.ContactRefused, match=says):
        contacts.normalise_number(typed, region)


def test_the_region_comes_from_the_zone():
    assert contacts.region_for_zone("Europe/London") == "GB"
    assert contacts.region_for_zone("America/New_York") == "US"
    assert contacts.region_for_zone("UTC") is None


# --- the page, end to end -----------------------------------------------------------------------


def test_an_email_address_is_verified_with_the_code_a_real_mail_carried(world, client, as_user, mailbox, caplog):
    caplog.set_level(logging.DEBUG)
    as_user(world.coordinator)
    response = client.post("/account/contacts", data={"kind": "email", "address": " Duty@Aegis.example "})
    assert response.status_code == 302
    channel = _channel(world.coordinator, "email")
    assert channel.address == "duty@aegis.example" and channel.verified_at is None
    assert contacts.verified_addresses(world.coordinator.id, "email") == []

    assert notices.send_due() == 1  # the "notices" job, through the loopback SMTP server
    [message] = mailbox.messages
    assert message["To"] == "duty@aegis.example"
    code = CODE.search(message.get_content()).group(1)
    assert code not in message["Subject"]
    assert channel.code_hash != code and code not in channel.code_hash  # only a hash is kept

    page = client.get("/account/contacts").get_data(as_text=True)
    assert "not verified" in page and code not in page
    response = client.post("/account/contacts/verify", data={"channel_id": channel.id, "code": code})
    assert response.status_code == 302
    db.session.refresh(channel)
    assert channel.verified_at is not None and channel.code_hash is None
    assert contacts.verified_addresses(world.coordinator.id, "email") == ["duty@aegis.example"]
    assert code not in _our_logs(caplog)  # never logged


def test_a_mobile_number_is_verified_with_the_code_of_its_text(world, client, as_user, caplog):
    caplog.set_level(logging.DEBUG)
    as_user(world.agent_user)  # agents add their numbers too
    response = client.post("/account/contacts", data={"kind": "sms", "address": "07911 123456"})
    assert response.status_code == 302
    channel = _channel(world.agent_user)
    assert channel.address == "+447911123456"  # read as a UK number: the organisation is in Europe/London
    text = db.session.scalar(sa.select(TextMessage))
    assert (text.to_number, text.user_id, text.organisation_id, text.status) == (
        "+447911123456",
        world.agent_user.id,
        world.org.id,
        "pending",
    )
    code = _texted_code("+447911123456")
    assert (
        client.post(
            "/account/contacts/verify", data={"channel_id": channel.id, "code": f" {code[:3]} {code[3:]} "}
        ).status_code
        == 302
    )
    assert contacts.verified_addresses(world.agent_user.id, "sms") == ["+447911123456"]
    assert contacts.user_for_verified_number(world.org.id, "+447911123456") == world.agent_user
    assert contacts.user_for_verified_number(world.other_org.id, "+447911123456") is None
    assert code not in _our_logs(caplog)


def test_a_wrong_code_uses_a_try_and_five_wrong_ones_need_a_new_code(world, client, as_user, time_machine):
    time_machine.move_to(T0, tick=False)
    as_user(world.coordinator)
    client.post("/account/contacts", data={"kind": "sms", "address": "+447911123456"})
    channel = _channel(world.coordinator)
    code = _texted_code("+447911123456")
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        response = client.post("/account/contacts/verify", data={"channel_id": channel.id, "code": wrong})
        assert response.status_code == 400
        assert f"Wrong code: {left} {'try' if left == 1 else 'tries'} left." in response.get_data(as_text=True)
    response = client.post("/account/contacts/verify", data={"channel_id": channel.id, "code": wrong})
    assert "that was the last try" in response.get_data(as_text=True)
    # Now even the right code is refused, until a new one is sent.
    response = client.post("/account/contacts/verify", data={"channel_id": channel.id, "code": code})
    assert response.status_code == 400 and "Too many wrong codes" in response.get_data(as_text=True)
    db.session.refresh(channel)
    assert channel.verified_at is None and channel.code_attempts == 5

    # A new code at once is refused (a minute between codes); a minute later it goes.
    response = client.post("/account/contacts/send", data={"channel_id": channel.id})
    assert response.status_code == 409 and "wait" in response.get_data(as_text=True)
    time_machine.move_to(T0 + timedelta(seconds=61), tick=False)
    assert client.post("/account/contacts/send", data={"channel_id": channel.id}).status_code == 302
    new_code = _texted_code("+447911123456")
    if new_code != code:  # the old code stops working with the new one
        response = client.post("/account/contacts/verify", data={"channel_id": channel.id, "code": code})
        assert response.status_code == 400
    assert client.post("/account/contacts/verify", data={"channel_id": channel.id, "code": new_code}).status_code == 302
    assert contacts.verified_addresses(world.coordinator.id, "sms") == ["+447911123456"]


def test_a_code_expires_after_fifteen_minutes(world, client, as_user, time_machine):
    time_machine.move_to(T0, tick=False)
    as_user(world.coordinator)
    client.post("/account/contacts", data={"kind": "sms", "address": "+447911123456"})
    channel = _channel(world.coordinator)
    code = _texted_code("+447911123456")
    time_machine.move_to(T0 + timedelta(minutes=15, seconds=1), tick=False)
    response = client.post("/account/contacts/verify", data={"channel_id": channel.id, "code": code})
    assert response.status_code == 400 and "This code has expired" in response.get_data(as_text=True)
    assert contacts.verified_addresses(world.coordinator.id, "sms") == []


def test_bad_input_on_the_page_is_said_and_stores_nothing(world, client, as_user):
    as_user(world.coordinator)
    for data, says in [
        ({"kind": "sms", "address": "call me"}, "does not read as a phone number"),
        ({"kind": "email", "address": "not-an-address"}, "is not an email address"),
        ({"kind": "fax", "address": "+447911123456"}, "Not a valid choice"),
    ]:
        response = client.post("/account/contacts", data=data)
        assert response.status_code == 400
        assert says in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(ContactChannel.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(TextMessage.id))) == 0


def test_the_same_number_twice_or_a_number_verified_by_a_colleague_is_refused(world, client, as_user):
    channel = contacts.add_channel(world.admin, "sms", "+447911123456")
    contacts.send_code(channel)
    code = _texted_code("+447911123456")
    assert contacts.verify(channel, code).verified
    db.session.commit()
    with pytest.raises(contacts.ContactRefused, match="already on your list"):
        contacts.add_channel(world.admin, "sms", "07911 123456", "GB")
    as_user(world.coordinator)
    response = client.post("/account/contacts", data={"kind": "sms", "address": "+447911123456"})
    assert response.status_code == 400
    assert "already verified by someone else" in response.get_data(as_text=True)


def test_channels_are_each_persons_own(world, client, as_user):
    channel = contacts.add_channel(world.admin, "email", "admin.duty@aegis.example")
    db.session.commit()
    as_user(world.coordinator)
    assert "admin.duty@aegis.example" not in client.get("/account/contacts").get_data(as_text=True)
    assert client.post("/account/contacts/verify", data={"channel_id": channel.id, "code": "123456"}).status_code == 404
    assert client.post("/account/contacts/send", data={"channel_id": channel.id}).status_code == 404
    assert client.post("/account/contacts/remove", data={"channel_id": channel.id, "confirmed": "1"}).status_code == 404
    assert db.session.get(ContactChannel, channel.id) is not None


@pytest.mark.parametrize("who, status", [("coordinator", 200), ("admin", 200), ("agent", 200), ("client", 403)])
def test_the_page_is_for_staff_and_agents(world, client, as_user, who, status):
    as_user(world.user(who))
    assert client.get("/account/contacts").status_code == status
    account = client.get("/account").get_data(as_text=True)
    assert ("/account/contacts" in account) == (status == 200)


def test_removing_a_channel_is_confirmed_first(world, client, as_user):
    as_user(world.coordinator)
    client.post("/account/contacts", data={"kind": "email", "address": "duty@aegis.example"})
    channel = _channel(world.coordinator, "email")
    asked = client.post("/account/contacts/remove", data={"channel_id": channel.id})
    assert asked.status_code == 200 and "Remove duty@aegis.example?" in asked.get_data(as_text=True)
    assert db.session.get(ContactChannel, channel.id) is not None
    channel_id = channel.id
    assert client.post("/account/contacts/remove", data={"channel_id": channel_id, "confirmed": "1"}).status_code == 302
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(ContactChannel.id))) == 0


def test_an_unverified_or_deactivated_persons_number_names_nobody(world):
    channel = contacts.add_channel(world.coordinator, "sms", "+447911123457")
    db.session.commit()
    assert contacts.user_for_verified_number(world.org.id, "+447911123457") is None
    contacts.send_code(channel)
    assert contacts.verify(channel, _texted_code("+447911123457")).verified
    world.coordinator.active = False
    db.session.commit()
    assert contacts.user_for_verified_number(world.org.id, "+447911123457") is None
    assert contacts.user_for_verified_number(world.org.id, "not a number") is None


def test_the_mail_carrying_a_code_is_a_notice_to_that_address_not_the_sign_in_one(world):
    channel = contacts.add_channel(world.coordinator, "email", "duty@aegis.example")
    contacts.send_code(channel)
    notice = db.session.scalar(sa.select(Notice))
    assert notice.email == "duty@aegis.example" and notice.user_id == world.coordinator.id
