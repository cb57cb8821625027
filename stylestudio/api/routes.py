"""HTTP routes next to Reflex's own: health, media and payment webhooks."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable

from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from stylestudio.adapters.generation_engine import GenerationEngineError
from stylestudio.adapters.payments import (
    InvalidWebhookSignature,
    PaymentProviderError,
    verify_stripe_event,
)
from stylestudio.adapters.replicate_engine import ProviderBusy
from stylestudio.api.auth_routes import auth_routes
from stylestudio.api.download_routes import download_routes
from stylestudio.api.oauth_routes import oauth_routes
from stylestudio.api.share_page import share_routes
from stylestudio.api.stored_media import stored_media_response
from stylestudio.api.v1.app import mounted_v1
from stylestudio.api.workload_metrics import WorkloadCollector
from stylestudio.db import get_engine
from stylestudio.metrics import WEBHOOKS, exposition
from stylestudio.runtime import (
    get_checkout_provider,
    get_prediction_engine,
    get_storage,
    webhook_secrets,
)
from stylestudio.services.billing import checkout
from stylestudio.services.errors import DomainError
from stylestudio.services.generation.prediction_events import handle_prediction_event
from stylestudio.services.health import database_status, redis_status, storage_status
from stylestudio.services.library.generation_downloads import safe_stem
from stylestudio.services.media.media import EXTENSIONS, verify_media_signature
from stylestudio.settings import get_settings

_CONTENT_TYPES = {ext: ctype for ctype, ext in EXTENSIONS.items()}
log = logging.getLogger(__name__)


async def health(_request: Request) -> JSONResponse:
    """Alive: the process answers HTTP. Touches nothing else (see /api/ready)."""
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


# A check that takes longer than this counts as failed: the probe answers in time either way.
READY_TIMEOUT_S = 5.0
_READY = ("ok", "not configured")


async def _check(name: str, fn: Callable[[], dict[str, object]]) -> dict[str, object]:
    try:
        return await asyncio.wait_for(asyncio.to_thread(fn), timeout=READY_TIMEOUT_S)
    except TimeoutError:
        return {name: "timeout"}
    except Exception as exc:  # e.g. a DATABASE_URL no engine can be made of
        return {name: "failing", "detail": type(exc).__name__}


async def ready(_request: Request) -> JSONResponse:
    """Ready: the database reachable and at the code's migration head, Redis answering when
    REDIS_URL is set, media storage writable and readable. 200 when all are, else 503 with
    `failed` naming the parts that are not (and `details`, each one's error class)."""
    redis_url = get_settings().redis_url
    checks = {
        "database": lambda: database_status(get_engine()),
        "storage": lambda: storage_status(get_storage()),
    }
    if redis_url:
        checks["redis"] = lambda: redis_status(redis_url)
    results = await asyncio.gather(*(_check(name, fn) for name, fn in checks.items()))
    parts: dict[str, object] = {"redis": "not configured"}
    details: dict[str, object] = {}
    for name, result in zip(checks, results, strict=True):
        if "detail" in result:
            details[name] = result.pop("detail")
        parts.update(result)
    failed = [name for name in ("database", "redis", "storage") if parts[name] not in _READY]
    return JSONResponse(
        {
            "status": "not ready" if failed else "ready",
            "failed": failed,
            **parts,
            **({"details": details} if details else {}),
        },
        status_code=503 if failed else 200,
        headers={"Cache-Control": "no-store"},
    )


async def metrics(request: Request) -> Response:
    """Prometheus text exposition: this process's (or, in multiprocess mode, every
    process's) counters, and the database's current workload. With
    STYLESTUDIO_METRICS_TOKEN set, only for `Authorization: Bearer <token>`."""
    token = get_settings().metrics_token
    if token:
        sent = request.headers.get("authorization", "")
        scheme, _, value = sent.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            value.strip().encode(), token.encode()
        ):
            return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
    body, content_type = await asyncio.to_thread(
        exposition, extra=[WorkloadCollector(get_engine())]
    )
    return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})


async def media(request: Request) -> Response:
    """Stored images by key, for the holder of a valid signed URL (services.media.media.media_url):
    403 without one (checked first, without the database), 404 for a missing file."""
    key = request.path_params["key"]
    if not verify_media_signature(key, request.query_params.get("sig")):
        return Response(status_code=403, headers={"Cache-Control": "no-store"})
    ext = key.rsplit(".", 1)[-1].lower()
    headers = {
        # As long as a signed URL's time bucket: the same URL is issued for 10 minutes.
        "Cache-Control": "private, max-age=600",
        "X-Content-Type-Options": "nosniff",
    }
    download = request.query_params.get("download")
    if download:
        # `Download`: the browser saves the file (full size, as stored) under the name the
        # page asked for (`fashion-red-mug-42-1`), if it is a plain one.
        headers["Content-Disposition"] = f'attachment; filename="{safe_stem(download)}.{ext}"'
    response = await stored_media_response(
        request,
        get_storage(),
        key,
        media_type=_CONTENT_TYPES.get(ext, "application/octet-stream"),
        headers=headers,
    )
    return response or Response(status_code=404)


# Stripe's events are a few KB; anything far larger is not one of them.
MAX_WEBHOOK_BYTES = 256 * 1024


