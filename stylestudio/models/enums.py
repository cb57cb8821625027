"""Every enumerated value the schema stores, as strings (portable across SQLite/PostgreSQL)."""

from enum import StrEnum


class UserRole(StrEnum):
    USER = "user"
    ADMIN = "admin"


class ImageCategory(StrEnum):
    PRODUCT = "product"
    MODEL = "model"
    GENERATED = "generated"
    PROFILE = "profile"


class ModerationStatus(StrEnum):
    NONE = "none"  # never asked to be featured
    PENDING = "pending"  # owner asked; waiting for an admin
    APPROVED = "approved"
    REJECTED = "rejected"


class GenerationStatus(StrEnum):
    PENDING = "pending"
    UPLOADING = "uploading"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL_GENERATION


_TERMINAL_GENERATION = frozenset(
    {GenerationStatus.COMPLETED, GenerationStatus.FAILED, GenerationStatus.CANCELLED}
)


class GenerationInputRole(StrEnum):
    PRODUCT = "product"
    MODEL = "model"


class JobKind(StrEnum):
    GENERATE = "generate"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class LedgerKind(StrEnum):
    PURCHASE = "purchase"
    SPEND = "spend"
    REFUND = "refund"
    GRANT = "grant"
    ADJUSTMENT = "adjustment"
    CLAWBACK = "clawback"


class PurchaseStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"  # paid by a method that settles later (bank debit, ...)
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"  # the checkout was abandoned: the provider closed it
    CANCELLED = "cancelled"  # the buyer left checkout with its Cancel / back link
    REFUNDED = "refunded"


class CheckoutStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"


class PaymentProvider(StrEnum):
    OFFLINE = "offline"
    STRIPE = "stripe"


class UsageAction(StrEnum):
    GENERATION_STARTED = "generation_started"
    GENERATION_COMPLETED = "generation_completed"
    GENERATION_FAILED = "generation_failed"
    IMAGE_UPLOADED = "image_uploaded"
    IMAGE_DOWNLOADED = "image_downloaded"
    TOKENS_PURCHASED = "tokens_purchased"
    LOGIN = "login"
    LOGOUT = "logout"
    SIGNUP = "signup"


class WebhookDeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    DELIVERED = "delivered"  # the endpoint answered 2xx
    FAILED = "failed"  # refused, or no 2xx within the retry window
