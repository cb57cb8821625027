"""The mailer against a real SMTP server (aiosmtpd): plain, STARTTLS and implicit TLS, with
a login; the development outbox; production without SMTP_URL."""

from __future__ import annotations

import logging
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Literal

import pydantic
import pytest

from stylestudio import log_redaction
from stylestudio.adapters.mailer import (
    MailerError,
    OutboxMailer,
    SmtpConfig,
    SmtpMailer,
    UnconfiguredMailer,
    mailer_for,
)
from stylestudio.settings import Settings
from tests.support.smtp_server import free_port, smtp_server, tls_certificate

SENDER = "Style Studio <studio@example.com>"
LOGIN = ("mailer@example.com", "p@ss:word/with spaces")


def test_smtp_delivers_text_and_html_after_logging_in() -> None:
    with smtp_server(login=LOGIN) as server:
        mailer = SmtpMailer.from_url(server.url(), sender=SENDER)
        mailer.send("ada@example.com", "Hello Ada", "Plain words.\n", html="<p>Rich words.</p>")
        [mail] = server.messages()
    assert mail.authenticated
    assert mail.mail_from == "studio@example.com"
    assert mail.rcpt_tos == ("ada@example.com",)
    assert mail.message["From"] == SENDER
    assert mail.message["To"] == "ada@example.com"
    assert mail.message["Subject"] == "Hello Ada"
    assert mail.message["Message-ID"].endswith("@example.com>")
    assert mail.text == "Plain words.\n"
    assert mail.html is not None and "<p>Rich words.</p>" in mail.html


def test_smtp_with_a_wrong_password_raises_and_delivers_nothing() -> None:
    with smtp_server(login=LOGIN) as server:
        wrong = server.url().replace("with%20spaces", "guessed")
        with pytest.raises(MailerError):
            SmtpMailer.from_url(wrong, sender=SENDER).send("ada@example.com", "Hi", "text")
        assert server.messages() == []


@pytest.mark.parametrize(
    ("tls", "scheme", "query"), [("starttls", "smtp", "starttls=1"), ("implicit", "smtps", "")]
)
def test_smtp_over_tls(
    tmp_path: Path, tls: Literal["starttls", "implicit"], scheme: str, query: str
) -> None:
    certificate = tls_certificate(tmp_path)
    with smtp_server(login=LOGIN, tls=tls, certificate=certificate) as server:
        url = server.url(scheme=scheme, query=query)
        mailer = SmtpMailer(
            SmtpConfig.from_url(url), sender=SENDER, ssl_context=certificate.client_context
        )
        mailer.send("ada@example.com", "Over TLS", "Sealed.\n")
        [mail] = server.messages()
    assert mail.authenticated
    assert mail.text == "Sealed.\n"


def test_starttls_server_refuses_a_mailer_that_does_not_ask_for_it(tmp_path: Path) -> None:
    certificate = tls_certificate(tmp_path)
    with smtp_server(login=LOGIN, tls="starttls", certificate=certificate) as server:
        with pytest.raises(MailerError):
            SmtpMailer.from_url(server.url(), sender=SENDER).send("ada@example.com", "x", "y")
        assert server.messages() == []


def test_an_unreachable_server_raises() -> None:
    mailer = SmtpMailer.from_url(f"smtp://127.0.0.1:{free_port()}", sender=SENDER)
    with pytest.raises(MailerError):
        mailer.send("ada@example.com", "Hi", "text")


def test_a_line_break_in_a_header_is_refused_not_sent() -> None:
    with smtp_server() as server:
        mailer = SmtpMailer.from_url(server.url(), sender=SENDER)
        with pytest.raises(MailerError):
            mailer.send("ada@example.com\r\nBcc: eve@example.com", "Hi", "text")
        with pytest.raises(MailerError):
            mailer.send("ada@example.com", "Hi\nBcc: eve@example.com", "text")
        assert server.messages() == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", ("mail.example.com", 25, None, None, False, False)),
        (
            "smtp://u:p%40ss@mail.example.com?starttls=1",
            ("mail.example.com", 587, "u", "p@ss", False, True),
        ),
        ("smtps://u:p@mail.example.com", ("mail.example.com", 465, "u", "p", True, False)),
        (
            "smtp://mail.example.com:2525?starttls=0",
            ("mail.example.com", 2525, None, None, False, False),
        ),
    ],
)
def test_smtp_url_forms(url: str, expected: tuple[object, ...]) -> None:
    c = SmtpConfig.from_url(url)
    assert (c.host, c.port, c.username, c.password, c.implicit_tls, c.starttls) == expected


@pytest.mark.parametrize("url", ["http://mail.example.com", "smtp://", "mail.example.com:25"])
def test_settings_refuse_a_malformed_smtp_url(url: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="SMTP_URL"):
        Settings(_env_file=None, SMTP_URL=url)


def test_outbox_writes_an_eml_file_and_logs_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = tmp_path / "data" / "outbox"
    log_redaction.install()  # as the web process, the worker and the CLI do at start
    caplog.set_level(logging.INFO, logger="stylestudio.adapters.mailer")
    OutboxMailer(outbox, sender=SENDER).send(
        "ada@example.com", "Reset your password", "Open http://localhost:3000/x?token=abc\n"
    )
    [path] = list(outbox.iterdir())
    assert path.suffix == ".eml"
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert message["To"] == "ada@example.com"
    assert message["From"] == SENDER
    assert message["Subject"] == "Reset your password"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content() == "Open http://localhost:3000/x?token=abc\n"
    # The developer finds the link in the .eml file the log names; the log itself never
    # shows the link's token (every process of the app redacts its log records).
    assert str(path) in caplog.text
    assert "token=abc" not in caplog.text


def test_the_mailer_follows_the_settings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def pick(smtp_url: str, environment: str) -> object:
        return mailer_for(
            smtp_url=smtp_url, sender=SENDER, environment=environment, outbox_dir=tmp_path
        )

    assert isinstance(pick("smtp://mail.example.com", "production"), SmtpMailer)
    assert isinstance(pick("", "development"), OutboxMailer)
    assert isinstance(pick("", "test"), OutboxMailer)

    caplog.set_level(logging.ERROR, logger="stylestudio.adapters.mailer")
    production = pick("", "production")
    assert isinstance(production, UnconfiguredMailer)
    assert "SMTP_URL is not set" in caplog.text  # said once at startup...
    caplog.clear()
    with pytest.raises(MailerError):
        production.send("ada@example.com", "Reset your password", "link")
    assert "not sent" in caplog.text and "ada@example.com" in caplog.text  # ...and per mail
    assert list(tmp_path.iterdir()) == []  # never written anywhere in production
