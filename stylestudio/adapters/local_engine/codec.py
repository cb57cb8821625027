"""Reading the request's photos (upright, sRGB, no bigger than needed) and writing the JPEG."""

from __future__ import annotations

import io
from typing import Final

from PIL import Image

from stylestudio.adapters.generation_engine import GenerationEngineError

_LANCZOS: Final = Image.Resampling.LANCZOS

JPEG_QUALITY: Final = 90


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


def decode(data: bytes, label: str, target: int, *, keep_alpha: bool, cover: bool) -> Image.Image:
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


def encode_jpeg(image: Image.Image) -> bytes:
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
