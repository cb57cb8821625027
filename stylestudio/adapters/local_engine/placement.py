"""Where the product goes: the seeded layout of the frame and the product's box in it."""

from __future__ import annotations

import random
from dataclasses import dataclass

from stylestudio.adapters.local_engine.styles import Backdrop, StyleSpec

Box = tuple[int, int, int, int]  # left, top, right, bottom on the canvas


@dataclass(frozen=True)
class Layout:
    max_w: int  # box the product must fit in
    max_h: int
    center_x: float  # horizontal centre of the product
    base_y: int  # where the product stands on the floor
    horizon: float  # wall/floor junction as a fraction of the height
    light_dx: float  # key light side, -1 (left) .. 1 (right)
    backdrop: Backdrop


def plan_layout(
    size: tuple[int, int], spec: StyleSpec, has_scene: bool, rng: random.Random
) -> Layout:
    width, height = size
    landscape = width / height > 1.2
    portrait = height / width > 1.2

    share = spec.product_share * rng.uniform(0.94, 1.05)
    if has_scene:
        # The scene is the hero background; the product must not cover it.
        share *= 0.75
    slots: tuple[float, ...]
    if has_scene:
        # Scene photos usually have their subject in the middle; keep it visible.
        slots = (0.28, 0.72)
    elif landscape:
        slots = (0.5, 0.36, 0.64)
    else:
        slots = (0.5,)
    center = rng.choice(slots) + rng.uniform(-0.045, 0.045)
    base = rng.uniform(0.80, 0.86)
    if has_scene:
        base += 0.07
    horizon = base - rng.uniform(0.15, 0.24)
    light_dx = rng.uniform(-1.0, 1.0)
    backdrop = rng.choice(spec.backdrops)

    max_w_share = 0.82 if portrait else (0.5 if landscape else share)
    return Layout(
        max_w=max(8, round(width * max_w_share)),
        max_h=max(8, round(height * share)),
        center_x=width * center,
        base_y=round(height * base),
        horizon=horizon,
        light_dx=light_dx,
        backdrop=backdrop,
    )


def place_product(layout: Layout, size: tuple[int, int], cutout: tuple[int, int]) -> Box:
    """The box (left, top, right, bottom) where a cut-out of size ``cutout`` stands on the
    layout's floor line, kept inside the frame's side margins when it fits between them."""
    width = size[0]
    cutout_w, cutout_h = cutout
    margin = round(width * 0.04)
    x0 = round(layout.center_x - cutout_w / 2)
    if cutout_w < width - 2 * margin:
        x0 = max(margin, min(x0, width - margin - cutout_w))
    else:
        x0 = (width - cutout_w) // 2
    y0 = layout.base_y - cutout_h
    return (x0, y0, x0 + cutout_w, y0 + cutout_h)