async def stripe_webhook(request: Request) -> Response:
    """Stripe's events: verified before anything else; a bad signature stores nothing."""
    provider = get_checkout_provider()
    secrets = webhook_secrets()
    if provider is None or not secrets:
        _webhook_refused("stripe", "payments are not configured")
        return JSONResponse({"error": "payments are not configured"}, status_code=404)
    payload = await _read_capped(request, MAX_WEBHOOK_BYTES)
    if payload is None:
        _webhook_refused("stripe", "payload too large")
        return JSONResponse({"error": "payload too large"}, status_code=413)
    try:
        event = verify_stripe_event(
            payload, request.headers.get("stripe-signature"), secrets, tolerance=300
        )
    except InvalidWebhookSignature:
        _webhook_refused("stripe", "invalid signature")
        return JSONResponse({"error": "invalid signature"}, status_code=400)
    try:
        result = await asyncio.to_thread(
            checkout.handle_stripe_event, db=get_engine(), provider=provider, event=event
        )
    except PaymentProviderError as exc:
        # Stripe redelivers on any non-2xx: nothing was recorded, so the retry is safe.
        log.warning("stripe event %s not applied yet: %s", event.get("id"), exc.message)
        WEBHOOKS.labels("stripe", "retry").inc()
        return JSONResponse({"error": "try again"}, status_code=503)
    except DomainError as exc:
        log.error("stripe event %s refused: %s", event.get("id"), exc.message)
        WEBHOOKS.labels("stripe", "refused").inc()
        return JSONResponse({"received": True, "result": "refused"})
    WEBHOOKS.labels("stripe", _outcome(result)).inc()
    return JSONResponse({"received": True, "result": result})


def _outcome(result: str) -> str:
    """A Stripe handler's answer as an outcome label (a purchase's new status, a refund's or
    a dispute's effect: applied)."""
    if result in ("duplicate", "ignored"):
        return result
    return "applied"


def _webhook_refused(provider: str, reason: str) -> None:
    """A delivery refused before anything of it was read or stored: one line, one count."""
    log.warning("%s webhook refused: %s", provider, reason, extra={"webhook": provider})
    WEBHOOKS.labels(provider, "refused").inc()


async def _read_capped(request: Request, limit: int) -> bytes | None:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


MAX_PREDICTION_EVENT_BYTES = 1024 * 1024
_WEBHOOK_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


async def replicate_webhook(request: Request) -> Response:
    """Replicate's completions, verified by the Standard Webhooks scheme (5-minute tolerance)
    before anything is read; each webhook-id is applied once."""
    engine = get_prediction_engine()
    if engine is None:
        _webhook_refused("replicate", "replicate is not the configured engine")
        return JSONResponse({"error": "replicate is not the configured engine"}, status_code=404)
    headers = {name: request.headers.get(name, "") for name in _WEBHOOK_HEADERS}
    if not all(headers.values()):
        _webhook_refused("replicate", "missing webhook headers")
        return JSONResponse({"error": "missing webhook headers"}, status_code=400)
    payload = await _read_capped(request, MAX_PREDICTION_EVENT_BYTES)
    if payload is None:
        _webhook_refused("replicate", "payload too large")
        return JSONResponse({"error": "payload too large"}, status_code=413)
    try:
        secret = await engine.webhook_secret()
    except (ProviderBusy, GenerationEngineError) as exc:
        log.warning("replicate webhook secret unavailable: %s", exc)
        WEBHOOKS.labels("replicate", "retry").inc()
        return JSONResponse({"error": "try again"}, status_code=503)
    try:
        event = Webhook(secret).verify(payload, headers)
    except (WebhookVerificationError, ValueError):
        _webhook_refused("replicate", "invalid signature")
        return JSONResponse({"error": "invalid signature"}, status_code=401)
    if not isinstance(event, dict):
        _webhook_refused("replicate", "not a prediction")
        return JSONResponse({"error": "not a prediction"}, status_code=400)
    try:
        result = await handle_prediction_event(
            db=get_engine(),
            storage=get_storage(),
            engine=engine,
            webhook_id=headers["webhook-id"],
            payload=event,
        )
    except Exception:
        # Replicate redelivers on any non-2xx, and polling finds the prediction anyway.
        log.exception("replicate webhook %s not applied", headers["webhook-id"])
        WEBHOOKS.labels("replicate", "retry").inc()
        return JSONResponse({"error": "try again"}, status_code=503)
    # "unknown prediction", "not finished", "already ended": nothing to do.
    outcome = result if result in ("applied", "duplicate") else "ignored"
    WEBHOOKS.labels("replicate", outcome).inc()
    return JSONResponse({"received": True, "result": result})


def build_api() -> Starlette:
    return Starlette(
        routes=[
            Route("/api/health", health, methods=["GET"]),
            Route("/api/ready", ready, methods=["GET"]),
            Route("/api/metrics", metrics, methods=["GET"]),
            Route("/api/webhooks/stripe", stripe_webhook, methods=["POST"]),
            Route("/api/webhooks/replicate", replicate_webhook, methods=["POST"]),
            Route("/api/media/{key:path}", media, methods=["GET"]),
            *share_routes(),
            *auth_routes(),
            *download_routes(),
            *oauth_routes(),
            Mount("/api/v1", app=mounted_v1()),
        ]
    )
