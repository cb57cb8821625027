"""Claiming generation jobs: lease due jobs, mark their generations processing, and read
their input photos outside any transaction."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from stylestudio.adapters.generation_engine import (
    GenerationRequest,
)
from stylestudio.adapters.storage import MediaStorage
from stylestudio.db import session_scope
from stylestudio.models import (
    Generation,
    GenerationInput,
    GenerationInputRole,
    GenerationStatus,
    Image,
    Job,
    JobKind,
    JobStatus,
    utcnow,
)
from stylestudio.services.generation import jobs
from stylestudio.services.generation.generation_endings import end_generation
from stylestudio.services.generation.generation_work import (
    INPUTS_UNREADABLE,
    UNEXPECTED_ERROR,
    Lease,
    Work,
)


def claim_work(
    *, db: Engine, worker_id: str, limit: int, lease_seconds: int = jobs.DEFAULT_LEASE_SECONDS
) -> list[Work]:
    """Lease up to `limit` generation jobs and mark their generations processing.

    Jobs that cannot run (generation gone or ended, workers that kept dying) are ended here.
    """
    with session_scope(db) as session:
        claimed = jobs.claim_jobs(
            session,
            worker_id=worker_id,
            limit=limit,
            kinds=(JobKind.GENERATE,),
            lease_seconds=lease_seconds,
        )
        works = [
            w
            for job in claimed
            if (w := prepare_work(session, job=job, lease_seconds=lease_seconds)) is not None
        ]
    return works


def prepare_work(
    session: Session, *, job: Job, lease_seconds: int = jobs.DEFAULT_LEASE_SECONDS
) -> Work | None:
    assert job.id is not None and job.lease_owner is not None
    lease = Lease(job.id, job.lease_owner, lease_seconds)
    generation_id = int(job.payload.get("generation_id") or job.generation_id or 0)
    generation = session.get(Generation, generation_id)
    if generation is None or GenerationStatus(generation.status).is_terminal:
        jobs.finish_if_owner(
            session,
            job_id=job.id,
            worker_id=lease.worker_id,
            status=JobStatus.CANCELLED,
            error="generation gone or done",
        )
        return None
    if job.attempts > job.max_attempts:
        # Its workers kept dying mid-run (the lease expired each time): stop for good.
        end_generation(session, generation_id=generation_id, error=UNEXPECTED_ERROR, lease=lease)
        return None
    inputs = session.exec(
        select(GenerationInput.role, Image)
        .join(Image, col(Image.id) == GenerationInput.image_id)
        .where(GenerationInput.generation_id == generation_id)
        .order_by(col(GenerationInput.position))
    ).all()
    products = [img for role, img in inputs if role == GenerationInputRole.PRODUCT]
    product = products[0] if products else None
    scene = next((img for role, img in inputs if role == GenerationInputRole.MODEL), None)
    if product is None:
        end_generation(session, generation_id=generation_id, error=INPUTS_UNREADABLE, lease=lease)
        return None
    now = utcnow()
    generation.status = GenerationStatus.PROCESSING
    generation.started_at = generation.started_at or now
    generation.updated_at = now
    generation.retry_count = max(0, job.attempts - 1)
    session.add(generation)
    assert generation.id is not None and product.id is not None
    return Work(
        lease=lease,
        generation_id=generation.id,
        user_id=generation.user_id,
        product_image_id=product.id,
        product_keys=tuple(p.storage_key for p in products),
        scene_key=scene.storage_key if scene is not None else None,
        prediction_id=generation.provider_prediction_id,
        created_at=generation.created_at,
        request=GenerationRequest(
            product_image=b"",
            model_image=None,
            prompt=generation.prompt,
            negative_prompt=generation.negative_prompt,
            style=generation.style,
            quality=generation.quality,
            aspect_ratio=generation.aspect_ratio,
            seed=generation.seed,
            strength=generation.strength,
            guidance_scale=generation.guidance_scale,
            num_inference_steps=generation.num_inference_steps,
            model=generation.model,
        ),
        variations=generation.variations,
    )


def load_inputs(work: Work, storage: MediaStorage) -> Work:
    """The input images' bytes, read outside any transaction."""
    product, *more = [storage.get(key) for key in work.product_keys]
    scene = storage.get(work.scene_key) if work.scene_key else None
    return replace(
        work,
        request=replace(
            work.request,
            product_image=product,
            more_product_images=tuple(more),
            model_image=scene,
        ),
    )
