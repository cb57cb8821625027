"""Billing settings and the credit packs on sale."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from stylestudio.models import BillingSettings, CreditPack


@dataclass(frozen=True)
class PackView:
    code: str
    name: str
    credits: int
    price: str  # "$9.99"
    per_credit: str  # "$0.20"


def get_billing_settings(session: Session) -> BillingSettings:
    """The single settings row (the baseline migration creates it)."""
    settings = session.get(BillingSettings, 1)
    if settings is None:  # a database restored without its seed row still works
        settings = BillingSettings(id=1)
        session.add(settings)
        session.flush()
    return settings


def list_active_packs(session: Session) -> list[PackView]:
    packs = session.exec(
        select(CreditPack).where(col(CreditPack.is_active)).order_by(col(CreditPack.sort_order))
    ).all()
    return [
        PackView(
            code=p.code,
            name=p.display_name,
            credits=p.credits,
            price=format_money(p.price_cents, p.currency),
            per_credit=format_money(round(p.price_cents / p.credits), p.currency),
        )
        for p in packs
    ]


def format_money(cents: int, currency: str = "usd") -> str:
    symbol = {"usd": "$", "eur": "€", "gbp": "£"}.get(currency.lower(), "")
    text = f"{cents / 100:,.2f}"
    return f"{symbol}{text}" if symbol else f"{text} {currency.upper()}"
