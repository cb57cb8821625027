"""`POST /uploads`: a product or scene photo, through the studio's own upload flow (the same
checks, decoding, re-encoding without metadata and thumbnails)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, UploadFile

from stylestudio.api.v1.problems import PayloadTooLargeError, linked, problem_responses
from stylestudio.api.v1.schemas import Upload
from stylestudio.api.v1.security import scoped
from stylestudio.db import get_engine
from stylestudio.models import ImageCategory
from stylestudio.runtime import get_storage
from stylestudio.services.accounts.api_keys import ApiPrincipal
from stylestudio.services.generation import generation_flows
from stylestudio.services.media import media
from stylestudio.settings import get_settings

router = APIRouter(tags=["uploads"], responses=problem_responses(400, 401, 403, 413, 422, 429))
_CATEGORIES = {"product": ImageCategory.PRODUCT, "scene": ImageCategory.MODEL}


@router.post(
    "/uploads",
    status_code=201,
    operation_id="createUpload",
    openapi_extra={"x-required-scope": "library:write"},
    responses=linked(
        201,
        "The stored upload",
        {
            "GenerateFromUpload": {
                "operationId": "createGenerations",
                "requestBody": {"products": ["$response.body#/id"], "styles": ["realistic"]},
                "description": "Generate from this upload, as a product photo",
            }
        },
    ),
)
async def create_upload(
    who: Annotated[ApiPrincipal, Depends(scoped("library:write"))],
    file: Annotated[UploadFile, File(description="A JPEG, PNG, WebP or HEIC photo")],
    role: Annotated[Literal["product", "scene"], Form()] = "product",
) -> Upload:
    """Store a photo to generate from: `role` product (an angle of the product) or scene (a
    model or setting to place it in). The stored picture is upright, without metadata
    (EXIF, GPS) and at most the display size long; `width` and `height` are its own."""
    data = await file.read(media.MAX_UPLOAD_BYTES + 1)
    if len(data) > media.MAX_UPLOAD_BYTES:
        raise PayloadTooLargeError(
            f"A photo is at most {media.MAX_UPLOAD_BYTES // (1024 * 1024)} MB."
        )
    photo = await asyncio.to_thread(
        generation_flows.upload_input_photo,
        db=get_engine(),
        storage=get_storage(),
        user_id=who.user_id,
        data=data,
        filename=file.filename or "upload",
        category=_CATEGORIES[role],
        base_url=get_settings().api_url,
    )
    return Upload(
        id=photo.id,
        role=role,
        width=photo.width,
        height=photo.height,
        content_type=photo.content_type,
    )
