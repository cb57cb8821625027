# Over 500 lines: one offline image pipeline whose steps share private helpers.
"""Offline generation engine: a Pillow-only product-photo studio.

``LocalEngine`` needs no network and no model weights. It cuts the product out of
its photo, stands it on a generated studio sweep (or on a supplied model/scene
photo) with contact and cast shadows, then grades the frame with a style preset.

Every random decision is drawn from ``random.Random(request.seed)`` in a fixed
order, and every Pillow operation used is deterministic, so the same request
yields byte-identical JPEG output (for the same Pillow/libjpeg build).
"""

from __future__ import annotations

import io
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from PIL import Image, ImageChops, ImageDraw, ImageEnhance, ImageFilter, ImageOps, ImageStat

from stylestudio.adapters.generation_engine import (
    LOCAL_MODEL,
    GeneratedImage,
    GenerationEngineError,
    GenerationRequest,
    ModelSpec,
    validate_request,
)

RGB = tuple[int, int, int]

_LANCZOS: Final = Image.Resampling.LANCZOS
_BILINEAR: Final = Image.Resampling.BILINEAR
_BICUBIC: Final = Image.Resampling.BICUBIC

# Side of the thumbnail used to reason about the product's shape (backdrop colour,
# holes, specks, bounding box); the edges themselves are keyed at full resolution.
_ANALYSIS_SIDE: Final = 192

JPEG_QUALITY: Final = 90


# --------------------------------------------------------------------------- styles


@dataclass(frozen=True)
class _Backdrop:
    wall: RGB
    floor: RGB


@dataclass(frozen=True)
class _StyleSpec:
    backdrops: tuple[_Backdrop, ...]
    product_share: float  # share of the canvas height the product may occupy
    key_light: float  # opacity of the soft light spot behind the product
    vignette: float  # darkening at the frame corners baked into the backdrop
    reflection: float  # opacity of the floor reflection (0 = matte floor)
    shadow: float  # opacity of the cast shadow


_STYLE_SPECS: Final[dict[str, _StyleSpec]] = {
    "realistic": _StyleSpec(
        backdrops=(
            _Backdrop(wall=(212, 208, 202), floor=(228, 224, 217)),  # warm grey
            _Backdrop(wall=(198, 194, 188), floor=(219, 214, 207)),  # stone
            _Backdrop(wall=(203, 209, 214), floor=(222, 226, 229)),  # cool grey
            _Backdrop(wall=(221, 209, 191), floor=(233, 223, 207)),  # sand
        ),
        product_share=0.64,
        key_light=0.45,
        vignette=0.15,
        reflection=0.16,
        shadow=0.32,
    ),
    "fashion": _StyleSpec(
        backdrops=(
            _Backdrop(wall=(86, 98, 118), floor=(118, 128, 144)),  # slate blue
            _Backdrop(wall=(56, 58, 65), floor=(86, 88, 95)),  # charcoal
            _Backdrop(wall=(214, 186, 188), floor=(230, 210, 208)),  # blush
            _Backdrop(wall=(80, 112, 120), floor=(110, 140, 145)),  # steel teal
        ),
        product_share=0.68,
        key_light=0.38,
        vignette=0.30,
        reflection=0.22,
        shadow=0.38,
    ),
    "artistic": _StyleSpec(
        # Deliberately clashing wall/floor pairs: a colour-blocked set.
        backdrops=(
            _Backdrop(wall=(28, 118, 132), floor=(232, 118, 92)),  # teal / coral
            _Backdrop(wall=(92, 58, 156), floor=(238, 168, 58)),  # violet / amber
            _Backdrop(wall=(196, 52, 118), floor=(44, 72, 168)),  # magenta / cobalt
            _Backdrop(wall=(232, 196, 64), floor=(36, 120, 110)),  # saffron / jade
        ),
        product_share=0.62,
        key_light=0.30,
        vignette=0.20,
        reflection=0.0,
        shadow=0.42,
    ),
    "vintage": _StyleSpec(
        backdrops=(
            _Backdrop(wall=(222, 206, 176), floor=(208, 188, 154)),  # cream
            _Backdrop(wall=(132, 128, 90), floor=(170, 158, 118)),  # olive
            _Backdrop(wall=(196, 156, 82), floor=(218, 188, 130)),  # mustard
            _Backdrop(wall=(176, 108, 80), floor=(208, 158, 118)),  # terracotta
        ),
        product_share=0.60,
        key_light=0.35,
        vignette=0.25,
        reflection=0.0,
        shadow=0.34,
    ),
    "minimalist": _StyleSpec(
        backdrops=(
            _Backdrop(wall=(240, 239, 236), floor=(247, 246, 244)),  # off-white
            _Backdrop(wall=(233, 234, 236), floor=(244, 244, 245)),  # pale grey
            _Backdrop(wall=(238, 232, 222), floor=(246, 242, 235)),  # bone
            _Backdrop(wall=(228, 235, 238), floor=(242, 245, 246)),  # mist
        ),
        # A small product in a big bright frame is what reads as "minimal".
        product_share=0.46,
        key_light=0.35,
        vignette=0.0,
        reflection=0.10,
        shadow=0.22,
    ),
}

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


