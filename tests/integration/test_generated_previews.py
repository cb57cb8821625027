"""Generated outputs are stored like uploads: with a thumbnail and a blur placeholder made from
one decode, in the order the engine returned them."""

from __future__ import annotations

import base64
import io

from PIL import Image as PILImage
from PIL import ImageDraw
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from stylestudio.adapters.local_engine.engine import LocalEngine
from stylestudio.adapters.storage import LocalStorage
from stylestudio.db import session_scope
from stylestudio.models import Generation, GenerationStatus, Image, ImageCategory
from stylestudio.services.accounts import accounts
from stylestudio.services.generation import generations
from stylestudio.services.generation.generation_endings import store_and_complete
from stylestudio.services.generation.generation_work import Output, decode_output
from stylestudio.services.generation.generation_worker import run_next_generation_job
from stylestudio.services.media import imaging, media

PREFIX = "data:image/webp;base64,"


def _shot(colour: tuple[int, int, int], fmt: str = "JPEG", *, exif: bool = False) -> bytes:
    im = PILImage.new("RGB", (640, 480), (236, 234, 230))
    ImageDraw.Draw(im).rectangle((200, 100, 440, 420), fill=colour)
    out = io.BytesIO()
    if exif:
        tags = PILImage.Exif()
        tags[0x010F] = "SpyCam Maker"
        tags.get_ifd(0x8825)[2] = (48.0, 51.0, 29.5)
        im.save(out, fmt, exif=tags.tobytes())
    else:
        im.save(out, fmt)
    return out.getvalue()


def _pending_generation(db: Engine, storage: LocalStorage) -> tuple[int, int]:
    with session_scope(db) as session:
        user = accounts.sign_up(session, email="maker@example.com", password="correct horse")
        assert user.id is not None
        product = media.store_upload(
            session,
            storage=storage,
            user_id=user.id,
            data=_shot((190, 30, 40)),
            filename="shoe.jpg",
            category=ImageCategory.PRODUCT,
        )
        assert product.id is not None
        generation = generations.start_generation(
            session,
            user_id=user.id,
            product_image_id=product.id,
            model_image_id=None,
            prompt="on a marble table",
            style="realistic",
            quality="standard",
            aspect_ratio="1:1",
            idempotency_key="req-1",
        )
        assert generation.id is not None
        return user.id, generation.id


def _placeholder_pixels(data_url: str | None) -> PILImage.Image:
    assert data_url is not None and data_url.startswith(PREFIX)
    webp = base64.b64decode(data_url.removeprefix(PREFIX), validate=True)
    assert len(webp) <= imaging.PLACEHOLDER_MAX_BYTES
    im = PILImage.open(io.BytesIO(webp))
    assert im.format == "WEBP" and max(im.size) <= 16 and not im.getexif()
    return im.convert("RGB")


def _results(db: Engine, generation_id: int) -> list[Image]:
    with session_scope(db, write=False) as session:
        rows = session.exec(
            select(Image)
            .where(Image.generation_id == generation_id)
            .order_by(col(Image.image_order))
        ).all()
        for row in rows:
            session.expunge(row)
        return list(rows)


def test_a_provider_output_gets_its_previews_from_the_decode_that_cleans_it() -> None:
    output = decode_output(_shot((20, 40, 200), exif=True), "image/jpeg")
    assert output.previews is not None
    assert b"SpyCam" not in output.data and b"SpyCam" not in output.previews.thumbnail
    with PILImage.open(io.BytesIO(output.previews.thumbnail)) as thumb:
        assert thumb.size == (512, 384) and not thumb.getexif()
    blue = _placeholder_pixels(output.previews.blur_data_url).getpixel((8, 6))
    assert isinstance(blue, tuple) and blue[2] > 150 > blue[0]  # the box's colour shows


def test_stored_outputs_carry_a_placeholder_and_their_order(
    db: Engine, storage: LocalStorage
) -> None:
    user_id, generation_id = _pending_generation(db, storage)
    decoded = decode_output(_shot((20, 40, 200), "PNG"), "image/png")  # previews made here
    local_jpeg = _shot((30, 160, 40))  # an engine's own output: previews made on storing
    outputs = [decoded, Output(local_jpeg, "image/jpeg", 640, 480)]

    assert store_and_complete(
        db=db,
        storage=storage,
        generation_id=generation_id,
        user_id=user_id,
        outputs=outputs,
        elapsed_ms=5,
        engine_name="local",
    )

    first, second = _results(db, generation_id)
    assert (first.image_order, second.image_order) == (0, 1)
    assert (first.is_primary, second.is_primary) == (True, False)
    assert (first.content_type, second.content_type) == ("image/png", "image/jpeg")
    colours = []
    for row in (first, second):
        assert row.thumbnail_key is not None
        with PILImage.open(io.BytesIO(storage.get(row.thumbnail_key))) as thumb:
            assert thumb.format == "JPEG" and thumb.size == (512, 384)
        pixel = _placeholder_pixels(row.blur_data_url).getpixel((8, 6))
        assert isinstance(pixel, tuple)
        colours.append(pixel)
    assert colours[0][2] > 150 > colours[0][1]  # blue box: the first output's placeholder
    assert colours[1][1] > 120 > colours[1][2]  # green box: the second's


def test_the_local_engine_result_is_stored_with_a_placeholder(
    db: Engine, storage: LocalStorage
) -> None:
    _, generation_id = _pending_generation(db, storage)

    assert run_next_generation_job(db=db, storage=storage, engine=LocalEngine(), worker_id="w1")

    with session_scope(db, write=False) as session:
        generation = session.get(Generation, generation_id)
        assert generation is not None and generation.status == GenerationStatus.COMPLETED
    [result, *_] = _results(db, generation_id)
    assert result.image_order == 0
    _placeholder_pixels(result.blur_data_url)
    assert result.thumbnail_key is not None and storage.exists(result.thumbnail_key)
