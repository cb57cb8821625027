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

# What a model costs relative to the base, until an admin sets it in billing settings
# (BillingSettings.model_multipliers); a model in neither is priced at 1.0.
DEFAULT_MODEL_MULTIPLIERS: dict[str, Decimal] = {
    "local-studio": Decimal("1.0"),
    "google/nano-banana": Decimal("1.0"),
    "black-forest-labs/flux-kontext-pro": Decimal("1.5"),
    "black-forest-labs/flux-kontext-max": Decimal("2.0"),
}
DEFAULT_MODEL = "local-studio"
BASE_COST = Decimal(1)
MIN_MODEL_MULTIPLIER = Decimal("0.1")
MAX_MODEL_MULTIPLIER = Decimal("10")
MAX_VARIATIONS = 4


def validate_options(*, style: str, quality: str, aspect_ratio: str) -> None:
    """Raise ValidationError naming the first option that is not on offer."""
    if style not in STYLE_PRESETS:
        raise ValidationError(
            f"Unknown style “{style}”. Choose one of: {', '.join(STYLE_PRESETS)}."
        )
    if quality not in QUALITY_MULTIPLIERS:
        raise ValidationError(f"Unknown quality “{quality}”.")
    if aspect_ratio not in ASPECT_RATIO_MULTIPLIERS:
        raise ValidationError(f"Unknown aspect ratio “{aspect_ratio}”.")


def parse_multiplier(value: object) -> Decimal:
    """A model multiplier as an admin typed it ("1.5", 2): 0.1 to 10, two decimals at most."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise ValidationError("Enter the multiplier as a number such as 1.5.")
    try:
        number = Decimal(str(value).strip())
    except ArithmeticError:
        raise ValidationError("Enter the multiplier as a number such as 1.5.") from None
    if not number.is_finite() or not MIN_MODEL_MULTIPLIER <= number <= MAX_MODEL_MULTIPLIER:
        raise ValidationError(
            f"A model multiplier is between {MIN_MODEL_MULTIPLIER} and {MAX_MODEL_MULTIPLIER}."
        )
    if number != number.quantize(Decimal("0.01")):
        raise ValidationError("Use at most two decimals for a multiplier.")
    return number.quantize(Decimal("0.01"))


def model_multiplier(model: str, overrides: dict[str, object] | None = None) -> Decimal:
    """The multiplier of `model`: the admin's (`overrides`, from billing settings), else the
    default, else 1.0. A stored value that does not parse counts as 1.0."""
    if overrides and model in overrides:
        try:
            return parse_multiplier(overrides[model])
        except ValidationError:
            return Decimal(1)
    return DEFAULT_MODEL_MULTIPLIERS.get(model, Decimal(1))


def multiplier_in_hundredths(value: Decimal) -> int:
    """1.5 -> 150: a multiplier (two decimals at most) as a whole number, which a page can
    carry and send back without a float's rounding."""
    return int(value.quantize(Decimal("0.01")) * 100)


def multiplier_from_hundredths(hundredths: int) -> Decimal:
    """150 -> Decimal("1.50"), exactly."""
    return Decimal(hundredths).scaleb(-2)


def format_multiplier(value: Decimal) -> str:
    """1.0 -> "1", 1.50 -> "1.5": how a multiplier is shown and stored."""
    return format(value.normalize(), "f")


def generation_cost(
    *,
    quality: str,
    aspect_ratio: str,
    model_multiplier: Decimal = Decimal(1),
    variations: int = 1,
) -> int:
    """Credits for one generation: base × quality × aspect ratio × model, rounded up, times
    the number of variations (each variation is a full image).

    Decimal arithmetic, so 1.5 × 1.1 is 1.65 (→ 2) and never 1.6500000000000001.
    """
    validate_options(style="realistic", quality=quality, aspect_ratio=aspect_ratio)
    if isinstance(variations, bool) or not isinstance(variations, int):
        raise ValidationError("Variations must be a whole number.")
    if not 1 <= variations <= MAX_VARIATIONS:
        raise ValidationError(f"Choose 1 to {MAX_VARIATIONS} variations.")
    exact = (
        BASE_COST
        * QUALITY_MULTIPLIERS[quality]
        * ASPECT_RATIO_MULTIPLIERS[aspect_ratio]
        * model_multiplier
    )
    return max(1, math.ceil(exact)) * variations


def credits_label(amount: int) -> str:
    return f"{amount} credit" if amount == 1 else f"{amount} credits"


def enhanced_prompt(prompt: str, style: str) -> str:
    """The user's prompt with the style preset's words appended (as the seeds do)."""
    suffix = STYLE_PRESETS[style].prompt_suffix
    prompt = prompt.strip()
    return f"{prompt}, {suffix}" if prompt else suffix