# --------------------------------------------------------------------------- engine


class LocalEngine:
    """Pillow-only engine used when no remote generation service is configured."""

    name = "local"
    models: tuple[ModelSpec, ...] = (LOCAL_MODEL,)

    def generate(self, request: GenerationRequest) -> GeneratedImage:
        """Render a styled studio shot of the request's product.

        Raises ``GenerationEngineError`` (not retryable) for invalid options or
        unreadable images.
        """
        try:
            size = validate_request(request)
        except ValueError as exc:
            raise GenerationEngineError(f"Unsupported generation option: {exc}") from exc

        product = _decode(request.product_image, "product", max(size), keep_alpha=True, cover=False)
        scene = None
        if request.model_image is not None:
            scene = _decode(request.model_image, "model", max(size), keep_alpha=False, cover=True)

        # Anything raised past this point is a bug or resource exhaustion, not bad
        # input: let it propagate so the worker logs it and retries the job.
        data = _encode_jpeg(_render(request, size, product, scene))
        return GeneratedImage(data=data, content_type="image/jpeg", width=size[0], height=size[1])


# --------------------------------------------------------------------------- decoding


# EXIF orientation -> the transpose that makes the picture upright (same table
# as ImageOps.exif_transpose, applied after shrinking so it touches fewer pixels).
_ORIENTATION_TAG: Final = 0x0112
_UPRIGHT: Final[dict[int, Image.Transpose]] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _decode(data: bytes, label: str, target: int, *, keep_alpha: bool, cover: bool) -> Image.Image:
    """Decode encoded bytes into an upright RGBA (``keep_alpha``) or RGB image.

    The image is shrunk to what later steps need: its long side to ``target``, or
    with ``cover`` its short side (a backdrop cropped to fill any aspect ratio).
    Raises ``GenerationEngineError`` if Pillow cannot read it.
    """
    message = f"The {label} image could not be read"
    if not data:
        raise GenerationEngineError(message)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            # For JPEGs this decodes at a reduced DCT scale (never below target),
            # which makes multi-megapixel phone photos cheap.
            opened.draft("RGB", (target, target))
            orientation = _orientation(opened)
            icc = opened.info.get("icc_profile")
            has_alpha = opened.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
                "transparency" in opened.info
            )
            mode = "RGBA" if has_alpha else "RGB"
            # convert() always returns a new image, so nothing below depends on
            # the file object that the with-block closes.
            image = _shrink(opened.convert(mode), target, cover=cover)
        if orientation in _UPRIGHT:
            image = image.transpose(_UPRIGHT[orientation])
        image = _to_srgb(image, icc)
        image = image.convert("RGBA" if keep_alpha else "RGB")
    except GenerationEngineError:
        raise
    except Exception as exc:
        # Corrupt files surface as many exception types (OSError, SyntaxError,
        # struct.error, DecompressionBombError, ...); all mean "unreadable".
        raise GenerationEngineError(message) from exc
    image.info.clear()
    return image


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:
        # A mangled EXIF block should not make an otherwise fine photo unreadable.
        return 1
    return value if isinstance(value, int) else 1


