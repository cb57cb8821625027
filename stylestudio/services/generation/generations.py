"""Starting generations (spend + record + enqueue, one transaction; a batch of styles at
once), and what the studio needs to start one again."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from stylestudio.adapters.generation_engine import LOCAL_MODEL, ModelSpec
from stylestudio.models import (
    Generation,
    GenerationInput,
    GenerationInputRole,
    GenerationStatus,
    Image,
    ImageCategory,
    JobKind,
    UsageAction,
)
from stylestudio.services.billing import credits, pricing
from stylestudio.services.billing.billing import get_billing_settings
from stylestudio.services.errors import InsufficientCreditsError, NotFoundError, ValidationError
from stylestudio.services.generation import jobs
from stylestudio.services.generation.generation_endings import end_generation
from stylestudio.services.generation.generation_work import CANCELLED
from stylestudio.services.ids import is_row_id
from stylestudio.services.media.media import get_owned_image, media_url
from stylestudio.services.usage import record_usage

MAX_PROMPT_LENGTH = 1000
MAX_SEED = 2**31 - 1
MAX_PRODUCT_IMAGES = 4


@dataclass(frozen=True)
class GenerationSpec:
    """What the studio asks for: one generation per style (several styles make a batch)."""

    product_image_ids: tuple[int, ...]  # 1-4 angles, the primary one first
    styles: tuple[str, ...]  # 1-5 distinct style presets
    quality: str
    aspect_ratio: str
    model_image_id: int | None = None
    prompt: str = ""
    negative_prompt: str = ""
    model: str = pricing.DEFAULT_MODEL
    variations: int = 1
    seed: int | None = None  # None: a random one (the same for every style of a batch)


def quote_batch(
    session: Session, *, spec: GenerationSpec, models: tuple[ModelSpec, ...] = (LOCAL_MODEL,)
) -> int:
    """What `spec` costs in all (every style, every variation), validated as start_batch
    validates it."""
    _check(spec, models)
    return len(spec.styles) * _cost_each(session, spec)


def _cost_each(session: Session, spec: GenerationSpec) -> int:
    overrides = get_billing_settings(session).model_multipliers
    return pricing.generation_cost(
        quality=spec.quality,
        aspect_ratio=spec.aspect_ratio,
        model_multiplier=pricing.model_multiplier(spec.model, overrides),
        variations=spec.variations,
    )


def _check(spec: GenerationSpec, models: tuple[ModelSpec, ...]) -> ModelSpec:
    """The chosen model's spec, or ValidationError naming what is wrong."""
    if not spec.styles:
        raise ValidationError("Choose a style.")
    if len(set(spec.styles)) != len(spec.styles) or len(spec.styles) > len(pricing.STYLE_PRESETS):
        raise ValidationError("Choose each style once.")
    for style in spec.styles:
        pricing.validate_options(style=style, quality=spec.quality, aspect_ratio=spec.aspect_ratio)
    model = next((m for m in models if m.key == spec.model), None)
    if model is None:
        raise ValidationError(f"Unknown model “{spec.model}”.")
    if isinstance(spec.variations, bool) or not isinstance(spec.variations, int):
        raise ValidationError("Variations must be a whole number.")
    if not 1 <= spec.variations <= model.max_variations:
        raise ValidationError(
            f"{model.label} makes one image per generation."
            if model.max_variations == 1
            else f"Choose 1 to {model.max_variations} variations."
        )
    if not 1 <= len(spec.product_image_ids) <= MAX_PRODUCT_IMAGES:
        raise ValidationError(
            "Upload a product image first."
            if not spec.product_image_ids
            else f"Use at most {MAX_PRODUCT_IMAGES} product images."
        )
    if len(set(spec.product_image_ids)) != len(spec.product_image_ids):
        raise ValidationError("Each product image can be used once.")
    if len(spec.prompt or "") > MAX_PROMPT_LENGTH or len(spec.negative_prompt or "") > (
        MAX_PROMPT_LENGTH
    ):
        raise ValidationError(f"Keep prompts under {MAX_PROMPT_LENGTH} characters.")
    if "\x00" in (spec.prompt or "") + (spec.negative_prompt or ""):
        # PostgreSQL cannot store it in text; a refusal, not a database error.
        raise ValidationError("Prompts cannot contain NUL characters.")
    if spec.seed is not None and (
        isinstance(spec.seed, bool)
        or not isinstance(spec.seed, int)
        or not 0 <= spec.seed <= MAX_SEED
    ):
        raise ValidationError(f"The seed must be a whole number from 0 to {MAX_SEED}.")
    return model


