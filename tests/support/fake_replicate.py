"""A local HTTP server that speaks Replicate's HTTP API for the endpoints Style Studio calls.

The official ``replicate`` client is pointed at it (``replicate.Client(api_token=fake.api_token,
base_url=fake.base_url)`` or ``REPLICATE_BASE_URL``) and talks to it exactly as it talks to
Replicate: Bearer auth, ``POST /v1/models/{owner}/{name}/predictions``, polling
``GET /v1/predictions/{id}``, cancel, the files API, the default webhook secret, RFC 7807
problem-details errors, ``429`` with ``Retry-After``. Predictions move ``starting`` →
``processing`` → ``succeeded | failed | canceled`` by the clock (``latency_s`` after creation);
a timer at completion sends the ``completed`` webhook signed as Replicate signs it (Standard
Webhooks: ``webhook-id``/``webhook-timestamp``/``webhook-signature``), with retries, optional
loss and duplication. Outputs are URLs on this server that serve real JPEG/PNG images.

Steer it with plain methods (``configure``, ``fail_next``, ``throttle_next_creates``, ...) or,
identically, over HTTP with ``FakeReplicateControl(base_url)`` (``/_control/...``), which is
how benchmarks and browser tests steer it when it runs as its own process::

    python -m tests.support.fake_replicate --port 8199 [--latency 2.0] [--api-token T]
        [--webhook-secret whsec_...]      # prints "ready http://127.0.0.1:8199" when listening

Use the ``fake_replicate`` fixture; import it with a redundant alias so linters see it used:
``from tests.support.fake_replicate import fake_replicate as fake_replicate``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import html
import io
import json
import random
import secrets
import signal
import string
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image, ImageDraw
from replicate.client import Client as ReplicateClient
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.server_thread import ServerThread

DEFAULT_API_TOKEN = "r8_fake_stylestudio_token"
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "canceled"})
STATUSES = ("starting", "processing", "succeeded", "failed", "canceled")
WEBHOOK_EVENTS = ("start", "output", "logs", "completed")
DEFAULT_FAILURE_ERRORS = (
    "E005: The input or output was flagged as sensitive. Please try again with different inputs.",
    "Prediction failed: CUDA out of memory",
)
FILE_LIFETIME_SECONDS = 24 * 3600
STARTING_SHARE = 0.2  # the first 20 % of a prediction's latency is "starting", then "processing"
MAX_PREFER_WAIT_S = 60
_ID_ALPHABET = string.ascii_lowercase + "234567"  # Replicate ids are lowercase base32


# --- helpers --------------------------------------------------------------------------------------


def new_prediction_id() -> str:
    """A Replicate-style id: 26 lowercase base32 characters, e.g. ``gm3qorzdhgbfurvjtvhg6dckhu``."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(26))


def new_webhook_id() -> str:
    alphabet = string.ascii_letters + string.digits
    return "msg_" + "".join(secrets.choice(alphabet) for _ in range(27))


def new_webhook_secret() -> str:
    """``whsec_`` + base64 of 24 random bytes, the shape of Replicate's default secret."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def iso8601(timestamp: float) -> str:
    """``2025-01-31T12:00:00.123456Z``, as Replicate formats its timestamps."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def json_bytes(obj: Any) -> bytes:
    """The one serialisation used for response bodies and webhook bodies alike."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def sign_webhook(body: bytes, secret: str, *, webhook_id: str, timestamp: int) -> str:
    """``v1,<base64 HMAC-SHA256>`` over ``{id}.{timestamp}.{body}`` (Standard Webhooks)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    message = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_headers(
    body: bytes, secret: str, *, webhook_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    """The headers Replicate sends with a webhook body."""
    msg_id = webhook_id or new_webhook_id()
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": "application/json",
        "user-agent": "Replicate-Webhooks/1.0 (fake)",
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign_webhook(body, secret, webhook_id=msg_id, timestamp=ts),
    }


