"""`/generations`: start a batch (with `Idempotency-Key`), read one or a page, cancel,
delete — through the flows the studio and the gallery call."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from stylestudio.api.v1.problems import ConflictError, linked, problem_responses
from stylestudio.api.v1.schemas import (
    PAGE_MAX,
    Batch,
    Generation,
    GenerationPage,
    GenerationRequest,
    decode_cursor,
    encode_cursor,
)
from stylestudio.api.v1.security import scoped
from stylestudio.db import get_engine, session_scope
from stylestudio.models import GenerationStatus
from stylestudio.runtime import available_models, get_prediction_engine, get_storage
from stylestudio.services.accounts import api_idempotency
from stylestudio.services.accounts.api_keys import ApiPrincipal
from stylestudio.services.errors import ValidationError
from stylestudio.services.generation import generation_flows, generations
from stylestudio.services.generation.generation_views import (
    GalleryFilter,
    get_generation_view,
    list_user_generations,
)
from stylestudio.services.ids import MAX_ROW_ID
from stylestudio.settings import get_settings

# The operations on one generation, by the name of the OpenAPI link that leads to each.
_ONE_GENERATION = {
    "GetGeneration": "getGeneration",
    "CancelGeneration": "cancelGeneration",
    "DeleteGeneration": "deleteGeneration",
}
router = APIRouter(tags=["generations"], responses=problem_responses(400, 401, 403, 429))
GenerationId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
Generator = Annotated[ApiPrincipal, Depends(scoped("generate"))]
Reader = Annotated[ApiPrincipal, Depends(scoped("read"))]
LibraryWriter = Annotated[ApiPrincipal, Depends(scoped("library:write"))]


def _base_url() -> str:
    return get_settings().api_url


@router.post(
    "/generations",
    status_code=201,
    operation_id="createGenerations",
    openapi_extra={"x-required-scope": "generate"},
    response_model=Batch,
    responses=problem_responses(404, 409, 422)
    | linked(
        201,
        "The batch: its cost and its generations",
        {
            name: {
                "operationId": operation,
                "parameters": {"generation_id": "$response.body#/generations/0/id"},
            }
            for name, operation in _ONE_GENERATION.items()
        },
    ),
)
async def create_generations(
    request: Request,
    body: GenerationRequest,
    who: Generator,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Retries with the same key and body get the first answer and are "
            "charged once; the same key with another body is refused (409 "
            "`idempotency_key_reused`).",
        ),
    ] = None,
) -> Response:
    """Start one generation per style, all of them or none: the credits of the whole batch
    are spent at once (409 `insufficient_credits` when the balance does not cover them).
    Poll `GET /generations/{id}` until `finished`."""
    raw = await request.body()  # as FastAPI read it (cached): the fingerprint's body
    key = api_idempotency.check_key(idempotency_key) if idempotency_key is not None else ""
    fingerprint = api_idempotency.fingerprint(request.method, request.url.path, raw)
    answer = await asyncio.to_thread(_start, body, who, key=key, request_fingerprint=fingerprint)
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else {}
    return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)


@dataclass(frozen=True)
class _Answer:
    status_code: int
    body: dict[str, Any]
    replayed: bool


def _start(
    body: GenerationRequest, who: ApiPrincipal, *, key: str, request_fingerprint: str
) -> _Answer:
    """The batch the request starts, or (with a key) the answer kept for the key."""
    if key:
        with session_scope(get_engine(), write=False) as session:
            stored = api_idempotency.stored_answer(
                session, user_id=who.user_id, key=key, request_fingerprint=request_fingerprint
            )
        if stored is not None:
            return _Answer(stored.status_code, stored.body, replayed=True)
    models = available_models()
    spec = generations.GenerationSpec(
        product_image_ids=tuple(body.products),
        styles=tuple(body.styles),
        quality=body.quality,
        aspect_ratio=body.aspect_ratio,
        model_image_id=body.scene,
        prompt=body.prompt,
        negative_prompt=body.negative_prompt,
        model=body.model if body.model is not None else models[0].key,
        variations=body.variations,
        seed=body.seed,
    )
    views = generation_flows.start_generations(
        db=get_engine(),
        user_id=who.user_id,
        spec=spec,
        # One key, one batch: a retry, even a concurrent one, starts and charges nothing.
        idempotency_key=(
            api_idempotency.batch_key_for(user_id=who.user_id, key=key) if key else uuid.uuid4().hex
        ),
        models=models,
        engine_name=get_settings().generation_engine,
        base_url=_base_url(),
    )
    batch = Batch(
        cost=sum(v.credits_used for v in views), generations=[Generation.of(v) for v in views]
    )
    answer = api_idempotency.StoredAnswer(201, batch.model_dump(mode="json"))
    if not key:
        return _Answer(answer.status_code, answer.body, replayed=False)
    with session_scope(get_engine()) as session:
        kept = api_idempotency.remember_answer(
            session,
            user_id=who.user_id,
            key=key,
            request_fingerprint=request_fingerprint,
            answer=answer,
        )
    return _Answer(kept.status_code, kept.body, replayed=kept is not answer)


@router.get(
    "/generations",
    operation_id="listGenerations",
    openapi_extra={"x-required-scope": "read"},
    responses=problem_responses(422)
    | linked(
        200,
        "A page of generations, newest first",
        {
            name: {
                "operationId": operation,
                "parameters": {"generation_id": "$response.body#/data/0/id"},
            }
            for name, operation in _ONE_GENERATION.items()
        },
    ),
)
def list_generations(
    who: Reader,
    status: Annotated[GenerationStatus | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX - 1)] = 24,
) -> GenerationPage:
    """Your generations, newest first, a page at a time (`next_cursor` until null)."""
    before = decode_cursor("generations", cursor)
    with session_scope(get_engine(), write=False) as session:
        views = list_user_generations(
            session,
            user_id=who.user_id,
            base_url=_base_url(),
            limit=limit + 1,
            before_id=before,
            filters=GalleryFilter(status=status.value if status else ""),
        )
    page = views[:limit]
    return GenerationPage(
        data=[Generation.of(v) for v in page],
        next_cursor=encode_cursor("generations", page[-1].id)
        if len(views) > limit and page
        else None,
    )


@router.get(
    "/generations/{generation_id}",
    operation_id="getGeneration",
    openapi_extra={"x-required-scope": "read"},
    responses=problem_responses(404, 422),
)
def get_generation(generation_id: GenerationId, who: Reader) -> Generation:
    """One of your generations, with its result images as signed URLs that expire."""
    with session_scope(get_engine(), write=False) as session:
        view = get_generation_view(
            session, user_id=who.user_id, generation_id=generation_id, base_url=_base_url()
        )
    return Generation.of(view)


@router.post(
    "/generations/{generation_id}/cancel",
    operation_id="cancelGeneration",
    openapi_extra={"x-required-scope": "generate"},
    responses=problem_responses(404, 409, 422),
)
async def cancel_generation(generation_id: GenerationId, who: Generator) -> Generation:
    """Cancel a queued or running generation: it ends cancelled and its credits come back
    (once). 409 `conflict` when it has already finished."""
    try:
        await generation_flows.cancel_generation(
            db=get_engine(),
            predictions=get_prediction_engine(),
            user_id=who.user_id,
            generation_id=generation_id,
        )
    except ValidationError as exc:  # already finished: the state, not the request, is wrong
        raise ConflictError(exc.message) from None

    def read() -> Generation:
        with session_scope(get_engine(), write=False) as session:
            return Generation.of(
                get_generation_view(
                    session, user_id=who.user_id, generation_id=generation_id, base_url=_base_url()
                )
            )

    return await asyncio.to_thread(read)


@router.delete(
    "/generations/{generation_id}",
    status_code=204,
    operation_id="deleteGeneration",
    openapi_extra={"x-required-scope": "library:write"},
    responses=problem_responses(404, 409, 422),
)
def delete_generation(generation_id: GenerationId, who: LibraryWriter) -> Response:
    """Delete a finished generation and its images (the credits stay spent). 409 `conflict`
    while it is still running: cancel it first."""
    try:
        generation_flows.delete_generation(
            db=get_engine(), storage=get_storage(), user_id=who.user_id, generation_id=generation_id
        )
    except ValidationError as exc:
        raise ConflictError(exc.message) from None
    return Response(status_code=204)
