"""Use cases of buying credits, whole: the purchase row, the provider's session and the
fulfilment in the order `checkout` wants them, the provider's refusals as domain errors. The
pages call these (and the REST API will); nothing here knows about Reflex."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from stylestudio.adapters.payments import CheckoutProvider, PaymentProviderError
from stylestudio.adapters.test_checkout import ACTIONS, TestCheckout
from stylestudio.db import session_scope
from stylestudio.services.accounts import accounts, admin_rights
from stylestudio.services.admin import admin_purchases
from stylestudio.services.billing import checkout
from stylestudio.services.billing.checkout import CheckoutView, PurchaseOutcome
from stylestudio.services.errors import NotFoundError, PaymentProviderUnavailableError

NOT_CONFIGURED = "Payments are not configured on this server yet, so packs cannot be bought."


def buy_pack(
    *,
    db: Engine,
    provider: CheckoutProvider | None,
    user_id: int,
    pack_code: str,
    public_url: str,
) -> str:
    """Open a checkout for one pack (a pending purchase at today's price, then the
    provider's session); the URL to send the browser to. The checkout returns to /credits
    with the session's id, or with the purchase's id from its Cancel link."""
    if provider is None:
        raise PaymentProviderUnavailableError(NOT_CONFIGURED)
    public = public_url.rstrip("/")
    try:
        return checkout.start_checkout(
            db=db,
            provider=provider,
            user_id=user_id,
            pack_code=pack_code,
            success_url=f"{public}/credits?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{public}/credits?cancelled={checkout.PURCHASE_ID}",
        )
    except PaymentProviderError as exc:
        raise PaymentProviderUnavailableError(exc.message) from exc


def returned_checkout(
    *,
    db: Engine,
    provider: CheckoutProvider | None,
    token: str | None,
    session_id: str,
    confirm: bool,
) -> CheckoutView:
    """The buyer's checkout after the return from the provider. With `confirm`, first asked
    of the provider (never taken from the URL) and fulfilled: the return is one of
    fulfilment's three callers, and credits are granted once whoever asks."""
    if confirm and provider is not None:
        try:
            checkout.fulfil_checkout(db=db, provider=provider, session_id=session_id)
        except PaymentProviderError as exc:
            raise PaymentProviderUnavailableError(exc.message) from exc
    with session_scope(db, write=False) as session:
        user = accounts.require_user(session, token=token)
        return checkout.checkout_for_buyer(session, user_id=user.id, session_id=session_id)


def check_purchase(
    *, db: Engine, provider: CheckoutProvider | None, token: str | None, purchase_id: int
) -> PurchaseOutcome:
    """An admin asks the provider about one purchase and brings it up to date (credits are
    granted at most once, whoever asks). Refused (UnauthorizedError, ForbiddenError) for
    anyone but a signed-in admin."""
    with session_scope(db, write=False) as session:
        admin = admin_rights.require_admin(session, token=token)
        session_id = admin_purchases.checkout_session_of(
            session, admin=admin, purchase_id=purchase_id
        )
    if provider is None:
        raise PaymentProviderUnavailableError(
            "Payments are not configured: there is no provider to ask."
        )
    try:
        return checkout.fulfil_checkout(db=db, provider=provider, session_id=session_id)
    except PaymentProviderError as exc:
        raise PaymentProviderUnavailableError(f"The provider could not be asked: {exc}") from exc


def press_test_checkout(
    *, db: Engine, provider: TestCheckout | None, user_id: int, session_id: str, action: str
) -> str:
    """A button of the offline checkout's page, pressed by the checkout's buyer: the
    provider changes the session and delivers its event. The path the browser returns to,
    as it would from Stripe (Cancel: the cancel URL the checkout was opened with)."""
    if provider is None or action not in ACTIONS:
        raise NotFoundError("That checkout does not exist.")
    with session_scope(db, write=False) as session:
        view = checkout.checkout_for_buyer(session, user_id=user_id, session_id=session_id)
    provider.act(session_id, action)
    if action == "cancel":
        return f"/credits?cancelled={view.purchase_id}"
    return f"/credits?session_id={session_id}"
