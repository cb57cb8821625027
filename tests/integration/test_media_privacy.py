"""Private media: uploads and provider outputs are stored re-encoded without metadata, and
/api/media serves nothing without a valid signed URL."""

from __future__ import annotations

import io
import struct
import time
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image as PILImage
from PIL import ImageCms, PngImagePlugin
from sqlalchemy.engine import Engine

from stylestudio import runtime
from stylestudio.adapters.generation_engine import GenerationEngineError
from stylestudio.adapters.storage import LocalStorage
from stylestudio.api.routes import build_api
from stylestudio.models import Image
from stylestudio.services.generation.generation_work import BAD_OUTPUT, decode_output
from stylestudio.services.media import imaging, media
from stylestudio.settings import get_settings
from tests.support.builders import new_user, uploaded_image

RED, WHITE = (255, 0, 0), (255, 255, 255)
GPS_LATITUDE = (48.0, 51.0, 29.5)
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b"<rdf:Description>secret-xmp-owner</rdf:Description></rdf:RDF></x:xmpmeta>"
)
SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()

# --------------------------------------------------------------------------- helpers


def _picture(mode: str = "RGB", size: tuple[int, int] = (60, 40)) -> PILImage.Image:
    """White, with a red 10×10 block in the top-left corner (as stored, before orientation)."""
    im = PILImage.new("RGB", size, WHITE)
    im.paste(RED, (0, 0, 10, 10))
    return im.convert(mode)


def _exif(orientation: int | None = 6) -> PILImage.Exif:
    exif = PILImage.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    exif[0x010F] = "SpyCam Maker"  # Make
    exif[0x0131] = "SecretEditor 1.0"  # Software
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", GPS_LATITUDE, "E", (2.0, 17.0, 40.0)
    return exif


def _jpeg_with_metadata(orientation: int | None = 6, *, icc: bool = True) -> bytes:
    out = io.BytesIO()
    _picture().save(
        out,
        "JPEG",
        quality=95,
        exif=_exif(orientation),
        comment=b"secret-jpeg-comment",
        xmp=XMP,
        icc_profile=SRGB_ICC if icc else None,
        dpi=(300, 300),
    )
    return out.getvalue()


def _store(db: Engine, storage: LocalStorage, data: bytes, filename: str = "x.jpg") -> Image:
    owner = new_user(db, "owner@example.com")
    return uploaded_image(db, storage, owner, data, filename=filename)


def _assert_describes(image: Image, stored: bytes) -> PILImage.Image:
    assert image.size_bytes == len(stored)
    decoded = PILImage.open(io.BytesIO(stored))
    assert (image.width, image.height) == decoded.size
    assert imaging.ACCEPTED_FORMATS[decoded.format or ""] == image.content_type
    assert image.storage_key.endswith("." + media.EXTENSIONS[image.content_type])
    return decoded


def _assert_no_metadata(decoded: PILImage.Image, stored: bytes) -> None:
    assert not decoded.getexif()
    for name in ("exif", "comment", "xmp", "XML:com.adobe.xmp", "icc_profile", "dpi", "mp"):
        assert name not in decoded.info, name
    for secret in (
        b"Exif\x00\x00",
        b"SpyCam",
        b"SecretEditor",
        b"secret-jpeg-comment",
        b"secret-xmp-owner",
        b"http://ns.adobe.com",
        b"ICC_PROFILE",
        b"MPF\x00",
    ):
        assert secret not in stored, secret


