"""Featuring and moderation through the services: owners ask and withdraw, admins approve,
reject (with a reason) and take down, publishing can be suspended; every decision is in the
audit log; another user can do none of it and changes nothing. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from stylestudio.adapters.storage import LocalStorage
from stylestudio.db import session_scope
from stylestudio.models import AuditLogEntry, Image, ModerationStatus
from stylestudio.services.admin import admin
from stylestudio.services.errors import DomainError, ForbiddenError, NotFoundError
from stylestudio.services.generation import generation_views
from stylestudio.services.moderation import featuring, showcase
from tests.support.admins import admin_proof, make_admin
from tests.support.builders import finished_result, new_user

BASE = "http://api.test"


def _image(db: Engine, image_id: int) -> Image:
    with session_scope(db, write=False) as session:
        image = session.get(Image, image_id)
        assert image is not None
        return image


def _explore_ids(db: Engine) -> list[int]:
    with session_scope(db, write=False) as session:
        return [i.id for i in showcase.list_public_gallery(session, base_url=BASE)]


def _audit(db: Engine) -> list[str]:
    with session_scope(db, write=False) as session:
        return [
            e.action
            for e in session.exec(select(AuditLogEntry).order_by(col(AuditLogEntry.id))).all()
        ]


def test_request_approve_explore_reject_withdraw(db: Engine, storage: LocalStorage) -> None:
    owner, first = finished_result(db, storage, "a@example.com", "r1")
    _, second = finished_result(db, storage, "a@example.com", "r2")
    admin_id = make_admin(db, "mod@example.com")

    with session_scope(db) as session:
        featuring.request_featuring(session, user_id=owner, image_id=first, title="  Red  bag ")
        featuring.request_featuring(session, user_id=owner, image_id=second)
    with session_scope(db, write=False) as session:
        queue = featuring.moderation_queue(session, admin=admin_proof(session), base_url=BASE)
    assert [q.id for q in queue] == [first, second]
    assert queue[0].title == "Red bag" and queue[0].owner == "a@example.com"
    assert queue[0].prompt == "on a marble table" and queue[0].owner_generations == 2
    assert _explore_ids(db) == []

    with session_scope(db) as session:
        featuring.approve(session, admin=admin_proof(session, admin_id), image_id=first)
    assert _explore_ids(db) == [first]
    with session_scope(db, write=False) as session:
        shown = showcase.get_public_image(session, image_id=first, base_url=BASE)
    assert shown.title == "Red bag" and shown.style and shown.prompt == "on a marble table"

    with session_scope(db) as session, pytest.raises(DomainError, match="reason"):
        featuring.reject(
            session, admin=admin_proof(session, admin_id), image_id=second, reason="   "
        )
    with session_scope(db) as session:
        featuring.reject(
            session, admin=admin_proof(session, admin_id), image_id=second, reason="Too dark"
        )
    with session_scope(db, write=False) as session:
        views = generation_views.list_user_generations(session, user_id=owner, base_url=BASE)
    labels = {v.image_id: (v.moderation, v.feature_label) for v in views}
    assert labels[second] == ("rejected", "Not featured: Too dark")
    assert labels[first] == ("approved", "Featured on Explore")

    with session_scope(db) as session:
        featuring.withdraw(session, user_id=owner, image_id=first)
    assert _explore_ids(db) == []
    with session_scope(db) as session, pytest.raises(NotFoundError):
        showcase.get_public_image(session, image_id=first, base_url=BASE)
    assert _audit(db) == [
        featuring.FEATURE_REQUESTED,
        featuring.FEATURE_REQUESTED,
        featuring.FEATURE_APPROVED,
        featuring.FEATURE_REJECTED,
        featuring.FEATURE_WITHDRAWN,
    ]


def test_take_down_and_suspension_hide_images(db: Engine, storage: LocalStorage) -> None:
    owner, image_id = finished_result(db, storage, "a@example.com")
    admin_id = make_admin(db, "mod@example.com")
    with session_scope(db) as session:
        featuring.request_featuring(session, user_id=owner, image_id=image_id)
        featuring.approve(session, admin=admin_proof(session, admin_id), image_id=image_id)
    assert _explore_ids(db) == [image_id]

    with session_scope(db) as session:
        featuring.set_publishing(
            session,
            admin=admin_proof(session, admin_id),
            email="A@example.com",
            suspended=True,
            reason="spam",
        )
    assert _explore_ids(db) == []
    _, other = finished_result(db, storage, "a@example.com", "r2")
    with session_scope(db) as session, pytest.raises(DomainError, match="suspended"):
        featuring.request_featuring(session, user_id=owner, image_id=other)
    with session_scope(db) as session:
        featuring.set_publishing(
            session, admin=admin_proof(session, admin_id), email="a@example.com", suspended=False
        )
    assert _explore_ids(db) == [image_id]

    with session_scope(db) as session:
        featuring.take_down(
            session, admin=admin_proof(session, admin_id), image_id=image_id, reason="Shows a logo"
        )
    assert _explore_ids(db) == []
    with session_scope(db, write=False) as session:
        [view] = [
            v
            for v in generation_views.list_user_generations(session, user_id=owner, base_url=BASE)
            if v.image_id == image_id
        ]
    assert view.moderation == "taken_down" and view.feature_label == "Taken down: Shows a logo"
    with session_scope(db) as session, pytest.raises(DomainError, match="took this image down"):
        featuring.request_featuring(session, user_id=owner, image_id=image_id)
    assert _audit(db) == [
        featuring.FEATURE_REQUESTED,
        featuring.FEATURE_APPROVED,
        featuring.PUBLISHING_SUSPENDED,
        featuring.PUBLISHING_RESTORED,
        featuring.FEATURE_TAKEN_DOWN,
    ]


def test_another_user_can_do_nothing_to_an_image(db: Engine, storage: LocalStorage) -> None:
    make_admin(db)  # the one who reads what the admin page shows
    owner, image_id = finished_result(db, storage, "a@example.com")
    intruder = new_user(db, "b@example.com")
    before = _image(db, image_id)
    for attempt in (
        lambda s: featuring.request_featuring(s, user_id=intruder, image_id=image_id),
        lambda s: featuring.withdraw(s, user_id=intruder, image_id=image_id),
    ):
        with session_scope(db) as session, pytest.raises(NotFoundError):
            attempt(session)
    for attempt in (
        lambda s: featuring.approve(s, admin=admin_proof(s, intruder), image_id=image_id),
        lambda s: featuring.reject(
            s, admin=admin_proof(s, intruder), image_id=image_id, reason="x"
        ),
        lambda s: featuring.take_down(
            s, admin=admin_proof(s, intruder), image_id=image_id, reason="x"
        ),
        lambda s: featuring.set_publishing(
            s, admin=admin_proof(s, intruder), email="a@example.com", suspended=True, reason="x"
        ),
    ):
        with session_scope(db) as session, pytest.raises(ForbiddenError):
            attempt(session)
    after = _image(db, image_id)
    assert after.moderation_status == before.moderation_status == ModerationStatus.NONE
    assert not after.is_featured and not after.is_disabled_by_admin
    assert _audit(db) == []
    with session_scope(db, write=False) as session:
        assert (
            generation_views.list_user_generations(session, user_id=intruder, base_url=BASE) == []
        )
        assert admin.overview(session, admin=admin_proof(session)).users == 3  # and the admin
    assert owner != intruder


def test_hostile_values_are_refused(db: Engine, storage: LocalStorage) -> None:
    owner, image_id = finished_result(db, storage, "a@example.com")
    admin_id = make_admin(db, "mod@example.com")
    for bad in ("x" * 10_000, 12, None):
        if bad is None:
            continue
        with session_scope(db) as session, pytest.raises(DomainError):
            featuring.request_featuring(session, user_id=owner, image_id=image_id, title=bad)
    for bad_id in ("1", True, -1, 10**12):
        with session_scope(db) as session, pytest.raises(DomainError):
            featuring.approve(session, admin=admin_proof(session, admin_id), image_id=bad_id)
    assert _image(db, image_id).moderation_status == ModerationStatus.NONE


def test_public_pages_never_show_part_of_an_address(db: Engine, storage: LocalStorage) -> None:
    from stylestudio.models import User
    from stylestudio.services.accounts.accounts import PUBLIC_AUTHOR_FALLBACK, public_name

    owner, image_id = finished_result(db, storage, "jane.doe@example.com")
    admin_id = make_admin(db, "mod@example.com")
    with session_scope(db) as session:
        featuring.request_featuring(session, user_id=owner, image_id=image_id)
        featuring.approve(session, admin=admin_proof(session, admin_id), image_id=image_id)
    with session_scope(db, write=False) as session:
        [item] = showcase.list_public_gallery(session, base_url=BASE)
    assert item.author == PUBLIC_AUTHOR_FALLBACK  # the sign-up default name is "jane.doe"
    with session_scope(db) as session:
        user = session.get(User, owner)
        assert user is not None
        user.name = "Jane's Bags"
        session.add(user)
    with session_scope(db, write=False) as session:
        [item] = showcase.list_public_gallery(session, base_url=BASE)
    assert item.author == "Jane's Bags"
    assert public_name("  ", "x@y.z") == public_name("X", "x@y.z") == PUBLIC_AUTHOR_FALLBACK


@pytest.mark.slow
def test_explore_pages_and_style_filter(db: Engine, storage: LocalStorage) -> None:
    """Later pages (the cursor) and the style filter: the same items, author names as on the
    first page, and nothing twice."""
    from stylestudio.models import Generation, User

    admin_id = make_admin(db, "mod@example.com")
    owner = 0
    images = []
    for n in range(3):
        owner, image_id = finished_result(db, storage, "pages@example.com", key=f"p{n}")
        images.append(image_id)
        with session_scope(db) as session:
            featuring.request_featuring(session, user_id=owner, image_id=image_id)
            featuring.approve(session, admin=admin_proof(session, admin_id), image_id=image_id)
    with session_scope(db) as session:
        user = session.get(User, owner)
        assert user is not None
        user.name = "Page Turner"
        fashion = session.get(Image, images[1])
        assert fashion is not None and fashion.generation_id is not None
        generation = session.get(Generation, fashion.generation_id)
        assert generation is not None
        generation.style = "fashion"
        session.add_all([user, generation])
    with session_scope(db, write=False) as session:
        first = showcase.list_public_gallery(session, base_url=BASE, limit=2)
        rest = showcase.list_public_gallery(
            session, base_url=BASE, limit=2, before=first[-1].cursor
        )
        only_fashion = showcase.list_public_gallery(session, base_url=BASE, style="fashion")
        fashion_after = showcase.list_public_gallery(
            session, base_url=BASE, style="fashion", before=only_fashion[0].cursor
        )
    assert [i.id for i in first + rest] == images[::-1]
    assert {i.author for i in first + rest} == {"Page Turner"}
    assert [(i.id, i.style, i.author) for i in only_fashion] == [
        (images[1], "Fashion", "Page Turner")
    ]
    assert fashion_after == []