def _shrink(image: Image.Image, target: int, *, cover: bool) -> Image.Image:
    side = min(image.size) if cover else max(image.size)
    if side <= target:
        return image
    scale = target / side
    new_size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    # This is an intermediate (the cut-out/backdrop is resampled again), so trade
    # a little quality for speed with an early box reduction.
    return image.resize(new_size, _LANCZOS, reducing_gap=1.5)


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    if not icc or image.mode not in ("RGB", "RGBA"):
        return image
    try:
        from PIL import ImageCms

        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in ImageCms.getProfileDescription(source).lower():
            return image
        converted = ImageCms.profileToProfile(
            image, source, ImageCms.createProfile("sRGB"), outputMode=image.mode
        )
    except Exception:
        # Colour management is a nicety: a broken or exotic profile should not
        # fail the generation, the pixels are still usable as-is.
        return image
    return converted if converted is not None else image


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class _Layout:
    max_w: int  # box the product must fit in
    max_h: int
    center_x: float  # horizontal centre of the product
    base_y: int  # where the product stands on the floor
    horizon: float  # wall/floor junction as a fraction of the height
    light_dx: float  # key light side, -1 (left) .. 1 (right)
    backdrop: _Backdrop


def _plan_layout(
    size: tuple[int, int], spec: _StyleSpec, has_scene: bool, rng: random.Random
) -> _Layout:
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
    return _Layout(
        max_w=max(8, round(width * max_w_share)),
        max_h=max(8, round(height * share)),
        center_x=width * center,
        base_y=round(height * base),
        horizon=horizon,
        light_dx=light_dx,
        backdrop=backdrop,
    )


# --------------------------------------------------------------------------- rendering


def _render(
    request: GenerationRequest,
    size: tuple[int, int],
    product: Image.Image,
    scene: Image.Image | None,
) -> Image.Image:
    spec = _STYLE_SPECS[request.style]
    rng = random.Random(request.seed)
    layout = _plan_layout(size, spec, scene is not None, rng)
    unit = max(size) / 1024  # scales blur radii etc. with the output resolution

    cutout, mask = _cut_out(product, layout.max_w, layout.max_h)
    width = size[0]
    margin = round(width * 0.04)
    x0 = round(layout.center_x - cutout.width / 2)
    if cutout.width < width - 2 * margin:
        x0 = max(margin, min(x0, width - margin - cutout.width))
    else:
        x0 = (width - cutout.width) // 2
    y0 = layout.base_y - cutout.height
    box = (x0, y0, x0 + cutout.width, y0 + cutout.height)

    if scene is None:
        walls = _tinted_backdrop(layout.backdrop, request, rng)
        canvas = _studio_backdrop(size, walls, spec, layout, box, rng)
        reflection = spec.reflection
    else:
        canvas = ImageOps.fit(scene, size, _LANCZOS, centering=(0.5, 0.45))
        # The scene's floor is unknown, so no mirror reflection on it.
        reflection = 0.0

    canvas = _cast_shadows(canvas, mask, box, layout.light_dx, spec.shadow, unit)
    if reflection > 0:
        _add_reflection(canvas, cutout, mask, box, reflection)
    canvas.paste(cutout, box[:2], mask)

    return _finish(canvas, request.style, request.strength, _GradeContext(rng, unit, box))


def _tinted_backdrop(
    backdrop: _Backdrop, request: GenerationRequest, rng: random.Random
) -> _Backdrop:
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
        wall = _mix(wall, colour, weight)
        floor = _mix(floor, _mix(colour, (255, 255, 255), 0.25), weight)
    if any(w in _PROMPT_DARK for w in words):
        wall, floor = _scale(wall, 0.55), _scale(floor, 0.6)
    elif any(w in _PROMPT_BRIGHT for w in words):
        wall, floor = _mix(wall, (255, 255, 255), 0.35), _mix(floor, (255, 255, 255), 0.35)
    # A small seeded drift so two seeds of the same palette are not twins.
    drift = rng.uniform(0.93, 1.06)
    return _Backdrop(wall=_scale(wall, drift), floor=_scale(floor, drift))


