"""The last step: each style's colour grade, blended in by the request's strength."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from PIL import Image, ImageChops, ImageEnhance, ImageFilter, ImageOps

from stylestudio.adapters.local_engine.effects import add_noise, vignette
from stylestudio.adapters.local_engine.placement import Box

_BILINEAR: Final = Image.Resampling.BILINEAR
_BICUBIC: Final = Image.Resampling.BICUBIC


@dataclass(frozen=True)
class GradeContext:
    rng: random.Random
    unit: float  # output scale relative to 1024 px, for radii
    focus: Box  # product box on the canvas


def finish(image: Image.Image, style: str, strength: float, ctx: GradeContext) -> Image.Image:
    """Grade the composite with the style preset, blended in by ``strength``."""
    graded = _STYLE_GRADES[style](image, ctx)
    if not math.isfinite(strength):
        strength = 0.8
    # strength reads as "how far to move away from the plain composite"; a floor
    # of 0.4 keeps the chosen style recognisable even at low strength.
    mix = 0.4 + 0.6 * min(1.0, max(0.0, strength))
    if mix < 1.0:
        graded = Image.blend(image, graded, mix)
    return graded


def _grade_realistic(image: Image.Image, ctx: GradeContext) -> Image.Image:
    image = ImageEnhance.Contrast(image).enhance(1.08)
    image = ImageEnhance.Color(image).enhance(1.05)
    return image.filter(ImageFilter.UnsharpMask(radius=1.5 * ctx.unit, percent=70, threshold=2))


def _grade_fashion(image: Image.Image, ctx: GradeContext) -> Image.Image:
    image = ImageEnhance.Contrast(image).enhance(1.22)
    # Cool split-tone: pull red down, lift blue in the shadows more than highlights.
    red = [round(v * 0.94) for v in range(256)]
    green = [round(v * 0.99 + 2) for v in range(256)]
    blue = [min(255, round(v * 0.96 + 16)) for v in range(256)]
    image = image.point(red + green + blue)
    image = ImageEnhance.Color(image).enhance(0.9)
    image = vignette(image, 0.22, (8, 10, 16))
    return image.filter(ImageFilter.UnsharpMask(radius=1.2 * ctx.unit, percent=60, threshold=2))


def _grade_artistic(image: Image.Image, ctx: GradeContext) -> Image.Image:
    # Screen-print look: flatten detail at reduced resolution (median keeps edges
    # and smooth gradients, unlike a mode filter which streaks them), reduce to a
    # small flat palette, then ink the outlines. The working size is capped so the
    # cost stays flat across quality tiers (rank filters scale with pixel count);
    # the ink pass at full size restores crisp edges.
    factor = max(2.0, max(image.size) / 512)
    half = (max(8, round(image.width / factor)), max(8, round(image.height / factor)))
    flat = image.resize(half, _BILINEAR, reducing_gap=2.0).filter(ImageFilter.MedianFilter(5))
    # Blur away the backdrop dither first so palette regions get clean contours.
    flat = flat.filter(ImageFilter.GaussianBlur(1.5))
    flat = ImageEnhance.Color(flat).enhance(1.55)
    flat = ImageEnhance.Contrast(flat).enhance(1.1)
    # Median cut spends its colours where the pixels are, i.e. on the backdrop,
    # and would repaint the product in backdrop colours. Sampling the product
    # region at the same area as the whole frame gives it half the palette.
    # (The sample is at half the working size: plenty to pick 32 colours from.)
    fx0, fy0, fx1, fy1 = (round(v / factor) for v in ctx.focus)
    tile = (max(4, half[0] // 2), max(4, half[1] // 2))
    sample = Image.new("RGB", (tile[0], tile[1] * 2))
    sample.paste(flat.resize(tile, _BILINEAR), (0, 0))
    if fx1 - fx0 > 1 and fy1 - fy0 > 1:
        sample.paste(flat.resize(tile, _BILINEAR, box=(fx0, fy0, fx1, fy1)), (0, tile[1]))
    palette = sample.quantize(colors=32, method=Image.Quantize.MEDIANCUT)
    flat = flat.quantize(palette=palette, dither=Image.Dither.NONE).convert("RGB")
    flat = flat.filter(ImageFilter.MedianFilter(3)).resize(image.size, _BICUBIC)
    luminance = image.convert("L").filter(ImageFilter.GaussianBlur(ctx.unit))
    # 3x3 kernels leave the outermost pixels unfiltered, which would ink a frame
    # around the picture; blank that one-pixel border.
    edges = ImageOps.expand(ImageOps.crop(luminance.filter(ImageFilter.FIND_EDGES), 1), 1, 0)
    # Threshold first: faint gradient steps and noise must not turn into ink.
    ink = ImageOps.invert(edges.point(lambda v: 0 if v < 6 else min(255, (v - 6) * 6)))
    return ImageChops.multiply(flat, Image.merge("RGB", (ink, ink, ink)))


def _grade_vintage(image: Image.Image, ctx: GradeContext) -> Image.Image:
    sepia = ImageOps.colorize(
        image.convert("L"), black=(42, 28, 16), white=(252, 240, 212), mid=(166, 128, 88)
    )
    # Keep a trace of the original colour: aged print, not pure monochrome.
    image = Image.blend(image, sepia, 0.78)
    # Faded blacks and softened whites, the matte look of old paper.
    image = image.point([round(30 + v * (236 - 30) / 255) for v in range(256)] * 3)
    image = image.filter(ImageFilter.GaussianBlur(0.5 * ctx.unit))
    image = vignette(image, 0.38, (30, 20, 10))
    return add_noise(image, ctx.rng, amplitude=12, blur=0.6 * ctx.unit)


def _grade_minimalist(image: Image.Image, ctx: GradeContext) -> Image.Image:
    image = ImageEnhance.Color(image).enhance(0.6)
    image = ImageEnhance.Contrast(image).enhance(0.94)
    image = ImageEnhance.Brightness(image).enhance(1.05)
    return image.filter(ImageFilter.UnsharpMask(radius=1.0 * ctx.unit, percent=40, threshold=2))


_STYLE_GRADES: Final[dict[str, Callable[[Image.Image, GradeContext], Image.Image]]] = {
    "realistic": _grade_realistic,
    "fashion": _grade_fashion,
    "artistic": _grade_artistic,
    "vintage": _grade_vintage,
    "minimalist": _grade_minimalist,
}