def start_batch(
    session: Session,
    *,
    user_id: int,
    spec: GenerationSpec,
    idempotency_key: str,
    models: tuple[ModelSpec, ...] = (LOCAL_MODEL,),
    engine_name: str = "local",
) -> list[Generation]:
    """Spend the credits of every generation of `spec` (one per style), record them and
    enqueue their jobs, all in the caller's transaction: all of it happens or none of it.

    `models` are the engine's. A repeated `idempotency_key` (a double click, a retried
    request) returns the generations it already made and charges nothing.
    """
    if not idempotency_key or len(idempotency_key) > 80:
        raise ValidationError("Missing request key; reload the page and try again.")
    existing = _batch(session, user_id=user_id, batch_key=idempotency_key)
    if existing:
        return existing
    model = _check(spec, models)
    products = [
        get_owned_image(session, user_id=user_id, image_id=image_id)
        for image_id in spec.product_image_ids
    ]
    if any(p.category != ImageCategory.PRODUCT for p in products):
        raise ValidationError("Choose product images you uploaded.")
    scene: Image | None = None
    if spec.model_image_id is not None:
        scene = get_owned_image(session, user_id=user_id, image_id=spec.model_image_id)
        if scene.category != ImageCategory.MODEL:
            raise ValidationError("Choose a model or scene image you uploaded.")

    each = _cost_each(session, spec)
    total = each * len(spec.styles)
    balance = credits.balance(session, user_id=user_id)
    batch = f"{len(spec.styles)} styles" if len(spec.styles) > 1 else ""
    if balance < total:
        raise InsufficientCreditsError(required=total, available=balance, what=batch)
    seed = spec.seed if spec.seed is not None else secrets.randbelow(MAX_SEED)
    made: list[Generation] = []
    try:
        with session.begin_nested():
            for style in spec.styles:
                generation = Generation(
                    user_id=user_id,
                    status=GenerationStatus.PENDING,
                    prompt=(spec.prompt or "").strip(),
                    negative_prompt=(spec.negative_prompt or "").strip()
                    if model.negative_prompt
                    else "",
                    model=model.key,
                    style=style,
                    quality=spec.quality,
                    aspect_ratio=spec.aspect_ratio,
                    seed=seed,
                    variations=spec.variations,
                    credits_used=each,
                    engine=engine_name,
                    idempotency_key=f"{idempotency_key}:{style}",
                    batch_key=idempotency_key,
                )
                session.add(generation)
                made.append(generation)
            session.flush()
    except IntegrityError:
        # The same request arrived twice at once; the first one made it, return that one.
        winner = _batch(session, user_id=user_id, batch_key=idempotency_key)
        if not winner:
            raise
        return winner
    for generation in made:
        _spend_and_enqueue(session, generation, products=products, scene=scene, batch=batch)
    return made


