"""SQLModel tables. Importing this package registers every table on SQLModel.metadata."""

from stylestudio.models.activity import AuditLogEntry, UsageDaily, UsageEvent
from stylestudio.models.base import never_reuse_ids, utc_iso, utcnow
from stylestudio.models.billing import (
    BillingSettings,
    CheckoutSession,
    CreditLedgerEntry,
    CreditPack,
    ProcessedWebhookEvent,
    Purchase,
)
from stylestudio.models.enums import (
    CheckoutStatus,
    GenerationInputRole,
    GenerationStatus,
    ImageCategory,
    JobKind,
    JobStatus,
    LedgerKind,
    ModerationStatus,
    PaymentProvider,
    PurchaseStatus,
    UsageAction,
    UserRole,
    WebhookDeliveryStatus,
)
from stylestudio.models.generations import Generation, GenerationInput, Job
from stylestudio.models.library import (
    ApiIdempotencyKey,
    ApiKey,
    Collection,
    CollectionItem,
    ShareLink,
)
from stylestudio.models.media import Image
from stylestudio.models.users import AccountToken, OAuthIdentity, OAuthLogin, User, UserSession
from stylestudio.models.webhooks import WebhookDelivery, WebhookEndpoint

never_reuse_ids(User.metadata)

__all__ = [
    "AccountToken",
    "ApiIdempotencyKey",
    "ApiKey",
    "AuditLogEntry",
    "BillingSettings",
    "CheckoutSession",
    "CheckoutStatus",
    "Collection",
    "CollectionItem",
    "CreditLedgerEntry",
    "CreditPack",
    "Generation",
    "GenerationInput",
    "GenerationInputRole",
    "GenerationStatus",
    "Image",
    "ImageCategory",
    "Job",
    "JobKind",
    "JobStatus",
    "LedgerKind",
    "ModerationStatus",
    "OAuthIdentity",
    "OAuthLogin",
    "PaymentProvider",
    "ProcessedWebhookEvent",
    "Purchase",
    "PurchaseStatus",
    "ShareLink",
    "UsageAction",
    "UsageDaily",
    "UsageEvent",
    "User",
    "UserRole",
    "UserSession",
    "WebhookDelivery",
    "WebhookDeliveryStatus",
    "WebhookEndpoint",
    "utc_iso",
    "utcnow",
]
