"""Domain errors. Each carries a code and a message a user can act on."""

from __future__ import annotations


class DomainError(Exception):
    code = "ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(DomainError):
    code = "VALIDATION_ERROR"


class InvalidImageError(ValidationError):
    code = "INVALID_IMAGE"


class NotFoundError(DomainError):
    code = "NOT_FOUND"


class UnauthorizedError(DomainError):
    code = "UNAUTHORIZED"

    def __init__(self, message: str = "Please sign in to continue.") -> None:
        super().__init__(message)


class ForbiddenError(DomainError):
    code = "FORBIDDEN"

    def __init__(self, message: str = "You do not have access to this.") -> None:
        super().__init__(message)


class EmailAlreadyRegisteredError(DomainError):
    code = "EMAIL_TAKEN"

    def __init__(self) -> None:
        super().__init__("An account with this email already exists. Sign in instead.")


class InvalidCredentialsError(DomainError):
    code = "INVALID_CREDENTIALS"

    def __init__(self) -> None:
        # One message for unknown email and wrong password: no account enumeration.
        super().__init__("Email or password is incorrect.")


class InsufficientCreditsError(DomainError):
    code = "INSUFFICIENT_TOKENS"

    def __init__(self, *, required: int, available: int, what: str = "") -> None:
        super().__init__(
            f"Not enough credits{' for ' + what if what else ''}: this needs {required}, "
            f"you have {available}. Buy more on the Credits page (/credits)."
        )
        self.required = required
        self.available = available


class RateLimitedError(DomainError):
    """Too many attempts; the message says when to try again (`retry_after_s` seconds)."""

    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class InvalidLinkError(ValidationError):
    """A one-time email link that is unknown, used, expired or for another address."""

    code = "INVALID_LINK"

    def __init__(
        self, message: str = "This link is invalid or has expired. Request a new one."
    ) -> None:
        super().__init__(message)


class MailNotSentError(DomainError):
    code = "MAIL_NOT_SENT"

    def __init__(self, message: str = "We could not send the email. Try again later.") -> None:
        super().__init__(message)


class IdempotencyConflictError(ValidationError):
    """A ledger key already recorded a different movement (another account, kind, amount or
    row): the request is refused rather than taken for a replay of something it is not."""

    code = "IDEMPOTENCY_CONFLICT"

    def __init__(
        self, message: str = "This request conflicts with an earlier one; nothing was changed."
    ) -> None:
        super().__init__(message)


class PaymentProviderUnavailableError(DomainError):
    """The payment provider refused or could not be reached (or none is configured); the
    message is safe to show."""

    code = "PAYMENT_PROVIDER_UNAVAILABLE"
