"""Pure image work, no storage: decode once, check, and make from the same pixels the picture
we store (upright, sRGB, without metadata), its grid thumbnail and its blur placeholder."""

from __future__ import annotations

import base64
import io
import logging
import warnings
from dataclasses import dataclass

import pillow_heif
from PIL import ExifTags, ImageCms, UnidentifiedImageError
from PIL import Image as PILImage

from stylestudio.services.errors import InvalidImageError

# HEIC/HEIF (phone photos) through libheif. Embedded thumbnails, depth maps and auxiliary
# images are never stored, so they are not even read.
pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)

MAX_PIXELS = 50_000_000  # beyond this a "photo" is a decompression bomb, not a product shot
# The content type of each format we accept. MPO is how Pillow names a JPEG carrying a second
# picture, as many phone cameras write; HEIF is pillow-heif's name for HEIC and HEIF files.
ACCEPTED_FORMATS = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "HEIF": "image/heic",
}
# Browsers other than Safari cannot show HEIC: it is stored as a JPEG.
_STORED_AS = {"image/heic": "image/jpeg"}
FORMAT_NAMES = "a JPEG, PNG, WebP or HEIC image"

DISPLAY_MAX_SIDE = 2048  # an upload is stored at most this big: larger originals are not kept
# A JPEG over DISPLAY_MAX_SIDE is decoded at 1/2, 1/4 or 1/8 scale (DCT scaling: the inverse
# DCT, upsampling and colour conversion see a fraction of the pixels) as far as keeps its
# longest side at least this long; what is still over DISPLAY_MAX_SIDE is then resized.
DRAFT_MIN_SIDE = 1536
THUMBNAIL_SIZE = 512
PLACEHOLDER_MAX_BYTES = 200
# (longest side, WebP quality) tried in turn until the placeholder fits PLACEHOLDER_MAX_BYTES.
_PLACEHOLDER_ATTEMPTS = ((16, 50), (16, 30), (16, 10), (12, 10), (8, 10), (4, 10))
JPEG_QUALITY = 90
WEBP_QUALITY = 90
THUMBNAIL_QUALITY = 85

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageInfo:
    content_type: str
    width: int
    height: int


@dataclass(frozen=True)
class Previews:
    """What a grid shows of a stored image: a JPEG thumbnail fitting THUMBNAIL_SIZE, and a
    tiny WebP as a `data:` URL to show blurred until it loads (None if none fits)."""

    thumbnail: bytes
    blur_data_url: str | None


@dataclass(frozen=True)
class PreparedImage:
    """An image as we store it, with its previews, all made from one decode."""

    data: bytes
    content_type: str
    width: int
    height: int
    previews: Previews


def validate_image(
    data: bytes, *, label: str = "The file", max_bytes: int | None = None
) -> ImageInfo:
    """Decode `data`; raise InvalidImageError with a message for the user.

    The declared type and the extension are ignored: only what decodes counts. The size is
    the one as stored in the file, before any EXIF orientation.
    """
    im, fmt, stored_size = _decode(
        data, label=label, max_bytes=max_bytes, max_side=DISPLAY_MAX_SIDE
    )
    im.close()
    return ImageInfo(ACCEPTED_FORMATS[fmt], *stored_size)


def prepare_for_storage(
    data: bytes,
    *,
    label: str = "The file",
    max_bytes: int | None = None,
    max_side: int | None = DISPLAY_MAX_SIDE,
) -> PreparedImage:
    """Decode `data` once and make from it the file to store and its previews.

    The EXIF orientation is applied to the pixels (a HEIC's rotation and mirroring are applied
    by libheif); an embedded colour profile is applied (converted to sRGB); then everything
    else goes: EXIF (GPS included), XMP, comments, ICC profiles, PNG text chunks, a JPEG's
    second (MPO) picture, any bytes appended after the image, and frames after the first.
    The longest side is brought down to `max_side` (None: kept). Same family of format:
    JPEG (and MPO) and HEIC -> JPEG, PNG -> PNG (alpha kept), WebP -> WebP (alpha kept).
    Raises InvalidImageError (no byte limit unless `max_bytes` is given; the pixel limit
    always applies).
    """
    source, fmt, _ = _decode(data, label=label, max_bytes=max_bytes, max_side=max_side)
    with source:
        turn = _orientation(source, fmt)
        im = _in_srgb(source, source.info.get("icc_profile"))
        content_type = _STORED_AS.get(ACCEPTED_FORMATS[fmt], ACCEPTED_FORMATS[fmt])
        im = _for_format(im, content_type)
        if max_side is not None:
            im = _fit(im, max_side)
        if turn is not None:  # last: the fewest pixels to move
            im = im.transpose(turn)
        encoded = _encode(im, content_type)
        previews = _previews(im)
        width, height = im.size
    return PreparedImage(encoded, content_type, width, height, previews)