def _png_chunks(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunks.append(data[pos + 4 : pos + 8])
        pos += 12 + length
    return chunks


def _riff_chunks(data: bytes) -> list[bytes]:
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    chunks, pos = [], 12
    while pos + 8 <= len(data):
        fourcc = data[pos : pos + 4]
        (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        chunks.append(fourcc)
        pos += 8 + length + (length & 1)
    return chunks


# --------------------------------------------------------------------------- uploads


def test_a_phone_jpeg_is_stored_upright_without_exif_gps_or_any_metadata(
    sqlite_db: Engine, storage: LocalStorage
) -> None:
    data = _jpeg_with_metadata(orientation=6)
    with PILImage.open(io.BytesIO(data)) as original:  # what the phone sent
        assert original.getexif()[0x0112] == 6
        assert original.getexif().get_ifd(0x8825)[2] == GPS_LATITUDE
        assert original.size == (60, 40)

    image = _store(sqlite_db, storage, data)
    stored = storage.get(image.storage_key)
    with _assert_describes(image, stored) as decoded:
        assert decoded.format == "JPEG" and image.content_type == "image/jpeg"
        _assert_no_metadata(decoded, stored)
        assert not decoded.getexif().get_ifd(0x8825)
        # Orientation 6 = rotate 90° clockwise to display: 60x40 becomes 40x60 and the red
        # top-left corner becomes the top-right one.
        assert decoded.size == (40, 60) == (image.width, image.height)
        rgb = decoded.convert("RGB")
        assert _close(rgb.getpixel((37, 2)), RED)
        assert _close(rgb.getpixel((2, 2)), WHITE)
        assert _close(rgb.getpixel((2, 57)), WHITE)

    assert image.thumbnail_key is not None
    thumb_bytes = storage.get(image.thumbnail_key)
    with PILImage.open(io.BytesIO(thumb_bytes)) as thumb:
        assert thumb.format == "JPEG"
        _assert_no_metadata(thumb, thumb_bytes)
        assert thumb.size == (40, 60)
        assert _close(thumb.convert("RGB").getpixel((37, 2)), RED)


def _close(pixel: object, expected: tuple[int, int, int], tolerance: int = 40) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(int(a) - b) <= tolerance for a, b in zip(pixel, expected, strict=False))


@pytest.mark.parametrize("orientation", [None, 1, 3, 8])
def test_a_jpeg_without_a_colour_profile_loses_its_metadata_too(
    sqlite_db: Engine, storage: LocalStorage, orientation: int | None
) -> None:
    image = _store(sqlite_db, storage, _jpeg_with_metadata(orientation, icc=False))
    stored = storage.get(image.storage_key)
    with _assert_describes(image, stored) as decoded:
        _assert_no_metadata(decoded, stored)
        assert decoded.size == ((40, 60) if orientation == 8 else (60, 40))
        red_corner = {None: (2, 2), 1: (2, 2), 3: (57, 37), 8: (2, 57)}[orientation]
        assert _close(decoded.convert("RGB").getpixel(red_corner), RED)


def test_a_png_loses_its_text_chunks_icc_profile_and_exif_and_keeps_its_alpha(
    sqlite_db: Engine, storage: LocalStorage
) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "secret-png-author")
    info.add_text("Comment", "secret-png-comment", zip=True)  # zTXt
    info.add_itxt("Description", "secret-png-itxt")
    im = _picture("RGBA")
    im.putpixel((59, 39), (0, 0, 255, 0))  # a transparent corner
    out = io.BytesIO()
    im.save(out, "PNG", pnginfo=info, icc_profile=SRGB_ICC, exif=_exif(None), dpi=(300, 300))
    data = out.getvalue()
    assert {b"tEXt", b"zTXt", b"iTXt", b"iCCP", b"eXIf"} <= set(_png_chunks(data))

    image = _store(sqlite_db, storage, data, "logo.png")
    stored = storage.get(image.storage_key)
    assert set(_png_chunks(stored)) <= {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"}
    for secret in (b"secret-png", b"SpyCam"):
        assert secret not in stored
    with _assert_describes(image, stored) as decoded:
        assert decoded.format == "PNG" and image.content_type == "image/png"
        _assert_no_metadata(decoded, stored)
        assert decoded.mode == "RGBA" and decoded.size == (60, 40)
        assert decoded.getpixel((59, 39))[3] == 0  # type: ignore[index]
        assert decoded.getpixel((0, 0)) == (*RED, 255)


def test_a_webp_loses_its_exif_xmp_and_icc_profile(
    sqlite_db: Engine, storage: LocalStorage
) -> None:
    out = io.BytesIO()
    _picture().save(out, "WEBP", quality=95, exif=_exif(6), xmp=XMP, icc_profile=SRGB_ICC)
    data = out.getvalue()
    assert {b"EXIF", b"XMP ", b"ICCP"} <= set(_riff_chunks(data))

    image = _store(sqlite_db, storage, data, "shot.webp")
    stored = storage.get(image.storage_key)
    assert not {b"EXIF", b"XMP ", b"ICCP"} & set(_riff_chunks(stored))
    with _assert_describes(image, stored) as decoded:
        assert decoded.format == "WEBP" and image.content_type == "image/webp"
        _assert_no_metadata(decoded, stored)
        assert decoded.size == (40, 60)  # the orientation was applied
        assert _close(decoded.convert("RGB").getpixel((37, 2)), RED)


def test_a_jpeg_with_a_zip_appended_is_stored_as_the_jpeg_alone(
    sqlite_db: Engine, storage: LocalStorage
) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("payload.html", "<script>alert(document.cookie)</script>")
    data = _jpeg_with_metadata(orientation=None) + archive.getvalue()
    assert zipfile.is_zipfile(io.BytesIO(data))  # a valid JPEG and a valid ZIP at once

    image = _store(sqlite_db, storage, data)
    stored = storage.get(image.storage_key)
    assert b"PK\x03\x04" not in stored and b"payload.html" not in stored
    assert not zipfile.is_zipfile(io.BytesIO(stored))
    assert stored.endswith(b"\xff\xd9")  # nothing after the JPEG's end-of-image marker
    with _assert_describes(image, stored) as decoded:
        assert decoded.format == "JPEG"
        _assert_no_metadata(decoded, stored)


def test_a_phone_mpo_is_stored_as_a_plain_jpeg_of_its_first_picture(
    sqlite_db: Engine, storage: LocalStorage
) -> None:
    out = io.BytesIO()
    second = PILImage.new("RGB", (30, 20), (0, 255, 0))
    _picture().save(out, "MPO", save_all=True, append_images=[second], exif=_exif(None))
    data = out.getvalue()
    with PILImage.open(io.BytesIO(data)) as original:
        assert original.format == "MPO" and getattr(original, "n_frames", 1) == 2

    image = _store(sqlite_db, storage, data)
    stored = storage.get(image.storage_key)
    assert image.content_type == "image/jpeg" and image.storage_key.endswith(".jpg")
    with _assert_describes(image, stored) as decoded:
        assert decoded.format == "JPEG"
        assert getattr(decoded, "n_frames", 1) == 1
        _assert_no_metadata(decoded, stored)
        assert decoded.size == (60, 40)
        assert _close(decoded.convert("RGB").getpixel((2, 2)), RED)


@pytest.mark.parametrize(
    ("mode", "fmt", "stored_mode"),
    [
        ("CMYK", "JPEG", "RGB"),
        ("L", "JPEG", "L"),
        ("P", "PNG", "RGB"),
        ("LA", "PNG", "LA"),
        ("L", "PNG", "L"),
        ("RGBA", "WEBP", "RGBA"),
    ],
)
def test_modes_are_converted_only_where_the_format_needs_it(
    sqlite_db: Engine, storage: LocalStorage, mode: str, fmt: str, stored_mode: str
) -> None:
    picture = _picture(mode)
    if "A" in mode:
        picture.putpixel((59, 39), (0,) * len(mode))  # a transparent corner
    out = io.BytesIO()
    picture.save(out, fmt)
    image = _store(sqlite_db, storage, out.getvalue(), f"x.{fmt.lower()}")
    stored = storage.get(image.storage_key)
    with _assert_describes(image, stored) as decoded:
        assert decoded.format == fmt
        assert decoded.mode == stored_mode
        grey = mode.startswith("L")
        assert _close(decoded.convert("RGB").getpixel((2, 2)), (76,) * 3 if grey else RED)
        if "A" in mode:
            assert decoded.getpixel((59, 39))[-1] == 0  # type: ignore[index]


def test_a_palette_png_with_transparency_keeps_it(sqlite_db: Engine, storage: LocalStorage) -> None:
    im = _picture().convert("P")
    out = io.BytesIO()
    im.save(out, "PNG", transparency=im.getpixel((0, 0)))  # the red block is transparent
    image = _store(sqlite_db, storage, out.getvalue(), "x.png")
    with PILImage.open(io.BytesIO(storage.get(image.storage_key))) as decoded:
        assert decoded.mode == "RGBA"
        assert decoded.getpixel((2, 2))[3] == 0  # type: ignore[index]
        assert decoded.getpixel((30, 30)) == (*WHITE, 255)


def test_an_unusable_colour_profile_is_dropped_not_refused(
    sqlite_db: Engine, storage: LocalStorage
) -> None:
    out = io.BytesIO()
    _picture().save(out, "JPEG", icc_profile=b"not really an ICC profile")
    image = _store(sqlite_db, storage, out.getvalue())
    stored = storage.get(image.storage_key)
    with _assert_describes(image, stored) as decoded:
        _assert_no_metadata(decoded, stored)
        assert b"not really" not in stored


def test_make_previews_writes_no_metadata() -> None:
    thumb = imaging.make_previews(_jpeg_with_metadata(orientation=6)).thumbnail
    with PILImage.open(io.BytesIO(thumb)) as decoded:
        _assert_no_metadata(decoded, thumb)
        assert decoded.size == (40, 60)


def test_prepare_for_storage_reports_what_it_made() -> None:
    clean = imaging.prepare_for_storage(_jpeg_with_metadata())
    assert (clean.content_type, clean.width, clean.height) == ("image/jpeg", 40, 60)
    with PILImage.open(io.BytesIO(clean.data)) as decoded:
        _assert_no_metadata(decoded, clean.data)
        assert decoded.size == (clean.width, clean.height)


def test_rejections_keep_their_messages() -> None:
    from stylestudio.services.errors import InvalidImageError

    with pytest.raises(InvalidImageError, match="The file is not an image we can read"):
        imaging.prepare_for_storage(b"%PDF-1.4 nope")
    with pytest.raises(InvalidImageError, match="is empty"):
        imaging.validate_image(b"", label="The file")
    info = imaging.validate_image(_jpeg_with_metadata())
    assert (info.content_type, info.width, info.height) == ("image/jpeg", 60, 40)


# --------------------------------------------------------------------------- provider outputs


def test_provider_outputs_are_re_encoded_without_metadata() -> None:
    output = decode_output(_jpeg_with_metadata(orientation=6), "image/jpeg")
    assert (output.content_type, output.width, output.height) == ("image/jpeg", 40, 60)
    with PILImage.open(io.BytesIO(output.data)) as decoded:
        _assert_no_metadata(decoded, output.data)
        assert decoded.size == (40, 60)


@pytest.mark.parametrize("data", [b"", b"<html>not an image</html>", b"GIF89a" + b"\0" * 20])
def test_provider_outputs_that_are_not_images_still_fail(data: bytes) -> None:
    with pytest.raises(GenerationEngineError) as info:
        decode_output(data, "image/png")
    assert info.value.message == BAD_OUTPUT


# --------------------------------------------------------------------------- the media route

KEY = "product/7/0123456789abcdef0123456789abcdef.jpg"
MEDIA_DAY = 24 * 3600


@pytest.fixture
def media_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStorage]:
    monkeypatch.setenv("STYLESTUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STYLESTUDIO_SECRET_KEY", "route-test-secret-" + "z" * 32)
    get_settings.cache_clear()
    runtime.reset()
    try:
        storage = LocalStorage(get_settings().media_dir)
        storage.put(KEY, _jpeg_with_metadata(orientation=None), content_type="image/jpeg")
        # Next to the media folder, never to be served.
        (tmp_path / "data" / "secret.txt").write_text("database password")
        yield storage
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        runtime.reset()


