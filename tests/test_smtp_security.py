"""SMTP_SECURITY and SMTP_USER against a real SMTP server (aiosmtpd) with TLS and AUTH, not a stand-in.

* starttls: the server refuses mail and AUTH before STARTTLS; the message arrives over TLS, after login.
* tls: the server speaks TLS from the first byte; the message arrives, after login.
* none: plain SMTP, no login asked for: the message arrives.
* The password is checked by the server: a wrong one is refused and nothing is delivered.
* The server's certificate is verified: one the machine does not trust is refused before anything is sent.

The certificate is made at test time (openssl), for 127.0.0.1, and trusted through SSL_CERT_FILE, which
OpenSSL reads when ssl.create_default_context() loads the default certificates.
"""

import shutil
import smtplib
import ssl
import subprocess
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from detail.domain import mail

from .mailbox import Mailbox, free_port

USER, PASSWORD = "mailer", "s3cret pass"
# aiosmtpd warns when auth_require_tls is off, as it must be for implicit TLS (it checks only STARTTLS).
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def _certificate(folder, name: str) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={name}",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    folder = tmp_path_factory.mktemp("smtp-tls")
    return {"trusted": _certificate(folder, "mail-server"), "stranger": _certificate(folder, "stranger")}


class TLSMailbox(Mailbox):
    """Keeps each message with how it came: over TLS or not, and as whom."""

    def __init__(self):
        super().__init__()
        self.sessions: list[dict] = []
        self.logins: list[tuple[str, bool]] = []

    async def handle_DATA(self, server, session, envelope):
        over_tls = server.transport.get_extra_info("ssl_object") is not None
        self.sessions.append({"tls": over_tls, "authenticated": bool(session.authenticated)})
        return await super().handle_DATA(server, session, envelope)

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        accepted = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        )
        self.logins.append((auth_data.login.decode() if isinstance(auth_data, LoginPassword) else "?", accepted))
        return AuthResult(success=accepted, handled=False)  # handled=True would leave the refusal unanswered


@pytest.fixture
def smtp_server(app, certificates, monkeypatch):
    """smtp_server(security, auth=True): a real server set up as that setting expects, and the app pointed at it."""
    started = []
    cert, key = certificates["trusted"]
    monkeypatch.setenv("SSL_CERT_FILE", cert)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)

    def start(security: str, auth: bool = True) -> TLSMailbox:
        box = TLSMailbox()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        options = {"authenticator": box.authenticator, "auth_required": True} if auth else {}
        if security == "starttls":
            options.update(tls_context=context, require_starttls=True, auth_require_tls=True)
        elif security == "tls":
            # The whole connection is TLS; aiosmtpd's own TLS check knows only STARTTLS.
            options.update(ssl_context=context, auth_require_tls=False)
        port = free_port()
        controller = Controller(box, hostname="127.0.0.1", port=port, **options)
        controller.start()
        started.append(controller)
        app.config.update(
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=port,
            SMTP_SECURITY=security,
            SMTP_USER=USER if auth else None,
            SMTP_PASSWORD=PASSWORD if auth else None,
            MAIL_FROM="Oscar Mike <digests@aegis.example>",
        )
        return box

    yield start
    for controller in started:
        controller.stop()


def _message(subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "digests@aegis.example", "x@example.com", subject
    message.set_content("Nothing to report.")
    return message


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_mail_goes_over_tls_after_login(smtp_server, security):
    box = smtp_server(security)
    mail.send_smtp(_message(f"over {security}"), "x@example.com")
    assert [m["Subject"] for m in box.messages] == [f"over {security}"]
    assert box.sessions == [{"tls": True, "authenticated": True}]
    assert box.logins == [(USER, True)]


def test_plain_smtp_without_a_user_delivers_without_tls(smtp_server):
    box = smtp_server("none", auth=False)
    mail.send_smtp(_message("plain"), "x@example.com")
    assert [m["Subject"] for m in box.messages] == ["plain"]
    assert box.sessions == [{"tls": False, "authenticated": False}]


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_a_wrong_password_is_refused_and_nothing_is_sent(smtp_server, app, security):
    box = smtp_server(security)
    app.config.update(SMTP_PASSWORD="not the password")
    with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        mail.send_smtp(_message("refused"), "x@example.com")
    assert mail.failure_kind(refused.value) == "transient"  # kept and retried once the setting is fixed
    # smtplib tries each mechanism the server offers (PLAIN, then LOGIN): each one refused.
    assert box.messages == [] and box.logins and set(box.logins) == {(USER, False)}


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_an_untrusted_certificate_is_refused_before_anything_is_sent(smtp_server, certificates, monkeypatch, security):
    box = smtp_server(security)
    monkeypatch.setenv("SSL_CERT_FILE", certificates["stranger"][0])  # the machine trusts another certificate
    with pytest.raises(ssl.SSLCertVerificationError):
        mail.send_smtp(_message("to a stranger"), "x@example.com")
    assert box.messages == [] and box.logins == []
