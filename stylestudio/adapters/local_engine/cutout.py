"""Background removal: the product separated from its photo as an RGB crop and a soft mask.

Three ways, tried in order: the photo's own transparency; a colour key against a plain
backdrop found at the border; otherwise the whole photo as a mounted print (a "card")."""

from __future__ import annotations

import math
import re
from typing import Final

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageStat

from stylestudio.adapters.local_engine.colour import RGB

_LANCZOS: Final = Image.Resampling.LANCZOS
_BILINEAR: Final = Image.Resampling.BILINEAR

# Side of the thumbnail used to reason about the product's shape (backdrop colour,
# holes, specks, bounding box); the edges themselves are keyed at full resolution.
_ANALYSIS_SIDE: Final = 192


def cut_out(product: Image.Image, max_w: int, max_h: int) -> tuple[Image.Image, Image.Image]:
    """Separate the product from its photo background.

    Returns the product (RGB) cropped to its silhouette and scaled to fit
    ``max_w`` x ``max_h``, plus a matching soft mask (L).
    """
    small = product.copy()
    small.thumbnail((_ANALYSIS_SIDE, _ANALYSIS_SIDE), _BILINEAR)
    to_full = product.width / small.width, product.height / small.height

    alpha_small = small.getchannel("A")
    background: tuple[RGB, int] | None = None
    solid: Image.Image | None
    if _has_transparency(alpha_small):
        solid = alpha_small.point(lambda v: 255 if v > 24 else 0)
        kind = "alpha"
    else:
        background = _estimate_background(small.convert("RGB"))
        solid = None
        if background is not None:
            solid = _solid_mask(small.convert("RGB"), *background)
        kind = "key" if solid is not None else "card"

    if solid is not None and (bbox := solid.getbbox()) is not None:
        # Map the silhouette's bounding box to full resolution, one analysis
        # pixel of slack so the soft edge is not clipped.
        bx0, by0, bx1, by1 = bbox
        box = (
            max(0, math.floor((bx0 - 1) * to_full[0])),
            max(0, math.floor((by0 - 1) * to_full[1])),
            min(product.width, math.ceil((bx1 + 1) * to_full[0])),
            min(product.height, math.ceil((by1 + 1) * to_full[1])),
        )
    else:
        kind = "card"
        box = (0, 0, product.width, product.height)

    crop_w, crop_h = box[2] - box[0], box[3] - box[1]
    scale = min(max_w / crop_w, max_h / crop_h)
    if kind == "card":
        # A photo with a busy background is shown as a mounted print; keep it a
        # little smaller than a cut-out product so it does not dominate the frame.
        scale *= 0.88
    out_size = (max(8, round(crop_w * scale)), max(8, round(crop_h * scale)))
    scaled = product.resize(out_size, _LANCZOS, box=box)
    rgb = scaled.convert("RGB")

    if kind == "alpha":
        mask = scaled.getchannel("A")
    elif kind == "key" and solid is not None and background is not None:
        small_box = (
            box[0] / to_full[0],
            box[1] / to_full[1],
            box[2] / to_full[0],
            box[3] / to_full[1],
        )
        mask = _refine_mask(rgb, solid, small_box, *background)
    else:
        mask = _card_mask(out_size)
    # Trim to what is actually visible so the product stands exactly on base_y
    # instead of floating on the analysis slack.
    visible = mask.point(lambda v: 255 if v > 16 else 0).getbbox()
    if visible is not None:
        rgb, mask = rgb.crop(visible), mask.crop(visible)
    return rgb, mask


def _has_transparency(alpha: Image.Image) -> bool:
    histogram = alpha.histogram()
    transparent = sum(histogram[:250])
    return transparent > 0.01 * alpha.width * alpha.height


def _estimate_background(rgb: Image.Image) -> tuple[RGB, int] | None:
    """Guess the photo's backdrop colour from its border.

    Returns ``(colour, tolerance)`` or ``None`` when the border is not a fairly
    uniform backdrop (a lifestyle photo, or a product filling the frame).
    """
    width, height = rgb.size
    band = max(2, round(min(width, height) * 0.04))
    strips = [
        rgb.crop((0, 0, width, band)),
        rgb.crop((0, height - band, width, height)),
        rgb.crop((0, 0, band, height)).transpose(Image.Transpose.ROTATE_90),
        rgb.crop((width - band, 0, width, height)).transpose(Image.Transpose.ROTATE_90),
    ]
    border = Image.new("RGB", (sum(s.width for s in strips), band))
    offset = 0
    for strip in strips:
        border.paste(strip, (offset, 0))
        offset += strip.width

    median = ImageStat.Stat(border).median
    colour: RGB = (int(median[0]), int(median[1]), int(median[2]))
    histogram = _distance(border, colour).histogram()
    total = sum(histogram)
    if sum(histogram[:30]) < 0.7 * total:
        return None
    # Tolerance just above the border's own spread (gradients, sensor noise).
    cumulative, p90 = 0, 0
    for level, count in enumerate(histogram):
        cumulative += count
        if cumulative >= 0.9 * total:
            p90 = level
            break
    return colour, min(60, max(18, p90 + 12))


