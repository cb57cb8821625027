"""A real SMTP server for tests: aiosmtpd on a free local port, in its own thread, keeping
every message it accepts. Optionally requires a login, and speaks STARTTLS or implicit TLS
with a certificate made for the test (`tls_certificate`)."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "127.0.0.1"


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    authenticated: bool

    @property
    def text(self) -> str:
        body = self.message.get_body(preferencelist=("plain",))
        assert body is not None, "no text/plain part"
        return str(body.get_content()).replace("\r\n", "\n")

    @property
    def html(self) -> str | None:
        body = self.message.get_body(preferencelist=("html",))
        return None if body is None else str(body.get_content())


@dataclass
class SmtpServer:
    port: int
    login: tuple[str, str] | None
    received: list[ReceivedMail] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, *, scheme: str = "smtp", query: str = "") -> str:
        """The SMTP_URL that reaches this server (with its login, percent-encoded)."""
        credentials = (
            f"{quote(self.login[0], safe='')}:{quote(self.login[1], safe='')}@"
            if self.login
            else ""
        )
        return f"{scheme}://{credentials}{HOST}:{self.port}{'?' + query if query else ''}"

    def messages(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self.received)

    def to(self, address: str) -> list[ReceivedMail]:
        return [m for m in self.messages() if address in m.rcpt_tos]

    # aiosmtpd's handler hooks

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.received.append(
                ReceivedMail(
                    mail_from=envelope.mail_from,
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    message=message,
                    authenticated=bool(session.authenticated),
                )
            )
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            self.login is not None
            and isinstance(auth_data, LoginPassword)
            and (auth_data.login.decode(), auth_data.password.decode()) == self.login
        )
        return AuthResult(success=ok, handled=False)


@dataclass(frozen=True)
class TlsCertificate:
    server_context: ssl.SSLContext  # for the server
    client_context: ssl.SSLContext  # trusts only this certificate, checks the host name


def tls_certificate(directory: Path) -> TlsCertificate:
    """A self-signed certificate for 127.0.0.1 and localhost, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert_pem)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return TlsCertificate(server_context=server, client_context=client)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextmanager
def smtp_server(
    *,
    login: tuple[str, str] | None = None,
    tls: Literal["none", "starttls", "implicit"] = "none",
    certificate: TlsCertificate | None = None,
) -> Iterator[SmtpServer]:
    """A running SMTP server. With `login`, AUTH accepts only that login (and STARTTLS
    servers take no mail without it)."""
    server = SmtpServer(port=free_port(), login=login)
    options: dict[str, Any] = {}
    if login is not None:
        # A login is checked whenever one is offered (ReceivedMail.authenticated says so) and
        # demanded only over STARTTLS: aiosmtpd counts no other connection as encrypted.
        options.update(
            authenticator=server.authenticate,
            auth_required=tls == "starttls",
            auth_require_tls=tls == "starttls",
        )
    if tls != "none":
        assert certificate is not None, "TLS needs a certificate (tls_certificate)"
        if tls == "starttls":
            options.update(tls_context=certificate.server_context, require_starttls=True)
        else:
            options.update(ssl_context=certificate.server_context)
    controller = Controller(server, hostname=HOST, port=server.port, **options)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