def make_previews(data: bytes) -> Previews:
    """The thumbnail and placeholder of an image we made ourselves (not checked as uploads
    are), from one decode: a JPEG decodes straight at a fraction of its size."""
    with PILImage.open(io.BytesIO(data)) as source:
        source.draft("RGB", (THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        source.load()
        turn = _orientation(source, source.format or "")
        return _previews(source if turn is None else source.transpose(turn))


# --------------------------------------------------------------------------- decoding


def _decode(
    data: bytes, *, label: str, max_bytes: int | None, max_side: int | None
) -> tuple[PILImage.Image, str, tuple[int, int]]:
    """The decoded image (the caller closes it), its format and its size as stored in the
    file; or InvalidImageError: empty, over `max_bytes`, not an accepted format, too many
    pixels, corrupt. A JPEG over `max_side` is decoded reduced (see DRAFT_MIN_SIDE)."""
    if not data:
        raise InvalidImageError(f"{label} is empty.")
    if max_bytes is not None and len(data) > max_bytes:
        mb, limit = len(data) / (1024 * 1024), max_bytes // (1024 * 1024)
        raise InvalidImageError(f"{label} is {mb:.1f} MB; the limit is {limit} MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            im = PILImage.open(io.BytesIO(data))
            try:
                fmt = im.format or ""
                stored_size = width, height = im.size
                if fmt not in ACCEPTED_FORMATS:
                    raise InvalidImageError(
                        f"{label} is a {fmt or 'unknown'} file; use {FORMAT_NAMES}."
                    )
                if width * height > MAX_PIXELS:
                    raise InvalidImageError(f"{label} has too many pixels ({width}×{height}).")
                if fmt in ("JPEG", "MPO") and max_side is not None:
                    _reduce_while_decoding(im, max_side)
                im.load()  # a truncated or corrupt body fails here, not later in a worker
            except BaseException:
                im.close()
                raise
    except InvalidImageError:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        RuntimeError,  # libheif's errors
        PILImage.DecompressionBombError,
        PILImage.DecompressionBombWarning,
    ):
        raise InvalidImageError(
            f"{label} is not an image we can read; use {FORMAT_NAMES}."
        ) from None
    return im, fmt, stored_size


def _reduce_while_decoding(im: PILImage.Image, max_side: int) -> None:
    """Have libjpeg decode at the strongest reduction (1/8, 1/4 or 1/2) that keeps the
    longest side at DRAFT_MIN_SIDE or more; none if the image fits `max_side`. Every
    coefficient is still read, so a corrupt or truncated file fails as at full scale."""
    longest = max(im.size)
    if longest <= max_side:
        return
    scale = next((s for s in (8, 4, 2) if -(-longest // s) >= DRAFT_MIN_SIDE), 1)
    if scale > 1:
        # draft picks the largest scale whose result still covers the size asked for.
        im.draft(None, (max(1, im.width // scale), max(1, im.height // scale)))


# --------------------------------------------------------------------------- pixels


_TURNS = {
    2: PILImage.Transpose.FLIP_LEFT_RIGHT,
    3: PILImage.Transpose.ROTATE_180,
    4: PILImage.Transpose.FLIP_TOP_BOTTOM,
    5: PILImage.Transpose.TRANSPOSE,
    6: PILImage.Transpose.ROTATE_270,
    7: PILImage.Transpose.TRANSVERSE,
    8: PILImage.Transpose.ROTATE_90,
}


def _orientation(im: PILImage.Image, fmt: str) -> PILImage.Transpose | None:
    """What turns the decoded pixels upright: the EXIF (or XMP) orientation."""
    if fmt == "HEIF":
        # libheif has applied the HEIF rotation and mirroring while decoding; the EXIF
        # orientation (phones write both) describes the same turn and must not be applied twice.
        return None
    try:
        return _TURNS.get(im.getexif().get(ExifTags.Base.Orientation, 1))
    except Exception:  # unreadable EXIF: keep the pixels as stored rather than refuse a photo
        log.warning("ignoring an unreadable EXIF orientation", exc_info=True)
        return None


_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _in_srgb(im: PILImage.Image, icc: object) -> PILImage.Image:
    """Pixels converted from an embedded colour profile to sRGB (the profile is then dropped,
    and browsers assume sRGB). A profile that cannot be applied is just dropped."""
    if not isinstance(icc, bytes) or not icc or im.mode not in ("RGB", "RGBA", "CMYK"):
        return im
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(
            im, profile, _SRGB, outputMode="RGBA" if im.mode == "RGBA" else "RGB"
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        log.info("dropping a colour profile that cannot be applied")
        return im
    return converted if converted is not None else im


_KEPT_PNG_MODES = ("1", "L", "LA", "I", "I;16", "RGB", "RGBA")


def _for_format(im: PILImage.Image, content_type: str) -> PILImage.Image:
    """A mode the output format stores: JPEG gets L or RGB (on white where it was
    transparent); PNG and WebP keep alpha."""
    has_alpha = "A" in im.getbands() or "transparency" in im.info
    if content_type == "image/jpeg":
        if im.mode in ("L", "RGB"):
            return im
        return _on_white(im) if has_alpha else im.convert("RGB")
    if content_type == "image/png" and im.mode in _KEPT_PNG_MODES and "transparency" not in im.info:
        return im
    target = "RGBA" if has_alpha else "RGB"
    return im if im.mode == target else im.convert(target)


def _on_white(im: PILImage.Image) -> PILImage.Image:
    rgba = im.convert("RGBA")
    flat = PILImage.new("RGB", rgba.size, (255, 255, 255))
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return flat


def _fitting(size: tuple[int, int], side: int) -> tuple[int, int]:
    """`size` scaled down (never up) to fit in side×side."""
    width, height = size
    if width <= side and height <= side:
        return size
    if width >= height:
        return side, max(1, round(height * side / width))
    return max(1, round(width * side / height)), side


def _fit(im: PILImage.Image, side: int) -> PILImage.Image:
    """`im` with its longest side brought down to `side`: by averaging whole blocks where
    that keeps DRAFT_MIN_SIDE (4032 px -> 2016), else by a bicubic resize."""
    longest = max(im.size)
    if longest <= side:
        return im
    if im.mode == "1":  # resized without smoothing otherwise
        im = im.convert("L")
    factor = -(-longest // side)
    if -(-longest // factor) >= DRAFT_MIN_SIDE and im.mode != "I;16":
        return im.reduce(factor)  # a tenth of the time of the bicubic
    return im.resize(_fitting(im.size, side), PILImage.Resampling.BICUBIC, reducing_gap=2.0)


def _encode(im: PILImage.Image, content_type: str) -> bytes:
    out = io.BytesIO()
    im.info = {}  # JPEG comments and PNG ICC profiles are otherwise written from here
    if content_type == "image/jpeg":
        # No optimize=True: a second Huffman pass costs more than the whole thumbnail.
        im.save(out, "JPEG", quality=JPEG_QUALITY)
    elif content_type == "image/png":
        im.save(out, "PNG")
    else:
        im.save(out, "WEBP", quality=WEBP_QUALITY)
    return out.getvalue()


# --------------------------------------------------------------------------- previews


def _previews(im: PILImage.Image) -> Previews:
    thumb = _thumbnail_pixels(im, THUMBNAIL_SIZE)
    out = io.BytesIO()
    thumb.save(out, "JPEG", quality=THUMBNAIL_QUALITY)
    return Previews(out.getvalue(), _placeholder(thumb))


def _thumbnail_pixels(im: PILImage.Image, size: int) -> PILImage.Image:
    """`im` fitting in size×size, RGB, on white where it was transparent; no metadata."""
    if im.mode not in ("L", "LA", "RGB", "RGBA"):  # palettes, CMYK, 16-bit: resize in RGBA
        im = im.convert("RGBA")
    longest = max(im.size)
    factor = -(-longest // size)  # the smallest whole factor that fits
    if factor > 1 and longest / factor >= 0.9 * size:
        # Averaging factor x factor blocks is the cheapest good reduction; it lands within 10%
        # of the grid size (a 2016 px display gives a 504 px thumbnail).
        thumb = im.reduce(factor)
    else:
        # reducing_gap=1.0: a box reduction by the whole factor, then bicubic over the rest.
        thumb = im.resize(_fitting(im.size, size), PILImage.Resampling.BICUBIC, reducing_gap=1.0)
    thumb = _on_white(thumb) if thumb.mode in ("LA", "RGBA") else thumb.convert("RGB")
    thumb.info = {}
    return thumb


def _placeholder(thumb: PILImage.Image) -> str | None:
    """A WebP data URL of a few pixels (at most PLACEHOLDER_MAX_BYTES of image data)."""
    for side, quality in _PLACEHOLDER_ATTEMPTS:
        small = thumb.resize(_fitting(thumb.size, side), PILImage.Resampling.BOX)
        small.info = {}
        out = io.BytesIO()
        small.save(out, "WEBP", quality=quality)
        if len(webp := out.getvalue()) <= PLACEHOLDER_MAX_BYTES:
            return "data:image/webp;base64," + base64.b64encode(webp).decode("ascii")
    return None
