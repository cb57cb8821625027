"""The five style presets as studio sets: backdrop palettes, product size, light and shadow.

The colour grade that finishes each style is in `grading`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from stylestudio.adapters.local_engine.colour import RGB


@dataclass(frozen=True)
class Backdrop:
    wall: RGB
    floor: RGB


@dataclass(frozen=True)
class StyleSpec:
    backdrops: tuple[Backdrop, ...]
    product_share: float  # share of the canvas height the product may occupy
    key_light: float  # opacity of the soft light spot behind the product
    vignette: float  # darkening at the frame corners baked into the backdrop
    reflection: float  # opacity of the floor reflection (0 = matte floor)
    shadow: float  # opacity of the cast shadow


STYLE_SPECS: Final[dict[str, StyleSpec]] = {
    "realistic": StyleSpec(
        backdrops=(
            Backdrop(wall=(212, 208, 202), floor=(228, 224, 217)),  # warm grey
            Backdrop(wall=(198, 194, 188), floor=(219, 214, 207)),  # stone
            Backdrop(wall=(203, 209, 214), floor=(222, 226, 229)),  # cool grey
            Backdrop(wall=(221, 209, 191), floor=(233, 223, 207)),  # sand
        ),
        product_share=0.64,
        key_light=0.45,
        vignette=0.15,
        reflection=0.16,
        shadow=0.32,
    ),
    "fashion": StyleSpec(
        backdrops=(
            Backdrop(wall=(86, 98, 118), floor=(118, 128, 144)),  # slate blue
            Backdrop(wall=(56, 58, 65), floor=(86, 88, 95)),  # charcoal
            Backdrop(wall=(214, 186, 188), floor=(230, 210, 208)),  # blush
            Backdrop(wall=(80, 112, 120), floor=(110, 140, 145)),  # steel teal
        ),
        product_share=0.68,
        key_light=0.38,
        vignette=0.30,
        reflection=0.22,
        shadow=0.38,
    ),
    "artistic": StyleSpec(
        # Deliberately clashing wall/floor pairs: a colour-blocked set.
        backdrops=(
            Backdrop(wall=(28, 118, 132), floor=(232, 118, 92)),  # teal / coral
            Backdrop(wall=(92, 58, 156), floor=(238, 168, 58)),  # violet / amber
            Backdrop(wall=(196, 52, 118), floor=(44, 72, 168)),  # magenta / cobalt
            Backdrop(wall=(232, 196, 64), floor=(36, 120, 110)),  # saffron / jade
        ),
        product_share=0.62,
        key_light=0.30,
        vignette=0.20,
        reflection=0.0,
        shadow=0.42,
    ),
    "vintage": StyleSpec(
        backdrops=(
            Backdrop(wall=(222, 206, 176), floor=(208, 188, 154)),  # cream
            Backdrop(wall=(132, 128, 90), floor=(170, 158, 118)),  # olive
            Backdrop(wall=(196, 156, 82), floor=(218, 188, 130)),  # mustard
            Backdrop(wall=(176, 108, 80), floor=(208, 158, 118)),  # terracotta
        ),
        product_share=0.60,
        key_light=0.35,
        vignette=0.25,
        reflection=0.0,
        shadow=0.34,
    ),
    "minimalist": StyleSpec(
        backdrops=(
            Backdrop(wall=(240, 239, 236), floor=(247, 246, 244)),  # off-white
            Backdrop(wall=(233, 234, 236), floor=(244, 244, 245)),  # pale grey
            Backdrop(wall=(238, 232, 222), floor=(246, 242, 235)),  # bone
            Backdrop(wall=(228, 235, 238), floor=(242, 245, 246)),  # mist
        ),
        # A small product in a big bright frame is what reads as "minimal".
        product_share=0.46,
        key_light=0.35,
        vignette=0.0,
        reflection=0.10,
        shadow=0.22,
    ),
}
