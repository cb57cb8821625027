"""Recent uploads: the studio's strip lists a user's own product and scene uploads of the
last 30 days, newest first; picking one checks ownership; removing one takes it off the
strip only — on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from PIL import Image as PILImage
from sqlalchemy.engine import Engine

from stylestudio.adapters.storage import LocalStorage
from stylestudio.db import session_scope
from stylestudio.models import Image, ImageCategory, utcnow
from stylestudio.services.billing import credits
from stylestudio.services.errors import NotFoundError
from stylestudio.services.generation import generations
from stylestudio.services.library import upload_library
from stylestudio.services.media import media
from tests.support.builders import new_user

BASE = "http://api.example.test"


def _jpeg(color: tuple[int, int, int] = (190, 30, 40)) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (120, 90), color).save(out, "JPEG")
    return out.getvalue()


def _upload(
    db: Engine,
    storage: LocalStorage,
    user_id: int,
    name: str,
    category: ImageCategory = ImageCategory.PRODUCT,
    *,
    age: timedelta = timedelta(0),
) -> int:
    with session_scope(db) as session:
        image = media.store_upload(
            session,
            storage=storage,
            user_id=user_id,
            data=_jpeg(),
            filename=name,
            category=category,
        )
        image.created_at = utcnow() - age
        session.add(image)
        session.flush()
        assert image.id is not None
        return image.id


def _recent(db: Engine, user_id: int) -> list[upload_library.RecentUpload]:
    with session_scope(db, write=False) as session:
        return upload_library.recent_uploads(session, user_id=user_id, base_url=BASE)


def _pick(db: Engine, user_id: int, image_id: object) -> upload_library.PickedUpload:
    with session_scope(db, write=False) as session:
        return upload_library.pick_upload(
            session, user_id=user_id, image_id=image_id, base_url=BASE
        )


def _remove(db: Engine, user_id: int, image_id: object) -> None:
    with session_scope(db) as session:
        upload_library.remove_from_recent(session, user_id=user_id, image_id=image_id)


def test_the_strip_lists_the_users_own_uploads_newest_first(
    db: Engine, storage: LocalStorage
) -> None:
    ann = new_user(db, "ann@example.com")
    bob = new_user(db, "bob@example.com")
    old = _upload(db, storage, ann, "old.jpg", age=timedelta(days=31))
    kettle = _upload(db, storage, ann, "kettle.jpg", age=timedelta(hours=2))
    scene = _upload(db, storage, ann, "kitchen.jpg", ImageCategory.MODEL, age=timedelta(hours=1))
    teapot = _upload(db, storage, ann, "teapot.jpg")
    _upload(db, storage, bob, "bobs.jpg")
    with session_scope(db) as session:  # a result and a profile picture are not uploads
        for category in (ImageCategory.GENERATED, ImageCategory.PROFILE):
            session.add(
                Image(
                    user_id=ann,
                    category=category,
                    content_type="image/jpeg",
                    size_bytes=1,
                    width=1,
                    height=1,
                    storage_key=f"{category.value}/{ann}/x.jpg",
                )
            )

    recent = _recent(db, ann)
    assert [(r.id, r.kind, r.name) for r in recent] == [
        (teapot, "product", "teapot.jpg"),
        (scene, "scene", "kitchen.jpg"),
        (kettle, "product", "kettle.jpg"),
    ]
    assert old not in {r.id for r in recent}  # older than RECENT_DAYS
    first = recent[0]
    assert first.url.startswith(f"{BASE}/api/media/") and ".thumb.jpg" in first.url
    assert first.placeholder.startswith("data:image/")
    assert first.uploaded_at.endswith("Z")
    assert [r.name for r in _recent(db, bob)] == ["bobs.jpg"]


def test_one_page_is_shown(db: Engine, storage: LocalStorage) -> None:
    ann = new_user(db, "ann@example.com")
    ids = [
        _upload(db, storage, ann, f"p{n}.jpg", age=timedelta(minutes=60 - n))
        for n in range(upload_library.RECENT_SHOWN + 2)
    ]
    recent = _recent(db, ann)
    assert len(recent) == upload_library.RECENT_SHOWN == 24
    assert [r.id for r in recent] == ids[::-1][: upload_library.RECENT_SHOWN]


def test_picking_puts_an_upload_back_as_what_it_was(db: Engine, storage: LocalStorage) -> None:
    ann = new_user(db, "ann@example.com")
    kettle = _upload(db, storage, ann, "kettle.jpg")
    scene = _upload(db, storage, ann, "kitchen.jpg", ImageCategory.MODEL)

    picked = _pick(db, ann, kettle)
    assert picked.kind == "product"
    assert picked.view.id == kettle and picked.view.name == "kettle.jpg"
    assert picked.view.url.startswith(f"{BASE}/api/media/")
    assert _pick(db, ann, scene).kind == "scene"


def test_another_users_or_a_made_up_upload_is_refused(db: Engine, storage: LocalStorage) -> None:
    ann = new_user(db, "ann@example.com")
    eve = new_user(db, "eve@example.com")
    kettle = _upload(db, storage, ann, "kettle.jpg")

    for image_id in (kettle, kettle + 1000, 0, -1, 2**70, True, "1", None, [kettle]):
        with pytest.raises(NotFoundError):
            _pick(db, eve, image_id)
        with pytest.raises(NotFoundError):
            _remove(db, eve, image_id)
    assert [r.id for r in _recent(db, ann)] == [kettle]  # Eve changed nothing
    with session_scope(db) as session:
        image = session.get(Image, kettle)
        assert image is not None
        image.is_disabled_by_admin = True
        session.add(image)
    with pytest.raises(NotFoundError):
        _pick(db, ann, kettle)
    assert _recent(db, ann) == []


def test_removing_takes_it_off_the_strip_but_it_still_generates(
    db: Engine, storage: LocalStorage
) -> None:
    ann = new_user(db, "ann@example.com")
    kettle = _upload(db, storage, ann, "kettle.jpg")
    teapot = _upload(db, storage, ann, "teapot.jpg")

    _remove(db, ann, kettle)
    _remove(db, ann, kettle)  # twice: no change, no error
    assert [r.id for r in _recent(db, ann)] == [teapot]
    assert storage.get(_key(db, kettle))  # the file stays
    # A studio that still holds it (another tab) can generate with it.
    assert _pick(db, ann, kettle).kind == "product"
    spec = generations.GenerationSpec(
        product_image_ids=(kettle,), styles=("realistic",), quality="standard", aspect_ratio="1:1"
    )
    with session_scope(db) as session:
        before = credits.balance(session, user_id=ann)
        made = generations.start_batch(session, user_id=ann, spec=spec, idempotency_key="k1")
        assert len(made) == 1
        assert credits.balance(session, user_id=ann) == before - made[0].credits_used


def _key(db: Engine, image_id: int) -> str:
    with session_scope(db, write=False) as session:
        image = session.get(Image, image_id)
        assert image is not None
        return image.storage_key
