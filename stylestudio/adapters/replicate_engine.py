"""Replicate: predictions created with the official client (async API), never waited on inside it.

A remote engine is a *prediction* engine: ``start`` returns at once with the prediction's id
(which the caller commits before waiting), ``get`` reads its state, ``cancel`` stops it, and
``download`` copies an output before Replicate deletes it. Completion is found by whoever
asks first: the worker's polling or the signed webhook.

Errors come out as two kinds: ``ProviderBusy`` (429, 5xx, network: try the same call again
after ``retry_after`` seconds, never a second prediction) and ``GenerationEngineError`` (the
provider refused: a readable message for the user).
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import io
import logging
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, runtime_checkable

import httpx
import replicate
from replicate.exceptions import ReplicateError

from stylestudio.adapters.generation_engine import (
    GenerationEngineError,
    GenerationRequest,
    ModelSpec,
)
from stylestudio.adapters.replicate_models import model_for
from stylestudio.metrics import PROVIDER_SECONDS

log = logging.getLogger(__name__)

TERMINAL = frozenset({"succeeded", "failed", "canceled"})
INLINE_LIMIT_BYTES = 256 * 1024  # smaller inputs travel inline as data URLs
MAX_OUTPUT_BYTES = 50 * 1024 * 1024
DEFAULT_RETRY_AFTER_S = 5.0

CONTENT_FILTERED = (
    "The AI provider's content filter blocked this image. Try another photo or prompt; "
    "your credits were refunded."
)
PROVIDER_FAILED = (
    "The AI model could not create this image. Your credits were refunded; please try again."
)
PROVIDER_UNAVAILABLE = "The AI provider is unavailable right now. We will keep trying."
PROVIDER_REFUSED_KEY = (
    "The AI provider refused our credentials. An administrator needs to check the API token."
)
INVALID_INPUT = "The AI model refused these inputs: {detail}"

_retry_after: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "replicate_retry_after", default=None
)


@dataclass(frozen=True)
class Prediction:
    """What Replicate says about one prediction."""

    id: str
    status: str  # starting | processing | succeeded | failed | canceled
    output_urls: tuple[str, ...] = ()
    error: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Prediction:
        """From the JSON of the API or of a webhook."""
        output = data.get("output")
        if isinstance(output, str):
            urls: tuple[str, ...] = (output,)
        elif isinstance(output, list):
            urls = tuple(str(u) for u in output if isinstance(u, str) and u)
        else:
            urls = ()
        error = data.get("error")
        return cls(
            id=str(data.get("id") or ""),
            status=str(data.get("status") or ""),
            output_urls=urls,
            error=str(error) if error else None,
        )


class ProviderBusy(Exception):
    """The provider asked us to come back later (429, 5xx) or could not be reached."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@runtime_checkable
class PredictionEngine(Protocol):
    """A remote engine that works by predictions the worker follows."""

    name: str
    model: str
    models: tuple[ModelSpec, ...]  # what it offers, its default first

    async def start(self, request: GenerationRequest, *, webhook_url: str | None) -> Prediction:
        """Create the prediction; return as soon as the provider has accepted it."""
        ...

    async def get(self, prediction_id: str) -> Prediction: ...

    async def cancel(self, prediction_id: str) -> None: ...

    async def download(self, url: str) -> tuple[bytes, str]:
        """An output's bytes and content type."""
        ...

    async def webhook_secret(self) -> str: ...

    def failure_message(self, prediction: Prediction) -> str: ...


class _RetryAfterTransport(httpx.AsyncBaseTransport):
    """Remembers the provider's Retry-After on 429/5xx answers (the client's errors drop it)."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50)
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if response.status_code == 429 or response.status_code >= 500:
            _retry_after.set(parse_retry_after(response.headers.get("retry-after")))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def parse_retry_after(value: str | None) -> float:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), bounded."""
    if not value:
        return DEFAULT_RETRY_AFTER_S
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return DEFAULT_RETRY_AFTER_S
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.5), 300.0)


def _data_url(data: bytes, content_type: str) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode()}"


