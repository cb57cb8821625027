"""One decode per upload: the stored display image, its thumbnail and its blur placeholder,
upright, at most 2048 px, without metadata, for JPEG, PNG, WebP and HEIC photos."""

from __future__ import annotations

import base64
import io
import os
import struct
import zipfile
from pathlib import Path

import httpx
import pytest
from PIL import Image as PILImage
from sqlalchemy.engine import Engine
from sqlmodel import func, select
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from stylestudio.adapters.storage import LocalStorage
from stylestudio.db import session_scope
from stylestudio.models import Image
from stylestudio.services.errors import InvalidImageError
from stylestudio.services.media import imaging
from stylestudio.state.upload_guard import UploadGuard
from tests.support.builders import new_user, uploaded_image

RED, WHITE = (255, 0, 0), (255, 255, 255)
GPS_LATITUDE = (48.0, 51.0, 29.5)
SECRETS = (b"SpyCam", b"SecretEditor", b"Exif\x00\x00")
UNREADABLE = "not an image we can read; use a JPEG, PNG, WebP or HEIC image"

# --------------------------------------------------------------------------- making photos


def _picture(size: tuple[int, int] = (60, 40), mode: str = "RGB") -> PILImage.Image:
    """White with a red top-left quarter (as stored, before any orientation)."""
    width, height = size
    im = PILImage.new("RGB", size, WHITE)
    im.paste(RED, (0, 0, width // 2, height // 2))
    return im.convert(mode)


def _exif(orientation: int | None = 6) -> bytes:
    exif = PILImage.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    exif[0x010F] = "SpyCam Maker"  # Make
    exif[0x0131] = "SecretEditor 1.0"  # Software
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", GPS_LATITUDE, "E", (2.0, 17.0, 40.0)
    return exif.tobytes()


def _encoded(im: PILImage.Image, fmt: str, *, orientation: int | None = 6) -> bytes:
    options: dict[str, dict[str, object]] = {
        "JPEG": {"quality": 95},
        "PNG": {},
        "WEBP": {"quality": 95},
        # pillow-heif writes the orientation as a HEIF rotation (irot) and keeps it in the
        # EXIF too, as phones do.
        "HEIF": {"quality": 90, "enc_params": {"preset": "ultrafast"}},
    }
    out = io.BytesIO()
    im.save(out, fmt, exif=_exif(orientation), **options[fmt])
    return out.getvalue()


def _exif_in_heic(data: bytes) -> PILImage.Exif:
    """The EXIF block inside a HEIC, read straight from its bytes (not through libheif)."""
    start = data.find(b"MM\x00*")
    assert start > 0
    exif = PILImage.Exif()
    exif.load(data[start:])
    return exif


# --------------------------------------------------------------------------- checking


def _store(db: Engine, storage: LocalStorage, data: bytes, filename: str = "x.jpg") -> Image:
    owner = new_user(db, "owner@example.com")
    return uploaded_image(db, storage, owner, data, filename=filename)


def _assert_no_metadata(data: bytes) -> PILImage.Image:
    decoded = PILImage.open(io.BytesIO(data))
    assert not decoded.getexif()
    assert not decoded.getexif().get_ifd(0x8825)  # GPS
    for name in ("exif", "xmp", "XML:com.adobe.xmp", "icc_profile", "comment", "mp"):
        assert name not in decoded.info, name
    for secret in SECRETS:
        assert secret not in data, secret
    return decoded


def _placeholder_bytes(data_url: str | None) -> bytes:
    assert data_url is not None and data_url.startswith("data:image/webp;base64,")
    webp = base64.b64decode(data_url.removeprefix("data:image/webp;base64,"), validate=True)
    assert len(webp) <= imaging.PLACEHOLDER_MAX_BYTES
    assert webp[:4] == b"RIFF" and webp[8:12] == b"WEBP"
    chunks, pos = set(), 12
    while pos + 8 <= len(webp):
        (length,) = struct.unpack("<I", webp[pos + 4 : pos + 8])
        chunks.add(webp[pos : pos + 4])
        pos += 8 + length + (length & 1)
    assert chunks <= {b"VP8 ", b"VP8L", b"VP8X", b"ALPH"}  # pixels only: no EXIF, XMP, ICCP
    return webp


def _close(pixel: object, expected: tuple[int, int, int], tolerance: int = 60) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(int(a) - b) <= tolerance for a, b in zip(pixel, expected, strict=False))


def _assert_red_quarter_top_right(im: PILImage.Image) -> None:
    """The picture turned 90° clockwise (orientation 6): its red quarter is now top right."""
    rgb = im.convert("RGB")
    width, height = rgb.size
    assert height > width
    assert _close(rgb.getpixel((width * 3 // 4, height // 8)), RED)
    assert _close(rgb.getpixel((width // 4, height // 8)), WHITE)
    assert _close(rgb.getpixel((width * 3 // 4, height * 7 // 8)), WHITE)


def _assert_red_quarter_top_left(im: PILImage.Image) -> None:
    rgb = im.convert("RGB")
    width, height = rgb.size
    assert _close(rgb.getpixel((width // 8, height // 8)), RED)
    assert _close(rgb.getpixel((width * 7 // 8, height // 8)), WHITE)
    assert _close(rgb.getpixel((width // 8, height * 7 // 8)), WHITE)


# --------------------------------------------------------------------------- metadata, orientation


@pytest.mark.parametrize(
    ("fmt", "stored_format"),
    [("JPEG", "JPEG"), ("PNG", "PNG"), ("WEBP", "WEBP"), ("HEIF", "JPEG")],
)
def test_no_exif_survives_and_the_photo_is_upright_in_all_three_files(
    sqlite_db: Engine, storage: LocalStorage, fmt: str, stored_format: str
) -> None:
    data = _encoded(_picture((120, 80)), fmt)
    assert b"SpyCam" in data
    with PILImage.open(io.BytesIO(data)) as original:
        assert original.format == fmt
        assert original.getexif().get_ifd(0x8825)[2] == GPS_LATITUDE

    image = _store(sqlite_db, storage, data, f"photo.{fmt.lower()}")

    stored = storage.get(image.storage_key)
    with _assert_no_metadata(stored) as display:
        assert display.format == stored_format
        assert display.size == (80, 120) == (image.width, image.height)
        _assert_red_quarter_top_right(display)
    assert image.thumbnail_key is not None
    with _assert_no_metadata(storage.get(image.thumbnail_key)) as thumb:
        assert thumb.format == "JPEG"
        _assert_red_quarter_top_right(thumb)
    webp = _placeholder_bytes(image.blur_data_url)
    with _assert_no_metadata(webp) as placeholder:
        assert placeholder.format == "WEBP" and max(placeholder.size) <= 16
        _assert_red_quarter_top_right(placeholder)


def test_a_heic_turned_by_its_container_and_its_exif_is_turned_once(
    sqlite_db: Engine, storage: LocalStorage
) -> None:
    data = _encoded(_picture((60, 40)), "HEIF", orientation=6)
    # Both say "turn 90° clockwise": the HEIF rotation box and the EXIF orientation.
    assert b"irot" in data
    assert _exif_in_heic(data)[0x0112] == 6

    image = _store(sqlite_db, storage, data, "IMG_0001.HEIC")

    assert image.content_type == "image/jpeg" and image.storage_key.endswith(".jpg")
    with PILImage.open(io.BytesIO(storage.get(image.storage_key))) as display:
        # Turned twice it would be 60x40 with the red quarter bottom right.
        assert display.size == (40, 60)
        _assert_red_quarter_top_right(display)


def test_a_heic_with_alpha_is_stored_as_a_jpeg_on_white(
    sqlite_db: Engine, storage: LocalStorage
) -> None:
    im = _picture((60, 40), "RGBA")
    im.paste((0, 0, 255, 0), (30, 20, 60, 40))  # a transparent blue bottom-right quarter
    image = _store(sqlite_db, storage, _encoded(im, "HEIF", orientation=None), "cutout.heic")
    with PILImage.open(io.BytesIO(storage.get(image.storage_key))) as display:
        assert display.format == "JPEG" and display.mode == "RGB"
        assert _close(display.getpixel((50, 35)), WHITE)
        _assert_red_quarter_top_left(display)


# --------------------------------------------------------------------------- sizes


def test_a_12_mp_phone_jpeg_is_stored_at_half_scale_upright(
    sqlite_db: Engine, storage: LocalStorage
) -> None:
    data = _encoded(_picture((4032, 3024)), "JPEG", orientation=6)

    image = _store(sqlite_db, storage, data)

    assert (image.width, image.height) == (1512, 2016)
    with _assert_no_metadata(storage.get(image.storage_key)) as display:
        assert display.size == (1512, 2016)
        _assert_red_quarter_top_right(display)
    assert image.thumbnail_key is not None
    with PILImage.open(io.BytesIO(storage.get(image.thumbnail_key))) as thumb:
        assert max(thumb.size) <= imaging.THUMBNAIL_SIZE and thumb.size[1] > thumb.size[0]
        _assert_red_quarter_top_right(thumb)
    _placeholder_bytes(image.blur_data_url)


@pytest.mark.parametrize(
    ("fmt", "size"),
    [("JPEG", (6000, 4000)), ("PNG", (4100, 300)), ("WEBP", (5000, 3000)), ("HEIF", (4032, 3024))],
)
def test_large_photos_are_stored_with_their_longest_side_at_most_2048(
    sqlite_db: Engine, storage: LocalStorage, fmt: str, size: tuple[int, int]
) -> None:
    image = _store(sqlite_db, storage, _encoded(_picture(size), fmt, orientation=None))

    with PILImage.open(io.BytesIO(storage.get(image.storage_key))) as display:
        assert display.size == (image.width, image.height)
        assert imaging.DRAFT_MIN_SIDE <= max(display.size) <= imaging.DISPLAY_MAX_SIDE
        assert abs(display.width / display.height - size[0] / size[1]) < 0.05
        _assert_red_quarter_top_left(display)


def test_a_large_mpo_keeps_its_first_picture_only_reduced(
    sqlite_db: Engine, storage: LocalStorage
) -> None:
    out = io.BytesIO()
    second = PILImage.new("RGB", (4032, 3024), (0, 255, 0))
    _picture((4032, 3024)).save(out, "MPO", save_all=True, append_images=[second], exif=_exif())
    image = _store(sqlite_db, storage, out.getvalue())
    stored = storage.get(image.storage_key)
    assert b"MPF\x00" not in stored
    with _assert_no_metadata(stored) as display:
        assert display.format == "JPEG" and getattr(display, "n_frames", 1) == 1
        assert display.size == (1512, 2016)
        _assert_red_quarter_top_right(display)


def test_a_12_mp_jpeg_with_a_zip_appended_is_stored_without_it(
    sqlite_db: Engine, storage: LocalStorage
) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("payload.html", "<script>alert(document.cookie)</script>")
    data = _encoded(_picture((4032, 3024)), "JPEG", orientation=None) + archive.getvalue()
    assert zipfile.is_zipfile(io.BytesIO(data))

    stored = storage.get(_store(sqlite_db, storage, data).storage_key)
    assert b"PK\x03\x04" not in stored and b"payload.html" not in stored
    assert stored.endswith(b"\xff\xd9")


# --------------------------------------------------------------------------- placeholders


def test_the_placeholder_of_pure_noise_still_fits_200_bytes() -> None:
    noise = PILImage.frombytes("RGB", (300, 200), os.urandom(300 * 200 * 3))
    out = io.BytesIO()
    noise.save(out, "PNG")
    prepared = imaging.prepare_for_storage(out.getvalue())
    with PILImage.open(io.BytesIO(_placeholder_bytes(prepared.previews.blur_data_url))) as im:
        im.load()
        assert im.size == (16, 11)


def test_a_transparent_png_keeps_its_alpha_and_previews_on_white() -> None:
    im = PILImage.new("RGBA", (400, 400), (0, 0, 255, 0))
    im.paste((255, 0, 0, 255), (0, 0, 200, 200))
    out = io.BytesIO()
    im.save(out, "PNG")
    prepared = imaging.prepare_for_storage(out.getvalue())
    with PILImage.open(io.BytesIO(prepared.data)) as display:
        assert display.mode == "RGBA" and display.getpixel((300, 300))[3] == 0  # type: ignore[index]
    with PILImage.open(io.BytesIO(prepared.previews.thumbnail)) as thumb:
        _assert_red_quarter_top_left(thumb)  # the transparent rest is white
    placeholder = _placeholder_bytes(prepared.previews.blur_data_url)
    with PILImage.open(io.BytesIO(placeholder)) as small:
        _assert_red_quarter_top_left(small)


# --------------------------------------------------------------------------- refusals


def _heic() -> bytes:
    return _encoded(_picture((600, 400)), "HEIF", orientation=None)


def _zeroed_heic_data() -> bytes:
    data = _heic()
    start = data.index(b"mdat") + 4
    return data[:start] + bytes(len(data) - start)


@pytest.mark.parametrize(
    "make",
    [
        lambda: _encoded(_picture((4032, 3024)), "JPEG")[:150_000],
        lambda: _encoded(_picture((600, 400)), "JPEG")[:1000],
        lambda: _heic()[: len(_heic()) // 2],
        _zeroed_heic_data,
        lambda: _heic()[:32],
    ],
    ids=["truncated-12mp-jpeg", "truncated-jpeg", "truncated-heic", "zeroed-heic", "heic-header"],
)
def test_corrupt_photos_are_refused_with_a_message_and_leave_nothing(
    sqlite_db: Engine, storage: LocalStorage, make: object
) -> None:
    assert callable(make)
    data = make()
    with pytest.raises(InvalidImageError, match=UNREADABLE) as info:
        _store(sqlite_db, storage, data)
    assert info.value.args[0].startswith("The product image is not an image we can read")
    assert not storage.root.exists() or not any(p.is_file() for p in storage.root.rglob("*"))
    with session_scope(sqlite_db, write=False) as session:
        assert session.exec(select(func.count()).select_from(Image)).one() == 0


def test_other_formats_are_refused_naming_heic_too() -> None:
    out = io.BytesIO()
    _picture().save(out, "GIF")
    with pytest.raises(InvalidImageError, match="is a GIF file; use a JPEG, PNG, WebP or HEIC"):
        imaging.prepare_for_storage(out.getvalue())


def test_validate_image_reports_a_heic_as_stored() -> None:
    info = imaging.validate_image(_encoded(_picture((60, 40)), "HEIF", orientation=None))
    assert (info.content_type, info.width, info.height) == ("image/heic", 60, 40)


# --------------------------------------------------------------------------- the upload guard


async def test_the_upload_guard_lets_heic_and_heif_uploads_through(tmp_path: Path) -> None:
    async def receive_upload(request: Request) -> JSONResponse:
        form = await request.form()
        try:
            files = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
            seen = [(f.content_type, len(await f.read())) for f in files]
        finally:
            await form.close()
        return JSONResponse(seen)

    async def signed_in(_client_token: str, _cookie: str | None) -> str | None:
        return "session-token"

    app = Starlette(routes=[Route("/_upload", receive_upload, methods=["POST"])])
    guard = UploadGuard(app, is_signed_in=signed_in, path="/_upload")
    heic = _heic()
    transport = httpx.ASGITransport(app=guard)
    async with httpx.AsyncClient(transport=transport, base_url="http://backend") as client:
        for name, content_type in (("IMG_0001.HEIC", "image/heic"), ("x.heif", "image/heif")):
            response = await client.post(
                "/_upload",
                files={"files": (name, heic, content_type)},
                headers={"Reflex-Client-Token": "tab-1"},
            )
            assert response.status_code == 200, response.text
            assert response.json() == [[content_type, len(heic)]]
