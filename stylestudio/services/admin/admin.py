"""What administrators see: usage at a glance and billing settings (the moderation queue
is services.moderation.featuring's)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session, col, func, select

from stylestudio.models import (
    CreditLedgerEntry,
    Generation,
    GenerationStatus,
    LedgerKind,
    Purchase,
    PurchaseStatus,
    User,
    utc_iso,
)
from stylestudio.services.accounts.admin_rights import AdminProof
from stylestudio.services.billing.billing import (
    format_money,
    get_billing_settings,
    list_active_packs,
)


@dataclass(frozen=True)
class NewUser:
    """A row of the dashboard's Newest users."""

    email: str
    credits: int
    role: str
    joined: str  # ISO 8601 UTC


@dataclass(frozen=True)
class FlaggedUser:
    """A row of Flagged for review (a payment dispute, for example)."""

    email: str
    credits: int
    reason: str


@dataclass(frozen=True)
class StatusCount:
    """Generations in one status, as the dashboard labels it."""

    status: str
    count: int


@dataclass(frozen=True)
class Totals:
    """The dashboard's figures."""

    users: int = 0
    generations: int = 0
    credits_spent: int = 0
    credits_refunded: int = 0


@dataclass(frozen=True)
class AdminOverview:
    users: int
    generations: int
    generations_by_status: dict[str, int]
    credits_spent: int
    credits_refunded: int
    revenue: str
    free_trial_credits: int
    refund_on_failure: bool
    packs: list[dict[str, object]] = field(default_factory=list)
    recent_users: list[NewUser] = field(default_factory=list)
    flagged_users: list[FlaggedUser] = field(default_factory=list)

    @property
    def totals(self) -> Totals:
        return Totals(
            users=self.users,
            generations=self.generations,
            credits_spent=self.credits_spent,
            credits_refunded=self.credits_refunded,
        )

    @property
    def status_counts(self) -> list[StatusCount]:
        return [
            StatusCount(status=k.capitalize(), count=v)
            for k, v in self.generations_by_status.items()
        ]


def overview(session: Session, *, admin: AdminProof) -> AdminOverview:
    """Totals and queues for the admin dashboard."""
    by_status = {
        str(status): int(count)
        for status, count in session.exec(
            select(Generation.status, func.count()).group_by(Generation.status)
        ).all()
    }

    def ledger_total(kind: LedgerKind) -> int:
        value = session.exec(
            select(func.coalesce(func.sum(CreditLedgerEntry.amount), 0)).where(
                CreditLedgerEntry.kind == kind
            )
        ).one()
        return abs(int(value))

    revenue_cents = session.exec(
        select(func.coalesce(func.sum(Purchase.amount_cents), 0)).where(
            Purchase.status == PurchaseStatus.COMPLETED
        )
    ).one()
    billing = get_billing_settings(session)
    recent = session.exec(select(User).order_by(col(User.id).desc()).limit(10)).all()
    flagged = session.exec(
        select(User).where(col(User.flagged_for_review)).order_by(col(User.id).desc()).limit(50)
    ).all()
    return AdminOverview(
        users=session.exec(select(func.count()).select_from(User)).one(),
        generations=sum(by_status.values()),
        generations_by_status={s.value: by_status.get(s.value, 0) for s in GenerationStatus},
        credits_spent=ledger_total(LedgerKind.SPEND),
        credits_refunded=ledger_total(LedgerKind.REFUND),
        revenue=format_money(int(revenue_cents)),
        free_trial_credits=billing.free_trial_credits,
        refund_on_failure=billing.refund_on_failure,
        packs=[p.__dict__ for p in list_active_packs(session)],
        recent_users=[
            NewUser(
                email=u.email, credits=u.credits, role=str(u.role), joined=utc_iso(u.created_at)
            )
            for u in recent
        ],
        flagged_users=[
            FlaggedUser(email=u.email, credits=u.credits, reason=u.flag_reason or "Flagged")
            for u in flagged
        ],
    )
