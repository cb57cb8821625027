"""What a generation costs and the options a user can choose (constants from the seeds)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from stylestudio.services.errors import ValidationError


@dataclass(frozen=True)
class StylePreset:
    key: str
    label: str
    description: str
    prompt_suffix: str


STYLE_PRESETS: dict[str, StylePreset] = {
    p.key: p
    for p in (
        StylePreset(
            "realistic",
            "Realistic",
            "True-to-life studio light",
            "photorealistic, natural studio lighting, sharp focus",
        ),
        StylePreset(
            "fashion",
            "Fashion",
            "Editorial contrast, cool tones",
            "fashion editorial, high contrast, magazine look",
        ),
        StylePreset(
            "artistic", "Artistic", "Bold, painterly colour", "artistic, painterly, vivid colours"
        ),
        StylePreset(
            "vintage",
            "Vintage",
            "Warm film tones and grain",
            "vintage film photo, warm tones, grain",
        ),
        StylePreset(
            "minimalist",
            "Minimalist",
            "Bright, airy, lots of space",
            "minimalist, clean background, soft light",
        ),
    )
}

QUALITY_MULTIPLIERS: dict[str, Decimal] = {
    "draft": Decimal("0.5"),
    "standard": Decimal("1.0"),
    "high": Decimal("1.5"),
}
QUALITY_LABELS = {"draft": "Draft", "standard": "Standard", "high": "High"}

ASPECT_RATIO_MULTIPLIERS: dict[str, Decimal] = {
    "1:1": Decimal("1.0"),
    "16:9": Decimal("1.2"),
    "9:16": Decimal("1.2"),
    "3:2": Decimal("1.1"),
    "2:3": Decimal("1.1"),
}

MODEL_MULTIPLIERS: dict[str, Decimal] = {
    "stable-diffusion-xl": Decimal("1.0"),
    "dall-e-3": Decimal("2.0"),
    "midjourney": Decimal("1.5"),
}
DEFAULT_MODEL = "stable-diffusion-xl"
BASE_COST = Decimal(1)


def validate_options(*, style: str, quality: str, aspect_ratio: str, model: str) -> None:
    """Raise ValidationError naming the first option that is not on offer."""
    if style not in STYLE_PRESETS:
        raise ValidationError(
            f"Unknown style “{style}”. Choose one of: {', '.join(STYLE_PRESETS)}."
        )
    if quality not in QUALITY_MULTIPLIERS:
        raise ValidationError(f"Unknown quality “{quality}”.")
    if aspect_ratio not in ASPECT_RATIO_MULTIPLIERS:
        raise ValidationError(f"Unknown aspect ratio “{aspect_ratio}”.")
    if model not in MODEL_MULTIPLIERS:
        raise ValidationError(f"Unknown model “{model}”.")


def generation_cost(*, quality: str, aspect_ratio: str, model: str = DEFAULT_MODEL) -> int:
    """Credits for one generation: base × quality × aspect ratio × model, rounded up.

    Decimal arithmetic, so 1.5 × 1.1 is 1.65 (→ 2) and never 1.6500000000000001.
    """
    validate_options(style="realistic", quality=quality, aspect_ratio=aspect_ratio, model=model)
    exact = (
        BASE_COST
        * QUALITY_MULTIPLIERS[quality]
        * ASPECT_RATIO_MULTIPLIERS[aspect_ratio]
        * MODEL_MULTIPLIERS[model]
    )
    return max(1, math.ceil(exact))


def enhanced_prompt(prompt: str, style: str) -> str:
    """The user's prompt with the style preset's words appended (as the seeds do)."""
    suffix = STYLE_PRESETS[style].prompt_suffix
    prompt = prompt.strip()
    return f"{prompt}, {suffix}" if prompt else suffix