def _studio_backdrop(
    size: tuple[int, int],
    backdrop: _Backdrop,
    spec: _StyleSpec,
    layout: _Layout,
    box: tuple[int, int, int, int],
    rng: random.Random,
) -> Image.Image:
    """Paint a seamless-paper sweep: wall, soft curve into the floor, key light, vignette."""
    width, height = size
    wall_top = _scale(backdrop.wall, 0.80)
    floor_near = _scale(backdrop.floor, 0.90)
    softness = rng.uniform(0.06, 0.11)
    horizon = layout.horizon

    # The sweep only varies vertically: compute one column in Python (O(height))
    # and stretch it sideways instead of touching every pixel.
    rows: list[RGB] = []
    for y in range(height):
        t = y / max(1, height - 1)
        wall = _mix(wall_top, backdrop.wall, _smoothstep(0.0, horizon, t))
        floor = _mix(backdrop.floor, floor_near, _smoothstep(horizon, 1.0, t))
        rows.append(_mix(wall, floor, _smoothstep(horizon - softness, horizon + softness, t)))
    column = Image.new("RGB", (1, height))
    column.putdata(rows)
    canvas = column.resize(size, Image.Resampling.NEAREST)

    x0, y0, x1, y1 = box
    product_w, product_h = x1 - x0, y1 - y0
    light = _mix(backdrop.wall, (255, 255, 255), 0.55)
    spot_center = (
        (x0 + x1) / 2 + layout.light_dx * width * 0.12,
        y0 + product_h * rng.uniform(0.25, 0.5),
    )
    spot_radius = (max(product_w * 1.6, width * 0.5), max(product_h * 1.3, height * 0.55))
    canvas = _glow(canvas, spot_center, spot_radius, light, spec.key_light)
    # A pool of light on the floor anchors the product to the ground.
    pool_radius = (max(product_w * 0.95, width * 0.12), max(height * 0.07, product_h * 0.12))
    canvas = _glow(canvas, ((x0 + x1) / 2, y1), pool_radius, light, spec.key_light * 0.6)

    if spec.vignette > 0:
        canvas = _vignette(canvas, spec.vignette, (20, 18, 16))
    # Smooth 8-bit gradients band visibly after JPEG; a +-2 level dither hides it.
    return _add_noise(canvas, rng, amplitude=2, blur=0.0)


