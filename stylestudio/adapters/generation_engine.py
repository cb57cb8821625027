"""Engine-neutral contract for image generation.

Every generation backend (the offline local engine, Replicate, ...) takes a
``GenerationRequest`` and returns a ``GeneratedImage``. This module must stay free
of Reflex and database imports so engines can run in worker threads and tests
without the web stack.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Protocol

STYLES: Final[tuple[str, ...]] = ("realistic", "fashion", "artistic", "vintage", "minimalist")

# Long side of the output in pixels per quality tier.
OUTPUT_LONG_SIDE: Final[dict[str, int]] = {"draft": 512, "standard": 1024, "high": 1536}

# Width:height ratio per supported aspect-ratio label.
ASPECT_RATIOS: Final[dict[str, tuple[int, int]]] = {
    "1:1": (1, 1),
    "16:9": (16, 9),
    "9:16": (9, 16),
    "3:2": (3, 2),
    "2:3": (2, 3),
}


@dataclass(frozen=True)
class ModelSpec:
    """A model an engine offers: what the studio shows, and which controls it honours
    (a control a model ignores is hidden while it is selected)."""

    key: str  # stored on the generation; the key of its price multiplier
    label: str
    max_variations: int = 1  # results from one generation
    seed: bool = True  # the same seed gives the same image
    negative_prompt: bool = True
    all_product_images: bool = True  # False: reads the primary product photo only
    scene_image: bool = True  # reads the model/scene photo


# The one model of the offline local engine (its seed reproduces an image byte for byte).
LOCAL_MODEL: Final = ModelSpec(
    key="local-studio",
    label="Local studio",
    max_variations=4,
    all_product_images=False,
)


@dataclass(frozen=True)
class GenerationRequest:
    """Everything an engine needs to render one image."""

    product_image: bytes  # encoded JPEG/PNG/WebP bytes (already validated upstream)
    model_image: bytes | None  # optional model/scene photo (encoded bytes)
    prompt: str
    style: str  # realistic | fashion | artistic | vintage | minimalist
    quality: str  # draft | standard | high
    aspect_ratio: str  # "1:1" | "16:9" | "9:16" | "3:2" | "2:3"
    seed: int
    negative_prompt: str = ""
    strength: float = 0.8
    guidance_scale: float = 7.5
    num_inference_steps: int = 30
    model: str = ""  # a ModelSpec key of the engine ("" = its first)
    # Further product photos (other angles), after `product_image` (the primary one).
    more_product_images: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class GeneratedImage:
    """An encoded result image."""

    data: bytes  # encoded image bytes
    content_type: str  # "image/jpeg"
    width: int
    height: int


class GenerationEngineError(Exception):
    """A generation failed inside the engine; str(exc) is a message safe to show the user."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        """Create the error with a user-facing ``message``.

        ``retryable`` tells the caller whether running the same request again could
        succeed (e.g. a remote timeout) as opposed to a permanent input problem.
        """
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class GenerationEngine(Protocol):
    """A backend that turns a request into an image."""

    name: str
    models: tuple[ModelSpec, ...]  # what it offers, its default first

    def generate(self, request: GenerationRequest) -> GeneratedImage:
        """Render ``request``; raise ``GenerationEngineError`` on failure."""
        ...


def _round_to_8(value: float) -> int:
    # Diffusion backends need dimensions divisible by 8; rounding half up keeps
    # the result independent of Python's banker's rounding.
    return max(8, math.floor(value / 8 + 0.5) * 8)


def output_size(quality: str, aspect_ratio: str) -> tuple[int, int]:
    """Return ``(width, height)`` of the output for a quality tier and aspect ratio.

    The long side comes from ``OUTPUT_LONG_SIDE``; the short side follows the ratio.
    Both are multiples of 8. Raises ``ValueError`` for an unknown quality or ratio.
    """
    if quality not in OUTPUT_LONG_SIDE:
        raise ValueError(f"Unknown quality: {quality!r}")
    if aspect_ratio not in ASPECT_RATIOS:
        raise ValueError(f"Unknown aspect ratio: {aspect_ratio!r}")
    long_side = OUTPUT_LONG_SIDE[quality]
    ratio_w, ratio_h = ASPECT_RATIOS[aspect_ratio]
    if ratio_w >= ratio_h:
        return _round_to_8(long_side), _round_to_8(long_side * ratio_h / ratio_w)
    return _round_to_8(long_side * ratio_w / ratio_h), _round_to_8(long_side)


def validate_request(request: GenerationRequest) -> tuple[int, int]:
    """Check the enumerated fields of ``request`` and return its output size.

    Raises ``ValueError`` for an unknown style, quality or aspect ratio.
    """
    if request.style not in STYLES:
        raise ValueError(f"Unknown style: {request.style!r}")
    return output_size(request.quality, request.aspect_ratio)
