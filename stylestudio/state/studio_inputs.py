"""The studio's photos: up to four product angles (the first is the primary one) and an
optional model or scene photo, uploaded by click, drop, paste or the camera, or picked again
from the user's recent uploads."""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx

from stylestudio.db import get_engine
from stylestudio.models import ImageCategory
from stylestudio.runtime import get_storage
from stylestudio.services.errors import DomainError
from stylestudio.services.generation import generation_flows, generations
from stylestudio.services.library import upload_library
from stylestudio.services.media import media
from stylestudio.state import photo_capture
from stylestudio.state.arguments import (
    FLAG,
    ROW_ID,
    UPLOAD_PROGRESS,
    UPLOADS,
    bounded_int,
    checked,
    text,
    text_list,
)
from stylestudio.state.calls import in_session
from stylestudio.state.session import SessionState, media_base_url

FORMATS = "JPEG, PNG, WebP or HEIC"


async def _read_capped(file: rx.UploadFile) -> bytes:
    """At most one byte over the limit: enough to reject a huge file without holding it."""
    return await file.read(media.MAX_UPLOAD_BYTES + 1)


def _photos() -> list[generations.InputPhoto]:
    return []


def _recent() -> list[upload_library.RecentUpload]:
    return []


class StudioInputsState(SessionState):
    # The product photos; the first is the primary one.
    products: rx.Field[list[generations.InputPhoto]] = rx.field(default_factory=_photos)
    model_image_id: rx.Field[int] = rx.field(0)
    model_preview_url: rx.Field[str] = rx.field("")
    model_filename: rx.Field[str] = rx.field("")
    model_placeholder: rx.Field[str] = rx.field("")
    upload_error: rx.Field[str] = rx.field("")
    uploading: rx.Field[bool] = rx.field(False)
    upload_percent: rx.Field[int] = rx.field(0)
    camera_open: rx.Field[bool] = rx.field(False)
    # The user's recent uploads (newest first), to pick from again in any tab or device.
    recent: rx.Field[list[upload_library.RecentUpload]] = rx.field(default_factory=_recent)

    @rx.var
    def photo_ids_in_use(self) -> list[int]:
        """The uploads the studio holds now (the strip marks them)."""
        ids = [p.id for p in self.products]
        return [*ids, self.model_image_id] if self.model_image_id else ids

    @rx.var
    def product_slots_left(self) -> int:
        return generations.MAX_PRODUCT_IMAGES - len(self.products)

    @rx.var
    def product_image_id(self) -> int:
        """The primary product photo (0: none yet)."""
        return self.products[0].id if self.products else 0

    # -- uploads -----------------------------------------------------------------------------

    @rx.event
    @checked(files=UPLOADS)
    async def upload_product(self, files: list[rx.UploadFile]) -> None:
        await self._upload(files, ImageCategory.PRODUCT)

    @rx.event
    @checked(files=UPLOADS)
    async def upload_model(self, files: list[rx.UploadFile]) -> None:
        await self._upload(files, ImageCategory.MODEL)

    @rx.event
    @checked(progress=UPLOAD_PROGRESS)
    def upload_progress(self, progress: dict[str, Any]) -> None:
        """on_upload_progress of the drop zones: the share of bytes sent so far."""
        share = progress.get("progress") if isinstance(progress, dict) else None
        if isinstance(share, (int, float)) and not isinstance(share, bool):
            percent = max(0, min(100, int(share * 100)))
            if percent == 100 or percent - self.upload_percent >= 5 or not self.uploading:
                self.uploading = percent < 100 or self.uploading
                self.upload_percent = percent

    async def _upload(self, files: list[rx.UploadFile], category: ImageCategory) -> None:
        if not files:
            return  # the drop zone refused the file; reject_upload says why
        self.upload_error = ""
        user = await self._current_user()
        if user is None:
            self.upload_error = "Your session has ended. Sign in again to upload."
            self.uploading = False
            return
        room = self.product_slots_left if category == ImageCategory.PRODUCT else 1
        if room <= 0:
            self.upload_error = (
                f"You have {generations.MAX_PRODUCT_IMAGES} product photos already: "
                "remove one to add another."
            )
            self.uploading = False
            return
        self.uploading = True
        base = media_base_url()
        try:
            for file in files[:room]:
                data = await _read_capped(file)
                filename = file.name or file.filename or "upload"
                try:
                    view = await asyncio.to_thread(
                        generation_flows.upload_input_photo,
                        db=get_engine(),
                        storage=get_storage(),
                        user_id=user.id,
                        data=data,
                        filename=filename,
                        category=category,
                        base_url=base,
                    )
                except DomainError as exc:
                    self.upload_error = exc.message
                    return
                if category == ImageCategory.PRODUCT:
                    self.products = [*self.products, view]
                else:
                    self._set_scene(view)
            if len(files) > room:
                self.upload_error = (
                    f"Only {generations.MAX_PRODUCT_IMAGES} product photos fit: "
                    f"{len(files) - room} left out."
                )
        finally:
            self.uploading = False
            self.upload_percent = 0
            await self._load_recent(user.id)

    # -- recent uploads: the same photos again, in any tab ----------------------------------

    async def _load_recent(self, user_id: int) -> None:
        base = media_base_url()
        self.recent = await in_session(
            lambda s: upload_library.recent_uploads(s, user_id=user_id, base_url=base),
            write=False,
        )

    @rx.event
    @checked(image_id=ROW_ID)
    async def use_recent(self, image_id: int) -> None:
        """A click on a recent upload: it goes back in as what it was uploaded as (a product
        angle, or the scene). Only the signed-in user's own uploads are found."""
        self.upload_error = ""
        user = await self._current_user()
        if user is None:
            self.upload_error = "Your session has ended. Sign in again to use your photos."
            return
        base = media_base_url()
        try:
            picked = await in_session(
                lambda s: upload_library.pick_upload(
                    s, user_id=user.id, image_id=image_id, base_url=base
                ),
                write=False,
            )
        except DomainError as exc:
            self.upload_error = exc.message
            await self._load_recent(user.id)
            return
        if picked.kind == "scene":
            self._set_scene(picked.view)
        elif self._index(picked.view.id) >= 0:
            return  # already one of the angles
        elif self.product_slots_left <= 0:
            self.upload_error = (
                f"You have {generations.MAX_PRODUCT_IMAGES} product photos already: "
                "remove one to add another."
            )
        else:
            self.products = [*self.products, picked.view]

    @rx.event
    @checked(image_id=ROW_ID)
    async def remove_recent(self, image_id: int) -> None:
        """`Remove` on a recent upload: off the strip in every tab (photos already in the
        studio stay, and so do the generations made with it)."""
        self.upload_error = ""
        user = await self._current_user()
        if user is None:
            self.upload_error = "Your session has ended. Sign in again to use your photos."
            return
        try:
            await in_session(
                lambda s: upload_library.remove_from_recent(s, user_id=user.id, image_id=image_id)
            )
        except DomainError as exc:
            self.upload_error = exc.message
        await self._load_recent(user.id)

    def _set_scene(self, view: generations.InputPhoto | None) -> None:
        self.model_image_id = view.id if view else 0
        self.model_preview_url = view.url if view else ""
        self.model_filename = view.name if view else ""
        self.model_placeholder = view.placeholder if view else ""

    # -- arranging the product photos (only ids already in the list are looked at) ----------

    @rx.event
    @checked(image_id=ROW_ID)
    def make_primary(self, image_id: int) -> None:
        index = self._index(image_id)
        if index > 0:
            photos = list(self.products)
            photos.insert(0, photos.pop(index))
            self.products = photos

    @rx.event
    @checked(image_id=ROW_ID, step=bounded_int(-1, 1))
    def move_product(self, image_id: int, step: int) -> None:
        index = self._index(image_id)
        if index < 0 or step not in (-1, 1) or not 0 <= index + step < len(self.products):
            return
        photos = list(self.products)
        photos[index], photos[index + step] = photos[index + step], photos[index]
        self.products = photos

    @rx.event
    @checked(image_id=ROW_ID)
    def remove_product(self, image_id: int) -> None:
        index = self._index(image_id)
        if index >= 0:
            self.products = [p for i, p in enumerate(self.products) if i != index]

    def _index(self, image_id: object) -> int:
        if isinstance(image_id, bool) or not isinstance(image_id, int):
            return -1
        return next((i for i, p in enumerate(self.products) if p.id == image_id), -1)

    @rx.event
    def clear_model_image(self) -> None:
        self._set_scene(None)

    # -- the camera: the page takes the picture and hands it to the product drop zone ---------

    @rx.event
    def open_camera(self):
        if self.product_slots_left <= 0:
            return None
        self.upload_error = ""
        self.camera_open = True
        return rx.call_script(
            photo_capture.START_CAMERA_JS, callback=StudioInputsState.camera_result
        )

    @rx.event
    def capture_photo(self):
        return rx.call_script(photo_capture.CAPTURE_JS, callback=StudioInputsState.photo_taken)

    @rx.event
    @checked(problem=text(200))
    def camera_result(self, problem: str) -> None:
        """What the page's camera script reported: "" when the preview runs."""
        self._camera_problem(problem)

    @rx.event
    @checked(problem=text(200))
    def photo_taken(self, problem: str) -> None:
        """The picture went to the product drop zone (its upload is under way), or why not."""
        self._camera_problem(problem)
        self.camera_open = False

    def _camera_problem(self, problem: object) -> None:
        if isinstance(problem, str) and problem:
            self.upload_error = f"The camera could not be used: {problem[:200]}"
            self.camera_open = False

    @rx.event
    def close_camera(self):
        self.camera_open = False
        return rx.call_script(photo_capture.STOP_CAMERA_JS)

    @rx.event
    @checked(is_open=FLAG)
    def camera_dialog_changed(self, is_open: bool):
        """The dialog closed by Escape or a click outside: the camera stops too."""
        if is_open is False:
            self.camera_open = False
            return rx.call_script(photo_capture.STOP_CAMERA_JS)
        return None

    @rx.event
    @checked(codes=text_list(100, 100))
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
            self.upload_error = f"That file is not a {FORMATS} image."
        elif codes_seen == {"too-many-files"}:
            self.upload_error = (
                f"Drop at most {generations.MAX_PRODUCT_IMAGES} product photos at a time."
            )
        else:
            self.upload_error = f"That file is over {limit} or not a {FORMATS} image."
