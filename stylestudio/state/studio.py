"""The studio (/upload): choose images and options, generate, watch the result arrive."""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from typing import Any

import reflex as rx
from sqlmodel import Session

from stylestudio.models import ImageCategory
from stylestudio.runtime import get_prediction_engine, get_storage
from stylestudio.services import accounts, generations, media, pricing
from stylestudio.services.errors import DomainError, InsufficientCreditsError, ValidationError
from stylestudio.settings import get_settings
from stylestudio.state.calls import in_session
from stylestudio.state.session import SessionState, media_base_url

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
# A generation outlasting this is still running in the worker; the gallery will show it.
WATCH_TIMEOUT_SECONDS = 15 * 60
TAB_GONE_SECONDS = 30.0
# Watchers running in this process. A tab whose `_watch_id` is not here (the backend
# restarted, or the watcher died) has nobody watching, whatever `watching` says.
_LIVE_WATCHERS: set[str] = set()


async def _read_capped(file: rx.UploadFile) -> bytes:
    """At most one byte over the limit: enough to reject a huge file without holding it."""
    return await file.read(media.MAX_UPLOAD_BYTES + 1)


def _rows() -> list[dict[str, Any]]:
    return []


def _record() -> dict[str, Any]:
    return {}


class StudioState(SessionState):
    product_image_id: rx.Field[int] = rx.field(0)
    product_preview_url: rx.Field[str] = rx.field("")
    product_filename: rx.Field[str] = rx.field("")
    model_image_id: rx.Field[int] = rx.field(0)
    model_preview_url: rx.Field[str] = rx.field("")
    model_filename: rx.Field[str] = rx.field("")
    upload_error: rx.Field[str] = rx.field("")

    prompt: rx.Field[str] = rx.field("")
    style: rx.Field[str] = rx.field("realistic")
    quality: rx.Field[str] = rx.field("standard")
    aspect_ratio: rx.Field[str] = rx.field("1:1")

    generate_error: rx.Field[str] = rx.field("")
    needs_credits: rx.Field[bool] = rx.field(False)
    submitting: rx.Field[bool] = rx.field(False)
    cancelling: rx.Field[bool] = rx.field(False)
    current: rx.Field[dict[str, Any]] = rx.field(default_factory=_record)
    watching: rx.Field[bool] = rx.field(False)

    # Backend only: the key that makes a double click on Generate start one generation.
    _request_key: str = ""
    # Backend only: which watcher follows `current` (see watch_generation).
    _watch_id: str = ""

    @rx.var
    def cost(self) -> int:
        return pricing.generation_cost(quality=self.quality, aspect_ratio=self.aspect_ratio)

    @rx.var
    def cost_label(self) -> str:
        return f"{self.cost} credit" if self.cost == 1 else f"{self.cost} credits"

    @rx.var
    def can_generate(self) -> bool:
        return self.product_image_id > 0 and not self.submitting and not self.watching

    @rx.event
    async def open_studio(self):
        """on_load of /upload, also run on every reconnect (a backend restart included):
        pick up the watch of an unfinished generation, or end a watch nobody runs."""
        if await self._current_user() is None:
            return rx.redirect("/login")
        self._request_key = uuid.uuid4().hex
        self.generate_error = ""
        self.needs_credits = False
        self.submitting = False
        return self._resume_watch()

    def _resume_watch(self):
        """Start a watcher if the current generation has none alive in this process."""
        if not self.current.get("id") or self.current.get("is_terminal"):
            self.watching = False
            return None
        if self._watch_id in _LIVE_WATCHERS:
            return None
        self.watching = True
        return StudioState.watch_generation

    # Any client can call these with anything: text is cut to its cap before it is kept,
    # and a choice must be one of the known keys (a non-string is not even looked up).
    @rx.event
    def set_prompt(self, value: str) -> None:
        if isinstance(value, str):
            self.prompt = value[: generations.MAX_PROMPT_LENGTH]

    @rx.event
    def set_style(self, value: str) -> None:
        if isinstance(value, str) and value in pricing.STYLE_PRESETS:
            self.style = value

    @rx.event
    def set_quality(self, value: str) -> None:
        if isinstance(value, str) and value in pricing.QUALITY_MULTIPLIERS:
            self.quality = value

    @rx.event
    def set_aspect_ratio(self, value: str) -> None:
        if isinstance(value, str) and value in pricing.ASPECT_RATIO_MULTIPLIERS:
            self.aspect_ratio = value

    @rx.event
    async def upload_product(self, files: list[rx.UploadFile]) -> None:
        await self._upload(files, ImageCategory.PRODUCT)

    @rx.event
    async def upload_model(self, files: list[rx.UploadFile]) -> None:
        await self._upload(files, ImageCategory.MODEL)

    @rx.event
    def clear_model_image(self) -> None:
        self.model_image_id = 0
        self.model_preview_url = ""
        self.model_filename = ""

    async def _upload(self, files: list[rx.UploadFile], category: ImageCategory) -> None:
        if not files:
            return  # the drop zone refused the file; reject_upload says why
        self.upload_error = ""
        user = await self._current_user()
        if user is None:
            self.upload_error = "Your session has ended. Sign in again to upload."
            return
        file = files[0]
        data = await _read_capped(file)
        filename = file.name or file.filename or "upload"
        storage = get_storage()
        try:
            image = await in_session(
                lambda s: media.store_upload(
                    s,
                    storage=storage,
                    user_id=user.id,
                    data=data,
                    filename=filename,
                    category=category,
                )
            )
        except DomainError as exc:
            self.upload_error = exc.message
            return
        assert image.id is not None
        preview = media.media_url(
            image.thumbnail_key or image.storage_key, base_url=media_base_url()
        )
        if category == ImageCategory.PRODUCT:
            self.product_image_id, self.product_preview_url = image.id, preview
            self.product_filename = filename
        else:
            self.model_image_id, self.model_preview_url = image.id, preview
            self.model_filename = filename

    @rx.event
    async def generate(self):
        self.generate_error = ""
        self.needs_credits = False
        if self.submitting:
            return
        if self.watching and self._watch_id in _LIVE_WATCHERS:
            return
        if not self.product_image_id:
            self.generate_error = "Upload a product image first."
            return
        self.submitting = True
        yield  # the button shows its busy state before the slow part
        try:
            user = await self._current_user()
            if user is None:
                yield rx.redirect("/login")
                return
            view = await self._start_generation(user.id)
        finally:
            self.submitting = False
        if view is None:
            return
        self.current = view
        self._request_key = uuid.uuid4().hex  # the next click is a new generation
        await self._current_user()  # the header shows the spend at once
        yield self._resume_watch()

    async def _start_generation(self, user_id: int) -> dict[str, Any] | None:
        key = self._request_key or uuid.uuid4().hex
        product_id, model_id = self.product_image_id, self.model_image_id or None
        prompt, style, quality, ratio = self.prompt, self.style, self.quality, self.aspect_ratio
        engine_name = get_settings().generation_engine
        base = media_base_url()

        def start(session: Session) -> dict[str, Any]:
            generation = generations.start_generation(
                session,
                user_id=user_id,
                product_image_id=product_id,
                model_image_id=model_id,
                prompt=prompt,
                style=style,
                quality=quality,
                aspect_ratio=ratio,
                idempotency_key=key,
                engine_name=engine_name,
            )
            assert generation.id is not None
            return generations.get_generation_view(
                session, user_id=user_id, generation_id=generation.id, base_url=base
            ).as_dict()

        try:
            return await in_session(start)
        except InsufficientCreditsError as exc:
            self.generate_error = exc.message
            self.needs_credits = True
        except (DomainError, ValidationError) as exc:
            self.generate_error = exc.message
        return None

    @rx.event(background=True)
    async def watch_generation(self) -> None:
        """Follow the current generation until it ends. The job itself runs in the worker.

        One watcher per tab: a newer one (started after a reconnect) replaces it. It stops
        when the generation ends, after WATCH_TIMEOUT_SECONDS, when the tab has been gone
        for TAB_GONE_SECONDS, or on any error; `watching` is cleared however it stops.
        """
        watch_id = uuid.uuid4().hex
        async with self:
            self._watch_id = watch_id
            generation_id = int(self.current.get("id") or 0)
            token = self.session_token
            client_token = self.router.session.client_token
        _LIVE_WATCHERS.add(watch_id)
        base = media_base_url()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WATCH_TIMEOUT_SECONDS
        gone_since: float | None = None
        try:
            while generation_id and loop.time() < deadline:
                if tab_is_connected(client_token):
                    gone_since = None
                elif gone_since is None:
                    gone_since = loop.time()
                elif loop.time() - gone_since > TAB_GONE_SECONDS:
                    return
                view = await in_session(
                    functools.partial(
                        _view_for_token, token=token, generation_id=generation_id, base=base
                    ),
                    write=False,
                )
                async with self:
                    if self._watch_id != watch_id or self.current.get("id") != generation_id:
                        return  # replaced by a newer watcher, or the tab moved on
                    self.current = view
                    if view["is_terminal"]:
                        await self._current_user()  # a refund shows in the header
                        return
                await asyncio.sleep(POLL_SECONDS)
        except DomainError:
            pass  # signed out or the generation is gone: nothing left to follow
        except Exception:
            log.exception("watching generation %s failed", generation_id)
        finally:
            _LIVE_WATCHERS.discard(watch_id)
            async with self:
                if self._watch_id == watch_id:
                    self.watching = False
                    self._watch_id = ""

    @rx.event
    async def cancel_current(self):
        """`Cancel` on the queued or running generation: ends it, refunds once, and stops its
        prediction at the provider."""
        generation_id = int(self.current.get("id") or 0)
        if not generation_id or self.current.get("is_terminal") or self.cancelling:
            return
        self.cancelling = True
        yield
        try:
            user = await self._current_user()
            if user is None:
                yield rx.redirect("/login")
                return
            await cancel_for_user(user.id, generation_id)
            view = await in_session(
                functools.partial(
                    _view_for_user,
                    user_id=user.id,
                    generation_id=generation_id,
                    base=media_base_url(),
                ),
                write=False,
            )
            self.current = view
            await self._current_user()  # the refund shows in the header
        except DomainError as exc:
            self.generate_error = exc.message
        finally:
            self.cancelling = False

    @rx.event
    def reject_upload(self, codes: list[str]) -> None:
        """on_drop_rejected of the drop zones: the browser refused the file before sending it.

        `codes` are react-dropzone's error codes (the page sends nothing else).
        """
        listed = codes[:10] if isinstance(codes, list) else []
        codes_seen = {c for c in listed if isinstance(c, str)}
        limit = f"{media.MAX_UPLOAD_BYTES // (1024 * 1024)} MB"
        if codes_seen == {"file-too-large"}:
            self.upload_error = f"That file is over {limit}. Choose a smaller image."
        elif codes_seen == {"file-invalid-type"}:
            self.upload_error = "That file is not a JPEG, PNG or WebP image."
        elif codes_seen == {"too-many-files"}:
            self.upload_error = "Drop one image at a time."
        else:
            self.upload_error = f"That file is over {limit} or not a JPEG, PNG or WebP image."


