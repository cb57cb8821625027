"""One-time email links end to end: each mail goes through a real SMTP server (aiosmtpd),
the link is taken from the message as a user would, and sign-in is checked with accounts'
own functions. On SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from stylestudio import log_redaction
from stylestudio.adapters.mailer import OutboxMailer, SmtpMailer
from stylestudio.db import session_scope
from stylestudio.models import AccountToken, AuditLogEntry, OAuthIdentity, User, utcnow
from stylestudio.services.accounts import account_links, accounts
from stylestudio.services.errors import (
    InvalidCredentialsError,
    InvalidLinkError,
    MailNotSentError,
    ValidationError,
)
from tests.support.builders import new_user
from tests.support.smtp_server import SmtpServer, free_port, smtp_server

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"
BASE_URL = "https://studio.example.com/"
_LINK = re.compile(r"https://studio\.example\.com/(reset-password|verify-email)\?token=\S+")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def mailer(smtp: SmtpServer) -> SmtpMailer:
    return SmtpMailer.from_url(smtp.url(), sender="Style Studio <no-reply@studio.example.com>")


def _sign_in(db: Engine, password: str, email: str = "ada@example.com") -> str:
    return accounts.sign_in(
        db=db, email=email, password=password, request=accounts.SessionRequest()
    )


def _link_in(smtp: SmtpServer, to: str, *, page: str) -> str:
    """The link of the latest mail to `to`, as a reader would copy it."""
    mails = smtp.to(to)
    assert mails, f"no mail reached {to}"
    match = _LINK.search(mails[-1].text)
    assert match is not None and match.group(1) == page, mails[-1].text
    return match.group(0)


def _link_of(text: str) -> str:
    match = _LINK.search(text)
    assert match is not None, text
    return match.group(0)


def _token(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


def test_password_reset_end_to_end(db: Engine, smtp: SmtpServer, mailer: SmtpMailer) -> None:
    user_id = new_user(db, "ada@example.com", password=PASSWORD)
    old_session = _sign_in(db, PASSWORD)

    account_links.request_password_reset(
        db=db, email="  Ada@Example.com ", mailer=mailer, base_url=BASE_URL
    )
    [mail] = smtp.messages()
    assert mail.rcpt_tos == ("ada@example.com",)
    assert mail.message["Subject"] == "Reset your Style Studio password"
    assert "expires in 1 hour" in mail.text
    link = _link_in(smtp, "ada@example.com", page="reset-password")
    token = _token(link)
    assert len(token) >= 43  # 32 random bytes
    with session_scope(db, write=False) as session:
        stored = session.exec(select(AccountToken)).one()
    assert stored.token_hash == accounts.hash_token(token) != token  # only the hash is kept
    assert stored.purpose == "reset_password"

    assert account_links.reset_password(db=db, token=token, new_password=NEW_PASSWORD) == user_id

    with pytest.raises(InvalidCredentialsError):
        _sign_in(db, PASSWORD)
    assert _sign_in(db, NEW_PASSWORD)
    with session_scope(db, write=False) as session:
        assert accounts.resolve_session(session, token=old_session) is None  # signed out
        user = session.get(User, user_id)
        assert user is not None and user.email_verified_at is not None  # the link proved it
    with pytest.raises(InvalidLinkError):
        account_links.reset_password(db=db, token=token, new_password="yet another password")
    assert _sign_in(db, NEW_PASSWORD)


def test_an_expired_reset_link_is_refused(db: Engine, smtp: SmtpServer, mailer: SmtpMailer) -> None:
    new_user(db, "ada@example.com", password=PASSWORD)
    account_links.request_password_reset(
        db=db,
        email="ada@example.com",
        mailer=mailer,
        base_url=BASE_URL,
        now=utcnow() - timedelta(minutes=61),
    )
    token = _token(_link_in(smtp, "ada@example.com", page="reset-password"))
    with pytest.raises(InvalidLinkError) as refused:
        account_links.reset_password(db=db, token=token, new_password=NEW_PASSWORD)
    assert refused.value.message == "This link is invalid or has expired. Request a new one."
    assert _sign_in(db, PASSWORD)


def test_unknown_email_gets_the_same_answer_and_no_mail(
    db: Engine, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    new_user(db, "ada@example.com", password=PASSWORD)
    # Both return normally (nothing to tell apart); only the real account gets mail.
    account_links.request_password_reset(
        db=db, email="nobody@example.com", mailer=mailer, base_url=BASE_URL
    )
    assert smtp.messages() == []
    account_links.request_password_reset(
        db=db, email="ada@example.com", mailer=mailer, base_url=BASE_URL
    )
    assert [m.rcpt_tos for m in smtp.messages()] == [("ada@example.com",)]


def test_a_failed_mail_gives_the_same_answer(db: Engine, caplog: pytest.LogCaptureFixture) -> None:
    new_user(db, "ada@example.com", password=PASSWORD)
    down = SmtpMailer.from_url(f"smtp://127.0.0.1:{free_port()}")
    account_links.request_password_reset(
        db=db, email="ada@example.com", mailer=down, base_url=BASE_URL
    )
    assert "Password reset mail" in caplog.text and "not sent" in caplog.text


def test_a_disabled_account_gets_no_reset_mail(
    db: Engine, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    user_id = new_user(db, "ada@example.com", password=PASSWORD)
    with session_scope(db) as session:
        user = session.get(User, user_id)
        assert user is not None
        user.is_disabled = True
        session.add(user)
    account_links.request_password_reset(
        db=db, email="ada@example.com", mailer=mailer, base_url=BASE_URL
    )
    assert smtp.messages() == []


def test_a_reset_voids_the_other_reset_links(
    db: Engine, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    new_user(db, "ada@example.com", password=PASSWORD)
    for _ in range(2):
        account_links.request_password_reset(
            db=db, email="ada@example.com", mailer=mailer, base_url=BASE_URL
        )
    first, second = (_token(_link_of(m.text)) for m in smtp.messages())
    account_links.reset_password(db=db, token=second, new_password=NEW_PASSWORD)
    with pytest.raises(InvalidLinkError):
        account_links.reset_password(db=db, token=first, new_password="the attacker's choice")
    assert _sign_in(db, NEW_PASSWORD)


def test_an_unacceptable_new_password_keeps_the_link(
    db: Engine, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    new_user(db, "ada@example.com", password=PASSWORD)
    account_links.request_password_reset(
        db=db, email="ada@example.com", mailer=mailer, base_url=BASE_URL
    )
    token = _token(_link_in(smtp, "ada@example.com", page="reset-password"))
    with pytest.raises(ValidationError, match="at least 8 characters"):
        account_links.reset_password(db=db, token=token, new_password="short")
    account_links.reset_password(db=db, token=token, new_password=NEW_PASSWORD)
    assert _sign_in(db, NEW_PASSWORD)


@pytest.mark.parametrize("token", ["", "not-a-token", "x" * 5000, None, 42])
def test_garbage_tokens_are_refused(db: Engine, token: object) -> None:
    new_user(db, "ada@example.com", password=PASSWORD)
    with pytest.raises(InvalidLinkError):
        account_links.reset_password(db=db, token=token, new_password=NEW_PASSWORD)
    with pytest.raises(InvalidLinkError), session_scope(db) as session:
        account_links.verify_email(session, token=token)


def test_ten_threads_using_one_reset_link_at_once_one_wins(
    db: Engine, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    user_id = new_user(db, "ada@example.com", password=PASSWORD)
    account_links.request_password_reset(
        db=db, email="ada@example.com", mailer=mailer, base_url=BASE_URL
    )
    token = _token(_link_in(smtp, "ada@example.com", page="reset-password"))
    passwords = [f"racing password number {i}" for i in range(10)]
    start = threading.Barrier(len(passwords))
    won: list[str] = []
    refused: list[str] = []
    lock = threading.Lock()

    def use(password: str) -> None:
        start.wait()
        try:
            assert (
                account_links.reset_password(db=db, token=token, new_password=password) == user_id
            )
            outcome = won
        except InvalidLinkError:
            outcome = refused
        with lock:
            outcome.append(password)

    threads = [threading.Thread(target=use, args=(p,)) for p in passwords]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(won) == 1 and len(refused) == 9
    assert _sign_in(db, won[0])
    for loser in refused:
        with pytest.raises(InvalidCredentialsError):
            _sign_in(db, loser)


def test_verification_end_to_end(db: Engine, smtp: SmtpServer, mailer: SmtpMailer) -> None:
    user_id = new_user(db, "ada@example.com", password=PASSWORD)
    assert account_links.send_verification(db=db, user_id=user_id, mailer=mailer, base_url=BASE_URL)
    [mail] = smtp.messages()
    assert mail.message["Subject"] == "Confirm your email address for Style Studio"
    assert "expires in 1 hour" in mail.text
    token = _token(_link_in(smtp, "ada@example.com", page="verify-email"))

    with session_scope(db) as session:
        assert account_links.verify_email(session, token=token) == "ada@example.com"
    with session_scope(db, write=False) as session:
        user = session.get(User, user_id)
        assert user is not None and user.email_verified_at is not None
    with pytest.raises(InvalidLinkError), session_scope(db) as session:
        account_links.verify_email(session, token=token)
    # Already verified: nothing more to send.
    assert not account_links.send_verification(
        db=db, user_id=user_id, mailer=mailer, base_url=BASE_URL
    )
    assert len(smtp.messages()) == 1


def test_a_verification_link_is_not_a_reset_link(
    db: Engine, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    user_id = new_user(db, "ada@example.com", password=PASSWORD)
    account_links.send_verification(db=db, user_id=user_id, mailer=mailer, base_url=BASE_URL)
    token = _token(_link_in(smtp, "ada@example.com", page="verify-email"))
    with pytest.raises(InvalidLinkError):
        account_links.reset_password(db=db, token=token, new_password=NEW_PASSWORD)
    assert _sign_in(db, PASSWORD)


def test_an_expired_verification_link_is_refused(
    db: Engine, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    user_id = new_user(db, "ada@example.com", password=PASSWORD)
    account_links.send_verification(
        db=db,
        user_id=user_id,
        mailer=mailer,
        base_url=BASE_URL,
        now=utcnow() - timedelta(hours=2),
    )
    token = _token(_link_in(smtp, "ada@example.com", page="verify-email"))
    with pytest.raises(InvalidLinkError), session_scope(db) as session:
        account_links.verify_email(session, token=token)
    with session_scope(db, write=False) as session:
        user = session.get(User, user_id)
        assert user is not None and user.email_verified_at is None


def test_a_link_for_an_old_address_does_not_verify_a_new_one(
    db: Engine, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    user_id = new_user(db, "ada@example.com", password=PASSWORD)
    account_links.send_verification(db=db, user_id=user_id, mailer=mailer, base_url=BASE_URL)
    token = _token(_link_in(smtp, "ada@example.com", page="verify-email"))
    with session_scope(db) as session:
        user = session.get(User, user_id)
        assert user is not None
        user.email = "ada@new-address.example"
        session.add(user)

    with pytest.raises(InvalidLinkError, match="earlier address"), session_scope(db) as session:
        account_links.verify_email(session, token=token)
    with session_scope(db, write=False) as session:
        user = session.get(User, user_id)
        assert user is not None and user.email_verified_at is None


def test_a_verification_mail_that_cannot_be_sent_says_so(db: Engine) -> None:
    user_id = new_user(db, "ada@example.com", password=PASSWORD)
    down = SmtpMailer.from_url(f"smtp://127.0.0.1:{free_port()}")
    with pytest.raises(MailNotSentError):
        account_links.send_verification(db=db, user_id=user_id, mailer=down, base_url=BASE_URL)


def test_a_reset_mail_in_the_development_outbox_works(
    db: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    new_user(db, "ada@example.com", password=PASSWORD)
    log_redaction.install()  # as every process of the app does
    caplog.set_level(logging.INFO, logger="stylestudio.adapters.mailer")
    account_links.request_password_reset(
        db=db, email="ada@example.com", mailer=OutboxMailer(tmp_path / "outbox"), base_url=BASE_URL
    )
    [eml] = list((tmp_path / "outbox").glob("*.eml"))
    body = BytesParser(policy=policy.default).parsebytes(eml.read_bytes()).get_body(("plain",))
    assert body is not None
    link = _link_of(body.get_content())
    # The console says where the mail is (the developer opens the file for the link); the
    # link's token, a secret, is not in the log.
    assert str(eml) in caplog.text
    assert _token(link) not in caplog.text
    assert link.split("token=")[0] + "token=[redacted]" in caplog.text
    account_links.reset_password(db=db, token=_token(link), new_password=NEW_PASSWORD)
    assert _sign_in(db, NEW_PASSWORD)


def test_a_reset_removes_provider_identities_that_never_verified_the_address(
    db: Engine, smtp: SmtpServer, mailer: SmtpMailer
) -> None:
    """Mallory made the account through a provider that did not verify ada@ (anyone can type
    it there); Ada resets the password by the mail to her inbox: Mallory's identity goes, a
    verified one stays, and it is in the audit log."""
    user_id = new_user(db, "ada@example.com", password=PASSWORD)
    with session_scope(db) as session:
        for subject, verified in (("mallory", False), ("ada", True)):
            session.add(
                OAuthIdentity(
                    user_id=user_id,
                    provider="oidc",
                    subject=subject,
                    email="ada@example.com",
                    email_verified=verified,
                )
            )
    account_links.request_password_reset(
        db=db, email="ada@example.com", mailer=mailer, base_url=BASE_URL
    )
    token = _token(_link_in(smtp, "ada@example.com", page="reset-password"))
    account_links.reset_password(db=db, token=token, new_password=NEW_PASSWORD)
    with session_scope(db, write=False) as session:
        assert session.exec(select(OAuthIdentity.subject)).all() == ["ada"]
        [audit] = session.exec(select(AuditLogEntry)).all()
    assert audit.action == "account_claimed" and audit.target_id == str(user_id)
    assert audit.details == {"by": "password reset", "identities_removed": ["oidc:mallory"]}
