"""The studio (/upload): choose images and options, generate, watch the result arrive."""

from __future__ import annotations

import asyncio
import functools
import uuid
from typing import Any

import reflex as rx
from sqlmodel import Session

from stylestudio.models import ImageCategory
from stylestudio.runtime import get_storage
from stylestudio.services import accounts, generations, media, pricing
from stylestudio.services.errors import DomainError, InsufficientCreditsError, ValidationError
from stylestudio.settings import get_settings
from stylestudio.state.calls import in_session
from stylestudio.state.session import SessionState, media_base_url

POLL_SECONDS = 0.5


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
    current: rx.Field[dict[str, Any]] = rx.field(default_factory=_record)
    watching: rx.Field[bool] = rx.field(False)

    # Backend only: the key that makes a double click on Generate start one generation.
    _request_key: str = ""

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
        if await self._current_user() is None:
            return rx.redirect("/login")
        self._request_key = uuid.uuid4().hex
        self.generate_error = ""
        self.needs_credits = False
        return None

    @rx.event
    def set_prompt(self, value: str) -> None:
        self.prompt = value[: generations.MAX_PROMPT_LENGTH]

    @rx.event
    def set_style(self, value: str) -> None:
        if value in pricing.STYLE_PRESETS:
            self.style = value

    @rx.event
    def set_quality(self, value: str) -> None:
        if value in pricing.QUALITY_MULTIPLIERS:
            self.quality = value

    @rx.event
    def set_aspect_ratio(self, value: str) -> None:
        if value in pricing.ASPECT_RATIO_MULTIPLIERS:
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
        self.upload_error = ""
        if not files:
            return
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
        if self.submitting or self.watching:
            return None
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        if not self.product_image_id:
            self.generate_error = "Upload a product image first."
            return None
        self.submitting = True
        key = self._request_key or uuid.uuid4().hex
        product_id, model_id = self.product_image_id, self.model_image_id or None
        prompt, style, quality, ratio = self.prompt, self.style, self.quality, self.aspect_ratio
        engine_name = get_settings().generation_engine
        base = media_base_url()

        def start(session: Session) -> dict[str, Any]:
            generation = generations.start_generation(
                session,
                user_id=user.id,
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
                session, user_id=user.id, generation_id=generation.id, base_url=base
            ).as_dict()

        try:
            self.current = await in_session(start)
        except InsufficientCreditsError as exc:
            self.generate_error = exc.message
            self.needs_credits = True
            return None
        except (DomainError, ValidationError) as exc:
            self.generate_error = exc.message
            return None
        finally:
            self.submitting = False
        self._request_key = uuid.uuid4().hex  # the next click is a new generation
        await self._current_user()  # the header shows the spend at once
        self.watching = True
        return StudioState.watch_generation

    @rx.event(background=True)
    async def watch_generation(self) -> None:
        """Follow the current generation until it ends. The job itself runs in the worker."""
        base = media_base_url()
        while True:
            async with self:
                generation_id = int(self.current.get("id") or 0)
                token = self.session_token
            if not generation_id:
                break
            try:
                view = await in_session(
                    functools.partial(
                        _view_for_token, token=token, generation_id=generation_id, base=base
                    ),
                    write=False,
                )
            except DomainError:
                view = None
            async with self:
                if view is None or int(self.current.get("id") or 0) != generation_id:
                    self.watching = False
                    return
                self.current = view
                if view["is_terminal"]:
                    self.watching = False
                    await self._current_user()
                    return
            await asyncio.sleep(POLL_SECONDS)
        async with self:
            self.watching = False


def _view_for_token(
    session: Session, *, token: str, generation_id: int, base: str
) -> dict[str, Any]:
    user = accounts.require_user(session, token=token)
    return generations.get_generation_view(
        session, user_id=user.id, generation_id=generation_id, base_url=base
    ).as_dict()