async def cancel_for_user(user_id: int, generation_id: int) -> None:
    """Cancel in our database first (the one terminal transition), then at the provider."""
    prediction_id = await in_session(
        lambda s: generations.cancel_generation(s, user_id=user_id, generation_id=generation_id)
    )
    engine = get_prediction_engine()
    if prediction_id and engine is not None:
        try:
            await engine.cancel(prediction_id)
        except Exception as exc:  # cancelled here whatever the provider says
            log.warning("could not cancel prediction %s: %r", prediction_id, exc)


def _view_for_user(
    session: Session, *, user_id: int, generation_id: int, base: str
) -> dict[str, Any]:
    return generations.get_generation_view(
        session, user_id=user_id, generation_id=generation_id, base_url=base
    ).as_dict()


def tab_is_connected(client_token: str) -> bool:
    """Whether the tab behind this Reflex client token has a websocket on this process."""
    from reflex.utils.prerequisites import get_app

    namespace = get_app().app.event_namespace
    return namespace is None or client_token in namespace.token_to_sid


def _view_for_token(
    session: Session, *, token: str, generation_id: int, base: str
) -> dict[str, Any]:
    user = accounts.require_user(session, token=token)
    return generations.get_generation_view(
        session, user_id=user.id, generation_id=generation_id, base_url=base
    ).as_dict()