@pytest.fixture
async def client(media_dir: LocalStorage) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_api())
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
        yield c


def _path(url: str) -> str:
    return url.removeprefix("http://api")


async def test_a_signed_url_serves_the_file(
    client: httpx.AsyncClient, media_dir: LocalStorage
) -> None:
    response = await client.get(_path(media.media_url(KEY, base_url="http://api")))
    assert response.status_code == 200
    assert response.content == media_dir.get(KEY)
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == "private, max-age=600"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_no_signature_no_file(client: httpx.AsyncClient) -> None:
    for path in (f"/api/media/{KEY}", f"/api/media/{KEY}?sig=", f"/api/media/{KEY}?other=1"):
        response = await client.get(path)
        assert response.status_code == 403, path
        assert response.content == b""


async def test_a_tampered_signature_is_refused(client: httpx.AsyncClient) -> None:
    sig = media.sign_media_key(KEY)
    head, mac = sig.rsplit(".", 1)
    tampered = f"{head}.{'B' if mac[0] == 'A' else 'A'}{mac[1:]}"
    assert (await client.get(f"/api/media/{KEY}?sig={tampered}")).status_code == 403
    longer = f"{MEDIA_DAY}.{sig.split('.', 1)[1]}"  # a longer lifetime than was signed
    assert (await client.get(f"/api/media/{KEY}?sig={longer}")).status_code == 403


