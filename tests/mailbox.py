"""A real SMTP server on loopback (aiosmtpd) that keeps what it accepts: the mailbox fixture."""

import email
import socket
from email import policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

PUBLIC_URL = "https://om.example"


class Mailbox:
    """An aiosmtpd handler that keeps what it accepts and answers as the test scripts it."""

    def __init__(self):
        self.messages: list[EmailMessage] = []
        self.data_replies: list[str] = []  # answered to DATA first, in order; then 250
        self.rcpt_reply: str | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_replies:
            return self.data_replies.pop(0)
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mailbox(app):
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=port,
        SMTP_SECURITY="none",
        MAIL_FROM="Oscar Mike <digests@aegis.example>",
        PUBLIC_URL=PUBLIC_URL,
    )
    yield box
    controller.stop()
