"""Collections and gallery filters through the services: the owner organises, the gallery
narrows by collection, status and style; another user can touch none of it. SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from stylestudio.adapters.storage import LocalStorage
from stylestudio.db import session_scope
from stylestudio.models import Collection, CollectionItem
from stylestudio.services.errors import NotFoundError, ValidationError
from stylestudio.services.generation import generation_views, generations
from stylestudio.services.generation.generation_views import GalleryFilter
from stylestudio.services.library import collections
from tests.support.builders import finished_result, new_user

BASE = "http://api.test"


def _ids(db: Engine, user_id: int, **filters: object) -> list[int]:
    with session_scope(db, write=False) as session:
        return [
            v.image_id
            for v in generation_views.list_user_generations(
                session,
                user_id=user_id,
                base_url=BASE,
                filters=GalleryFilter(**filters),  # type: ignore[arg-type]
            )
        ]


def _rows(db: Engine) -> tuple[int, int]:
    with session_scope(db, write=False) as session:
        return (
            session.exec(select(func.count()).select_from(Collection)).one(),
            session.exec(select(func.count()).select_from(CollectionItem)).one(),
        )


def test_organise_and_filter(db: Engine, storage: LocalStorage) -> None:
    owner, first = finished_result(db, storage, "a@example.com", "r1")
    _, second = finished_result(db, storage, "a@example.com", "r2")
    with session_scope(db) as session:
        bags = collections.create_collection(session, user_id=owner, name="  Bags ")
        shoes = collections.create_collection(session, user_id=owner, name="Shoes")
        assert collections.add_image(session, user_id=owner, collection_id=bags, image_id=first)
        assert not collections.add_image(session, user_id=owner, collection_id=bags, image_id=first)
        collections.add_image(session, user_id=owner, collection_id=shoes, image_id=second)
    with session_scope(db, write=False) as session:
        listed = collections.list_collections(session, user_id=owner)
        held = collections.collections_of_images(session, user_id=owner, image_ids=[first, second])
    assert [(c.name, c.count) for c in listed] == [("Bags", 1), ("Shoes", 1)]
    assert held == {first: [bags], second: [shoes]}
    # The gallery's cards come with their collections, a page or a few cards again.
    stranger = new_user(db, "c@example.com")
    with session_scope(db, write=False) as session:
        page = generation_views.gallery_page(session, user_id=owner, base_url=BASE)
        again = generation_views.gallery_cards(
            session, user_id=owner, generation_ids=[page[1].id], base_url=BASE
        )
        strangers = generation_views.gallery_cards(
            session, user_id=stranger, generation_ids=[page[0].id], base_url=BASE
        )
    assert [(v.image_id, v.in_collections) for v in page] == [(second, [shoes]), (first, [bags])]
    assert [(v.image_id, v.in_collections) for v in again] == [(first, [bags])]
    assert strangers == []
    assert _ids(db, owner, collection_id=bags) == [first]
    assert _ids(db, owner) == [second, first]
    assert _ids(db, owner, status="completed", style="realistic") == [second, first]
    assert _ids(db, owner, style="vintage") == []
    assert _ids(db, owner, status="failed") == []

    with session_scope(db) as session, pytest.raises(ValidationError, match="already"):
        collections.rename_collection(session, user_id=owner, collection_id=shoes, name="bags")
    with session_scope(db) as session:
        collections.rename_collection(session, user_id=owner, collection_id=shoes, name="Boots")
        collections.remove_image(session, user_id=owner, collection_id=bags, image_id=first)
        collections.delete_collection(session, user_id=owner, collection_id=shoes)
    with session_scope(db, write=False) as session:
        assert [
            (c.name, c.count) for c in collections.list_collections(session, user_id=owner)
        ] == [("Bags", 0)]
    assert _ids(db, owner) == [second, first]  # images stay in the gallery


def test_another_user_cannot_touch_collections(db: Engine, storage: LocalStorage) -> None:
    owner, image_id = finished_result(db, storage, "a@example.com")
    intruder = new_user(db, "b@example.com")
    with session_scope(db) as session:
        mine = collections.create_collection(session, user_id=owner, name="Mine")
        collections.add_image(session, user_id=owner, collection_id=mine, image_id=image_id)
        theirs = collections.create_collection(session, user_id=intruder, name="Theirs")
    before = _rows(db)
    attempts = [
        lambda s: collections.rename_collection(s, user_id=intruder, collection_id=mine, name="x"),
        lambda s: collections.delete_collection(s, user_id=intruder, collection_id=mine),
        lambda s: collections.add_image(
            s, user_id=intruder, collection_id=theirs, image_id=image_id
        ),
        lambda s: collections.remove_image(
            s, user_id=intruder, collection_id=mine, image_id=image_id
        ),
    ]
    for attempt in attempts:
        with session_scope(db) as session, pytest.raises(NotFoundError):
            attempt(session)
    assert _rows(db) == before
    assert _ids(db, intruder, collection_id=mine) == []
    assert _ids(db, intruder) == []
    with session_scope(db, write=False) as session:
        assert (
            collections.collections_of_images(session, user_id=intruder, image_ids=[image_id]) == {}
        )


def test_bad_names_and_ids(db: Engine, storage: LocalStorage) -> None:
    owner = new_user(db, "a@example.com")
    for bad in ("", "   ", "x" * 81, 12, None):
        with session_scope(db) as session, pytest.raises(ValidationError):
            collections.create_collection(session, user_id=owner, name=bad)
    for bad_id in (0, -1, 2**40, "1", True):
        with session_scope(db) as session, pytest.raises(NotFoundError):
            collections.delete_collection(session, user_id=owner, collection_id=bad_id)
    assert _rows(db) == (0, 0)


def test_delete_removes_the_card_and_its_files_but_not_the_spend(
    db: Engine, storage: LocalStorage
) -> None:
    from stylestudio.models import CreditLedgerEntry, Generation, Image, ShareLink
    from stylestudio.services.library import sharing

    owner, image_id = finished_result(db, storage, "a@example.com")
    intruder = new_user(db, "b@example.com")
    with session_scope(db) as session:
        image = session.get(Image, image_id)
        assert image is not None and image.generation_id is not None
        generation_id, files = image.generation_id, {image.storage_key, image.thumbnail_key}
        shelf = collections.create_collection(session, user_id=owner, name="Shelf")
        collections.add_image(session, user_id=owner, collection_id=shelf, image_id=image_id)
        sharing.create_share_link(session, user_id=owner, image_id=image_id, expires_in="never")
        ledger_before = session.exec(select(func.count()).select_from(CreditLedgerEntry)).one()
    with session_scope(db) as session, pytest.raises(NotFoundError):
        generations.delete_generation(session, user_id=intruder, generation_id=generation_id)
    assert all(storage.exists(k) for k in files if k)

    with session_scope(db) as session:
        keys = generations.delete_generation(session, user_id=owner, generation_id=generation_id)
    assert set(keys) == files
    with session_scope(db, write=False) as session:
        assert session.get(Generation, generation_id) is None
        assert session.get(Image, image_id) is None
        assert session.exec(select(func.count()).select_from(ShareLink)).one() == 0
        assert session.exec(select(func.count()).select_from(CollectionItem)).one() == 0
        assert session.exec(select(func.count()).select_from(CreditLedgerEntry)).one() == (
            ledger_before
        )
    assert _ids(db, owner) == []
