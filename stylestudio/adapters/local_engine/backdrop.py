"""The generated studio set: a seamless-paper sweep tinted by the prompt, lit behind the
product and dithered against JPEG banding."""

from __future__ import annotations

import random
import re
from typing import Final

from PIL import Image

from stylestudio.adapters.generation_engine import GenerationRequest
from stylestudio.adapters.local_engine.colour import RGB, mix_colour, scale_colour, smoothstep
from stylestudio.adapters.local_engine.effects import add_noise, glow, vignette
from stylestudio.adapters.local_engine.placement import Box, Layout
from stylestudio.adapters.local_engine.styles import Backdrop, StyleSpec

# Colour words understood in the prompt; they tint the generated backdrop.
_PROMPT_COLOURS: Final[dict[str, RGB]] = {
    "red": (176, 56, 56),
    "crimson": (150, 30, 48),
    "burgundy": (110, 34, 46),
    "orange": (222, 128, 58),
    "peach": (240, 186, 150),
    "yellow": (234, 202, 84),
    "gold": (206, 168, 90),
    "golden": (206, 168, 90),
    "green": (84, 138, 96),
    "sage": (152, 170, 142),
    "olive": (120, 120, 70),
    "mint": (176, 222, 200),
    "teal": (44, 126, 132),
    "turquoise": (64, 184, 184),
    "blue": (64, 102, 170),
    "navy": (34, 46, 86),
    "sky": (150, 190, 228),
    "purple": (110, 70, 150),
    "violet": (120, 80, 170),
    "lavender": (196, 180, 222),
    "pink": (228, 152, 172),
    "blush": (232, 196, 196),
    "brown": (126, 88, 62),
    "terracotta": (180, 104, 76),
    "beige": (226, 212, 186),
    "cream": (238, 228, 204),
    "sand": (226, 208, 172),
    "white": (245, 245, 243),
    "grey": (150, 152, 156),
    "gray": (150, 152, 156),
    "black": (32, 32, 36),
}
_PROMPT_DARK: Final = frozenset({"dark", "moody", "night", "dramatic", "noir", "low-key"})
_PROMPT_BRIGHT: Final = frozenset({"bright", "airy", "sunny", "light", "high-key", "clean"})
_WORD_RE: Final = re.compile(r"[a-z]+(?:-[a-z]+)?")


def tinted_backdrop(backdrop: Backdrop, request: GenerationRequest, rng: random.Random) -> Backdrop:
    """Apply prompt colour/mood words and a small seeded drift to the backdrop."""
    wall, floor = backdrop.wall, backdrop.floor
    words = _WORD_RE.findall(request.prompt.lower())
    banned = set(_WORD_RE.findall(request.negative_prompt.lower()))
    # Guidance is "how literally to follow the prompt": map it onto tint weight.
    weight = min(0.85, max(0.25, 0.3 + 0.045 * request.guidance_scale))
    colour = next(
        (_PROMPT_COLOURS[w] for w in words if w in _PROMPT_COLOURS and w not in banned), None
    )
    if colour is not None:
        wall = mix_colour(wall, colour, weight)
        floor = mix_colour(floor, mix_colour(colour, (255, 255, 255), 0.25), weight)
    if any(w in _PROMPT_DARK for w in words):
        wall, floor = scale_colour(wall, 0.55), scale_colour(floor, 0.6)
    elif any(w in _PROMPT_BRIGHT for w in words):
        wall, floor = (
            mix_colour(wall, (255, 255, 255), 0.35),
            mix_colour(floor, (255, 255, 255), 0.35),
        )
    # A small seeded drift so two seeds of the same palette are not twins.
    drift = rng.uniform(0.93, 1.06)
    return Backdrop(wall=scale_colour(wall, drift), floor=scale_colour(floor, drift))


def studio_backdrop(
    size: tuple[int, int],
    backdrop: Backdrop,
    spec: StyleSpec,
    layout: Layout,
    box: Box,
    rng: random.Random,
) -> Image.Image:
    """Paint a seamless-paper sweep: wall, soft curve into the floor, key light, vignette."""
    width, height = size
    wall_top = scale_colour(backdrop.wall, 0.80)
    floor_near = scale_colour(backdrop.floor, 0.90)
    softness = rng.uniform(0.06, 0.11)
    horizon = layout.horizon

    # The sweep only varies vertically: compute one column in Python (O(height))
    # and stretch it sideways instead of touching every pixel.
    rows: list[RGB] = []
    for y in range(height):
        t = y / max(1, height - 1)
        wall = mix_colour(wall_top, backdrop.wall, smoothstep(0.0, horizon, t))
        floor = mix_colour(backdrop.floor, floor_near, smoothstep(horizon, 1.0, t))
        rows.append(mix_colour(wall, floor, smoothstep(horizon - softness, horizon + softness, t)))
    column = Image.new("RGB", (1, height))
    column.putdata(rows)
    canvas = column.resize(size, Image.Resampling.NEAREST)

    x0, y0, x1, y1 = box
    product_w, product_h = x1 - x0, y1 - y0
    light = mix_colour(backdrop.wall, (255, 255, 255), 0.55)
    spot_center = (
        (x0 + x1) / 2 + layout.light_dx * width * 0.12,
        y0 + product_h * rng.uniform(0.25, 0.5),
    )
    spot_radius = (max(product_w * 1.6, width * 0.5), max(product_h * 1.3, height * 0.55))
    canvas = glow(canvas, spot_center, spot_radius, light, spec.key_light)
    # A pool of light on the floor anchors the product to the ground.
    pool_radius = (max(product_w * 0.95, width * 0.12), max(height * 0.07, product_h * 0.12))
    canvas = glow(canvas, ((x0 + x1) / 2, y1), pool_radius, light, spec.key_light * 0.6)

    if spec.vignette > 0:
        canvas = vignette(canvas, spec.vignette, (20, 18, 16))
    # Smooth 8-bit gradients band visibly after JPEG; a +-2 level dither hides it.
    return add_noise(canvas, rng, amplitude=2, blur=0.0)