def _spend_and_enqueue(
    session: Session,
    generation: Generation,
    *,
    products: list[Image],
    scene: Image | None,
    batch: str,
) -> None:
    assert generation.id is not None
    try:
        credits.spend(
            session,
            user_id=generation.user_id,
            amount=generation.credits_used,
            idempotency_key=f"spend:generation:{generation.id}",
            generation_id=generation.id,
            description=f"Generation #{generation.id} ({generation.style}, "
            f"{generation.quality}, {generation.aspect_ratio}"
            + (f", {generation.variations} variations" if generation.variations > 1 else "")
            + ")",
        )
    except InsufficientCreditsError as exc:  # another tab spent meanwhile: none of the batch
        raise InsufficientCreditsError(
            required=exc.required, available=exc.available, what=batch
        ) from None
    for position, product in enumerate(products):
        session.add(
            GenerationInput(
                generation_id=generation.id,
                image_id=product.id or 0,
                role=GenerationInputRole.PRODUCT,
                position=position,
            )
        )
    if scene is not None:
        session.add(
            GenerationInput(
                generation_id=generation.id, image_id=scene.id or 0, role=GenerationInputRole.MODEL
            )
        )
    jobs.enqueue(
        session,
        kind=JobKind.GENERATE,
        payload={"generation_id": generation.id},
        generation_id=generation.id,
    )
    record_usage(
        session,
        action=UsageAction.GENERATION_STARTED,
        user_id=generation.user_id,
        details={
            "generation_id": generation.id,
            "credits": generation.credits_used,
            "style": generation.style,
            "quality": generation.quality,
            "aspect_ratio": generation.aspect_ratio,
            "model": generation.model,
            "variations": generation.variations,
            "batch_key": generation.batch_key,
        },
    )


def start_generation(
    session: Session,
    *,
    user_id: int,
    product_image_id: int,
    model_image_id: int | None,
    prompt: str,
    style: str,
    quality: str,
    aspect_ratio: str,
    idempotency_key: str,
    negative_prompt: str = "",
    model: str = pricing.DEFAULT_MODEL,
    seed: int | None = None,
    engine_name: str = "local",
    models: tuple[ModelSpec, ...] = (LOCAL_MODEL,),
) -> Generation:
    """One generation of one product photo in one style (see start_batch)."""
    [generation] = start_batch(
        session,
        user_id=user_id,
        spec=GenerationSpec(
            product_image_ids=(product_image_id,),
            styles=(style,),
            quality=quality,
            aspect_ratio=aspect_ratio,
            model_image_id=model_image_id,
            prompt=prompt,
            negative_prompt=negative_prompt,
            model=model,
            seed=seed,
        ),
        idempotency_key=idempotency_key,
        models=models,
        engine_name=engine_name,
    )
    return generation


def _batch(session: Session, *, user_id: int, batch_key: str) -> list[Generation]:
    return list(
        session.exec(
            select(Generation)
            .where(Generation.user_id == user_id, Generation.batch_key == batch_key)
            .order_by(col(Generation.id))
        ).all()
    )


def cancel_generation(session: Session, *, user_id: int, generation_id: int) -> str | None:
    """The owner cancels a queued or running generation: it ends cancelled and is refunded
    once. Returns the provider's prediction id to cancel there (after this commits)."""
    generation = session.get(Generation, generation_id) if is_row_id(generation_id) else None
    if generation is None or generation.user_id != user_id:
        raise NotFoundError("That generation does not exist.")
    if GenerationStatus(generation.status).is_terminal or not end_generation(
        session,
        generation_id=generation_id,
        error=CANCELLED,
        status=GenerationStatus.CANCELLED,
    ):
        raise ValidationError("This generation has already finished.")
    return generation.provider_prediction_id


def delete_generation(session: Session, *, user_id: int, generation_id: object) -> list[str]:
    """The owner deletes a finished generation and its result images (share links and
    collection entries go with them; the credits stay spent). Returns the storage keys to
    delete once this transaction has committed."""
    generation = session.get(Generation, generation_id) if is_row_id(generation_id) else None
    if generation is None or generation.user_id != user_id:
        raise NotFoundError("That generation does not exist.")
    if not GenerationStatus(generation.status).is_terminal:
        raise ValidationError("It is still running: cancel it first, then delete it.")
    images = session.exec(
        select(Image).where(
            Image.generation_id == generation.id, Image.category == ImageCategory.GENERATED
        )
    ).all()
    keys = [k for image in images for k in (image.storage_key, image.thumbnail_key) if k]
    for image in images:
        session.delete(image)
    session.flush()
    session.delete(generation)
    session.flush()
    return keys


