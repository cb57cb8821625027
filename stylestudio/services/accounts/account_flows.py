"""Use cases of signing up, signing in and leaving, whole: the limit, the transaction, the
mail, the files after the commit — in the order the rules want them. The pages call these (and
the REST API will); nothing here knows about Reflex."""

from __future__ import annotations

import logging

from sqlalchemy.engine import Engine

from stylestudio.adapters.mailer import Mailer
from stylestudio.adapters.storage import MediaStorage
from stylestudio.db import session_scope
from stylestudio.services.accounts import account_links, account_self_service, sign_in_tickets
from stylestudio.services.errors import DomainError
from stylestudio.services.media.media import delete_files_after_commit
from stylestudio.services.rate_limits import get_limiter

log = logging.getLogger(__name__)


def password_sign_up(
    *,
    db: Engine,
    email: object,
    password: object,
    ip_address: str | None,
    mailer: Mailer,
    base_url: str,
) -> int:
    """A new account with a password (counted against the address's sign-up limit first),
    then the verification mail: the account exists either way, and the mail can be sent
    again from /account. Returns the new user's id."""
    get_limiter().sign_up(ip_address=ip_address)
    user_id = sign_in_tickets.password_sign_up(
        db=db, email=email, password=password, ip_address=ip_address
    )
    try:
        account_links.send_verification(db=db, user_id=user_id, mailer=mailer, base_url=base_url)
    except DomainError:
        log.warning("verification mail for user %s not sent", user_id, exc_info=True)
    return user_id


def password_sign_in(*, db: Engine, email: object, password: object, ip_address: str | None) -> int:
    """The user whose password this is, within the failed-attempt limits (per account and
    per address; while limited even the right password is refused)."""
    with get_limiter().sign_in_attempt(email=email, ip_address=ip_address):
        return sign_in_tickets.password_sign_in(db=db, email=email, password=password)


def request_password_reset(
    *, db: Engine, email: object, ip_address: str | None, mailer: Mailer, base_url: str
) -> None:
    """`Forgot password?`: limited per address and per account; the same outcome whether or
    not the address has an account."""
    get_limiter().password_reset_request(email=email, ip_address=ip_address)
    account_links.request_password_reset(db=db, email=email, mailer=mailer, base_url=base_url)


def resend_verification(*, db: Engine, user_id: int, mailer: Mailer, base_url: str) -> bool:
    """The verification link again (a few an hour). False: already verified."""
    get_limiter().verification_email(user_id=user_id)
    return account_links.send_verification(db=db, user_id=user_id, mailer=mailer, base_url=base_url)


def delete_account(*, db: Engine, storage: MediaStorage, user_id: int, confirm_email: str) -> None:
    """Delete the account (confirmed by its email), then its media files once the rows are
    gone for good; a file that cannot be deleted is left to `stylestudio media sweep`."""
    with session_scope(db) as session:
        keys = account_self_service.delete_account(
            session, user_id=user_id, confirm_email=confirm_email
        )
    delete_files_after_commit(storage, keys, what="a deleted account")