async def test_a_signature_for_another_key_is_refused(
    client: httpx.AsyncClient, media_dir: LocalStorage
) -> None:
    other = "product/8/fedcba9876543210fedcba9876543210.jpg"
    media_dir.put(other, b"someone else's", content_type="image/jpeg")
    sig = media.sign_media_key(other)
    assert (await client.get(f"/api/media/{other}?sig={sig}")).status_code == 200
    assert (await client.get(f"/api/media/{KEY}?sig={sig}")).status_code == 403


async def test_an_expired_url_is_refused(client: httpx.AsyncClient) -> None:
    issued = time.time() - media.MEDIA_URL_LIFETIME_S - 2 * media.MEDIA_URL_BUCKET_S
    expired = media.media_url(KEY, base_url="http://api", now=issued)
    assert (await client.get(_path(expired))).status_code == 403
    recent = media.media_url(KEY, base_url="http://api", now=time.time() - 3000)
    assert (await client.get(_path(recent))).status_code == 200


async def test_a_valid_signature_for_a_missing_file_is_404(client: httpx.AsyncClient) -> None:
    missing = "product/7/ffffffffffffffffffffffffffffffff.jpg"
    assert (
        await client.get(_path(media.media_url(missing, base_url="http://api")))
    ).status_code == 404


@pytest.mark.parametrize(
    "key", ["../secret.txt", "product/../../secret.txt", "/etc/passwd", "..", "."]
)
async def test_path_traversal_is_never_served(client: httpx.AsyncClient, key: str) -> None:
    from urllib.parse import quote

    # Percent-encoded so that the client does not resolve the dots: the route gets `key`.
    raw = "/api/media/" + quote(key, safe="").replace(".", "%2E")
    assert (await client.get(raw)).status_code == 403
    # Even signed (only the app can), a key outside the media folder is not a file.
    signed = await client.get(f"{raw}?sig={media.sign_media_key(key)}")
    assert signed.status_code == 404
    assert b"database password" not in signed.content