@dataclass(frozen=True)
class InputPhoto:
    """An uploaded photo as the studio lists it (a product angle or the scene)."""

    id: int
    url: str  # the thumbnail
    name: str
    placeholder: str  # a tiny inline image (data URL) to show while the thumbnail loads
    width: int = 0  # of the stored picture (upright, at most DISPLAY_MAX_SIDE long)
    height: int = 0
    content_type: str = ""


def input_view(image: Image, *, base_url: str) -> InputPhoto:
    """An uploaded photo as the studio lists it."""
    return InputPhoto(
        id=image.id or 0,
        url=media_url(image.thumbnail_key or image.storage_key, base_url=base_url),
        name=image.filename or "photo",
        placeholder=image.blur_data_url or "",
        width=image.width,
        height=image.height,
        content_type=image.content_type,
    )


@dataclass(frozen=True)
class StudioSettings:
    """Everything `Use these settings` puts back in the studio, inputs and seed included."""

    products: list[InputPhoto]  # the primary one first
    scene: InputPhoto | None
    prompt: str
    negative_prompt: str
    style: str
    quality: str
    aspect_ratio: str
    model: str
    variations: int
    seed: int


def studio_settings(
    session: Session, *, user_id: int, generation_id: object, base_url: str
) -> StudioSettings:
    """The settings and inputs of one of the user's generations (another's: not found)."""
    generation = session.get(Generation, generation_id) if is_row_id(generation_id) else None
    if generation is None or generation.user_id != user_id:
        raise NotFoundError("That generation does not exist.")
    inputs = session.exec(
        select(GenerationInput.role, Image)
        .join(Image, col(Image.id) == GenerationInput.image_id)
        .where(GenerationInput.generation_id == generation.id)
        .order_by(col(GenerationInput.position))
    ).all()
    products = [
        input_view(image, base_url=base_url)
        for role, image in inputs
        if role == GenerationInputRole.PRODUCT
    ]
    if not products:
        raise NotFoundError("The photos of that generation are gone; upload them again.")
    scene = next(
        (
            input_view(image, base_url=base_url)
            for role, image in inputs
            if role == GenerationInputRole.MODEL
        ),
        None,
    )
    return StudioSettings(
        products=products,
        scene=scene,
        prompt=generation.prompt,
        negative_prompt=generation.negative_prompt,
        style=generation.style,
        quality=generation.quality,
        aspect_ratio=generation.aspect_ratio,
        model=generation.model,
        variations=generation.variations,
        seed=generation.seed,
    )


@dataclass(frozen=True)
class ModelChoice:
    """One of the engine's models as the studio offers it."""

    key: str
    label: str
    multiplier_hundredths: int  # the current price multiplier in hundredths (1.5 -> 150)
    max_variations: int
    seed: bool  # takes a seed
    negative_prompt: bool  # takes a negative prompt
    all_product_images: bool  # reads every product photo (False: the primary one only)
    scene_image: bool  # takes a scene photo


def model_choices(session: Session, *, models: tuple[ModelSpec, ...]) -> list[ModelChoice]:
    """The engine's models as the studio offers them, each with its current multiplier."""
    overrides = get_billing_settings(session).model_multipliers
    return [
        ModelChoice(
            key=m.key,
            label=m.label,
            multiplier_hundredths=pricing.multiplier_in_hundredths(
                pricing.model_multiplier(m.key, overrides)
            ),
            max_variations=m.max_variations,
            seed=m.seed,
            negative_prompt=m.negative_prompt,
            all_product_images=m.all_product_images,
            scene_image=m.scene_image,
        )
        for m in models
    ]
