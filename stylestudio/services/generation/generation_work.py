"""What a generation job is made of, shared by claiming, running and ending it: the lease,
the claimed work, an output, the options, the messages users read, and the seed and deadline
rules."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from stylestudio.adapters.generation_engine import (
    GenerationEngineError,
    GenerationRequest,
)
from stylestudio.models import (
    GenerationStatus,
    utcnow,
)
from stylestudio.services.generation import jobs
from stylestudio.services.media.imaging import Previews, prepare_for_storage

log = logging.getLogger(__name__)


RETRY_DELAY_SECONDS = 5.0


UNEXPECTED_ERROR = "The generation failed unexpectedly. Please try again."


INPUTS_UNREADABLE = "The uploaded images could not be read. Upload them again."


STORAGE_UNAVAILABLE = "The image storage did not answer; trying again shortly."


TIMED_OUT = "This generation took too long, so we stopped it. Your credits were refunded."


CANCELLED = "Cancelled. Your credits were refunded."


NO_OUTPUT = "The AI model returned no image. Your credits were refunded; please try again."


BAD_OUTPUT = "The AI model returned something that is not an image. Your credits were refunded."


DEFAULT_TIMEOUT_S = 300.0


OPEN_STATUSES = (GenerationStatus.PENDING, GenerationStatus.UPLOADING, GenerationStatus.PROCESSING)


T = TypeVar("T")


Blocking = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Lease:
    job_id: int
    worker_id: str
    seconds: int = jobs.DEFAULT_LEASE_SECONDS


SEED_RANGE = 2**31  # seeds are 0 .. 2^31 - 1


@dataclass(frozen=True)
class Work:
    """A claimed job, ready to run (its input bytes are read outside the claim)."""

    lease: Lease
    generation_id: int
    user_id: int
    product_image_id: int
    product_keys: tuple[str, ...]  # the primary photo first, then the other angles
    scene_key: str | None
    prediction_id: str | None
    created_at: datetime
    request: GenerationRequest
    variations: int = 1  # results to render (local engine: seeds seed, seed + 1, ...)


@dataclass(frozen=True)
class Output:
    data: bytes
    content_type: str
    width: int
    height: int
    previews: Previews | None = None  # made with `data` when it was decoded; else on storing


@dataclass(frozen=True)
class Options:
    timeout_s: float = DEFAULT_TIMEOUT_S
    webhook_url: str | None = None
    poll_first_s: float = 0.5
    poll_fast_for_s: float = 15.0
    poll_max_s: float = 10.0


async def inline(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return fn(*args, **kwargs)


def aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def decode_output(data: bytes, content_type: str) -> Output:
    """A provider's output as we store it: re-encoded upright and without metadata, at its
    full size, with its previews from the same decode (see imaging.prepare_for_storage);
    raise on anything that is not an image we accept."""
    try:
        clean = prepare_for_storage(data, label="The output", max_side=None)
    except Exception as exc:
        raise GenerationEngineError(BAD_OUTPUT) from exc
    return Output(clean.data, clean.content_type, clean.width, clean.height, clean.previews)


def variation_seeds(seed: int, variations: int) -> list[int]:
    """The seed of each variation: `seed`, `seed + 1`, ... (wrapping within 0..2^31-1), so
    "Use these settings" with the same seed renders the same set again."""
    return [variation_seed(seed, i) for i in range(max(1, variations))]


def variation_seed(seed: int, index: int) -> int:
    """The seed of variation `index` (0 first) of a generation seeded `seed`."""
    return (seed + index) % SEED_RANGE


def deadline_of(work: Work, timeout_s: float) -> float:
    """The generation's deadline on this process's monotonic clock."""
    age = (utcnow() - aware(work.created_at)).total_seconds()
    return time.monotonic() + (timeout_s - age)


def generation_deadline(created_at: datetime, timeout_s: float) -> datetime:
    return aware(created_at) + timedelta(seconds=timeout_s)