def _sniff(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


class ReplicateEngine:
    """Replicate through its official client."""

    name = "replicate"

    def __init__(
        self,
        *,
        api_token: str,
        base_url: str,
        model: str,
        more_models: tuple[str, ...] = (),
        webhook_secret: str = "",
    ) -> None:
        """`model` is the default; `more_models` are offered beside it in the studio."""
        self.model = model
        self._models = {m: model_for(m) for m in (model, *more_models)}
        self.models: tuple[ModelSpec, ...] = tuple(m.spec for m in self._models.values())
        self._api_token, self._base_url = api_token, base_url
        self._webhook_secret = webhook_secret
        # Connections belong to an event loop: one client pair per loop that uses the engine
        # (the web server's, a worker's, a tool's).
        self._per_loop: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[replicate.Client, httpx.AsyncClient]
        ] = weakref.WeakKeyDictionary()

    def _clients(self) -> tuple[replicate.Client, httpx.AsyncClient]:
        loop = asyncio.get_running_loop()
        pair = self._per_loop.get(loop)
        if pair is None:
            pair = (
                replicate.Client(
                    api_token=self._api_token,
                    base_url=self._base_url,
                    timeout=httpx.Timeout(30.0, connect=10.0, pool=30.0),
                    transport=_RetryAfterTransport(),
                ),
                httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0), follow_redirects=True),
            )
            self._per_loop[loop] = pair
        return pair

    @property
    def _client(self) -> replicate.Client:
        return self._clients()[0]

    @property
    def _downloads(self) -> httpx.AsyncClient:
        return self._clients()[1]

    # -- predictions ---------------------------------------------------------------------

    async def start(self, request: GenerationRequest, *, webhook_url: str | None) -> Prediction:
        model = self._models.get(request.model) or self._models[self.model]
        spec = model.spec
        photos = [request.product_image]
        if spec.all_product_images:
            photos.extend(request.more_product_images)
        if spec.scene_image and request.model_image is not None:
            photos.append(request.model_image)
        images = [await self._image_ref(photo) for photo in photos]
        params: dict[str, Any] = {}
        if webhook_url:
            params["webhook"] = webhook_url
            params["webhook_events_filter"] = ["completed"]
        created = await self._call(
            self._client.models.predictions.async_create(
                model=model.name, input=model.build_input(request, images), **params
            ),
            operation="create",
        )
        return Prediction.from_payload(_as_dict(created))

    async def get(self, prediction_id: str) -> Prediction:
        found = await self._call(self._client.predictions.async_get(prediction_id), operation="get")
        return Prediction.from_payload(_as_dict(found))

    async def cancel(self, prediction_id: str) -> None:
        await self._call(self._client.predictions.async_cancel(prediction_id), operation="cancel")

    async def download(self, url: str) -> tuple[bytes, str]:
        if url.startswith("data:"):
            header, _, encoded = url.partition(",")
            data = base64.b64decode(encoded)
            return data, header[5:].split(";")[0] or _sniff(data)
        return await self._call(self._fetch(url), operation="download")

    async def _fetch(self, url: str) -> tuple[bytes, str]:
        try:
            async with self._downloads.stream("GET", url) as response:
                if response.status_code == 429 or response.status_code >= 500:
                    raise ProviderBusy(
                        PROVIDER_UNAVAILABLE,
                        retry_after=parse_retry_after(response.headers.get("retry-after")),
                    )
                if response.status_code != 200:
                    raise GenerationEngineError(
                        "The AI provider's result could not be fetched (it may have expired)."
                    )
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_OUTPUT_BYTES:
                        raise GenerationEngineError("The AI provider's result is too large.")
                    chunks.append(chunk)
        except httpx.TransportError as exc:
            raise ProviderBusy(PROVIDER_UNAVAILABLE, retry_after=DEFAULT_RETRY_AFTER_S) from exc
        data = b"".join(chunks)
        return data, _sniff(data)

    async def webhook_secret(self) -> str:
        if not self._webhook_secret:
            secret = await self._call(
                self._client.webhooks.default.async_secret(), operation="webhook_secret"
            )
            self._webhook_secret = str(secret.key)
        return self._webhook_secret

    def failure_message(self, prediction: Prediction) -> str:
        error = (prediction.error or "").lower()
        if any(w in error for w in ("e005", "sensitive", "nsfw", "safety", "flagged")):
            return CONTENT_FILTERED
        return PROVIDER_FAILED

    # -- helpers -------------------------------------------------------------------------

    async def _image_ref(self, data: bytes) -> str:
        """A URL Replicate can read without the image ever being public."""
        content_type = _sniff(data)
        if len(data) <= INLINE_LIMIT_BYTES:
            return _data_url(data, content_type)
        extension = {"image/png": "png", "image/webp": "webp"}.get(content_type, "jpg")
        uploaded = await self._call(
            self._client.files.async_create(
                io.BytesIO(data), filename=f"input.{extension}", content_type=content_type
            ),
            operation="upload",
        )
        return str(uploaded.urls["get"])

    async def _call(self, awaitable: Any, *, operation: str) -> Any:
        """Run one client call, timed (provider latency by operation and outcome)."""
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await self._translated(awaitable)
            outcome = "ok"
            return result
        except ProviderBusy as exc:
            outcome = "busy"
            log.warning(
                "replicate %s: provider busy (%s), again in %.1fs",
                operation,
                exc,
                exc.retry_after,
                extra={"provider": "replicate", "operation": operation},
            )
            raise
        finally:
            elapsed = time.perf_counter() - started
            PROVIDER_SECONDS.labels("replicate", operation, outcome).observe(elapsed)

    async def _translated(self, awaitable: Any) -> Any:
        """Run one client call; translate its failures into our two kinds."""
        _retry_after.set(None)
        try:
            return await awaitable
        except ReplicateError as exc:
            status = exc.status or 0
            if status == 429 or status >= 500:
                retry = _retry_after.get() or DEFAULT_RETRY_AFTER_S
                raise ProviderBusy(
                    f"Replicate answered {status}: {exc.detail or exc.title}", retry_after=retry
                ) from exc
            if status in (401, 403):
                raise GenerationEngineError(PROVIDER_REFUSED_KEY) from exc
            if status == 422:
                detail = (exc.detail or "invalid input").strip()
                raise GenerationEngineError(INVALID_INPUT.format(detail=detail[:300])) from exc
            log.warning("replicate call failed: %r", exc)
            raise GenerationEngineError(PROVIDER_FAILED) from exc
        except httpx.TransportError as exc:
            raise ProviderBusy(PROVIDER_UNAVAILABLE, retry_after=DEFAULT_RETRY_AFTER_S) from exc


def _as_dict(prediction: Any) -> dict[str, Any]:
    if isinstance(prediction, dict):
        return prediction
    return {
        "id": prediction.id,
        "status": prediction.status,
        "output": prediction.output,
        "error": prediction.error,
    }