def _cast_shadows(
    canvas: Image.Image,
    mask: Image.Image,
    box: tuple[int, int, int, int],
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
    cast = cast.point(_scale_lut(strength))

    # Contact shadow: a thin, dark band under the footprint only (the bottom rows
    # of the silhouette), half hidden behind the product's base.
    contact_h = max(2, round(product_h * 0.035))
    base_rows = mask.crop((0, round(product_h * 0.92), product_w, product_h))
    footprint = base_rows.resize((product_w, contact_h), _BILINEAR)
    contact = Image.new("L", (width, height), 0)
    contact.paste(footprint, (x0, y1 - round(contact_h * 0.6)))
    contact = contact.filter(ImageFilter.GaussianBlur(max(1.5, 3 * unit + product_h * 0.006)))
    contact = contact.point(_scale_lut(min(0.8, strength * 1.8)))

    shade = ImageChops.lighter(cast, contact)
    darkened = ImageEnhance.Brightness(canvas).enhance(0.25)
    return Image.composite(darkened, canvas, shade)


def _add_reflection(
    canvas: Image.Image,
    cutout: Image.Image,
    mask: Image.Image,
    box: tuple[int, int, int, int],
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


# --------------------------------------------------------------------------- cut-out


def _cut_out(product: Image.Image, max_w: int, max_h: int) -> tuple[Image.Image, Image.Image]:
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


# --------------------------------------------------------------------------- finishing


@dataclass(frozen=True)
class _GradeContext:
    rng: random.Random
    unit: float  # output scale relative to 1024 px, for radii
    focus: tuple[int, int, int, int]  # product box on the canvas


def _finish(image: Image.Image, style: str, strength: float, ctx: _GradeContext) -> Image.Image:
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


def _grade_realistic(image: Image.Image, ctx: _GradeContext) -> Image.Image:
    image = ImageEnhance.Contrast(image).enhance(1.08)
    image = ImageEnhance.Color(image).enhance(1.05)
    return image.filter(ImageFilter.UnsharpMask(radius=1.5 * ctx.unit, percent=70, threshold=2))


def _grade_fashion(image: Image.Image, ctx: _GradeContext) -> Image.Image:
    image = ImageEnhance.Contrast(image).enhance(1.22)
    # Cool split-tone: pull red down, lift blue in the shadows more than highlights.
    red = [round(v * 0.94) for v in range(256)]
    green = [round(v * 0.99 + 2) for v in range(256)]
    blue = [min(255, round(v * 0.96 + 16)) for v in range(256)]
    image = image.point(red + green + blue)
    image = ImageEnhance.Color(image).enhance(0.9)
    image = _vignette(image, 0.22, (8, 10, 16))
    return image.filter(ImageFilter.UnsharpMask(radius=1.2 * ctx.unit, percent=60, threshold=2))


def _grade_artistic(image: Image.Image, ctx: _GradeContext) -> Image.Image:
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


def _grade_vintage(image: Image.Image, ctx: _GradeContext) -> Image.Image:
    sepia = ImageOps.colorize(
        image.convert("L"), black=(42, 28, 16), white=(252, 240, 212), mid=(166, 128, 88)
    )
    # Keep a trace of the original colour: aged print, not pure monochrome.
    image = Image.blend(image, sepia, 0.78)
    # Faded blacks and softened whites, the matte look of old paper.
    image = image.point([round(30 + v * (236 - 30) / 255) for v in range(256)] * 3)
    image = image.filter(ImageFilter.GaussianBlur(0.5 * ctx.unit))
    image = _vignette(image, 0.38, (30, 20, 10))
    return _add_noise(image, ctx.rng, amplitude=12, blur=0.6 * ctx.unit)


def _grade_minimalist(image: Image.Image, ctx: _GradeContext) -> Image.Image:
    image = ImageEnhance.Color(image).enhance(0.6)
    image = ImageEnhance.Contrast(image).enhance(0.94)
    image = ImageEnhance.Brightness(image).enhance(1.05)
    return image.filter(ImageFilter.UnsharpMask(radius=1.0 * ctx.unit, percent=40, threshold=2))


_STYLE_GRADES: Final[dict[str, Callable[[Image.Image, _GradeContext], Image.Image]]] = {
    "realistic": _grade_realistic,
    "fashion": _grade_fashion,
    "artistic": _grade_artistic,
    "vintage": _grade_vintage,
    "minimalist": _grade_minimalist,
}


# --------------------------------------------------------------------------- pixel helpers


# Image.radial_gradient is 0 at the centre of its 256px tile and reaches 255 only
# at the corners; the inscribed circle (radius 128) has the value 181.
_RADIAL_EDGE: Final = 181


def _glow(
    image: Image.Image,
    center: tuple[float, float],
    radius: tuple[float, float],
    colour: RGB,
    opacity: float,
) -> Image.Image:
    """Blend ``colour`` in an elliptical soft spot (smooth falloff to zero at ``radius``)."""
    rx, ry = max(2, round(radius[0])), max(2, round(radius[1]))
    falloff = [
        round(255 * opacity * (1 - _smoothstep(0, _RADIAL_EDGE, v)) ** 1.5) for v in range(256)
    ]
    spot = Image.radial_gradient("L").point(falloff).resize((2 * rx, 2 * ry), _BILINEAR)
    alpha = Image.new("L", image.size, 0)
    alpha.paste(spot, (round(center[0]) - rx, round(center[1]) - ry))
    return Image.composite(Image.new("RGB", image.size, colour), image, alpha)


def _vignette(image: Image.Image, strength: float, colour: RGB) -> Image.Image:
    """Darken towards the corners; ``strength`` is the corner opacity."""
    # Stretched over the frame, the tile's corners land on the frame's corners.
    ring = [round(255 * strength * _smoothstep(0.45 * _RADIAL_EDGE, 255, v)) for v in range(256)]
    alpha = Image.radial_gradient("L").point(ring).resize(image.size, _BILINEAR)
    return Image.composite(Image.new("RGB", image.size, colour), image, alpha)


def _add_noise(
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


def _encode_jpeg(image: Image.Image) -> bytes:
    image = image.convert("RGB")
    image.info.clear()  # nothing from the inputs (EXIF, ICC, comments) may leak out
    buffer = io.BytesIO()
    image.save(
        buffer,
        format="JPEG",
        quality=JPEG_QUALITY,
        optimize=False,
        progressive=False,
        subsampling="4:2:0",
    )
    return buffer.getvalue()


# --------------------------------------------------------------------------- colour math


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _scale(colour: RGB, factor: float) -> RGB:
    return (
        min(255, round(colour[0] * factor)),
        min(255, round(colour[1] * factor)),
        min(255, round(colour[2] * factor)),
    )


def _scale_lut(factor: float) -> list[int]:
    return [round(v * factor) for v in range(256)]


def _smoothstep(edge0: float, edge1: float, x: float) -> float:
    if edge1 == edge0:
        return 0.0 if x < edge0 else 1.0
    t = min(1.0, max(0.0, (x - edge0) / (edge1 - edge0)))
    return t * t * (3 - 2 * t)
