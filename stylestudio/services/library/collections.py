"""Collections: a user's named groups of their own generated images (from the Pixorly seed).

Every function is scoped to the owner: another user's collection or image is "not found",
and nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from stylestudio.models import Collection, CollectionItem, Image, ImageCategory, utcnow
from stylestudio.services.errors import NotFoundError, ValidationError
from stylestudio.services.ids import is_row_id

MAX_NAME = 80
MAX_COLLECTIONS = 200


@dataclass(frozen=True)
class CollectionView:
    id: int
    name: str
    count: int


def _name(value: object) -> str:
    if not isinstance(value, str) or len(value) > MAX_NAME * 4:
        raise ValidationError(f"A collection name is at most {MAX_NAME} characters.")
    name = " ".join(value.split())
    if not name:
        raise ValidationError("Give the collection a name.")
    if len(name) > MAX_NAME:
        raise ValidationError(f"A collection name is at most {MAX_NAME} characters.")
    return name


def _own_collection(session: Session, *, user_id: int, collection_id: object) -> Collection:
    found = session.get(Collection, collection_id) if is_row_id(collection_id) else None
    if found is None or found.user_id != user_id:
        raise NotFoundError("That collection does not exist.")
    return found


def _own_image(session: Session, *, user_id: int, image_id: object) -> Image:
    image = session.get(Image, image_id) if is_row_id(image_id) else None
    if image is None or image.user_id != user_id or image.category != ImageCategory.GENERATED:
        raise NotFoundError("That image does not exist.")
    return image


def _unique(session: Session, *, user_id: int, name: str, except_id: int | None = None) -> None:
    stmt = select(Collection.id).where(
        Collection.user_id == user_id, func.lower(Collection.name) == name.lower()
    )
    if except_id is not None:
        stmt = stmt.where(col(Collection.id) != except_id)
    if session.exec(stmt).first() is not None:
        raise ValidationError(f"You already have a collection called “{name}”.")


def create_collection(session: Session, *, user_id: int, name: object) -> int:
    clean = _name(name)
    count = session.exec(
        select(func.count()).select_from(Collection).where(Collection.user_id == user_id)
    ).one()
    if count >= MAX_COLLECTIONS:
        raise ValidationError(f"You can have at most {MAX_COLLECTIONS} collections.")
    _unique(session, user_id=user_id, name=clean)
    collection = Collection(user_id=user_id, name=clean)
    session.add(collection)
    session.flush()
    assert collection.id is not None
    return collection.id


def rename_collection(
    session: Session, *, user_id: int, collection_id: object, name: object
) -> None:
    collection = _own_collection(session, user_id=user_id, collection_id=collection_id)
    clean = _name(name)
    _unique(session, user_id=user_id, name=clean, except_id=collection.id)
    collection.name = clean
    collection.updated_at = utcnow()
    session.add(collection)


def delete_collection(session: Session, *, user_id: int, collection_id: object) -> None:
    """The collection goes; its images stay in the gallery."""
    collection = _own_collection(session, user_id=user_id, collection_id=collection_id)
    session.execute(
        sa.delete(CollectionItem).where(col(CollectionItem.collection_id) == collection.id)
    )
    session.delete(collection)


def add_image(session: Session, *, user_id: int, collection_id: object, image_id: object) -> bool:
    """Add one of the user's images; False when it was already there."""
    collection = _own_collection(session, user_id=user_id, collection_id=collection_id)
    image = _own_image(session, user_id=user_id, image_id=image_id)
    if session.get(CollectionItem, (collection.id, image.id)) is not None:
        return False
    position = session.exec(
        select(func.coalesce(func.max(CollectionItem.position), 0)).where(
            CollectionItem.collection_id == collection.id
        )
    ).one()
    assert collection.id is not None and image.id is not None
    session.add(
        CollectionItem(collection_id=collection.id, image_id=image.id, position=int(position) + 1)
    )
    collection.updated_at = utcnow()
    session.add(collection)
    return True


def remove_image(
    session: Session, *, user_id: int, collection_id: object, image_id: object
) -> None:
    collection = _own_collection(session, user_id=user_id, collection_id=collection_id)
    item = session.get(CollectionItem, (collection.id, image_id)) if is_row_id(image_id) else None
    if item is not None:
        session.delete(item)


def list_collections(session: Session, *, user_id: int) -> list[CollectionView]:
    rows = session.exec(
        select(Collection.id, Collection.name, func.count(col(CollectionItem.image_id)))
        .join(CollectionItem, col(CollectionItem.collection_id) == Collection.id, isouter=True)
        .where(Collection.user_id == user_id)
        .group_by(col(Collection.id), col(Collection.name))
        .order_by(func.lower(Collection.name))
    ).all()
    return [CollectionView(id=int(i), name=n, count=int(c)) for i, n, c in rows if i is not None]


def collections_of_images(
    session: Session, *, user_id: int, image_ids: list[int]
) -> dict[int, list[int]]:
    """For each image, the ids of the user's collections holding it."""
    ids = [i for i in image_ids if is_row_id(i)]
    if not ids:
        return {}
    found: dict[int, list[int]] = {}
    for collection_id, image_id in session.exec(
        select(CollectionItem.collection_id, CollectionItem.image_id)
        .join(Collection, col(Collection.id) == CollectionItem.collection_id)
        .where(Collection.user_id == user_id, col(CollectionItem.image_id).in_(ids))
    ).all():
        found.setdefault(image_id, []).append(collection_id)
    return found
