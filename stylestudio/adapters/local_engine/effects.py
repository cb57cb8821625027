"""Whole-frame light effects: soft glows, vignettes and seeded grain."""

from __future__ import annotations

import random
from typing import Final

from PIL import Image, ImageChops, ImageFilter

from stylestudio.adapters.local_engine.colour import RGB, smoothstep

_BILINEAR: Final = Image.Resampling.BILINEAR

# Image.radial_gradient is 0 at the centre of its 256px tile and reaches 255 only
# at the corners; the inscribed circle (radius 128) has the value 181.
_RADIAL_EDGE: Final = 181


def glow(
    image: Image.Image,
    center: tuple[float, float],
    radius: tuple[float, float],
    colour: RGB,
    opacity: float,
) -> Image.Image:
    """Blend ``colour`` in an elliptical soft spot (smooth falloff to zero at ``radius``)."""
    rx, ry = max(2, round(radius[0])), max(2, round(radius[1]))
    falloff = [
        round(255 * opacity * (1 - smoothstep(0, _RADIAL_EDGE, v)) ** 1.5) for v in range(256)
    ]
    spot = Image.radial_gradient("L").point(falloff).resize((2 * rx, 2 * ry), _BILINEAR)
    alpha = Image.new("L", image.size, 0)
    alpha.paste(spot, (round(center[0]) - rx, round(center[1]) - ry))
    return Image.composite(Image.new("RGB", image.size, colour), image, alpha)


def vignette(image: Image.Image, strength: float, colour: RGB) -> Image.Image:
    """Darken towards the corners; ``strength`` is the corner opacity."""
    # Stretched over the frame, the tile's corners land on the frame's corners.
    ring = [round(255 * strength * smoothstep(0.45 * _RADIAL_EDGE, 255, v)) for v in range(256)]
    alpha = Image.radial_gradient("L").point(ring).resize(image.size, _BILINEAR)
    return Image.composite(Image.new("RGB", image.size, colour), image, alpha)


def add_noise(
    image: Image.Image, rng: random.Random, *, amplitude: int, blur: float
) -> Image.Image:
    """Add seeded monochrome noise of +-``amplitude`` levels (film grain / dither).

    ``Image.effect_noise`` draws from the C library's global RNG, so it cannot be
    seeded; bytes from the request's ``random.Random`` keep output reproducible.
    """
    noise = Image.frombytes("L", image.size, rng.randbytes(image.width * image.height))
    if blur > 0:
        # Clumps the grain like film and turns uniform noise roughly Gaussian;
        # the contrast lost to the blur is restored by a steeper LUT below.
        noise = noise.filter(ImageFilter.GaussianBlur(blur))
        gain = 2.2 * amplitude / 128
    else:
        gain = amplitude / 128
    noise = noise.point([min(255, max(0, round(128 + (v - 128) * gain))) for v in range(256)])
    return ImageChops.add(image, Image.merge("RGB", (noise, noise, noise)), scale=1.0, offset=-128)
