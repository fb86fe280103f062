"""The mail transport: handing one message to the SMTP server (TLS, AUTH), or writing it whole as an .eml.

Used by the outbox (detail.domain.outbox), which decides when a message goes and records what
happened; failure_kind tells it a retry worth making from a refusal for good.
"""

import os
import smtplib
import ssl
import tempfile
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path

from flask import current_app

SMTP_TIMEOUT_S = 20


def describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in exc.recipients.items())
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    return f"{type(exc).__name__}: {exc}"


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def failure_kind(exc: BaseException) -> str:
    """Whether a failed send is worth retrying: transient, permanent, or unknown (not a mail error: it may have gone).

    A lost reply to DATA (SMTPServerDisconnected) counts as transient, as SMTP itself treats it
    (RFC 1047): the one window where a copy may arrive twice, with the same Message-ID.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return "transient" if codes and all(400 <= code < 500 for code in codes) else "permanent"
    if isinstance(exc, smtplib.SMTPSenderRefused | smtplib.SMTPDataError):
        return "permanent" if exc.smtp_code >= 500 else "transient"
    # Greeting, HELO, authentication, TLS, a dropped connection, timeouts, refused connections:
    # about the server or our settings, not this message, and they hit every message alike.
    if isinstance(exc, smtplib.SMTPException | OSError):
        return "transient"
    return "unknown"


def envelope_from() -> str:
    return parseaddr(current_app.config["MAIL_FROM"])[1] or "oscarmike@localhost"


def _connect() -> smtplib.SMTP:
    config = current_app.config
    host, port, security = config["SMTP_HOST"], config["SMTP_PORT"], config["SMTP_SECURITY"]
    if security == "tls":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=SMTP_TIMEOUT_S, context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT_S)
        if security == "starttls":
            try:
                smtp.ehlo()
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            except BaseException:
                smtp.close()
                raise
    return smtp


def send_smtp(message: EmailMessage, recipient: str) -> None:
    """Hand the message to the SMTP server; returns once the server has accepted it."""
    smtp = _connect()
    try:
        if current_app.config["SMTP_USER"]:
            smtp.login(current_app.config["SMTP_USER"], current_app.config["SMTP_PASSWORD"] or "")
        smtp.send_message(message, from_addr=envelope_from(), to_addrs=[recipient])
    except BaseException:
        smtp.close()
        raise
    try:  # accepted: whatever QUIT answers, the message is on its way
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        smtp.close()


def write_outbox(message: EmailMessage | bytes, path: Path) -> None:
    """Write the .eml (or a text's .txt) atomically: it is either there whole or not at all (reconcile relies on it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=".partial-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(message if isinstance(message, bytes) else message.as_bytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def smtp_configured() -> bool:
    return bool(current_app.config.get("SMTP_HOST"))
