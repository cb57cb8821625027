"""Sending email: SMTP when SMTP_URL is set; in development without it, an outbox folder of
.eml files (and the log); in production without it, every send fails loudly.

No Reflex or database imports: the services are handed a Mailer.
"""

from __future__ import annotations

import logging
import os
import secrets
import smtplib
import ssl
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from stylestudio.settings import get_settings

logger = logging.getLogger(__name__)

DEFAULT_SENDER = "Style Studio <no-reply@localhost>"
SMTP_TIMEOUT_S = 15.0
_TRUE = frozenset({"1", "true", "yes", "on"})


class MailerError(Exception):
    """A message could not be handed over for delivery."""


class Mailer(Protocol):
    def send(self, to: str, subject: str, text: str, html: str | None = None) -> None:
        """Hand one message over for delivery, or raise MailerError."""
        ...


def build_message(
    *, sender: str, to: str, subject: str, text: str, html: str | None = None
) -> EmailMessage:
    """A complete message (plain text, plus an HTML alternative when given). Header values
    with line breaks are refused by the email package, so no header can be injected."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def _message(*, sender: str, to: str, subject: str, text: str, html: str | None) -> EmailMessage:
    try:
        return build_message(sender=sender, to=to, subject=subject, text=text, html=html)
    except ValueError as exc:  # a line break in a header, an address it cannot encode
        raise MailerError(f"refused to build the mail to {to!r}: {exc}") from exc


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool  # smtps://: TLS from the first byte
    starttls: bool  # smtp://...?starttls=1: upgrade the plain connection before AUTH

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        """`smtp://user:pass@host:port`, `smtps://...` or `smtp://...?starttls=1`; the user
        and password are percent-decoded (an @ in a password is written %40)."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://user:pass@host:587?starttls=1")
        implicit_tls = parts.scheme == "smtps"
        query = parse_qs(parts.query)
        starttls = not implicit_tls and query.get("starttls", ["0"])[-1].lower() in _TRUE
        default_port = 465 if implicit_tls else (587 if starttls else 25)
        return cls(
            host=parts.hostname,
            port=parts.port or default_port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=implicit_tls,
            starttls=starttls,
        )


class SmtpMailer:
    """One SMTP connection per message (mail here is rare: links, not newsletters)."""

    def __init__(
        self,
        config: SmtpConfig,
        *,
        sender: str = DEFAULT_SENDER,
        ssl_context: ssl.SSLContext | None = None,
        timeout_s: float = SMTP_TIMEOUT_S,
    ) -> None:
        self.config = config
        self.sender = sender
        # The system's trusted CAs and hostname checks unless a test brings its own CA.
        self._ssl_context = ssl_context or ssl.create_default_context()
        self._timeout_s = timeout_s

    @classmethod
    def from_url(cls, url: str, *, sender: str = DEFAULT_SENDER) -> SmtpMailer:
        return cls(SmtpConfig.from_url(url), sender=sender)

    def send(self, to: str, subject: str, text: str, html: str | None = None) -> None:
        message = _message(sender=self.sender, to=to, subject=subject, text=text, html=html)
        config = self.config
        try:
            client: smtplib.SMTP
            if config.implicit_tls:
                client = smtplib.SMTP_SSL(
                    config.host, config.port, timeout=self._timeout_s, context=self._ssl_context
                )
            else:
                client = smtplib.SMTP(config.host, config.port, timeout=self._timeout_s)
            with client:
                if config.starttls:
                    client.starttls(context=self._ssl_context)
                if config.username:
                    client.login(config.username, config.password or "")
                client.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise MailerError(
                f"SMTP {config.host}:{config.port} did not take the mail to {to}: {exc}"
            ) from exc
        logger.info("Mail sent to %s: %s", to, subject)


class OutboxMailer:
    """Development without SMTP: each message is logged and written to `directory` as an
    .eml file (any mail client opens it)."""

    def __init__(self, directory: Path, *, sender: str = DEFAULT_SENDER) -> None:
        self.directory = directory
        self.sender = sender

    def send(self, to: str, subject: str, text: str, html: str | None = None) -> None:
        message = _message(sender=self.sender, to=to, subject=subject, text=text, html=html)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.directory / f"{stamp}-{secrets.token_hex(4)}.eml"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(message.as_bytes())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise MailerError(f"could not write {path}: {exc}") from exc
        logger.info(
            "No SMTP_URL: mail to %s saved to %s\nSubject: %s\n\n%s", to, path, subject, text
        )


class UnconfiguredMailer:
    """Production without SMTP_URL: nothing can be delivered, and every attempt says so in
    the log (at error level) and to the caller, rather than dropping the mail."""

    def __init__(self) -> None:
        logger.error("SMTP_URL is not set: Style Studio cannot send email (links, resets)")

    def send(self, to: str, subject: str, text: str, html: str | None = None) -> None:
        logger.error("SMTP_URL is not set: mail to %s not sent (%s)", to, subject)
        raise MailerError("SMTP_URL is not set")


def mailer_for(*, smtp_url: str, sender: str, environment: str, outbox_dir: Path) -> Mailer:
    """SMTP when `smtp_url` is set; else the outbox, except in production."""
    if smtp_url:
        return SmtpMailer.from_url(smtp_url, sender=sender)
    if environment == "production":
        return UnconfiguredMailer()
    return OutboxMailer(outbox_dir, sender=sender)


@lru_cache
def get_mailer() -> Mailer:
    """The process's mailer, chosen from settings once (SMTP_URL, STYLESTUDIO_MAIL_FROM)."""
    settings = get_settings()
    return mailer_for(
        smtp_url=settings.smtp_url,
        sender=settings.mail_from,
        environment=settings.environment,
        outbox_dir=settings.outbox_dir,
    )
