"""Data builders for tests: accounts, uploads, credits and generations, made through the
services the app itself uses (so a builder breaks when the rule it relies on changes).

Keyword arguments say what varies; the defaults are what most tests want. Admins are in
`tests.support.admins`; reading things back is in `tests.support.lookups`.
"""

from __future__ import annotations

import io
import uuid
from datetime import datetime

from PIL import Image as PILImage
from PIL import ImageDraw
from sqlalchemy.engine import Engine
from sqlmodel import select

from stylestudio.adapters.generation_engine import LOCAL_MODEL, GenerationEngine, ModelSpec
from stylestudio.adapters.local_engine.engine import LocalEngine
from stylestudio.adapters.payments import StripeCheckout
from stylestudio.adapters.storage import MediaStorage
from stylestudio.db import session_scope
from stylestudio.models import (
    BillingSettings,
    Generation,
    GenerationStatus,
    Image,
    ImageCategory,
    LedgerKind,
    User,
    UserRole,
)
from stylestudio.services.accounts import accounts
from stylestudio.services.billing import checkout, credits
from stylestudio.services.generation import generations
from stylestudio.services.generation.generation_worker import run_next_generation_job
from stylestudio.services.media import media
from tests.support.fake_stripe import FakeStripe

PASSWORD = "correct horse"
FLUX_KONTEXT = ModelSpec(
    key="black-forest-labs/flux-kontext-pro",
    label="FLUX.1 Kontext Pro",
    all_product_images=False,
    scene_image=False,
)
BATCH_MODELS = (LOCAL_MODEL, FLUX_KONTEXT)

# --------------------------------------------------------------------------- accounts


def new_user(
    db: Engine,
    email: str = "maker@example.com",
    *,
    password: str = PASSWORD,
    name: str = "",
    role: UserRole = UserRole.USER,
) -> int:
    """A new password account (with its free-trial credits), signed up as the app does; its id."""
    with session_scope(db) as session:
        user = accounts.sign_up(session, email=email, password=password, name=name, role=role)
        assert user.id is not None
        return user.id


def signed_in_session(db: Engine, user_id: int) -> str:
    """A live session token for `user_id` (what the session cookie carries)."""
    with session_scope(db) as session:
        return accounts.start_session(session, user_id=user_id)


def new_signed_in_user(
    db: Engine, email: str, *, password: str = PASSWORD, role: UserRole = UserRole.USER
) -> tuple[int, str]:
    """(user id, session token) of a new account that has signed in."""
    user_id = new_user(db, email, password=password, role=role)
    return user_id, signed_in_session(db, user_id)


def existing_or_new_user(db: Engine, email: str) -> int:
    """The id of the account with `email`, signing one up if there is none."""
    with session_scope(db, write=False) as session:
        existing = session.exec(select(User.id).where(User.email == email)).first()
    return existing if existing is not None else new_user(db, email)


# --------------------------------------------------------------------------- credits


def grant_credits(db: Engine, user_id: int, amount: int, *, key: str | None = None) -> None:
    """Grant `amount` credits once (key `test:<amount>` unless given)."""
    with session_scope(db) as session:
        credits.grant(
            session, user_id=user_id, amount=amount, idempotency_key=key or f"test:{amount}"
        )


def set_balance(db: Engine, user_id: int, amount: int) -> None:
    """Spend or top up (an admin adjustment) until the balance is `amount`."""
    with session_scope(db) as session:
        now = credits.balance(session, user_id=user_id)
        if now > amount:
            credits.spend(session, user_id=user_id, amount=now - amount, idempotency_key="trim")
        elif now < amount:
            credits.grant(
                session,
                user_id=user_id,
                amount=amount - now,
                idempotency_key="top-up",
                kind=LedgerKind.ADJUSTMENT,
            )


def set_refund_on_failure(db: Engine, value: bool) -> None:
    """Whether a failed generation gives its credits back (the billing setting)."""
    with session_scope(db) as session:
        settings = session.get(BillingSettings, 1)
        assert settings is not None
        settings.refund_on_failure = value
        session.add(settings)


# --------------------------------------------------------------------------- purchases

CHECKOUT_SUCCESS_URL = "http://localhost:3000/credits?session_id={CHECKOUT_SESSION_ID}"


def started_checkout(
    db: Engine,
    fake_stripe: FakeStripe,
    user_id: int,
    *,
    pack: str = "standard",
    cancel_url: str = "http://localhost:3000/credits",
    paid: bool = False,
) -> str:
    """A pending purchase of `pack` with its Stripe checkout session on the fake (paid there
    if `paid`, not yet fulfilled here); the session id."""
    url = checkout.start_checkout(
        db=db,
        provider=StripeCheckout(api_key=fake_stripe.api_key, api_base=fake_stripe.api_base),
        user_id=user_id,
        pack_code=pack,
        success_url=CHECKOUT_SUCCESS_URL,
        cancel_url=cancel_url,
    )
    session_id = url.rsplit("/", 1)[-1]
    assert session_id in fake_stripe.sessions
    if paid:
        fake_stripe.complete(session_id)
    return session_id


# --------------------------------------------------------------------------- uploads


