"""Standing the cut-out on the canvas: cast and contact shadows, a floor reflection, the paste."""

from __future__ import annotations

from typing import Final

from PIL import Image, ImageChops, ImageEnhance, ImageFilter

from stylestudio.adapters.local_engine.colour import scale_lut
from stylestudio.adapters.local_engine.placement import Box

_BILINEAR: Final = Image.Resampling.BILINEAR


def composite_product(
    canvas: Image.Image,
    cutout: Image.Image,
    mask: Image.Image,
    box: Box,
    *,
    light_dx: float,
    shadow: float,
    reflection: float,
    unit: float,
) -> Image.Image:
    """The canvas with the product pasted at ``box`` over its shadows (and its reflection when
    ``reflection`` is above zero); ``unit`` scales blur radii with the output size."""
    canvas = _cast_shadows(canvas, mask, box, light_dx, shadow, unit)
    if reflection > 0:
        _add_reflection(canvas, cutout, mask, box, reflection)
    canvas.paste(cutout, box[:2], mask)
    return canvas


def _cast_shadows(
    canvas: Image.Image,
    mask: Image.Image,
    box: Box,
    light_dx: float,
    strength: float,
    unit: float,
) -> Image.Image:
    """Darken the floor with a contact shadow and a soft shadow thrown away from the light."""
    width, height = canvas.size
    x0, _, x1, y1 = box
    product_w, product_h = x1 - x0, box[3] - box[1]

    # Cast shadow: the silhouette squashed onto the floor and sheared away from the
    # key light, as a low front-side light would throw it onto the back wall/floor.
    shadow_h = max(2, round(product_h * 0.22))
    squashed = mask.resize((product_w, shadow_h), _BILINEAR)
    shift = round(-light_dx * product_w * 0.35)
    origin = min(0, shift)
    sheared = squashed.transform(
        (product_w + abs(shift), shadow_h),
        Image.Transform.AFFINE,
        (1, shift / shadow_h, origin - shift, 0, 1, 0),
        _BILINEAR,
    )
    cast = Image.new("L", (width, height), 0)
    cast.paste(sheared, (x0 + origin, y1 - shadow_h))
    cast = cast.filter(ImageFilter.GaussianBlur(max(2.0, product_h * 0.035)))
    cast = cast.point(scale_lut(strength))

    # Contact shadow: a thin, dark band under the footprint only (the bottom rows
    # of the silhouette), half hidden behind the product's base.
    contact_h = max(2, round(product_h * 0.035))
    base_rows = mask.crop((0, round(product_h * 0.92), product_w, product_h))
    footprint = base_rows.resize((product_w, contact_h), _BILINEAR)
    contact = Image.new("L", (width, height), 0)
    contact.paste(footprint, (x0, y1 - round(contact_h * 0.6)))
    contact = contact.filter(ImageFilter.GaussianBlur(max(1.5, 3 * unit + product_h * 0.006)))
    contact = contact.point(scale_lut(min(0.8, strength * 1.8)))

    shade = ImageChops.lighter(cast, contact)
    darkened = ImageEnhance.Brightness(canvas).enhance(0.25)
    return Image.composite(darkened, canvas, shade)


def _add_reflection(
    canvas: Image.Image,
    cutout: Image.Image,
    mask: Image.Image,
    box: Box,
    opacity: float,
) -> None:
    """Mirror the product into a glossy floor, fading out quickly."""
    height = cutout.height
    fade_len = max(1, round(height * 0.3))
    fade = [round(255 * opacity * max(0.0, 1 - y / fade_len) ** 1.6) for y in range(height)]
    column = Image.new("L", (1, height))
    column.putdata(fade)
    alpha = ImageChops.multiply(
        mask.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
        column.resize(cutout.size, Image.Resampling.NEAREST),
    )
    mirrored = cutout.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    canvas.paste(mirrored, (box[0], box[3]), alpha)
