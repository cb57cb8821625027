"""What a generation costs: every option on offer, priced by hand, and nothing else accepted."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from stylestudio.services.billing import pricing
from stylestudio.services.errors import ValidationError

RATIOS = ("1:1", "16:9", "9:16", "3:2", "2:3")

# cost = ceil(1 x quality x aspect ratio x model), worked out by hand:
#   quality: draft 0.5, standard 1.0, high 1.5
#   aspect:  1:1 1.0, 16:9 1.2, 9:16 1.2, 3:2 1.1, 2:3 1.1
#   model multiplier: 1.0, 2.0, 1.5
EXPECTED: dict[str, dict[str, tuple[int, int, int, int, int]]] = {
    #                      1:1 16:9 9:16 3:2 2:3
    "1.0": {
        "draft": (1, 1, 1, 1, 1),  # 0.5  0.6  0.6  0.55  0.55
        "standard": (1, 2, 2, 2, 2),  # 1.0  1.2  1.2  1.1   1.1
        "high": (2, 2, 2, 2, 2),  # 1.5  1.8  1.8  1.65  1.65
    },
    "2.0": {
        "draft": (1, 2, 2, 2, 2),  # 1.0  1.2  1.2  1.1   1.1
        "standard": (2, 3, 3, 3, 3),  # 2.0  2.4  2.4  2.2   2.2
        "high": (3, 4, 4, 4, 4),  # 3.0  3.6  3.6  3.3   3.3
    },
    "1.5": {
        "draft": (1, 1, 1, 1, 1),  # 0.75 0.9  0.9  0.825 0.825
        "standard": (2, 2, 2, 2, 2),  # 1.5  1.8  1.8  1.65  1.65
        "high": (3, 3, 3, 3, 3),  # 2.25 2.7  2.7  2.475 2.475
    },
}

CASES = [
    pytest.param(model, quality, ratio, cost, id=f"{model}-{quality}-{ratio}")
    for model, by_quality in EXPECTED.items()
    for quality, costs in by_quality.items()
    for ratio, cost in zip(RATIOS, costs, strict=True)
]


@pytest.mark.parametrize(("model", "quality", "aspect_ratio", "expected"), CASES)
def test_generation_cost(model: str, quality: str, aspect_ratio: str, expected: int) -> None:
    multiplier = Decimal(model)
    assert (
        pricing.generation_cost(
            quality=quality, aspect_ratio=aspect_ratio, model_multiplier=multiplier
        )
        == expected
    )
    for variations in (2, 3, 4):  # each variation is a whole image: rounded up, then times n
        assert (
            pricing.generation_cost(
                quality=quality,
                aspect_ratio=aspect_ratio,
                model_multiplier=multiplier,
                variations=variations,
            )
            == expected * variations
        )


def test_the_table_covers_exactly_the_options_on_offer() -> None:
    # A new option must get a hand-checked price here before it ships.
    assert {str(m) for m in pricing.DEFAULT_MODEL_MULTIPLIERS.values()} <= set(EXPECTED)
    for by_quality in EXPECTED.values():
        assert set(by_quality) == set(pricing.QUALITY_MULTIPLIERS)
    assert set(RATIOS) == set(pricing.ASPECT_RATIO_MULTIPLIERS)


@pytest.mark.parametrize(
    ("quality", "aspect_ratio", "expected"),
    [
        ("draft", "1:1", 1),
        ("standard", "1:1", 1),
        ("standard", "16:9", 2),
        ("high", "1:1", 2),
        ("high", "3:2", 2),
        ("high", "16:9", 2),
    ],
)
def test_default_model_is_the_local_renderer_at_one(
    quality: str, aspect_ratio: str, expected: int
) -> None:
    assert pricing.DEFAULT_MODEL == "local-studio"
    assert pricing.model_multiplier(pricing.DEFAULT_MODEL) == 1
    assert pricing.generation_cost(quality=quality, aspect_ratio=aspect_ratio) == expected


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"quality": "ultra", "aspect_ratio": "1:1"}, "quality"),
        ({"quality": "", "aspect_ratio": "1:1"}, "quality"),
        ({"quality": "High", "aspect_ratio": "1:1"}, "quality"),
        ({"quality": "high", "aspect_ratio": "4:3"}, "aspect ratio"),
        ({"quality": "high", "aspect_ratio": "16x9"}, "aspect ratio"),
        ({"quality": "high", "aspect_ratio": "1:1", "variations": 0}, "variations"),
        ({"quality": "high", "aspect_ratio": "1:1", "variations": 5}, "variations"),
        ({"quality": "high", "aspect_ratio": "1:1", "variations": True}, "Variations"),
    ],
)
def test_unknown_options_are_refused(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        pricing.generation_cost(**kwargs)
    assert fragment in info.value.message


def test_unknown_style_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        pricing.validate_options(style="cyberpunk", quality="high", aspect_ratio="1:1")
    assert "cyberpunk" in info.value.message
    for style in pricing.STYLE_PRESETS:
        pricing.validate_options(style=style, quality="high", aspect_ratio="1:1")


@pytest.mark.parametrize(
    ("typed", "parsed"),
    [("1.5", "1.5"), ("2", "2"), (" 0.25 ", "0.25"), (3, "3"), ("10", "10"), ("0.1", "0.1")],
)
def test_admin_multipliers_parse(typed: object, parsed: str) -> None:
    assert pricing.parse_multiplier(typed) == Decimal(parsed)


@pytest.mark.parametrize(
    "typed", ["", "abc", "0", "0.05", "10.5", "1.234", "NaN", "inf", True, None]
)
def test_bad_multipliers_are_refused(typed: object) -> None:
    with pytest.raises(ValidationError):
        pricing.parse_multiplier(typed)


@pytest.mark.parametrize("typed", ["0.1", "1", "1.1", "1.5", "2.35", "9.99", "10"])
def test_a_multiplier_travels_as_hundredths_and_prices_the_same(typed: str) -> None:
    """The studio carries a model's multiplier as a whole number: back as the same Decimal,
    so 1.1 prices as 1.1 (a float's 1.1000000000000001 would round some costs up)."""
    multiplier = pricing.parse_multiplier(typed)
    hundredths = pricing.multiplier_in_hundredths(multiplier)
    assert isinstance(hundredths, int) and hundredths == int(Decimal(typed) * 100)
    back = pricing.multiplier_from_hundredths(hundredths)
    assert back == multiplier
    for quality in pricing.QUALITY_MULTIPLIERS:
        for ratio in RATIOS:
            assert pricing.generation_cost(
                quality=quality, aspect_ratio=ratio, model_multiplier=back
            ) == pricing.generation_cost(
                quality=quality, aspect_ratio=ratio, model_multiplier=Decimal(typed)
            )


def test_an_admin_multiplier_overrides_the_default() -> None:
    flux = "black-forest-labs/flux-kontext-pro"
    assert pricing.model_multiplier(flux) == Decimal("1.5")
    assert pricing.model_multiplier(flux, {flux: "2.0"}) == 2
    assert pricing.model_multiplier("acme/new-model") == 1
    assert pricing.model_multiplier(flux, {flux: "garbage"}) == 1


def test_every_style_on_offer_is_one_the_local_engine_renders() -> None:
    from stylestudio.adapters.generation_engine import STYLES

    assert set(pricing.STYLE_PRESETS) == set(STYLES)