def _distance(rgb: Image.Image, colour: RGB) -> Image.Image:
    diff = ImageChops.difference(rgb, Image.new("RGB", rgb.size, colour))
    red, green, blue = diff.split()
    return ImageChops.lighter(ImageChops.lighter(red, green), blue)


def _ramp_lut(low: int, high: int) -> list[int]:
    span = high - low
    return [
        0 if v <= low else 255 if v >= high else round((v - low) * 255 / span) for v in range(256)
    ]


def _solid_mask(rgb: Image.Image, colour: RGB, tolerance: int) -> Image.Image | None:
    """Binary silhouette at analysis size with specks removed and holes filled."""
    binary = _distance(rgb, colour).point(lambda v: 255 if v > tolerance else 0)
    # Morphological opening drops isolated noise pixels and dust.
    binary = binary.filter(ImageFilter.MinFilter(3)).filter(ImageFilter.MaxFilter(3))
    filled = _fill_holes(binary)
    coverage = filled.histogram()[255] / (filled.width * filled.height)
    # Too little: the product matches the backdrop. Too much: no real backdrop.
    if not 0.02 <= coverage <= 0.93:
        return None
    return filled


_BACKGROUND_RUN: Final = re.compile(rb"\x00+")


def _fill_holes(binary: Image.Image) -> Image.Image:
    """Mark everything not connected to the image border as product (255).

    Light-coloured parts of a product (a white label, a shirt print) match the
    backdrop and would punch holes; anything the backdrop cannot reach from the
    border is product. The cost is that enclosed gaps (a mug handle) are filled too.
    """
    width, height = binary.size
    data = binary.tobytes()
    # Flood fill over horizontal runs of background rather than pixels: a few
    # hundred runs instead of tens of thousands of pixels keeps this in C-speed
    # territory (ImageDraw.floodfill is a per-pixel Python loop).
    rows: list[list[tuple[int, int]]] = [
        [(m.start(), m.end()) for m in _BACKGROUND_RUN.finditer(data, y * width, (y + 1) * width)]
        for y in range(height)
    ]
    reached: set[tuple[int, int]] = set()  # (row, index of run in row)
    stack: list[tuple[int, int]] = []
    for y, runs in enumerate(rows):
        for index, (start, end) in enumerate(runs):
            on_border = y in (0, height - 1) or start == y * width or end == (y + 1) * width
            if on_border:
                reached.add((y, index))
                stack.append((y, index))
    while stack:
        y, index = stack.pop()
        start, end = rows[y][index]
        column_start, column_end = start - y * width, end - y * width
        for ny in (y - 1, y + 1):
            if not 0 <= ny < height:
                continue
            offset = ny * width
            for nindex, (nstart, nend) in enumerate(rows[ny]):
                # 4-connected: runs must share at least one column.
                overlaps = nstart - offset < column_end and nend - offset > column_start
                if overlaps and (ny, nindex) not in reached:
                    reached.add((ny, nindex))
                    stack.append((ny, nindex))
    filled = bytearray(b"\xff" * (width * height))
    for y, index in reached:
        start, end = rows[y][index]
        filled[start:end] = bytes(end - start)
    return Image.frombytes("L", binary.size, bytes(filled))


def _refine_mask(
    rgb: Image.Image,
    solid: Image.Image,
    small_box: tuple[float, float, float, float],
    colour: RGB,
    tolerance: int,
) -> Image.Image:
    """Full-resolution soft mask: crisp colour-key edges, holes and specks from the solid mask."""
    size = rgb.size
    # A wide ramp keeps pixels that are part backdrop part product (anti-aliased
    # edges) partly transparent instead of keeping them whole as a light fringe.
    edge = _distance(rgb, colour).point(_ramp_lut(tolerance - 6, tolerance + 70))
    coarse = solid.resize(size, _BILINEAR, box=small_box)
    blur = max(1.0, max(size) / _ANALYSIS_SIDE)
    coarse = coarse.filter(ImageFilter.GaussianBlur(blur))
    inside = coarse.point(lambda v: 255 if v >= 250 else 0)  # certainly product
    near = coarse.point(lambda v: 255 if v > 0 else 0)  # could be product
    mask = ImageChops.darker(ImageChops.lighter(edge, inside), near)
    # Choke the edge by about a pixel and soften it, so no backdrop-coloured
    # fringe survives around the product.
    mask = mask.filter(ImageFilter.GaussianBlur(1.2)).point(_ramp_lut(150, 255))
    return mask.filter(ImageFilter.GaussianBlur(0.5))


def _card_mask(size: tuple[int, int]) -> Image.Image:
    mask = Image.new("L", size, 0)
    radius = round(min(size) * 0.045)
    outline = (1, 1, size[0] - 2, size[1] - 2)
    ImageDraw.Draw(mask).rounded_rectangle(outline, radius=radius, fill=255)
    return mask.filter(ImageFilter.GaussianBlur(0.8))
