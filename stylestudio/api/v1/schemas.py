"""The REST API's request and response bodies (the OpenAPI document is generated from these)
and its opaque page cursors."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from stylestudio.api.v1.problems import ConflictError
from stylestudio.models import GenerationStatus
from stylestudio.services.billing import pricing
from stylestudio.services.billing.ledger_pages import LedgerEntryView
from stylestudio.services.errors import ValidationError
from stylestudio.services.generation import generations
from stylestudio.services.generation.generation_views import GenerationView
from stylestudio.services.ids import MAX_ROW_ID
from stylestudio.services.media.media import MEDIA_URL_LIFETIME_S

RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]
PAGE_MAX = 100

__all__ = ["ConflictError"]


class InvalidCursorError(ValidationError):
    code = "INVALID_CURSOR"


def encode_cursor(kind: str, before_id: int) -> str:
    """An opaque cursor: the next page starts before `before_id` (keyset, never shifts)."""
    return base64.urlsafe_b64encode(f"{kind}:{before_id}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str | None) -> int | None:
    """The id a cursor of this kind stands for (None for no cursor), or InvalidCursorError."""
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    prefix, _, raw = text.partition(":")
    if prefix != kind or not raw.isascii() or not raw.isdigit() or len(raw) > 10:
        raise InvalidCursorError("This cursor is not one this API handed out.")
    value = int(raw)
    if not 1 <= value <= MAX_ROW_ID:
        raise InvalidCursorError("This cursor is not one this API handed out.")
    return value


# --------------------------------------------------------------------------- credits


class Balance(BaseModel):
    credits: int = Field(description="Credits available now")


class LedgerEntry(BaseModel):
    id: int
    created_at: str = Field(description="ISO 8601, UTC")
    kind: str = Field(description="purchase, spend, refund, grant, adjustment or clawback")
    amount: int = Field(description="Signed: positive adds credits, negative takes them")
    balance_after: int
    description: str
    generation_id: int | None

    @classmethod
    def of(cls, line: LedgerEntryView) -> LedgerEntry:
        return cls(
            id=line.id,
            created_at=line.created_at,
            kind=line.kind,
            amount=line.amount,
            balance_after=line.balance_after,
            description=line.description,
            generation_id=line.generation_id,
        )


class LedgerPage(BaseModel):
    data: list[LedgerEntry]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: last")


# --------------------------------------------------------------------------- uploads


class Upload(BaseModel):
    id: int = Field(description="Pass in `products` (role product) or `scene` (role scene)")
    role: Literal["product", "scene"]
    width: int
    height: int
    content_type: str


# --------------------------------------------------------------------------- generations

_STYLES = ", ".join(pricing.STYLE_PRESETS)
_QUALITIES = ", ".join(pricing.QUALITY_MULTIPLIERS)
_RATIOS = ", ".join(pricing.ASPECT_RATIO_MULTIPLIERS)


class GenerationRequest(BaseModel):
    """One generation per style, all started or none (and charged so)."""

    model_config = ConfigDict(extra="forbid")

    products: list[RowId] = Field(
        min_length=1,
        max_length=generations.MAX_PRODUCT_IMAGES,
        description="Upload ids of product photos (role product), the primary one first",
    )
    scene: RowId | None = Field(None, description="Upload id of a scene photo (role scene)")
    # The choices are documented from the price list; the service checks them.
    styles: list[str] = Field(
        min_length=1,
        max_length=len(pricing.STYLE_PRESETS),
        description=f"Distinct, of: {_STYLES}",
        json_schema_extra={"items": {"type": "string", "enum": list(pricing.STYLE_PRESETS)}},
    )
    quality: str = Field(
        "standard",
        description=f"One of: {_QUALITIES}",
        json_schema_extra={"enum": list(pricing.QUALITY_MULTIPLIERS)},
    )
    aspect_ratio: str = Field(
        "1:1",
        description=f"One of: {_RATIOS}",
        json_schema_extra={"enum": list(pricing.ASPECT_RATIO_MULTIPLIERS)},
    )
    model: str | None = Field(None, description="A model key; null: the engine's default")
    variations: int = Field(1, description="Images per generation (the model's maximum)")
    seed: int | None = Field(None, ge=0, le=generations.MAX_SEED)
    prompt: str = Field("", description=f"At most {generations.MAX_PROMPT_LENGTH} characters")
    negative_prompt: str = Field("", description="For models that take one")


class ResultImage(BaseModel):
    id: int
    url: str = Field(description="Full size, signed; expires (see `urls_expire_in`)")
    thumbnail_url: str
    seed: int


class Generation(BaseModel):
    id: int
    status: GenerationStatus
    finished: bool
    style: str = Field(description="The style's key, as `styles` takes it")
    style_label: str = Field(description="The style as the pages name it")
    quality: str = Field(description="The quality's key, as `quality` takes it")
    aspect_ratio: str
    prompt: str
    seed: int
    variations: int
    credits_used: int
    error: str
    created_at: str = Field(description="ISO 8601, UTC")
    images: list[ResultImage]
    urls_expire_in: int = Field(description="Seconds the image URLs are valid for, at least")

    @classmethod
    def of(cls, view: GenerationView) -> Generation:
        return cls(
            id=view.id,
            status=GenerationStatus(view.status),
            finished=view.is_terminal,
            style=view.style_key,
            style_label=view.style,
            quality=view.quality_key,
            aspect_ratio=view.aspect_ratio,
            prompt=view.prompt,
            seed=view.seed,
            variations=view.variations,
            credits_used=view.credits_used,
            error=view.error,
            created_at=view.created_at,
            images=[
                ResultImage(id=i.id, url=i.url, thumbnail_url=i.thumb_url, seed=i.seed)
                for i in view.images
            ],
            urls_expire_in=MEDIA_URL_LIFETIME_S,
        )


class Batch(BaseModel):
    cost: int = Field(description="Credits spent on the whole batch")
    generations: list[Generation]


class GenerationPage(BaseModel):
    data: list[Generation]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: last")