def product_shot(fmt: str = "JPEG", size: tuple[int, int] = (480, 360)) -> bytes:
    """A red box on a light studio backdrop, encoded as `fmt`."""
    im = PILImage.new("RGB", size, (236, 234, 230))
    w, h = size
    ImageDraw.Draw(im).rectangle((w * 0.35, h * 0.2, w * 0.65, h * 0.85), fill=(190, 30, 40))
    out = io.BytesIO()
    im.save(out, fmt)
    return out.getvalue()


def uploaded_image(
    db: Engine,
    storage: MediaStorage,
    user_id: int,
    data: bytes | None = None,
    *,
    filename: str = "shoe.jpg",
    category: ImageCategory = ImageCategory.PRODUCT,
) -> Image:
    """An uploaded image (a product shot unless `data` is given), stored as uploads are;
    its row, detached."""
    with session_scope(db) as session:
        image = media.store_upload(
            session,
            storage=storage,
            user_id=user_id,
            data=data if data is not None else product_shot(),
            filename=filename,
            category=category,
        )
        session.expunge(image)
    return image


def new_upload(db: Engine, storage: MediaStorage, user_id: int, data: bytes | None = None) -> int:
    """An uploaded product image (a product shot unless `data` is given); its id."""
    image = uploaded_image(db, storage, user_id, data)
    assert image.id is not None
    return image.id


def new_scene_upload(db: Engine, storage: MediaStorage, user_id: int) -> int:
    """An uploaded scene (model) image, 640x480; its id."""
    image = uploaded_image(
        db,
        storage,
        user_id,
        product_shot(size=(640, 480)),
        filename="loft.jpg",
        category=ImageCategory.MODEL,
    )
    assert image.id is not None
    return image.id


# --------------------------------------------------------------------------- generations


def new_generation(
    db: Engine,
    *,
    user_id: int,
    image_id: int,
    key: str = "req-1",
    quality: str = "standard",
    aspect_ratio: str = "1:1",
) -> int:
    """A started (queued, paid for) generation of `image_id` on a marble table; its id."""
    with session_scope(db) as session:
        generation = generations.start_generation(
            session,
            user_id=user_id,
            product_image_id=image_id,
            model_image_id=None,
            prompt="on a marble table",
            style="realistic",
            quality=quality,
            aspect_ratio=aspect_ratio,
            idempotency_key=key,
        )
        assert generation.id is not None
        return generation.id


def recorded_generation(
    db: Engine,
    user_id: int,
    *,
    status: GenerationStatus = GenerationStatus.COMPLETED,
    prompt: str = "",
    model: str = "stable-diffusion-xl",
    style: str = "studio",
    aspect_ratio: str = "1:1",
    seed: int = 42,
    completed_at: datetime | None = None,
) -> int:
    """A generation row already in `status`, written directly (no credits, no job, no
    images): for states the services only reach through a worker. Its id."""
    with session_scope(db) as session:
        generation = Generation(
            user_id=user_id,
            status=status,
            prompt=prompt,
            model=model,
            style=style,
            quality="standard",
            aspect_ratio=aspect_ratio,
            seed=seed,
            idempotency_key=uuid.uuid4().hex,
            completed_at=completed_at,
        )
        session.add(generation)
        session.flush()
        assert generation.id is not None
        return generation.id


def batch_spec(products: tuple[int, ...], **changes: object) -> generations.GenerationSpec:
    """Two styles x two variations of `products`, standard 1:1, seed 4242, unless changed."""
    values: dict[str, object] = {
        "product_image_ids": products,
        "styles": ("fashion", "vintage"),
        "quality": "standard",
        "aspect_ratio": "1:1",
        "variations": 2,
        "seed": 4242,
    }
    values.update(changes)
    return generations.GenerationSpec(**values)  # type: ignore[arg-type]


def new_batch(
    db: Engine,
    user_id: int,
    spec: generations.GenerationSpec,
    key: str,
    *,
    models: tuple[ModelSpec, ...] = BATCH_MODELS,
) -> list[Generation]:
    """A started batch of generations for `spec`."""
    with session_scope(db) as session:
        return generations.start_batch(
            session, user_id=user_id, spec=spec, idempotency_key=key, models=models
        )


def run_one_job(
    db: Engine, storage: MediaStorage, engine: GenerationEngine, worker_id: str = "w1"
) -> bool:
    """Let a worker run the next due generation job; whether there was one."""
    return run_next_generation_job(db=db, storage=storage, engine=engine, worker_id=worker_id)


def run_all_jobs(db: Engine, storage: MediaStorage) -> None:
    """Run every due generation job with the local engine."""
    while run_next_generation_job(db=db, storage=storage, engine=LocalEngine(), worker_id="w"):
        pass


def finished_result(
    db: Engine, storage: MediaStorage, email: str, key: str = "r1"
) -> tuple[int, int]:
    """(user id, generated image id) of a finished generation by `email` (signed up if new)."""
    user_id = existing_or_new_user(db, email)
    gid = new_generation(db, user_id=user_id, image_id=new_upload(db, storage, user_id), key=key)
    assert run_one_job(db, storage, LocalEngine(), worker_id="w")
    with session_scope(db, write=False) as session:
        image = session.exec(
            select(Image).where(
                Image.generation_id == gid, Image.category == ImageCategory.GENERATED
            )
        ).one()
    assert image.id is not None
    return user_id, image.id
