"""Purchases as the admin sees them: the newest of every user, what refunds took back, the
revenue kept, and the checkout session to ask the payment provider about.

Every function takes the caller's `AdminProof` (services/accounts/admin_rights.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, func, select

from stylestudio.models import Purchase, PurchaseStatus, User, utc_iso
from stylestudio.services.accounts.admin_rights import AdminProof
from stylestudio.services.billing.billing import format_money
from stylestudio.services.errors import NotFoundError, ValidationError
from stylestudio.services.ids import is_row_id

MAX_LIST_LIMIT = 200


@dataclass(frozen=True)
class PurchaseRow:
    id: int
    user_email: str
    pack_name: str
    credits: int
    amount: str  # "$9.99"
    refunded: str  # "$4.99", or "" when nothing was refunded
    status: str  # a PurchaseStatus value
    provider: str
    provider_session_id: str
    payment_intent: str
    created_at: str  # ISO 8601 UTC
    clawed_back_credits: int
    uncollected_credits: int


def checkout_session_of(session: Session, *, admin: AdminProof, purchase_id: int) -> str:
    """The provider's checkout session id of a purchase, to ask the provider about it."""
    if not is_row_id(purchase_id):
        raise NotFoundError("That purchase does not exist.")
    purchase = session.get(Purchase, purchase_id)
    if purchase is None:
        raise NotFoundError("That purchase does not exist.")
    if not purchase.stripe_checkout_session_id:
        raise ValidationError(
            f"Purchase {purchase_id} never reached the provider: there is nothing to check."
        )
    return purchase.stripe_checkout_session_id


def list_purchases(session: Session, *, admin: AdminProof, limit: int = 50) -> list[PurchaseRow]:
    """The newest purchases of every user, with what refunds could and could not take back."""
    rows = session.exec(
        select(Purchase, User.email)
        .join(User, col(User.id) == Purchase.user_id, isouter=True)
        .order_by(col(Purchase.id).desc())
        .limit(max(1, min(int(limit), MAX_LIST_LIMIT)))
    ).all()
    result = []
    for purchase, email in rows:
        assert purchase.id is not None
        refunded_cents = int(getattr(purchase, "refunded_cents", 0) or 0)
        result.append(
            PurchaseRow(
                id=purchase.id,
                user_email=email or "(deleted account)",
                pack_name=purchase.pack_display_name,
                credits=purchase.credits,
                amount=format_money(purchase.amount_cents, purchase.currency),
                refunded=format_money(refunded_cents, purchase.currency) if refunded_cents else "",
                status=PurchaseStatus(purchase.status).value,
                provider=str(purchase.provider),
                provider_session_id=purchase.stripe_checkout_session_id or "",
                payment_intent=purchase.stripe_payment_intent_id or "",
                created_at=utc_iso(purchase.created_at),
                # Columns of the refunds migration; zero on a schema without them.
                clawed_back_credits=int(getattr(purchase, "clawed_back_credits", 0) or 0),
                uncollected_credits=int(getattr(purchase, "uncollected_credits", 0) or 0),
            )
        )
    return result


def revenue_summary(session: Session, *, admin: AdminProof) -> str:
    """Money kept: completed and refunded purchases minus what was refunded, e.g. "$34.98".

    Without a `refunded_cents` column a refunded purchase counts as refunded in full.
    """
    kept = (PurchaseStatus.COMPLETED, PurchaseStatus.REFUNDED)
    gross = session.exec(
        select(func.coalesce(func.sum(Purchase.amount_cents), 0)).where(
            col(Purchase.status).in_(kept)
        )
    ).one()
    refunded_column = getattr(Purchase, "refunded_cents", None)
    if refunded_column is not None:
        refunded = session.exec(
            select(func.coalesce(func.sum(refunded_column), 0)).where(
                col(Purchase.status).in_(kept)
            )
        ).one()
    else:
        refunded = session.exec(
            select(func.coalesce(func.sum(Purchase.amount_cents), 0)).where(
                Purchase.status == PurchaseStatus.REFUNDED
            )
        ).one()
    return format_money(int(gross) - int(refunded))