class ReplicateProblem(Exception):
    """An error answer in Replicate's RFC 7807 shape: ``{"title", "detail", "status"}``."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.body: dict[str, Any] = {"title": title, "detail": detail, "status": status}
        self.body.update(extra or {})
        self.headers = dict(headers or {})

    def response(self) -> Response:
        return Response(
            json_bytes(self.body),
            status_code=self.status,
            headers=self.headers,
            media_type="application/problem+json",
        )


def _not_found(what: str) -> ReplicateProblem:
    return ReplicateProblem(404, "Not found", f"The requested {what} could not be found.")


# --- model input schemas --------------------------------------------------------------------------

FieldKind = Literal["string", "uri", "uri_list", "integer", "boolean", "enum"]


@dataclass(frozen=True)
class InputField:
    kind: FieldKind
    required: bool = False
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True)
class ModelSpec:
    """What one model accepts, and the defaults that shape its output."""

    name: str  # "owner/name"
    fields: Mapping[str, InputField]
    default_output_format: str = "jpg"


_OUTPUT_FORMAT = InputField("enum", choices=("jpg", "png"))
NANO_BANANA_ASPECT_RATIOS = (
    "match_input_image",
    *("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"),
)
FLUX_KONTEXT_ASPECT_RATIOS = (
    "match_input_image",
    *("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "4:5", "5:4", "21:9", "9:21", "2:1"),
    "1:2",
)
NANO_BANANA = ModelSpec(
    "google/nano-banana",
    {
        "prompt": InputField("string", required=True),
        "image_input": InputField("uri_list"),
        "aspect_ratio": InputField("enum", choices=NANO_BANANA_ASPECT_RATIOS),
        "output_format": _OUTPUT_FORMAT,
    },
    default_output_format="jpg",
)
FLUX_KONTEXT_PRO = ModelSpec(
    "black-forest-labs/flux-kontext-pro",
    {
        "prompt": InputField("string", required=True),
        "input_image": InputField("uri"),
        "aspect_ratio": InputField("enum", choices=FLUX_KONTEXT_ASPECT_RATIOS),
        "seed": InputField("integer"),
        "output_format": _OUTPUT_FORMAT,
        "safety_tolerance": InputField("integer", minimum=0, maximum=6),
        "prompt_upsampling": InputField("boolean"),
    },
    default_output_format="png",
)
DEFAULT_MODELS: dict[str, ModelSpec] = {m.name: m for m in (NANO_BANANA, FLUX_KONTEXT_PRO)}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    for kind, name in ((str, "string"), (int, "integer"), (float, "number"), (list, "array")):
        if isinstance(value, kind):
            return name
    return "object" if isinstance(value, dict) else type(value).__name__


def _is_uri(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if value.startswith("data:"):
        return "," in value
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _field_errors(path: str, spec: InputField, value: Any) -> list[tuple[str, str, str]]:
    """``(path, error type, description)`` for each problem with one input value."""
    expected = {"uri": "string", "uri_list": "array", "enum": "string"}.get(spec.kind, spec.kind)
    if _json_type(value) != expected:
        given = _json_type(value)
        return [(path, "invalid_type", f"Invalid type. Expected: {expected}, given: {given}")]
    name = path.rsplit(".", 1)[-1]
    if spec.kind == "string" and spec.required and not value.strip():
        return [(path, "required", f"{name} is required")]
    if spec.kind == "uri" and not _is_uri(value):
        return [(path, "format", "Does not match format 'uri'")]
    if spec.kind == "uri_list":
        item = InputField("uri")
        return [e for i, v in enumerate(value) for e in _field_errors(f"{path}.{i}", item, v)]
    if spec.kind == "enum" and value not in spec.choices:
        allowed = ", ".join(f'"{c}"' for c in spec.choices)
        return [(path, "enum", f"{name} must be one of the following: {allowed}")]
    if spec.kind == "integer":
        if spec.minimum is not None and value < spec.minimum:
            return [(path, "number_gte", f"Must be greater than or equal to {spec.minimum}")]
        if spec.maximum is not None and value > spec.maximum:
            return [(path, "number_lte", f"Must be less than or equal to {spec.maximum}")]
    return []


def validate_input(model: ModelSpec, raw: Any) -> None:
    """Raise a 422 problem, listing every invalid field as Replicate does, or return."""
    if not isinstance(raw, dict):
        errors = [("input", "invalid_type", f"Invalid type. Expected: object, given: {raw!r}")]
    else:
        errors = []
        for name, spec in model.fields.items():
            if raw.get(name) is None:
                if spec.required:
                    errors.append((f"input.{name}", "required", f"{name} is required"))
                continue
            errors.extend(_field_errors(f"input.{name}", spec, raw[name]))
    if errors:
        raise ReplicateProblem(
            422,
            "Input validation failed",
            "\n".join(f"- {path}: {description}" for path, _, description in errors),
            extra={
                "invalid_fields": [
                    {"type": kind, "field": path, "description": description}
                    for path, kind, description in errors
                ]
            },
        )


# --- output images --------------------------------------------------------------------------------


def image_size(aspect_ratio: str | None, long_side: int = 1024) -> tuple[int, int]:
    """Width and height for an aspect ratio like ``"16:9"`` (square for ``match_input_image``)."""
    try:
        w, h = (float(part) for part in (aspect_ratio or "").split(":"))
    except ValueError:
        return long_side, long_side
    if w >= h:
        return long_side, max(1, round(long_side * h / w))
    return max(1, round(long_side * w / h)), long_side


def render_image(seed: str, size: tuple[int, int], output_format: str) -> bytes:
    """A deterministic picture for ``seed``: a two-colour gradient with a rectangle on it."""
    rng = random.Random(seed)
    width, height = size
    ramp = Image.linear_gradient("L")
    red = ramp.resize(size)
    green = ramp.rotate(90).resize(size)
    blue = Image.new("L", size, rng.randrange(256))
    picture = Image.merge("RGB", (red, green, blue))
    x0, y0 = rng.randrange(max(width // 2, 1)), rng.randrange(max(height // 2, 1))
    x1 = x0 + width // 4 + rng.randrange(max(width // 4, 1))
    y1 = y0 + height // 4 + rng.randrange(max(height // 4, 1))
    colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    ImageDraw.Draw(picture).rectangle((x0, y0, x1, y1), fill=colour, outline=(255, 255, 255))
    buffer = io.BytesIO()
    if output_format == "png":
        picture.save(buffer, "PNG")
    else:
        picture.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


# --- state ----------------------------------------------------------------------------------------


@dataclass
class FakeReplicateConfig:
    """The knobs ``configure`` / ``POST /_control/config`` change."""

    latency_s: float = 0.2
    fail_share: float = 0.0
    lose_webhooks: float = 0.0
    duplicate_webhooks: int = 1
    output_as_list: bool = False
    seed: int = 0
    webhook_retries: int = 3
    webhook_retry_delay_s: float = 0.2
    webhook_timeout_s: float = 5.0

    def apply(self, changes: Mapping[str, Any]) -> None:
        """Validate and set; raises ``ValueError`` naming the bad key."""
        checks: dict[str, Callable[[Any], bool]] = {
            "latency_s": lambda v: _is_number(v) and v >= 0,
            "fail_share": lambda v: _is_number(v) and 0 <= v <= 1,
            "lose_webhooks": lambda v: _is_number(v) and 0 <= v <= 1,
            "duplicate_webhooks": lambda v: _is_int(v) and v >= 1,
            "output_as_list": lambda v: isinstance(v, bool),
            "seed": _is_int,
            "webhook_retries": lambda v: _is_int(v) and v >= 0,
            "webhook_retry_delay_s": lambda v: _is_number(v) and v >= 0,
            "webhook_timeout_s": lambda v: _is_number(v) and v > 0,
        }
        for key, value in changes.items():
            if key not in checks:
                raise ValueError(f"unknown setting: {key}")
            if not checks[key](value):
                raise ValueError(f"invalid value for {key}: {value!r}")
        for key, value in changes.items():
            setattr(self, key, value)

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class StoredFile:
    """A file uploaded through ``POST /v1/files``, bytes included."""

    id: str
    name: str
    content_type: str
    data: bytes
    metadata: dict[str, Any]
    created_at: float

    def to_json(self, base_url: str) -> dict[str, Any]:
        md5 = hashlib.md5(self.data).hexdigest()
        return {
            "id": self.id,
            "name": self.name,
            "content_type": self.content_type,
            "size": len(self.data),
            "etag": md5,
            "checksums": {"sha256": hashlib.sha256(self.data).hexdigest(), "md5": md5},
            "metadata": self.metadata,
            "created_at": iso8601(self.created_at),
            "expires_at": iso8601(self.created_at + FILE_LIFETIME_SECONDS),
            "urls": {"get": f"{base_url}/v1/files/{self.id}"},
        }


@dataclass(frozen=True)
class RecordedCreate:
    """One ``POST .../predictions`` as received, and the status it was answered with."""

    model: str
    body: Any
    headers: dict[str, str]  # names lower-cased
    status: int
    prediction_id: str | None


@dataclass(frozen=True)
class WebhookDelivery:
    """One HTTP attempt to deliver a webhook (retries and duplicates are separate entries)."""

    prediction_id: str
    event: str
    webhook_id: str
    url: str
    attempt: int  # 1 for the first try of this copy
    status_code: int | None  # None when the connection failed
    error: str | None
    body: bytes

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass
class _Fault:
    status: int
    title: str
    detail: str
    retry_after_s: int | None = None

    def problem(self) -> ReplicateProblem:
        headers = {} if self.retry_after_s is None else {"Retry-After": str(self.retry_after_s)}
        return ReplicateProblem(self.status, self.title, self.detail, headers=headers)


def _throttle_fault(retry_after_s: int) -> _Fault:
    unit = "second" if retry_after_s == 1 else "seconds"
    detail = f"Request was throttled. Expected available in {retry_after_s} {unit}."
    return _Fault(429, "Request was throttled", detail, retry_after_s)


@dataclass
class _Prediction:
    id: str
    model: ModelSpec
    input: dict[str, Any]
    webhook: str | None
    events: frozenset[str]
    created_wall: float
    created_mono: float
    latency_s: float
    outcome: Literal["succeeded", "failed"]
    error: str | None
    output_format: str
    output_as_list: bool
    canceled_after: float | None = None  # seconds after creation
    completed_sent: bool = False

    def status_at(self, now_mono: float) -> str:
        elapsed = now_mono - self.created_mono
        if self.canceled_after is not None:
            return "canceled"
        if elapsed >= self.latency_s:
            return self.outcome
        return "processing" if elapsed >= self.latency_s * STARTING_SHARE else "starting"

    def view(self, now_mono: float, base_url: str) -> dict[str, Any]:
        """The prediction object exactly as ``GET /v1/predictions/{id}`` returns it now."""
        status = self.status_at(now_mono)
        start_after = self.latency_s * STARTING_SHARE
        if status == "canceled":
            assert self.canceled_after is not None
            ended: float | None = self.canceled_after
        else:
            ended = self.latency_s if status in TERMINAL_STATUSES else None
        started = status != "starting" and (ended is None or ended >= start_after)
        logs = f"Running {self.model.name}...\n" if started else ""
        output: Any = None
        metrics: dict[str, Any] = {}
        if ended is not None:
            predict_time = round(max(ended - start_after, 0.0), 6) if started else 0.0
            metrics = {"predict_time": predict_time, "total_time": round(ended, 6)}
            if status == "succeeded":
                logs += f"Generated image in {predict_time:.2f}s\n"
                url = f"{base_url}/files/output/{self.id}.{self.output_format}"
                output = [url] if self.output_as_list else url
            elif status == "failed":
                logs += f"{self.error}\n"
            else:
                logs += "Prediction canceled.\n"
        stream_base = f"{base_url}/v1/predictions/{self.id}"
        return {
            "id": self.id,
            "model": self.model.name,
            "version": "hidden",
            "input": self.input,
            "logs": logs,
            "output": output,
            "data_removed": False,
            "error": self.error if status == "failed" else None,
            "status": status,
            "source": "api",
            "created_at": iso8601(self.created_wall),
            "started_at": iso8601(self.created_wall + start_after) if started else None,
            "completed_at": iso8601(self.created_wall + ended) if ended is not None else None,
            "urls": {
                "get": stream_base,
                "cancel": f"{stream_base}/cancel",
                "stream": f"{stream_base}/stream",
                "web": f"{base_url}/p/{self.id}",
            },
            "metrics": metrics,
        }


# --- the server -----------------------------------------------------------------------------------

_Endpoint = Callable[[Request], Awaitable[Response]]


class FakeReplicate(ServerThread):
    """Replicate's predictions, files and webhooks API on 127.0.0.1, in a thread."""

    def __init__(
        self,
        *,
        api_token: str = DEFAULT_API_TOKEN,
        webhook_secret: str | None = None,
        latency_s: float = 0.2,
        fail_share: float = 0.0,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        public_url: str | None = None,
        models: Mapping[str, ModelSpec] | None = None,
    ) -> None:
        self.api_token = api_token
        self.webhook_secret = webhook_secret or new_webhook_secret()
        self.models: dict[str, ModelSpec] = dict(models or DEFAULT_MODELS)
        self._public_url = public_url
        self._initial = {"latency_s": latency_s, "fail_share": fail_share, "seed": seed}
        self._lock = threading.Lock()
        self._config = FakeReplicateConfig()
        self._reset_state()
        self._images: OrderedDict[str, bytes] = OrderedDict()
        # Owned by the server's event loop (touched only from it):
        self._loop: asyncio.AbstractEventLoop | None = None
        self._http: httpx.AsyncClient | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._done: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._app = Starlette(routes=self._routes(), lifespan=self._lifespan)
        super().__init__(
            self._app,
            name="the fake Replicate server",
            host=host,
            port=port,
            lifespan="on",
            access_log=False,
            timeout_graceful_shutdown=1,
        )

    def _reset_state(self) -> None:
        """Forget everything but the token and secret; settings back to the constructor's."""
        self._config = FakeReplicateConfig()
        self._config.apply(self._initial)
        self._outcome_rng = random.Random(f"{self._config.seed}:outcomes")
        self._webhook_rng = random.Random(f"{self._config.seed}:webhooks")
        self._failures_given = 0
        self._predictions: dict[str, _Prediction] = {}
        self._files: dict[str, StoredFile] = {}
        self._create_requests: list[RecordedCreate] = []
        self._deliveries: list[WebhookDelivery] = []
        self._forced_failures: deque[str | None] = deque()
        self._create_faults: deque[_Fault] = deque()
        self._get_faults: deque[_Fault] = deque()
        self._counts: dict[str, int] = dict.fromkeys(
            (
                "creates",
                "throttled",
                "server_errors",
                "gets",
                "cancels",
                "files_created",
                "webhooks_sent",
                "webhooks_delivered",
                "webhooks_failed",
                "webhooks_lost",
            ),
            0,
        )

    # -- lifecycle --
    @property
    def base_url(self) -> str:
        return self._public_url or f"http://{self._host}:{self._port}"

    def client(
        self, *, api_token: str | None = None, poll_interval: float = 0.05
    ) -> ReplicateClient:
        """An official ``replicate.Client`` aimed at this server (polling every 50 ms)."""
        client = ReplicateClient(api_token=api_token or self.api_token, base_url=self.base_url)
        client.poll_interval = poll_interval
        return client

    def control(self) -> FakeReplicateControl:
        """The HTTP steering client, for code that steers both modes the same way."""
        return FakeReplicateControl(self.base_url)

    # -- test controls (same names as FakeReplicateControl) --
    def configure(
        self,
        *,
        latency_s: float | None = None,
        fail_share: float | None = None,
        lose_webhooks: float | None = None,
        duplicate_webhooks: int | None = None,
        output_as_list: bool | None = None,
        seed: int | None = None,
        webhook_retries: int | None = None,
        webhook_retry_delay_s: float | None = None,
        webhook_timeout_s: float | None = None,
    ) -> dict[str, Any]:
        """Change settings for what happens next (latency applies to new predictions)."""
        changes = {k: v for k, v in locals().items() if k != "self" and v is not None}
        return self._configure(changes)

    def _configure(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._config.apply(changes)
            if "seed" in changes:
                self._outcome_rng = random.Random(f"{self._config.seed}:outcomes")
                self._webhook_rng = random.Random(f"{self._config.seed}:webhooks")
            return self._config.as_dict()

    @property
    def config(self) -> dict[str, Any]:
        with self._lock:
            return self._config.as_dict()

    def fail_next(self, n: int = 1, *, error: str | None = None) -> None:
        """The next ``n`` predictions created end ``failed`` (with ``error``, or the defaults)."""
        with self._lock:
            self._forced_failures.extend([error] * n)

    def throttle_next_creates(self, n: int = 1, retry_after_s: int = 1) -> None:
        """The next ``n`` create POSTs answer 429 with ``Retry-After: retry_after_s``."""
        with self._lock:
            self._create_faults.extend(_throttle_fault(retry_after_s) for _ in range(n))

    def server_error_next_creates(self, n: int = 1, status: int = 503) -> None:
        """The next ``n`` create POSTs answer ``status`` (a 5xx) with a problem body."""
        titles = {500: "Internal Server Error", 502: "Bad Gateway", 504: "Gateway Timeout"}
        title = titles.get(status, "Service Unavailable")
        with self._lock:
            fault = _Fault(status, title, "The server is temporarily unable to handle requests.")
            self._create_faults.extend(fault for _ in range(n))

    def throttle_next_gets(self, n: int = 1, retry_after_s: int = 1) -> None:
        """The next ``n`` ``GET /v1/predictions/{id}`` answer 429 (the client retries GETs)."""
        with self._lock:
            self._get_faults.extend(_throttle_fault(retry_after_s) for _ in range(n))

    def reset(self) -> None:
        """Drop predictions, files, records, counters and queued faults; default settings."""
        with self._lock:
            self._reset_state()

    def stats(self) -> dict[str, Any]:
        """The counters, plus ``predictions`` (total) and ``by_status`` counts."""
        now = time.monotonic()
        with self._lock:
            by_status = dict.fromkeys(STATUSES, 0)
            for prediction in self._predictions.values():
                by_status[prediction.status_at(now)] += 1
            return {
                **self._counts,
                "files": len(self._files),
                "predictions": len(self._predictions),
                "by_status": by_status,
            }

    def _count(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    @property
    def creates(self) -> int:
        return self._count("creates")

    @property
    def throttled(self) -> int:
        return self._count("throttled")

    @property
    def server_errors(self) -> int:
        return self._count("server_errors")

    @property
    def gets(self) -> int:
        return self._count("gets")

    @property
    def cancels(self) -> int:
        return self._count("cancels")

    @property
    def files_created(self) -> int:
        return self._count("files_created")

    @property
    def webhooks_sent(self) -> int:
        """HTTP attempts made (each retry and each duplicate copy counts)."""
        return self._count("webhooks_sent")

    @property
    def webhooks_delivered(self) -> int:
        """Attempts the receiver answered with a 2xx."""
        return self._count("webhooks_delivered")

    @property
    def webhooks_failed(self) -> int:
        """Copies given up on after the last retry."""
        return self._count("webhooks_failed")

    @property
    def webhooks_lost(self) -> int:
        """Events dropped on purpose (``lose_webhooks``)."""
        return self._count("webhooks_lost")

    @property
    def predictions(self) -> dict[str, dict[str, Any]]:
        """Every prediction, as ``GET`` would return it now."""
        now = time.monotonic()
        with self._lock:
            return {pid: p.view(now, self.base_url) for pid, p in self._predictions.items()}

    def prediction(self, prediction_id: str) -> dict[str, Any]:
        with self._lock:
            return self._predictions[prediction_id].view(time.monotonic(), self.base_url)

    @property
    def files(self) -> dict[str, StoredFile]:
        with self._lock:
            return dict(self._files)

    @property
    def create_requests(self) -> list[RecordedCreate]:
        with self._lock:
            return list(self._create_requests)

    @property
    def create_bodies(self) -> list[Any]:
        """The JSON bodies of every create POST received, throttled and invalid ones too."""
        with self._lock:
            return [record.body for record in self._create_requests]

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        with self._lock:
            return list(self._deliveries)

    def signed_webhook(
        self,
        prediction_id: str,
        *,
        secret: str | None = None,
        timestamp: int | None = None,
        webhook_id: str | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """Headers and body of a webhook for the prediction's current state, as sent."""
        body = json_bytes(self.prediction(prediction_id))
        headers = webhook_headers(
            body,
            secret or self.webhook_secret,
            webhook_id=webhook_id,
            timestamp=timestamp,
        )
        return headers, body

    # -- server internals --
    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self._loop = asyncio.get_running_loop()
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        self._http = httpx.AsyncClient(limits=limits)
        try:
            yield
        finally:
            for handle in self._timers.values():
                handle.cancel()
            self._timers.clear()
            for event in self._done.values():
                event.set()
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._http.aclose()
            self._http = None
            self._loop = None

    def _routes(self) -> list[Route]:
        api = self._api
        return [
            Route("/v1/models/{owner}/{name}/predictions", api(self._create), methods=["POST"]),
            Route("/v1/predictions", api(self._create_by_version), methods=["POST"]),
            Route("/v1/predictions", api(self._list_predictions), methods=["GET"]),
            Route("/v1/predictions/{id}", api(self._get), methods=["GET"]),
            Route("/v1/predictions/{id}/cancel", api(self._cancel), methods=["POST"]),
            Route("/v1/predictions/{id}/stream", api(self._stream), methods=["GET"]),
            Route("/v1/files", api(self._create_file), methods=["POST"]),
            Route("/v1/files", api(self._list_files), methods=["GET"]),
            Route("/v1/files/{id}", api(self._get_file), methods=["GET"]),
            Route("/v1/files/{id}", api(self._delete_file), methods=["DELETE"]),
            Route("/v1/files/{id}/download", api(self._download_file), methods=["GET"]),
            Route("/v1/webhooks/default/secret", api(self._secret), methods=["GET"]),
            Route("/files/output/{name}", api(self._output, auth=False), methods=["GET"]),
            Route("/p/{id}", api(self._web_page, auth=False), methods=["GET"]),
            Route("/_control/config", api(self._ctl_config, auth=False), methods=["GET", "POST"]),
            Route("/_control/{action}", api(self._ctl_action, auth=False), methods=["POST"]),
            Route("/_control/{what}", api(self._ctl_read, auth=False), methods=["GET"]),
            Route(
                "/{path:path}",
                api(self._unknown_route, auth=False),
                methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            ),
        ]

    def _api(self, handler: _Endpoint, *, auth: bool = True) -> _Endpoint:
        async def endpoint(request: Request) -> Response:
            try:
                if auth:
                    self._authenticate(request)
                return await handler(request)
            except ReplicateProblem as problem:
                return problem.response()

        return endpoint

    def _authenticate(self, request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        valid = scheme.lower() in ("bearer", "token") and secrets.compare_digest(
            token.strip().encode(), self.api_token.encode()
        )
        if not valid:
            raise ReplicateProblem(
                401, "Unauthenticated", "You did not pass a valid authentication token"
            )

    async def _unknown_route(self, request: Request) -> Response:
        raise _not_found("resource")

    @staticmethod
    async def _json_body(request: Request) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            message = "The request body is not valid JSON."
            raise ReplicateProblem(400, "Bad request", message) from None

    def _json(self, obj: Any, status_code: int = 200) -> Response:
        return Response(json_bytes(obj), status_code=status_code, media_type="application/json")

    # -- predictions --
    async def _create_by_version(self, request: Request) -> Response:
        body = await self._json_body(request)
        version = body.get("version") if isinstance(body, dict) else None
        model = version.split(":", 1)[0] if isinstance(version, str) and "/" in version else None
        if model is None:
            raise ReplicateProblem(
                422,
                "Invalid version or not permitted",
                "The specified version does not exist (or perhaps you don't have permission "
                "to use it?)",
            )
        return await self._create_prediction(request, model, body)

    async def _create(self, request: Request) -> Response:
        model = f"{request.path_params['owner']}/{request.path_params['name']}"
        return await self._create_prediction(request, model, await self._json_body(request))

    async def _create_prediction(self, request: Request, model_name: str, body: Any) -> Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            fault = self._create_faults.popleft() if self._create_faults else None
            if fault is not None:
                self._counts["throttled" if fault.status == 429 else "server_errors"] += 1
                self._create_requests.append(
                    RecordedCreate(model_name, body, headers, fault.status, None)
                )
        if fault is not None:
            raise fault.problem()
        try:
            prediction = self._new_prediction(model_name, body)
        except ReplicateProblem as problem:
            with self._lock:
                record = RecordedCreate(model_name, body, headers, problem.status, None)
                self._create_requests.append(record)
            raise
        now = time.monotonic()
        with self._lock:
            self._predictions[prediction.id] = prediction
            self._counts["creates"] += 1
            self._create_requests.append(
                RecordedCreate(model_name, body, headers, 201, prediction.id)
            )
            view = prediction.view(now, self.base_url)
        loop = asyncio.get_running_loop()
        self._done[prediction.id] = asyncio.Event()
        self._timers[prediction.id] = loop.call_later(
            prediction.latency_s, self._on_complete_timer, prediction.id
        )
        if prediction.webhook and "start" in prediction.events:
            self._send_event(prediction.id, "start", prediction.webhook, json_bytes(view))
        wait_s = _prefer_wait_seconds(headers.get("prefer", ""))
        if wait_s is not None and view["status"] not in TERMINAL_STATUSES:
            done = self._done.get(prediction.id)
            if done is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), wait_s)
            with self._lock:
                view = prediction.view(time.monotonic(), self.base_url)
            if view["status"] not in TERMINAL_STATUSES:
                # What Replicate answers when "Prefer: wait" runs out (the client relies on
                # it: anything but "starting" is taken as finished).
                view["status"] = "starting"
        return self._json(view, 201)

    def _new_prediction(self, model_name: str, body: Any) -> _Prediction:
        model = self.models.get(model_name)
        if model is None:
            raise ReplicateProblem(
                404, "Model not found", f"The model {model_name} does not exist or is private."
            )
        if not isinstance(body, dict):
            raise ReplicateProblem(422, "Input validation failed", "- (root): input is required")
        if "input" not in body:
            raise ReplicateProblem(422, "Input validation failed", "- (root): input is required")
        validate_input(model, body["input"])
        webhook = body.get("webhook") or body.get("webhook_completed")
        if webhook is not None and not (_is_uri(webhook) and not webhook.startswith("data:")):
            raise ReplicateProblem(
                422, "Input validation failed", "- webhook: Does not match format 'uri'"
            )
        events_filter = body.get("webhook_events_filter")
        if events_filter is None:
            events = frozenset(WEBHOOK_EVENTS)
            if body.get("webhook_completed") and not body.get("webhook"):
                events = frozenset({"completed"})
        elif isinstance(events_filter, list) and all(e in WEBHOOK_EVENTS for e in events_filter):
            events = frozenset(events_filter)
        else:
            allowed = ", ".join(f'"{e}"' for e in WEBHOOK_EVENTS)
            raise ReplicateProblem(
                422,
                "Input validation failed",
                f"- webhook_events_filter: items must be one of the following: {allowed}",
            )
        model_input: dict[str, Any] = body["input"]
        with self._lock:
            config = self._config
            if self._forced_failures:
                forced = self._forced_failures.popleft()
                fails = True
                error: str | None = forced or self._next_default_error()
            else:
                fails = self._outcome_rng.random() < config.fail_share
                error = self._next_default_error() if fails else None
            return _Prediction(
                id=new_prediction_id(),
                model=model,
                input=model_input,
                webhook=webhook,
                events=events,
                created_wall=time.time(),
                created_mono=time.monotonic(),
                latency_s=config.latency_s,
                outcome="failed" if fails else "succeeded",
                error=error,
                output_format=str(model_input.get("output_format") or model.default_output_format),
                output_as_list=config.output_as_list,
            )

    def _next_default_error(self) -> str:
        error = DEFAULT_FAILURE_ERRORS[self._failures_given % len(DEFAULT_FAILURE_ERRORS)]
        self._failures_given += 1
        return error

    def _on_complete_timer(self, prediction_id: str) -> None:
        self._timers.pop(prediction_id, None)
        with self._lock:
            prediction = self._predictions.get(prediction_id)
        if prediction is not None:
            remaining = prediction.created_mono + prediction.latency_s - time.monotonic()
            if remaining > 0 and prediction.canceled_after is None:  # the timer fired early
                assert self._loop is not None
                self._timers[prediction_id] = self._loop.call_later(
                    remaining + 0.001, self._on_complete_timer, prediction_id
                )
                return
        self._finish(prediction_id)

    def _finish(self, prediction_id: str) -> None:
        """Once per prediction, in the loop: wake waiters and send the ``completed`` event."""
        done = self._done.pop(prediction_id, None)
        if done is not None:
            done.set()
        with self._lock:
            prediction = self._predictions.get(prediction_id)
            if prediction is None or prediction.completed_sent:
                return
            prediction.completed_sent = True
            body = json_bytes(prediction.view(time.monotonic(), self.base_url))
        if prediction.webhook and "completed" in prediction.events:
            self._send_event(prediction_id, "completed", prediction.webhook, body)

    async def _get(self, request: Request) -> Response:
        prediction_id = request.path_params["id"]
        with self._lock:
            fault = self._get_faults.popleft() if self._get_faults else None
            if fault is not None:
                self._counts["throttled"] += 1
        if fault is not None:
            raise fault.problem()
        with self._lock:
            prediction = self._predictions.get(prediction_id)
            if prediction is None:
                raise _not_found("prediction")
            self._counts["gets"] += 1
            view = prediction.view(time.monotonic(), self.base_url)
        return self._json(view)

    async def _list_predictions(self, request: Request) -> Response:
        now = time.monotonic()
        with self._lock:
            items = sorted(self._predictions.values(), key=lambda p: -p.created_mono)
            results = [p.view(now, self.base_url) for p in items[:100]]
        return self._json({"previous": None, "next": None, "results": results})

    async def _cancel(self, request: Request) -> Response:
        prediction_id = request.path_params["id"]
        now = time.monotonic()
        with self._lock:
            prediction = self._predictions.get(prediction_id)
            if prediction is None:
                raise _not_found("prediction")
            self._counts["cancels"] += 1
            terminal = prediction.status_at(now) in TERMINAL_STATUSES
            if not terminal:
                prediction.canceled_after = now - prediction.created_mono
            view = prediction.view(now, self.base_url)
        if not terminal:
            timer = self._timers.pop(prediction_id, None)
            if timer is not None:
                timer.cancel()
            self._finish(prediction_id)
        return self._json(view)

    async def _stream(self, request: Request) -> Response:
        """Server-sent events: ``output`` then ``done``, or ``error``, when the prediction ends."""
        prediction_id = request.path_params["id"]
        with self._lock:
            if prediction_id not in self._predictions:
                raise _not_found("prediction")

        async def events() -> AsyncIterator[bytes]:
            done = self._done.get(prediction_id)
            while True:
                with self._lock:
                    prediction = self._predictions.get(prediction_id)
                    view = prediction.view(time.monotonic(), self.base_url) if prediction else None
                if view is None or view["status"] in TERMINAL_STATUSES:
                    break
                if done is not None:
                    await done.wait()
                else:
                    await asyncio.sleep(0.05)
            if view is None:
                yield b'event: error\nid: 1\ndata: {"detail": "Prediction not found"}\n\n'
            elif view["status"] == "succeeded":
                outputs = view["output"] if isinstance(view["output"], list) else [view["output"]]
                for i, url in enumerate(outputs, start=1):
                    yield f"event: output\nid: {i}\ndata: {url}\n\n".encode()
                yield f"event: done\nid: {len(outputs) + 1}\ndata: {{}}\n\n".encode()
            elif view["status"] == "failed":
                detail = json.dumps({"detail": view["error"]})
                yield f"event: error\nid: 1\ndata: {detail}\n\n".encode()
            else:
                yield b'event: done\nid: 1\ndata: {"reason": "canceled"}\n\n'

        headers = {"Cache-Control": "no-store"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    async def _web_page(self, request: Request) -> Response:
        prediction_id = request.path_params["id"]
        with self._lock:
            prediction = self._predictions.get(prediction_id)
            status = prediction.status_at(time.monotonic()) if prediction else None
        if status is None:
            return HTMLResponse("<h1>Not found</h1>", status_code=404)
        safe = html.escape(prediction_id)
        return HTMLResponse(f"<h1>Prediction {safe}</h1><p>Status: {status}</p>")

    async def _output(self, request: Request) -> Response:
        """An output file, as replicate.delivery serves it: no auth, the image bytes."""
        name: str = request.path_params["name"]
        prediction_id, _, extension = name.partition(".")
        with self._lock:
            prediction = self._predictions.get(prediction_id)
            status = prediction.status_at(time.monotonic()) if prediction else None
        if prediction is None or status != "succeeded" or extension != prediction.output_format:
            raise _not_found("file")
        size = image_size(prediction.input.get("aspect_ratio"))
        with self._lock:
            data = self._images.get(name)
        if data is None:
            data = await run_in_threadpool(render_image, prediction_id, size, extension)
            with self._lock:
                self._images[name] = data
                while len(self._images) > 128:
                    self._images.popitem(last=False)
        media_type = "image/png" if extension == "png" else "image/jpeg"
        headers = {"Cache-Control": "public, max-age=3600"}
        return Response(data, media_type=media_type, headers=headers)

    # -- files --
    async def _create_file(self, request: Request) -> Response:
        form = await request.form()
        try:
            content = form.get("content")
            if not isinstance(content, UploadFile):
                raise ReplicateProblem(
                    422, "Invalid request", "- content: a file part named 'content' is required"
                )
            metadata: Any = {}
            raw_metadata = form.get("metadata")
            if isinstance(raw_metadata, str) and raw_metadata:
                try:
                    metadata = json.loads(raw_metadata)
                except ValueError:
                    metadata = None
                if not isinstance(metadata, dict):
                    raise ReplicateProblem(
                        422, "Invalid request", "- metadata: must be a JSON object"
                    )
            data = await content.read()
            stored = StoredFile(
                id=new_prediction_id(),
                name=content.filename or "file",
                content_type=content.content_type or "application/octet-stream",
                data=data,
                metadata=metadata,
                created_at=time.time(),
            )
        finally:
            await form.close()
        with self._lock:
            self._files[stored.id] = stored
            self._counts["files_created"] += 1
        return self._json(stored.to_json(self.base_url), 201)

    def _stored_file(self, request: Request) -> StoredFile:
        with self._lock:
            stored = self._files.get(request.path_params["id"])
        if stored is None:
            raise _not_found("file")
        return stored

    async def _get_file(self, request: Request) -> Response:
        return self._json(self._stored_file(request).to_json(self.base_url))

    async def _list_files(self, request: Request) -> Response:
        with self._lock:
            results = [f.to_json(self.base_url) for f in reversed(self._files.values())]
        return self._json({"previous": None, "next": None, "results": results})

    async def _delete_file(self, request: Request) -> Response:
        stored = self._stored_file(request)
        with self._lock:
            self._files.pop(stored.id, None)
        return Response(status_code=204)

    async def _download_file(self, request: Request) -> Response:
        stored = self._stored_file(request)
        return Response(stored.data, media_type=stored.content_type)

    async def _secret(self, request: Request) -> Response:
        return self._json({"key": self.webhook_secret})

    # -- webhooks --
    def _send_event(self, prediction_id: str, event: str, url: str, body: bytes) -> None:
        """Queue delivery of one event (in the loop); maybe lose it, maybe send copies."""
        with self._lock:
            if self._webhook_rng.random() < self._config.lose_webhooks:
                self._counts["webhooks_lost"] += 1
                return
            copies = self._config.duplicate_webhooks
        webhook_id = new_webhook_id()
        for _ in range(copies):
            task = asyncio.get_running_loop().create_task(
                self._deliver(prediction_id, event, url, body, webhook_id)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(
        self, prediction_id: str, event: str, url: str, body: bytes, webhook_id: str
    ) -> None:
        with self._lock:
            retries = self._config.webhook_retries
            delay = self._config.webhook_retry_delay_s
            timeout = self._config.webhook_timeout_s
        assert self._http is not None
        for attempt in range(1, retries + 2):
            headers = webhook_headers(body, self.webhook_secret, webhook_id=webhook_id)
            status_code: int | None = None
            error: str | None = None
            try:
                response = await self._http.post(
                    url, content=body, headers=headers, timeout=timeout
                )
                status_code = response.status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            record = WebhookDelivery(
                prediction_id, event, webhook_id, url, attempt, status_code, error, body
            )
            with self._lock:
                self._deliveries.append(record)
                self._counts["webhooks_sent"] += 1
                if record.ok:
                    self._counts["webhooks_delivered"] += 1
                    return
            if attempt <= retries:
                await asyncio.sleep(delay)
                delay *= 2
        with self._lock:
            self._counts["webhooks_failed"] += 1

    # -- control endpoints (no auth: the steering side of the fake, not Replicate's API) --
    async def _ctl_config(self, request: Request) -> Response:
        if request.method == "POST":
            changes = await self._json_body(request)
            if not isinstance(changes, dict):
                raise ReplicateProblem(400, "Bad request", "Expected a JSON object.")
            try:
                self._configure(changes)
            except ValueError as exc:
                raise ReplicateProblem(422, "Invalid setting", str(exc)) from None
        config = self.config
        config |= {"api_token": self.api_token, "webhook_secret": self.webhook_secret}
        return self._json(config)

    async def _ctl_action(self, request: Request) -> Response:
        action = request.path_params["action"]
        args = await self._json_body(request) or {}
        if not isinstance(args, dict):
            raise ReplicateProblem(400, "Bad request", "Expected a JSON object.")
        actions: dict[str, Callable[..., Any]] = {
            "throttle_next_creates": self.throttle_next_creates,
            "throttle_next_gets": self.throttle_next_gets,
            "server_error_next_creates": self.server_error_next_creates,
            "fail_next": self.fail_next,
            "reset": self.reset,
        }
        if action == "signed_webhook":
            try:
                headers, body = self.signed_webhook(**args)
            except (KeyError, TypeError) as exc:
                raise ReplicateProblem(422, "Invalid arguments", repr(exc)) from None
            return self._json({"headers": headers, "body": body.decode()})
        if action not in actions:
            raise _not_found("control action")
        try:
            actions[action](**args)
        except TypeError as exc:
            raise ReplicateProblem(422, "Invalid arguments", str(exc)) from None
        return self._json(self.stats())

    async def _ctl_read(self, request: Request) -> Response:
        what = request.path_params["what"]
        if what == "stats":
            return self._json(self.stats())
        if what == "predictions":
            return self._json(self.predictions)
        if what == "create_bodies":
            return self._json(self.create_bodies)
        if what == "webhooks":
            deliveries = [
                {**vars(d), "body": d.body.decode(), "ok": d.ok} for d in self.webhook_deliveries
            ]
            return self._json(deliveries)
        raise _not_found("control resource")


def _prefer_wait_seconds(prefer: str) -> float | None:
    """``Prefer: wait`` → 60, ``Prefer: wait=5`` → 5 (1..60), anything else → None."""
    for part in prefer.split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "wait":
            try:
                return float(min(max(int(value), 1), MAX_PREFER_WAIT_S)) if value else 60.0
            except ValueError:
                return 60.0
    return None


# --- steering over HTTP ---------------------------------------------------------------------------


class FakeReplicateControl:
    """Steers a fake Replicate over ``/_control`` — in this process or in another one."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FakeReplicateControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        response = self._http.request(method, f"/_control/{path}", json=body)
        response.raise_for_status()
        return response.json()

    def configure(
        self,
        *,
        latency_s: float | None = None,
        fail_share: float | None = None,
        lose_webhooks: float | None = None,
        duplicate_webhooks: int | None = None,
        output_as_list: bool | None = None,
        seed: int | None = None,
        webhook_retries: int | None = None,
        webhook_retry_delay_s: float | None = None,
        webhook_timeout_s: float | None = None,
    ) -> dict[str, Any]:
        changes = {k: v for k, v in locals().items() if k != "self" and v is not None}
        config: dict[str, Any] = self._call("POST", "config", changes)
        return config

    @property
    def config(self) -> dict[str, Any]:
        """The settings, plus ``api_token`` and ``webhook_secret``."""
        config: dict[str, Any] = self._call("GET", "config")
        return config

    def throttle_next_creates(self, n: int = 1, retry_after_s: int = 1) -> None:
        self._call("POST", "throttle_next_creates", {"n": n, "retry_after_s": retry_after_s})

    def server_error_next_creates(self, n: int = 1, status: int = 503) -> None:
        self._call("POST", "server_error_next_creates", {"n": n, "status": status})

    def throttle_next_gets(self, n: int = 1, retry_after_s: int = 1) -> None:
        self._call("POST", "throttle_next_gets", {"n": n, "retry_after_s": retry_after_s})

    def fail_next(self, n: int = 1, *, error: str | None = None) -> None:
        self._call("POST", "fail_next", {"n": n, "error": error})

    def reset(self) -> None:
        self._call("POST", "reset")

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._call("GET", "stats")
        return stats

    @property
    def predictions(self) -> dict[str, dict[str, Any]]:
        predictions: dict[str, dict[str, Any]] = self._call("GET", "predictions")
        return predictions

    @property
    def create_bodies(self) -> list[Any]:
        bodies: list[Any] = self._call("GET", "create_bodies")
        return bodies

    @property
    def webhook_deliveries(self) -> list[dict[str, Any]]:
        """Every delivery attempt, as dicts (``body`` decoded, ``ok`` added)."""
        deliveries: list[dict[str, Any]] = self._call("GET", "webhooks")
        return deliveries

    def signed_webhook(
        self,
        prediction_id: str,
        *,
        secret: str | None = None,
        timestamp: int | None = None,
        webhook_id: str | None = None,
    ) -> tuple[dict[str, str], bytes]:
        args: dict[str, Any] = {"prediction_id": prediction_id, "secret": secret}
        args |= {"timestamp": timestamp, "webhook_id": webhook_id}
        answer = self._call("POST", "signed_webhook", args)
        return dict(answer["headers"]), str(answer["body"]).encode()


# --- pytest fixture and command line --------------------------------------------------------------


@pytest.fixture
def fake_replicate() -> Iterator[FakeReplicate]:
    """A running fake Replicate for one test (latency 0.2 s, no failures)."""
    with FakeReplicate() as server:
        yield server


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A fake Replicate API server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8199, help="0 picks a free port")
    parser.add_argument("--public-url", help="base URL to put in responses (default: host:port)")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per prediction")
    parser.add_argument("--fail-share", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--api-token", default=DEFAULT_API_TOKEN)
    parser.add_argument("--webhook-secret", help="whsec_... (default: random)")
    args = parser.parse_args(argv)
    server = FakeReplicate(
        api_token=args.api_token,
        webhook_secret=args.webhook_secret,
        latency_s=args.latency,
        fail_share=args.fail_share,
        seed=args.seed,
        host=args.host,
        port=args.port,
        public_url=args.public_url,
    )
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    print(f"ready {server.base_url}", flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
