"""The account use cases as the pages (and later the REST API) call them: limits first, files
only after the commit, a file that will not go left to the sweep."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from stylestudio.adapters.storage import LocalStorage
from stylestudio.db import session_scope
from stylestudio.models import Image, User
from stylestudio.services.accounts import account_flows
from stylestudio.services.errors import ValidationError
from stylestudio.services.media.media import delete_files_after_commit
from tests.support.builders import new_upload, new_user


class _Stubborn(LocalStorage):
    """Local files, except one key that cannot be deleted (a store that is down)."""

    def __init__(self, root: Path, stuck: str) -> None:
        super().__init__(root)
        self.stuck = stuck

    def delete(self, key: str) -> None:
        if key == self.stuck:
            raise OSError("the store is down")
        super().delete(key)


def test_files_go_after_the_commit_and_a_stuck_one_is_left_to_the_sweep(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = _Stubborn(tmp_path / "media", stuck="b.jpg")
    for key in ("a.jpg", "b.jpg", "c.jpg"):
        storage.put(key, b"x", content_type="image/jpeg")
    assert delete_files_after_commit(storage, ["a.jpg", "b.jpg", "c.jpg"], what="a test") == 2
    assert [storage.exists(k) for k in ("a.jpg", "b.jpg", "c.jpg")] == [False, True, False]
    assert "could not delete b.jpg of a test" in caplog.text


def test_deleting_an_account_needs_its_email_and_then_takes_its_files(
    db: Engine, storage: LocalStorage
) -> None:
    user_id = new_user(db, "leaving@example.com")
    image_id = new_upload(db, storage, user_id)
    with session_scope(db, write=False) as session:
        image = session.get(Image, image_id)
        assert image is not None
        keys = [image.storage_key, image.thumbnail_key]
    assert all(k and storage.exists(k) for k in keys)

    with pytest.raises(ValidationError):
        account_flows.delete_account(
            db=db, storage=storage, user_id=user_id, confirm_email="someone@example.com"
        )
    assert all(k and storage.exists(k) for k in keys)  # refused: nothing went

    account_flows.delete_account(
        db=db, storage=storage, user_id=user_id, confirm_email="leaving@example.com"
    )
    assert not any(k and storage.exists(k) for k in keys)
    with session_scope(db, write=False) as session:
        assert session.exec(select(Image).where(Image.user_id == user_id)).all() == []
        user = session.get(User, user_id)
        assert user is None or user.email != "leaving@example.com"
