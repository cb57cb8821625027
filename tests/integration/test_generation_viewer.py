"""The gallery's viewer, through the services and the API: every variation with a readable
download name, the "before" of before/after is the product photo (never the scene), and
`Download all` gives the owner a zip of every variation, byte for byte — and nobody else
anything. SQLite and PostgreSQL."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image as PILImage
from PIL import ImageDraw
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from starlette.testclient import TestClient

from stylestudio import runtime
from stylestudio.adapters.storage import LocalStorage
from stylestudio.db import session_scope
from stylestudio.models import Image, ImageCategory
from stylestudio.services.accounts import accounts
from stylestudio.services.errors import NotFoundError
from stylestudio.services.generation.generation_viewer import get_generation_viewer
from stylestudio.services.generation.generation_views import get_generation_views
from stylestudio.services.library import generation_downloads
from stylestudio.settings import get_settings
from tests.support.builders import (
    batch_spec,
    new_batch,
    new_scene_upload,
    new_upload,
    new_user,
    run_all_jobs,
    set_balance,
)
from tests.support.oidc_provider import configured_api

BASE = "http://api.test"


def _transparent_png() -> bytes:
    """A product cut out on a transparent background (what a seller often uploads)."""
    im = PILImage.new("RGBA", (400, 400), (0, 0, 0, 0))
    ImageDraw.Draw(im).ellipse((100, 80, 300, 340), fill=(200, 30, 40, 255))
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


def _key(db: Engine, image_id: int) -> str:
    with session_scope(db, write=False) as session:
        image = session.get(Image, image_id)
        assert image is not None
        return image.storage_key


def _made_with_a_scene(db: Engine, storage: LocalStorage, user: int) -> tuple[int, int, int]:
    """A finished two-variation generation of a transparent product photo on a scene:
    (generation id, product image id, scene image id)."""
    set_balance(db, user, 10)
    product = new_upload(db, storage, user, data=_transparent_png())
    scene = new_scene_upload(db, storage, user)
    made = new_batch(
        db,
        user,
        batch_spec(
            (product,),
            styles=("fashion",),
            prompt="Red mug, on linen!",
            variations=2,
            model_image_id=scene,
        ),
        "viewer-batch",
    )
    run_all_jobs(db, storage)
    assert made[0].id is not None
    return made[0].id, product, scene


def _results(db: Engine, generation_id: int) -> list[str]:
    with session_scope(db, write=False) as session:
        return list(
            session.exec(
                select(Image.storage_key)
                .where(
                    Image.generation_id == generation_id,
                    Image.category == ImageCategory.GENERATED,
                )
                .order_by(col(Image.image_order))
            ).all()
        )


def test_the_viewer_shows_every_variation_and_compares_with_the_product_photo(
    db: Engine, storage: LocalStorage
) -> None:
    user = new_user(db)
    gid, product, scene = _made_with_a_scene(db, storage, user)
    assert storage.get(_key(db, product))[:8] == b"\x89PNG\r\n\x1a\n"  # alpha kept

    with session_scope(db, write=False) as session:
        viewer = get_generation_viewer(session, user_id=user, generation_id=gid, base_url=BASE)
        card = get_generation_views(session, user_id=user, generation_ids=[gid], base_url=BASE)[0]

    # Both variations, full size, in order, each with its own readable name.
    keys = _results(db, gid)
    assert len(keys) == 2 and len(viewer.images) == 2
    assert [urlsplit(i.url).path for i in viewer.images] == [f"/api/media/{k}" for k in keys]
    assert [i.file_name for i in viewer.images] == [
        f"fashion-red-mug-on-linen-{gid}-1.jpg",
        f"fashion-red-mug-on-linen-{gid}-2.jpg",
    ]
    for image in viewer.images:
        query = parse_qs(urlsplit(image.download_url).query)
        assert query["download"] == [image.file_name.removesuffix(".jpg")]
    assert [i.alt for i in viewer.images] == [
        "Fashion product shot: Red mug, on linen! (1 of 2)",
        "Fashion product shot: Red mug, on linen! (2 of 2)",
    ]
    assert (viewer.style, viewer.prompt, viewer.variations) == ("Fashion", "Red mug, on linen!", 2)
    assert [i.seed for i in viewer.images] == [4242, 4243]
    assert viewer.zip_url == f"{BASE}/api/generations/{gid}/download"

    # Before/after: the product photo, never the scene (the result is composed on it).
    assert urlsplit(viewer.before_url).path == f"/api/media/{_key(db, product)}"
    assert _key(db, scene) not in viewer.before_url
    assert urlsplit(card.product_url).path == f"/api/media/{_key(db, product)}"
    # The gallery card's `Download` names the file too (not `style-studio.jpg`).
    assert parse_qs(urlsplit(card.download_url).query)["download"] == [
        f"fashion-red-mug-on-linen-{gid}-1"
    ]


def test_another_users_generation_is_not_found_in_the_viewer(
    db: Engine, storage: LocalStorage
) -> None:
    owner = new_user(db)
    gid, _, _ = _made_with_a_scene(db, storage, owner)
    stranger = new_user(db, email="stranger@example.com")
    with session_scope(db, write=False) as session:
        for bad in (gid, 0, -1, 2**70, "1", None, [gid]):
            with pytest.raises(NotFoundError):
                get_generation_viewer(session, user_id=stranger, generation_id=bad, base_url=BASE)
            with pytest.raises(NotFoundError):
                generation_downloads.generation_zip(
                    session, user_id=stranger, generation_id=bad, storage=storage
                )


def test_download_names() -> None:
    stem = generation_downloads.download_stem
    assert stem(style="realistic", prompt="", generation_id=7, variation=1) == "realistic-7-1"
    assert (
        stem(
            style="fashion",
            prompt="  Crème brûlée — jar; 250 ml  ",
            generation_id=9,
            variation=None,
        )
        == "fashion-creme-brulee-jar-250-9"
    )
    long = stem(style="vintage", prompt="x" * 500, generation_id=12, variation=3)
    assert len(long) <= generation_downloads.MAX_STEM and long.endswith("-12-3")
    safe = generation_downloads.safe_stem
    assert safe("fashion-red-mug-12-1") == "fashion-red-mug-12-1"
    for hostile in ('a"; filename="evil.exe', "../../x", "A", "", "x" * 200, None, 1):
        assert safe(hostile) == "style-studio"


@pytest.fixture
def api(db: Engine, tmp_path: Path) -> Iterator[TestClient]:
    with configured_api(
        db.url.render_as_string(hide_password=False), STYLESTUDIO_DATA_DIR=str(tmp_path)
    ) as app:
        runtime.reset()
        try:
            with TestClient(app, base_url=BASE) as client:
                yield client
        finally:
            runtime.reset()


def _session_cookie(db: Engine, user_id: int) -> dict[str, str]:
    with session_scope(db) as session:
        return {"cookie": f"ss_session={accounts.start_session(session, user_id=user_id)}"}


def test_download_all_gives_the_owner_a_zip_of_every_variation(
    db: Engine, tmp_path: Path, api: TestClient
) -> None:
    storage = LocalStorage(get_settings().media_dir)
    assert storage.root == (tmp_path / "media").resolve()  # the API serves these files
    owner = new_user(db)
    gid, _, _ = _made_with_a_scene(db, storage, owner)
    originals = [storage.get(k) for k in _results(db, gid)]
    assert len(originals) == 2 and originals[0] != originals[1]
    path = f"/api/generations/{gid}/download"

    response = api.get(path, headers=_session_cookie(db, owner))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="fashion-red-mug-on-linen-{gid}.zip"'
    )
    assert response.headers["cache-control"] == "no-store"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.namelist() == [
        f"fashion-red-mug-on-linen-{gid}-1.jpg",
        f"fashion-red-mug-on-linen-{gid}-2.jpg",
    ]
    assert [archive.read(n) for n in archive.namelist()] == originals

    # Nobody else: not signed in, a stranger's session, a made-up or hostile id.
    assert (api.get(path)).status_code == 401
    stranger = _session_cookie(db, new_user(db, email="stranger@example.com"))
    refused = api.get(path, headers=stranger)
    assert refused.status_code == 404 and b"PK" not in refused.content
    for other in (str(gid + 1000), "0", "-1", str(2**70), "abc", "%C2%B2"):
        answer = api.get(f"/api/generations/{other}/download", headers=stranger)
        assert answer.status_code == 404, other
    ended = _session_cookie(db, owner)
    with session_scope(db) as session:
        accounts.end_session(session, token=ended["cookie"].split("=", 1)[1])
    assert (api.get(path, headers=ended)).status_code == 401

    # One image's `Download` is saved under its readable name.
    with session_scope(db, write=False) as session:
        viewer = get_generation_viewer(session, user_id=owner, generation_id=gid, base_url=BASE)
    one = api.get(viewer.images[1].download_url.removeprefix(BASE))
    assert one.status_code == 200 and one.content == originals[1]
    assert one.headers["content-disposition"] == (
        f'attachment; filename="fashion-red-mug-on-linen-{gid}-2.jpg"'
    )
