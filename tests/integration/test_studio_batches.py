"""The studio in depth, through the services: several photos in, several styles at once
(all-or-nothing), several variations out, seeds that reproduce, model prices an admin sets.
SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

from stylestudio.adapters.generation_engine import LOCAL_MODEL
from stylestudio.adapters.storage import LocalStorage
from stylestudio.db import session_scope
from stylestudio.models import (
    AuditLogEntry,
    CreditLedgerEntry,
    Generation,
    GenerationInput,
    GenerationInputRole,
    GenerationStatus,
    Image,
    ImageCategory,
    Job,
)
from stylestudio.services.admin import billing_admin
from stylestudio.services.billing import credits
from stylestudio.services.errors import (
    DomainError,
    InsufficientCreditsError,
    NotFoundError,
    ValidationError,
)
from stylestudio.services.generation import generations
from stylestudio.services.generation.generation_views import get_generation_views
from tests.support.admins import admin_proof, make_admin
from tests.support.builders import (
    BATCH_MODELS,
    FLUX_KONTEXT,
    batch_spec,
    new_batch,
    new_scene_upload,
    new_upload,
    new_user,
    run_all_jobs,
    set_balance,
)
from tests.support.lookups import balance

BASE = "http://api.test"


def _result_bytes(db: Engine, storage: LocalStorage, generation_id: int) -> list[bytes]:
    with session_scope(db, write=False) as session:
        keys = session.exec(
            select(Image.storage_key)
            .where(
                Image.generation_id == generation_id,
                Image.category == ImageCategory.GENERATED,
            )
            .order_by(col(Image.image_order))
        ).all()
    return [storage.get(k) for k in keys]


def test_a_batch_of_styles_and_variations(db: Engine, storage: LocalStorage) -> None:
    user = new_user(db)
    set_balance(db, user, 10)
    products = tuple(new_upload(db, storage, user) for _ in range(3))
    scene = new_scene_upload(db, storage, user)
    spec = batch_spec(products, model_image_id=scene, prompt="on a linen sheet")
    with session_scope(db, write=False) as session:
        quoted = generations.quote_batch(session, spec=spec, models=BATCH_MODELS)
    assert quoted == 4  # 1 credit per image, 2 variations, 2 styles

    made = new_batch(db, user, spec, "batch-1")
    assert [g.style for g in made] == ["fashion", "vintage"]
    assert balance(db, user) == 10 - quoted
    assert len({g.batch_key for g in made}) == 1
    with session_scope(db, write=False) as session:
        inputs = session.exec(
            select(GenerationInput.image_id, GenerationInput.role, GenerationInput.position)
            .where(GenerationInput.generation_id == made[0].id)
            .order_by(col(GenerationInput.role), col(GenerationInput.position))
        ).all()
    assert [(i, r) for i, r, _ in inputs] == [
        (scene, GenerationInputRole.MODEL),
        *((p, GenerationInputRole.PRODUCT) for p in products),
    ]

    run_all_jobs(db, storage)
    with session_scope(db, write=False) as session:
        views = get_generation_views(
            session, user_id=user, generation_ids=[g.id or 0 for g in made], base_url=BASE
        )
    assert [v.status for v in views] == ["completed", "completed"]
    for view in views:
        assert [i.seed for i in view.images] == [4242, 4243]
        assert all(i.placeholder.startswith("data:image/") for i in view.images)
        assert [i.download_url.rsplit("&download=", 1)[1] for i in view.images] == [
            f"{view.style.lower()}-on-a-linen-sheet-{view.id}-1",
            f"{view.style.lower()}-on-a-linen-sheet-{view.id}-2",
        ]
        assert view.product_url  # the primary photo, for before/after
    # The two variations are two different pictures; the same seed renders the same bytes.
    first, second = _result_bytes(db, storage, made[0].id or 0)
    assert first != second

    again = new_batch(
        db,
        user,
        batch_spec(products, styles=("fashion",), prompt="on a linen sheet", model_image_id=scene),
        "batch-2",
    )
    run_all_jobs(db, storage)
    assert _result_bytes(db, storage, again[0].id or 0) == [first, second]


def test_a_batch_the_balance_cannot_cover_spends_nothing(db: Engine, storage: LocalStorage) -> None:
    user = new_user(db)
    set_balance(db, user, 4)
    products = (new_upload(db, storage, user),)
    spec = batch_spec(products, styles=("fashion", "vintage", "minimalist"))  # needs 6
    with session_scope(db, write=False) as session:
        ledger_before = session.exec(select(func.count()).select_from(CreditLedgerEntry)).one()
    with pytest.raises(InsufficientCreditsError) as info:
        new_batch(db, user, spec, "too-much")
    assert info.value.message.startswith(
        "Not enough credits for 3 styles: this needs 6, you have 4."
    )
    assert balance(db, user) == 4
    with session_scope(db, write=False) as session:
        assert session.exec(select(func.count()).select_from(Generation)).one() == 0
        assert session.exec(select(func.count()).select_from(Job)).one() == 0
        assert (
            session.exec(select(func.count()).select_from(CreditLedgerEntry)).one() == ledger_before
        )


def test_two_batches_racing_for_onebalance(db: Engine, storage: LocalStorage) -> None:
    """Balance 4, two tabs each start a batch of 4 at once: one batch starts whole, the
    other spends nothing; the balance ends at 0, never below."""
    user = new_user(db)
    set_balance(db, user, 4)
    products = (new_upload(db, storage, user),)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def attempt(key: str) -> None:
        barrier.wait()
        try:
            made = new_batch(db, user, batch_spec(products), key)
            outcomes.append(f"started {len(made)}")
        except InsufficientCreditsError:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt, args=(f"tab-{n}",)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused", "started 2"]
    assert balance(db, user) == 0
    with session_scope(db, write=False) as session:
        assert session.exec(select(func.count()).select_from(Generation)).one() == 2
        assert credits.ledger_sum(session, user_id=user) == 0


def test_the_same_request_twice_starts_one_batch(db: Engine, storage: LocalStorage) -> None:
    user = new_user(db)
    set_balance(db, user, 10)
    products = (new_upload(db, storage, user),)
    first = new_batch(db, user, batch_spec(products), "double-click")
    second = new_batch(db, user, batch_spec(products), "double-click")
    assert [g.id for g in first] == [g.id for g in second]
    assert balance(db, user) == 6


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"variations": 5}, "variations"),
        ({"variations": 0}, "variations"),
        ({"model": "acme/unknown"}, "Unknown model"),
        ({"model": FLUX_KONTEXT.key}, "one image per generation"),
        ({"styles": ()}, "Choose a style"),
        ({"styles": ("fashion", "fashion")}, "each style once"),
        ({"styles": ("cyberpunk",)}, "cyberpunk"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**31}, "seed"),
        ({"product_image_ids": ()}, "product image"),
    ],
)
def test_what_the_studio_cannot_ask_for(
    db: Engine, storage: LocalStorage, changes: dict[str, object], fragment: str
) -> None:
    user = new_user(db)
    products = (new_upload(db, storage, user),)
    spec = batch_spec(products, **{"product_image_ids": products, **changes})
    with pytest.raises(ValidationError) as info:
        new_batch(db, user, spec, "bad")
    assert fragment in info.value.message
    assert balance(db, user) == 10


def test_at_most_four_product_photos_and_only_ones_own(db: Engine, storage: LocalStorage) -> None:
    user = new_user(db)
    other = new_user(db, "other@example.com")
    mine = tuple(new_upload(db, storage, user) for _ in range(5))
    theirs = new_upload(db, storage, other)
    with pytest.raises(ValidationError, match="at most 4"):
        new_batch(db, user, batch_spec(mine), "five")
    with pytest.raises(NotFoundError):
        new_batch(db, user, batch_spec((mine[0], theirs)), "theirs")
    with pytest.raises(DomainError):
        new_batch(db, user, batch_spec(mine[:1], model_image_id=theirs), "their-scene")
    assert balance(db, user) == 10


def test_an_admin_model_price_is_what_the_next_batch_costs(
    db: Engine, storage: LocalStorage
) -> None:
    admin = make_admin(db)
    user = new_user(db)
    products = (new_upload(db, storage, user),)
    spec = batch_spec(products, styles=("fashion",), variations=1)
    with session_scope(db, write=False) as session:
        assert generations.quote_batch(session, spec=spec, models=BATCH_MODELS) == 1
    with session_scope(db) as session:
        billing_admin.update_model_multiplier(
            session,
            admin=admin_proof(session, admin),
            model=LOCAL_MODEL.key,
            multiplier="2.0",
            models=BATCH_MODELS,
        )
    with session_scope(db, write=False) as session:
        assert generations.quote_batch(session, spec=spec, models=BATCH_MODELS) == 2
        [choice] = [
            c
            for c in generations.model_choices(session, models=BATCH_MODELS)
            if c.key == LOCAL_MODEL.key
        ]
        assert choice.multiplier_hundredths == 200
        [entry] = session.exec(select(AuditLogEntry)).all()
    assert entry.action == billing_admin.MODEL_PRICE_UPDATED
    assert entry.actor_user_id == admin and entry.target_id == LOCAL_MODEL.key
    assert entry.details == {"before": {"multiplier": "1"}, "after": {"multiplier": "2"}}
    [made] = new_batch(db, user, spec, "doubled")
    assert made.credits_used == 2 and balance(db, user) == 8

    with session_scope(db) as session:  # saving the same value again writes nothing
        billing_admin.update_model_multiplier(
            session,
            admin=admin_proof(session, admin),
            model=LOCAL_MODEL.key,
            multiplier="2",
            models=BATCH_MODELS,
        )
    for bad_model, bad_value in (
        ("acme/unknown", "2"),
        (LOCAL_MODEL.key, "0"),
        (LOCAL_MODEL.key, "x"),
    ):
        with session_scope(db) as session, pytest.raises(DomainError):
            billing_admin.update_model_multiplier(
                session,
                admin=admin_proof(session, admin),
                model=bad_model,
                multiplier=bad_value,
                models=BATCH_MODELS,
            )
    with session_scope(db, write=False) as session:
        assert session.exec(select(func.count()).select_from(AuditLogEntry)).one() == 1


def test_use_these_settings_returns_the_inputs_in_order(db: Engine, storage: LocalStorage) -> None:
    user = new_user(db)
    intruder = new_user(db, "intruder@example.com")
    products = tuple(new_upload(db, storage, user) for _ in range(2))
    scene = new_scene_upload(db, storage, user)
    [made] = new_batch(
        db,
        user,
        batch_spec(
            products[::-1],
            styles=("minimalist",),
            model_image_id=scene,
            prompt="soft light",
            negative_prompt="text",
            quality="high",
            aspect_ratio="3:2",
        ),
        "remember-me",
    )
    with session_scope(db, write=False) as session:
        settings = generations.studio_settings(
            session, user_id=user, generation_id=made.id, base_url=BASE
        )
        with pytest.raises(NotFoundError):
            generations.studio_settings(
                session, user_id=intruder, generation_id=made.id, base_url=BASE
            )
    assert [p.id for p in settings.products] == list(products[::-1])
    assert settings.scene is not None and settings.scene.id == scene
    assert (settings.prompt, settings.negative_prompt, settings.style) == (
        "soft light",
        "text",
        "minimalist",
    )
    assert (settings.quality, settings.aspect_ratio, settings.variations, settings.seed) == (
        "high",
        "3:2",
        2,
        4242,
    )
    with session_scope(db, write=False) as session:
        status = session.get(Generation, made.id)
        assert status is not None and status.status == GenerationStatus.PENDING
