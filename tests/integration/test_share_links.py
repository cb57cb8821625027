"""Share links: created by an image's owner only, stored as a hash only, dead the moment they
are revoked or expire, and served as a public page with OpenGraph cards — on SQLite and
PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import re
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx
import pytest
import sqlalchemy as sa
from PIL import Image as PILImage
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from stylestudio import runtime
from stylestudio.adapters.storage import LocalStorage
from stylestudio.api.routes import build_api
from stylestudio.api.share_page import FAVICON, share_url
from stylestudio.db import dispose_engines, session_scope
from stylestudio.models import (
    GenerationStatus,
    Image,
    ImageCategory,
    ShareLink,
    User,
    utcnow,
)
from stylestudio.services.errors import NotFoundError, ValidationError
from stylestudio.services.library import sharing
from stylestudio.settings import get_settings
from tests.support.builders import new_user, recorded_generation

HOSTILE_PROMPT = 'A red sneaker <script>alert("x")</script> & "friends" on marble'
API_URL = "http://api.example.test"
PUBLIC_URL = "http://studio.example.test"

# --------------------------------------------------------------------------- helpers


def _jpeg(size: tuple[int, int] = (96, 64)) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", size, (190, 30, 40)).save(out, "JPEG")
    return out.getvalue()


def _generated_image(
    db: Engine,
    storage: LocalStorage,
    user_id: int,
    *,
    prompt: str = "on a marble table",
    style: str = "fashion",
    status: GenerationStatus = GenerationStatus.COMPLETED,
    category: ImageCategory = ImageCategory.GENERATED,
    feature_title: str | None = None,
) -> int:
    data = _jpeg()
    key = f"{category.value}/{user_id}/{uuid.uuid4().hex}.jpg"
    thumb_key = key.removesuffix(".jpg") + ".thumb.jpg"
    storage.put(key, data, content_type="image/jpeg")
    storage.put(thumb_key, data, content_type="image/jpeg")
    generation_id = recorded_generation(
        db,
        user_id,
        status=status,
        prompt=prompt,
        style=style,
        aspect_ratio="3:2",
        completed_at=utcnow() if status == GenerationStatus.COMPLETED else None,
    )
    with session_scope(db) as session:
        image = Image(
            user_id=user_id,
            category=category,
            filename="result.jpg",
            content_type="image/jpeg",
            size_bytes=len(data),
            width=96,
            height=64,
            storage_key=key,
            thumbnail_key=thumb_key,
            generation_id=generation_id,
            feature_title=feature_title,
        )
        session.add(image)
        session.flush()
        assert image.id is not None
        return image.id


def _create(
    db: Engine,
    *,
    user_id: int,
    image_id: int,
    expires_in: sharing.ExpiresIn = "7d",
    now: datetime | None = None,
) -> sharing.CreatedShare:
    with session_scope(db) as session:
        return sharing.create_share_link(
            session, user_id=user_id, image_id=image_id, expires_in=expires_in, now=now
        )


def _resolve(db: Engine, token: str, now: datetime | None = None) -> sharing.SharedImage | None:
    with session_scope(db) as session:
        return sharing.resolve_share(session, token=token, now=now)


def _revoke(db: Engine, *, user_id: int, link_id: int) -> None:
    with session_scope(db) as session:
        sharing.revoke_share_link(session, user_id=user_id, link_id=link_id)


def _links(db: Engine) -> list[ShareLink]:
    with session_scope(db, write=False) as session:
        return list(session.exec(select(ShareLink).order_by(col(ShareLink.id))).all())


def _image(db: Engine, image_id: int) -> Image:
    with session_scope(db, write=False) as session:
        image = session.get(Image, image_id)
        assert image is not None
        return image


def _update_user(db: Engine, user_id: int, **values: object) -> None:
    with session_scope(db) as session:
        user = session.get(User, user_id)
        assert user is not None
        for name, value in values.items():
            setattr(user, name, value)
        session.add(user)


def _update_image(db: Engine, image_id: int, **values: object) -> None:
    with session_scope(db) as session:
        image = session.get(Image, image_id)
        assert image is not None
        for name, value in values.items():
            setattr(image, name, value)
        session.add(image)


# --------------------------------------------------------------------------- the service


def test_the_owner_creates_a_link_that_resolves_to_the_image(
    db: Engine, storage: LocalStorage
) -> None:
    owner = new_user(db, "owner@example.com", name="Ada Maker")
    image_id = _generated_image(db, storage, owner, feature_title="Sneaker drop")
    assert _image(db, image_id).sharing_enabled is False  # off until the owner shares

    created = _create(db, user_id=owner, image_id=image_id, expires_in="never")
    assert created.expires_at is None and created.expires_at_iso == ""
    assert len(created.token) >= 43  # 32 random bytes, URL-safe base64
    assert _image(db, image_id).sharing_enabled is True

    shared = _resolve(db, created.token)
    assert shared is not None
    stored = _image(db, image_id)
    assert shared.storage_key == stored.storage_key
    assert shared.thumbnail_key == stored.thumbnail_key
    assert (shared.width, shared.height, shared.content_type) == (96, 64, "image/jpeg")
    assert shared.prompt == "on a marble table"
    assert shared.style == "Fashion"
    assert shared.title == "Sneaker drop"
    assert shared.author == "Ada Maker"
    assert shared.created_at.endswith("Z")
    assert storage.get(shared.storage_key) == storage.get(stored.storage_key)

    _resolve(db, created.token)
    [link] = _links(db)
    assert link.view_count == 2
    with session_scope(db, write=False) as session:
        [view] = sharing.list_share_links(session, user_id=owner, image_id=image_id)
    assert view == sharing.ShareLinkView(
        id=created.link_id,
        created_at=view.created_at,
        expires_at="",
        status="active",
        view_count=2,
    )


def test_an_author_without_a_name_is_anonymous_and_an_untitled_image_has_no_title(
    db: Engine, storage: LocalStorage
) -> None:
    owner = new_user(db, "owner@example.com")
    _update_user(db, owner, name="")  # sign-up names an account after its email otherwise
    image_id = _generated_image(db, storage, owner)
    shared = _resolve(db, _create(db, user_id=owner, image_id=image_id).token)
    assert shared is not None
    assert shared.author == "A Style Studio user"
    assert shared.title is None


def test_only_the_hash_of_the_token_is_stored(db: Engine, storage: LocalStorage) -> None:
    owner = new_user(db, "owner@example.com")
    image_id = _generated_image(db, storage, owner)
    created = _create(db, user_id=owner, image_id=image_id)

    with db.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM share_links")).mappings().all()
    assert len(rows) == 1
    for value in rows[0].values():
        assert value != created.token
        assert created.token not in str(value)
    assert rows[0]["token_hash"] == hashlib.sha256(created.token.encode()).hexdigest()

    # Neither the stored hash, nor a prefix, nor a longer string is the token.
    stored_hash = str(rows[0]["token_hash"])
    for guess in (
        stored_hash,
        stored_hash[:43],
        created.token[:-1],
        created.token[:20],
        created.token + "A",
        created.token.swapcase(),
        "x" * 43,
        "",
        "%",
    ):
        assert _resolve(db, guess) is None
    assert _links(db)[0].view_count == 0


def test_two_links_never_share_a_token(db: Engine, storage: LocalStorage) -> None:
    owner = new_user(db, "owner@example.com")
    image_id = _generated_image(db, storage, owner)
    first = _create(db, user_id=owner, image_id=image_id)
    second = _create(db, user_id=owner, image_id=image_id, expires_in="1d")
    assert first.token != second.token
    assert first.link_id != second.link_id
    assert _resolve(db, first.token) is not None
    assert _resolve(db, second.token) is not None


def test_a_one_day_link_resolves_until_it_expires(db: Engine, storage: LocalStorage) -> None:
    owner = new_user(db, "owner@example.com")
    image_id = _generated_image(db, storage, owner)
    now = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
    created = _create(db, user_id=owner, image_id=image_id, expires_in="1d", now=now)
    assert created.expires_at == now + timedelta(days=1)
    assert created.expires_at_iso == "2030-05-02T12:00:00Z"

    assert _resolve(db, created.token, now=now) is not None
    assert _resolve(db, created.token, now=now + timedelta(days=1, seconds=-1)) is not None
    assert _resolve(db, created.token, now=now + timedelta(days=1)) is None
    assert _resolve(db, created.token, now=now + timedelta(days=1, seconds=1)) is None

    with session_scope(db, write=False) as session:
        [later] = sharing.list_share_links(
            session, user_id=owner, image_id=image_id, now=now + timedelta(days=1, seconds=1)
        )
        [before] = sharing.list_share_links(session, user_id=owner, image_id=image_id, now=now)
    assert (later.status, later.expires_at) == ("expired", "2030-05-02T12:00:00Z")
    assert before.status == "active"


def test_seven_day_and_unknown_expiry_choices(db: Engine, storage: LocalStorage) -> None:
    owner = new_user(db, "owner@example.com")
    image_id = _generated_image(db, storage, owner)
    now = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
    week = _create(db, user_id=owner, image_id=image_id, expires_in="7d", now=now)
    assert week.expires_at == now + timedelta(days=7)
    assert _resolve(db, week.token, now=now + timedelta(days=6, hours=23)) is not None
    assert _resolve(db, week.token, now=now + timedelta(days=7, seconds=1)) is None
    assert _image(db, image_id).share_expires_at == now + timedelta(days=7)

    with pytest.raises(ValidationError, match="1 day, in 7 days or never"):
        _create(db, user_id=owner, image_id=image_id, expires_in="30d")  # type: ignore[arg-type]
    assert len(_links(db)) == 1


def test_a_revoked_link_stops_resolving_at_once(db: Engine, storage: LocalStorage) -> None:
    owner = new_user(db, "owner@example.com")
    image_id = _generated_image(db, storage, owner)
    created = _create(db, user_id=owner, image_id=image_id)
    assert _resolve(db, created.token) is not None

    _revoke(db, user_id=owner, link_id=created.link_id)
    assert _resolve(db, created.token) is None
    revoked_at = _links(db)[0].revoked_at
    assert revoked_at is not None
    assert _image(db, image_id).sharing_enabled is False

    _revoke(db, user_id=owner, link_id=created.link_id)  # idempotent
    assert _links(db)[0].revoked_at == revoked_at
    with session_scope(db, write=False) as session:
        [view] = sharing.list_share_links(session, user_id=owner, image_id=image_id)
    assert view.status == "revoked"


def test_revoking_one_link_keeps_the_others_and_revoke_all_ends_them(
    db: Engine, storage: LocalStorage
) -> None:
    owner = new_user(db, "owner@example.com")
    image_id = _generated_image(db, storage, owner)
    a = _create(db, user_id=owner, image_id=image_id)
    b = _create(db, user_id=owner, image_id=image_id, expires_in="never")
    c = _create(db, user_id=owner, image_id=image_id, expires_in="1d")

    _revoke(db, user_id=owner, link_id=a.link_id)
    assert _resolve(db, a.token) is None
    assert _resolve(db, b.token) is not None
    image = _image(db, image_id)
    assert image.sharing_enabled is True
    assert image.share_expires_at is None  # b never expires

    with session_scope(db) as session:
        assert sharing.revoke_all_for_image(session, user_id=owner, image_id=image_id) == 2
    assert _resolve(db, b.token) is None
    assert _resolve(db, c.token) is None
    assert _image(db, image_id).sharing_enabled is False
    with session_scope(db, write=False) as session:
        views = sharing.list_share_links(session, user_id=owner, image_id=image_id)
    assert [v.status for v in views] == ["revoked", "revoked", "revoked"]
    assert [v.id for v in views] == [c.link_id, b.link_id, a.link_id]  # newest first


def test_another_user_cannot_create_revoke_or_list_links_for_the_image(
    db: Engine, storage: LocalStorage
) -> None:
    owner = new_user(db, "owner@example.com")
    stranger = new_user(db, email="stranger@example.com")
    image_id = _generated_image(db, storage, owner)
    created = _create(db, user_id=owner, image_id=image_id)
    before = [link.model_dump() for link in _links(db)]

    with pytest.raises(NotFoundError):
        _create(db, user_id=stranger, image_id=image_id)
    with pytest.raises(NotFoundError):
        _revoke(db, user_id=stranger, link_id=created.link_id)
    with session_scope(db) as session, pytest.raises(NotFoundError):
        sharing.revoke_all_for_image(session, user_id=stranger, image_id=image_id)
    with session_scope(db, write=False) as session, pytest.raises(NotFoundError):
        sharing.list_share_links(session, user_id=stranger, image_id=image_id)
    # Unknown ids look the same as another user's.
    with pytest.raises(NotFoundError):
        _create(db, user_id=owner, image_id=image_id + 1000)
    with pytest.raises(NotFoundError):
        _revoke(db, user_id=owner, link_id=created.link_id + 1000)

    assert [link.model_dump() for link in _links(db)] == before
    assert _resolve(db, created.token) is not None


def test_only_completed_generated_images_can_be_shared(db: Engine, storage: LocalStorage) -> None:
    owner = new_user(db, "owner@example.com")
    product = _generated_image(db, storage, owner, category=ImageCategory.PRODUCT)
    running = _generated_image(db, storage, owner, status=GenerationStatus.PROCESSING)
    failed = _generated_image(db, storage, owner, status=GenerationStatus.FAILED)

    with pytest.raises(ValidationError, match="Only images you generated"):
        _create(db, user_id=owner, image_id=product)
    for image_id in (running, failed):
        with pytest.raises(ValidationError, match="generation has completed"):
            _create(db, user_id=owner, image_id=image_id)
    assert _links(db) == []
    assert not any(_image(db, i).sharing_enabled for i in (product, running, failed))


def test_a_suspended_owner_cannot_share_and_their_links_stop_resolving(
    db: Engine, storage: LocalStorage
) -> None:
    owner = new_user(db, "owner@example.com")
    image_id = _generated_image(db, storage, owner)
    created = _create(db, user_id=owner, image_id=image_id)

    _update_user(
        db,
        owner,
        publishing_suspended=True,
        publishing_suspended_reason="Repeated copyright complaints",
    )
    with pytest.raises(ValidationError) as refused:
        _create(db, user_id=owner, image_id=image_id)
    assert refused.value.message == (
        "Publishing is suspended for your account: Repeated copyright complaints."
    )
    assert len(_links(db)) == 1
    assert _resolve(db, created.token) is None
    assert _links(db)[0].view_count == 0

    _update_user(db, owner, publishing_suspended=False, publishing_suspended_reason=None)
    assert _resolve(db, created.token) is not None  # lifted, not revoked


def test_an_image_disabled_by_an_admin_stops_resolving(db: Engine, storage: LocalStorage) -> None:
    owner = new_user(db, "owner@example.com")
    image_id = _generated_image(db, storage, owner)
    created = _create(db, user_id=owner, image_id=image_id)

    _update_image(db, image_id, is_disabled_by_admin=True, disabled_by_admin_at=utcnow())
    assert _resolve(db, created.token) is None
    with pytest.raises(ValidationError, match="disabled by an administrator"):
        _create(db, user_id=owner, image_id=image_id)


# --------------------------------------------------------------------------- the page


@pytest.fixture
async def client(
    db: Engine, storage: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    """The backend's whole HTTP API (the share page, its image, signed media, ...) at
    API_URL, with the `storage` fixture's files as its media."""
    monkeypatch.setenv("DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("STYLESTUDIO_API_URL", API_URL)
    monkeypatch.setenv("STYLESTUDIO_PUBLIC_URL", PUBLIC_URL)
    monkeypatch.setenv("STYLESTUDIO_DATA_DIR", str(storage.path_of("x").parent.parent))
    get_settings.cache_clear()
    runtime.reset()
    try:
        transport = httpx.ASGITransport(app=build_api())
        async with httpx.AsyncClient(transport=transport, base_url=API_URL) as c:
            yield c
    finally:
        dispose_engines()
        get_settings.cache_clear()
        runtime.reset()


class _Meta(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.meta: dict[str, str] = {}
        self.images: list[str] = []
        self.urls: set[str] = set()  # every address the page names, resolved

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "meta":
            key = values.get("property") or values.get("name")
            if key:
                self.meta[key] = values.get("content") or ""
        elif tag == "img":
            self.images.append(values.get("src") or "")
        for name, value in attrs:
            if not value:
                continue
            if name in ("src", "href", "poster", "data-src"):
                self.urls.add(urljoin(API_URL + "/s/", value))
            elif name in ("srcset", "imagesrcset"):
                for candidate in value.split(","):
                    if candidate.strip():
                        self.urls.add(urljoin(API_URL + "/s/", candidate.split()[0]))
            elif name == "content" and re.match(r"https?://|/", value):
                self.urls.add(urljoin(API_URL + "/s/", value))


def _parse(body: str) -> _Meta:
    parser = _Meta()
    parser.feed(body)
    return parser


def _assert_uncached(response: httpx.Response) -> None:
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-robots-tag"] == "noindex"
    assert response.headers["content-type"].startswith("text/html")


async def test_the_share_page_shows_the_image_with_escaped_cards(
    client: httpx.AsyncClient, db: Engine, storage: LocalStorage
) -> None:
    owner = new_user(db, "owner@example.com", name='Eve <b>"Bold"</b>')
    image_id = _generated_image(db, storage, owner, prompt=HOSTILE_PROMPT + " " + "x" * 400)
    created = _create(db, user_id=owner, image_id=image_id)
    key = _image(db, image_id).storage_key

    response = await client.get(f"/s/{created.token}")
    assert response.status_code == 200
    _assert_uncached(response)
    body = response.text

    # Nothing user-provided reaches the page unescaped.
    assert "<script>" not in body
    assert '"x")' not in body
    assert "<b>" not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &quot;friends&quot;" in body
    assert "Eve &lt;b&gt;&quot;Bold&quot;&lt;/b&gt;" in body

    page = _parse(body)
    meta = page.meta
    assert meta["og:title"] == "Product shot"
    assert meta["og:type"] == "website"
    assert meta["twitter:card"] == "summary_large_image"
    assert meta["og:url"] == f"{API_URL}/s/{created.token}"
    assert meta["og:description"].startswith(HOSTILE_PROMPT)
    assert len(meta["og:description"]) <= 200
    # The image is served through the link's token, never as a signed media URL.
    assert meta["og:image"] == f"{API_URL}/api/share/{created.token}/image"
    assert key not in body and "/api/media/" not in body
    assert (meta["og:image:width"], meta["og:image:height"]) == ("96", "64")
    assert page.images == [meta["og:image"]]
    assert "Fashion" in body
    assert f'href="{PUBLIC_URL}"' in body
    assert "Made with Style Studio — try it" in body
    assert _links(db)[0].view_count == 1


async def test_a_featured_title_is_the_page_title(
    client: httpx.AsyncClient, db: Engine, storage: LocalStorage
) -> None:
    owner = new_user(db, "owner@example.com")
    image_id = _generated_image(db, storage, owner, feature_title="Summer <drop> & co")
    created = _create(db, user_id=owner, image_id=image_id)
    response = await client.get(f"/s/{created.token}")
    assert response.status_code == 200
    assert _parse(response.text).meta["og:title"] == "Summer <drop> & co"
    assert "Summer &lt;drop&gt; &amp; co" in response.text


async def test_a_revoked_link_answers_404_within_a_second(
    client: httpx.AsyncClient, db: Engine, storage: LocalStorage
) -> None:
    owner = new_user(db, "owner@example.com")
    image_id = _generated_image(db, storage, owner)
    created = _create(db, user_id=owner, image_id=image_id)
    assert (await client.get(f"/s/{created.token}")).status_code == 200

    _revoke(db, user_id=owner, link_id=created.link_id)
    started = time.perf_counter()
    response = await client.get(f"/s/{created.token}")
    elapsed = time.perf_counter() - started
    assert response.status_code == 404
    assert elapsed < 1.0
    _assert_uncached(response)
    assert "This link is no longer available" in response.text
    assert "og:image" not in response.text


async def test_unknown_and_stale_tokens_answer_the_same_404(
    client: httpx.AsyncClient, db: Engine, storage: LocalStorage
) -> None:
    owner = new_user(db, "owner@example.com")
    image_id = _generated_image(db, storage, owner)
    created = _create(db, user_id=owner, image_id=image_id)
    expired = _create(
        db, user_id=owner, image_id=image_id, expires_in="1d", now=utcnow() - timedelta(days=2)
    )
    stored_hash = hashlib.sha256(created.token.encode()).hexdigest()

    bodies = set()
    for token in ("not-a-token", "A" * 43, created.token[:30], stored_hash, expired.token):
        response = await client.get(f"/s/{token}")
        assert response.status_code == 404, token
        _assert_uncached(response)
        bodies.add(response.text)
    assert len(bodies) == 1  # nothing tells an expired link from one that never existed


def _shown_media(page: _Meta) -> set[str]:
    """What the page shows that belongs to the link: every address but the app's own pages
    and its icon."""
    return {
        url
        for url in page.urls
        if not url.startswith(PUBLIC_URL) and url != f"{API_URL}/favicon.ico"
    }


async def test_every_url_the_page_shows_dies_with_its_link(
    client: httpx.AsyncClient, db: Engine, storage: LocalStorage
) -> None:
    owner = new_user(db, "owner@example.com")
    image_id = _generated_image(db, storage, owner)
    created = _create(db, user_id=owner, image_id=image_id)
    stored = storage.get(_image(db, image_id).storage_key)

    page = _parse((await client.get(f"/s/{created.token}")).text)
    shown = _shown_media(page)
    assert page.meta["og:image"] in shown and page.images == [page.meta["og:image"]]
    image = await client.get(page.meta["og:image"])
    assert image.content == stored
    assert image.headers["content-type"] == "image/jpeg"
    assert _links(db)[0].view_count == 1  # fetching the image is not another view
    for url in shown:
        assert (await client.get(url)).status_code == 200, url

    _revoke(db, user_id=owner, link_id=created.link_id)
    for url in shown:
        response = await client.get(url)
        assert response.status_code in (403, 404), url
        assert response.headers["cache-control"] == "no-store"
        assert response.content != stored

    # Served through the token, looked up live; a browser must ask again before reusing it
    # and no CDN or proxy may keep it at all.
    assert page.meta["og:image"] == f"{API_URL}/api/share/{created.token}/image"
    cache = image.headers["cache-control"]
    assert "private" in cache and "no-cache" in cache and "max-age" not in cache


async def test_a_browser_revalidates_the_shared_image_until_the_link_dies(
    client: httpx.AsyncClient, db: Engine, storage: LocalStorage
) -> None:
    owner = new_user(db, "owner@example.com")
    created = _create(db, user_id=owner, image_id=_generated_image(db, storage, owner))
    url = f"/api/share/{created.token}/image"
    first = await client.get(url)
    etag = first.headers["etag"]
    again = await client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert (await client.get(url, headers={"If-None-Match": '"other"'})).status_code == 200

    _revoke(db, user_id=owner, link_id=created.link_id)
    gone = await client.get(url, headers={"If-None-Match": etag})
    assert gone.status_code == 404  # never "not modified" for a dead link


async def test_the_image_of_an_expired_or_disabled_link_is_gone_too(
    client: httpx.AsyncClient, db: Engine, storage: LocalStorage
) -> None:
    owner = new_user(db, "owner@example.com")
    image_id = _generated_image(db, storage, owner)
    expired = _create(
        db, user_id=owner, image_id=image_id, expires_in="1d", now=utcnow() - timedelta(days=2)
    )
    live = _create(db, user_id=owner, image_id=image_id)
    assert (await client.get(f"/api/share/{expired.token}/image")).status_code == 404
    assert (await client.get(f"/api/share/{live.token}/image")).status_code == 200
    _update_image(db, image_id, is_disabled_by_admin=True)
    assert (await client.get(f"/api/share/{live.token}/image")).status_code == 404
    for token in ("not-a-token", "A" * 43, hashlib.sha256(live.token.encode()).hexdigest()):
        assert (await client.get(f"/api/share/{token}/image")).status_code == 404


async def test_the_share_page_has_the_app_icon(
    client: httpx.AsyncClient, db: Engine, storage: LocalStorage
) -> None:
    owner = new_user(db, "owner@example.com")
    created = _create(db, user_id=owner, image_id=_generated_image(db, storage, owner))
    page = _parse((await client.get(f"/s/{created.token}")).text)
    assert f"{API_URL}/favicon.ico" in page.urls
    icon = await client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"] == "image/x-icon"
    assert icon.content == FAVICON.read_bytes()
    assert PILImage.open(io.BytesIO(icon.content)).format == "ICO"


def test_share_url_is_the_public_api_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STYLESTUDIO_API_URL", API_URL + "/")
    get_settings.cache_clear()
    try:
        assert share_url("abc") == f"{API_URL}/s/abc"
    finally:
        get_settings.cache_clear()
