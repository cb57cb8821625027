"""The fake Replicate server, driven only by the official ``replicate`` client and
``standardwebhooks``: proof that it speaks Replicate's protocol, not our app's.
"""

from __future__ import annotations

import base64
import io
import json
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from replicate.client import Client
from replicate.exceptions import ModelError, ReplicateError
from replicate.webhook import Webhooks, WebhookSigningSecret
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.fake_replicate import (
    DEFAULT_FAILURE_ERRORS,
    FakeReplicate,
    FakeReplicateControl,
)
from tests.support.fake_replicate import fake_replicate as fake_replicate
from tests.support.server_thread import ServerThread

ROOT = Path(__file__).resolve().parents[2]
NANO = "google/nano-banana"
FLUX = "black-forest-labs/flux-kontext-pro"
ID_PATTERN = r"^[a-z2-7]{26}$"


def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


class WebhookReceiver(ServerThread):
    """A local endpoint that records webhook POSTs; the first ``fail_first`` get a 500."""

    def __init__(self, *, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.received: list[tuple[dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        app = Starlette(routes=[Route("/hooks/replicate", self._receive, methods=["POST"])])
        super().__init__(app, name="the webhook receiver")
        self.start()
        self.url = f"http://127.0.0.1:{self.port}/hooks/replicate"

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        return Response(status_code=self._record(headers, body))

    def _record(self, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            self.received.append((headers, body))
            if self.fail_first > 0:
                self.fail_first -= 1
                return 500
        return 204

    def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[dict[str, str], bytes]]:
        eventually(lambda: len(self.received) >= count, timeout)
        with self._lock:
            return list(self.received)

    def close(self) -> None:
        self.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver()
    yield hook
    hook.close()


def raw_get(fake: FakeReplicate, path: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {fake.api_token}"}
    return httpx.get(f"{fake.base_url}{path}", headers=headers)


# --- predictions ------------------------------------------------------------------------------


def test_sync_create_and_wait_give_a_replicate_shaped_prediction_and_a_real_jpeg(
    fake_replicate: FakeReplicate,
) -> None:
    client = fake_replicate.client()

    prediction = client.models.predictions.create(
        model=NANO, input={"prompt": "a red mug on marble", "aspect_ratio": "16:9"}
    )

    assert prediction.status == "starting"
    assert prediction.model == NANO and prediction.version == "hidden"
    assert prediction.output is None and prediction.completed_at is None
    assert prediction.input == {"prompt": "a red mug on marble", "aspect_ratio": "16:9"}
    assert prediction.created_at is not None and prediction.created_at.endswith("Z")
    base = f"{fake_replicate.base_url}/v1/predictions/{prediction.id}"
    assert prediction.urls is not None
    assert prediction.urls["get"] == base and prediction.urls["cancel"] == f"{base}/cancel"
    assert set(prediction.urls) == {"get", "cancel", "stream", "web"}
    assert len(prediction.id) == 26 and prediction.id.isalnum() and prediction.id.islower()

    prediction.wait()

    assert prediction.status == "succeeded" and prediction.error is None
    assert prediction.output == f"{fake_replicate.base_url}/files/output/{prediction.id}.jpg"
    assert prediction.started_at is not None and prediction.completed_at is not None
    assert prediction.metrics is not None and prediction.metrics["predict_time"] > 0
    image = httpx.get(prediction.output)  # no auth, like replicate.delivery
    assert image.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(image.content)) as picture:
        assert (picture.format, picture.size) == ("JPEG", (1024, 576))
    assert httpx.get(prediction.output).content == image.content  # deterministic per id
    assert fake_replicate.creates == 1 and fake_replicate.gets >= 1
    assert fake_replicate.create_bodies == [
        {"input": {"prompt": "a red mug on marble", "aspect_ratio": "16:9"}}
    ]


def test_predictions_create_with_model_png_and_list_output(fake_replicate: FakeReplicate) -> None:
    fake_replicate.configure(output_as_list=True)
    client = fake_replicate.client()

    prediction = client.predictions.create(
        model=FLUX,
        input={"prompt": "studio shot", "aspect_ratio": "3:2", "seed": 7, "output_format": "png"},
    )
    prediction.wait()

    assert prediction.status == "succeeded"
    assert isinstance(prediction.output, list) and len(prediction.output) == 1
    image = httpx.get(prediction.output[0])
    assert image.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(image.content)) as picture:
        assert (picture.format, picture.size) == ("PNG", (1024, 683))


async def test_async_create_reload_get_and_run(fake_replicate: FakeReplicate) -> None:
    client = fake_replicate.client()

    prediction = await client.models.predictions.async_create(
        model=NANO, input={"prompt": "a lamp", "output_format": "png"}
    )
    while prediction.status not in ("succeeded", "failed", "canceled"):
        await prediction.async_reload()
    fetched = await client.predictions.async_get(prediction.id)

    assert prediction.status == fetched.status == "succeeded"
    assert fetched.output == prediction.output and str(fetched.output).endswith(".png")

    # run() sends "Prefer: wait": the fake holds the answer until the prediction is done.
    # Outputs on plain http:// stay strings (the client wraps only https: URLs in FileOutput).
    output = await client.async_run(NANO, input={"prompt": "a chair"})
    assert isinstance(output, str) and output.startswith(fake_replicate.base_url)
    assert fake_replicate.create_requests[-1].headers["prefer"] == "wait"


def test_prefer_wait_and_stream(fake_replicate: FakeReplicate) -> None:
    client = fake_replicate.client()

    prediction = client.models.predictions.create(model=NANO, input={"prompt": "x"}, wait=5)
    assert prediction.status == "succeeded"

    events = list(client.stream(NANO, input={"prompt": "y"}))
    assert [e.event.value for e in events] == ["output", "done"]
    assert str(events[0].data).startswith(f"{fake_replicate.base_url}/files/output/")


def test_invalid_input_unknown_model_and_bad_token_are_problem_errors(
    fake_replicate: FakeReplicate,
) -> None:
    client = fake_replicate.client()

    with pytest.raises(ReplicateError) as missing:
        client.models.predictions.create(model=NANO, input={"aspect_ratio": "1:1"})
    assert missing.value.status == 422 and missing.value.title == "Input validation failed"
    assert missing.value.detail == "- input.prompt: prompt is required"

    with pytest.raises(ReplicateError) as invalid:
        client.models.predictions.create(
            model=NANO,
            input={"prompt": "x", "aspect_ratio": "7:5", "image_input": ["not a url"]},
        )
    assert invalid.value.status == 422 and invalid.value.detail is not None
    assert "- input.aspect_ratio: aspect_ratio must be one of the following:" in (
        invalid.value.detail
    )
    assert "- input.image_input.0: Does not match format 'uri'" in invalid.value.detail

    with pytest.raises(ReplicateError) as bad_filter:
        client.models.predictions.create(
            model=NANO,
            input={"prompt": "x"},
            webhook="https://example.com/hook",
            webhook_events_filter=["finished"],
        )
    assert bad_filter.value.status == 422

    with pytest.raises(ReplicateError) as unknown:
        client.models.predictions.create(model="acme/nope", input={"prompt": "x"})
    assert unknown.value.status == 404

    with pytest.raises(ReplicateError) as no_such:
        client.predictions.get("doesnotexist")
    assert no_such.value.status == 404

    with pytest.raises(ReplicateError) as unauthenticated:
        fake_replicate.client(api_token="r8_wrong").predictions.create(
            model=NANO, input={"prompt": "x"}
        )
    error = unauthenticated.value
    assert (error.status, error.title) == (401, "Unauthenticated")
    assert error.detail == "You did not pass a valid authentication token"
    assert httpx.get(f"{fake_replicate.base_url}/v1/webhooks/default/secret").status_code == 401
    assert fake_replicate.creates == 0


def test_cancel_a_slow_prediction_sends_its_completed_webhook(
    fake_replicate: FakeReplicate, receiver: WebhookReceiver
) -> None:
    fake_replicate.configure(latency_s=30)
    client = fake_replicate.client()
    prediction = client.models.predictions.create(
        model=NANO,
        input={"prompt": "slow"},
        webhook=receiver.url,
        webhook_events_filter=["completed"],
    )

    prediction.cancel()

    assert prediction.status == "canceled" and prediction.completed_at is not None
    assert prediction.output is None
    client.predictions.cancel(prediction.id)  # a terminal one stays as it is
    assert client.predictions.get(prediction.id).status == "canceled"
    [(headers, body)] = receiver.wait_for(1)
    delivered = Webhook(fake_replicate.webhook_secret).verify(body, headers)
    assert delivered["status"] == "canceled" and delivered["id"] == prediction.id
    assert fake_replicate.cancels == 2


def test_failures_forced_and_by_share(fake_replicate: FakeReplicate) -> None:
    client = fake_replicate.client()
    fake_replicate.fail_next(1, error="Prediction failed: boom")

    prediction = client.models.predictions.create(model=NANO, input={"prompt": "x"})
    prediction.wait()
    assert (prediction.status, prediction.error) == ("failed", "Prediction failed: boom")
    assert prediction.output is None

    fake_replicate.configure(fail_share=1.0)
    errors = []
    for _ in range(2):
        with pytest.raises(ModelError) as failed:
            client.run(NANO, input={"prompt": "x"})
        errors.append(failed.value.prediction.error)
    assert errors == list(DEFAULT_FAILURE_ERRORS)
    assert fake_replicate.stats()["by_status"]["failed"] == 3


# --- files -------------------------------------------------------------------------------------


def test_files_create_get_download_delete_and_use_as_input(fake_replicate: FakeReplicate) -> None:
    client = fake_replicate.client()
    data = b"\xff\xd8\xff\xe0 not really a jpeg"

    uploaded = client.files.create(
        io.BytesIO(data), filename="mug.jpg", content_type="image/jpeg", metadata={"k": "v"}
    )

    assert uploaded.urls["get"] == f"{fake_replicate.base_url}/v1/files/{uploaded.id}"
    assert (uploaded.name, uploaded.content_type) == ("mug.jpg", "image/jpeg")
    assert uploaded.size == len(data) == fake_replicate.files[uploaded.id].to_json("")["size"]
    assert uploaded.metadata == {"k": "v"} and len(uploaded.checksums["sha256"]) == 64
    stored = fake_replicate.files[uploaded.id]
    assert (stored.data, stored.name, stored.content_type) == (data, "mug.jpg", "image/jpeg")
    assert client.files.get(uploaded.id).etag == uploaded.etag
    assert raw_get(fake_replicate, f"/v1/files/{uploaded.id}/download").content == data

    # A file object in the input is uploaded by the client and replaced by its URL.
    prediction = client.models.predictions.create(
        model=NANO, input={"prompt": "x", "image_input": [io.BytesIO(b"png bytes")]}
    )
    assert prediction.input is not None
    [url] = prediction.input["image_input"]
    assert url.startswith(f"{fake_replicate.base_url}/v1/files/")
    assert fake_replicate.files_created == 2

    assert client.files.delete(uploaded.id) is True
    with pytest.raises(ReplicateError) as gone:
        client.files.get(uploaded.id)
    assert gone.value.status == 404


# --- webhooks ------------------------------------------------------------------------------------


def test_default_secret_is_a_standard_webhooks_secret(fake_replicate: FakeReplicate) -> None:
    secret = fake_replicate.client().webhooks.default.secret()

    assert secret.key == fake_replicate.webhook_secret and secret.key.startswith("whsec_")
    assert len(base64.b64decode(secret.key.removeprefix("whsec_"))) == 24


def test_completed_webhook_verifies_and_carries_the_prediction(
    fake_replicate: FakeReplicate, receiver: WebhookReceiver
) -> None:
    client = fake_replicate.client()
    prediction = client.models.predictions.create(
        model=NANO,
        input={"prompt": "x"},
        webhook=receiver.url,
        webhook_events_filter=["completed"],
    )

    [(headers, body)] = receiver.wait_for(1)

    delivered = Webhook(fake_replicate.webhook_secret).verify(body, headers)
    assert delivered == raw_get(fake_replicate, f"/v1/predictions/{prediction.id}").json()
    assert delivered["status"] == "succeeded" and delivered["output"]
    assert headers["webhook-id"].startswith("msg_")
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 5
    assert headers["content-type"] == "application/json"
    secret = WebhookSigningSecret(key=fake_replicate.webhook_secret)
    Webhooks.validate(headers=headers, body=body.decode(), secret=secret)  # the client's check

    tampered = body.replace(b'"succeeded"', b'"failed"')
    with pytest.raises(WebhookVerificationError):
        Webhook(fake_replicate.webhook_secret).verify(tampered, headers)
    time.sleep(0.1)
    assert len(receiver.received) == 1  # no "start" event: not in the filter


def test_without_a_filter_start_and_completed_are_sent(
    fake_replicate: FakeReplicate, receiver: WebhookReceiver
) -> None:
    client = fake_replicate.client()
    client.models.predictions.create(model=NANO, input={"prompt": "x"}, webhook=receiver.url)

    received = receiver.wait_for(2)

    verifier = Webhook(fake_replicate.webhook_secret)
    statuses = [verifier.verify(body, headers)["status"] for headers, body in received]
    assert statuses == ["starting", "succeeded"]
    assert received[0][0]["webhook-id"] != received[1][0]["webhook-id"]


def test_duplicate_webhooks_reuse_the_webhook_id(
    fake_replicate: FakeReplicate, receiver: WebhookReceiver
) -> None:
    fake_replicate.configure(duplicate_webhooks=2)
    fake_replicate.client().models.predictions.create(
        model=NANO, input={"prompt": "x"}, webhook=receiver.url, webhook_events_filter=["completed"]
    )

    received = receiver.wait_for(2)

    assert received[0][0]["webhook-id"] == received[1][0]["webhook-id"]
    for headers, body in received:
        Webhook(fake_replicate.webhook_secret).verify(body, headers)
    eventually(lambda: fake_replicate.webhooks_delivered == 2)


def test_lost_webhooks_are_never_delivered(
    fake_replicate: FakeReplicate, receiver: WebhookReceiver
) -> None:
    fake_replicate.configure(lose_webhooks=1.0)
    prediction = fake_replicate.client().models.predictions.create(
        model=NANO, input={"prompt": "x"}, webhook=receiver.url, webhook_events_filter=["completed"]
    )

    prediction.wait()
    eventually(lambda: fake_replicate.webhooks_lost == 1)
    time.sleep(0.1)

    assert receiver.received == [] and fake_replicate.webhooks_sent == 0


def test_webhook_is_retried_with_the_same_id_after_a_500(fake_replicate: FakeReplicate) -> None:
    receiver = WebhookReceiver(fail_first=1)
    try:
        fake_replicate.configure(webhook_retry_delay_s=0.05)
        fake_replicate.client().models.predictions.create(
            model=NANO,
            input={"prompt": "x"},
            webhook=receiver.url,
            webhook_events_filter=["completed"],
        )

        first, second = receiver.wait_for(2)
    finally:
        receiver.close()

    assert first[0]["webhook-id"] == second[0]["webhook-id"] and first[1] == second[1]
    Webhook(fake_replicate.webhook_secret).verify(second[1], second[0])
    attempts = [(d.attempt, d.status_code) for d in fake_replicate.webhook_deliveries]
    assert attempts == [(1, 500), (2, 204)]


def test_signed_webhook_helper(fake_replicate: FakeReplicate) -> None:
    prediction = fake_replicate.client().models.predictions.create(
        model=NANO, input={"prompt": "x"}
    )
    now = int(time.time())

    headers, body = fake_replicate.signed_webhook(
        prediction.id, timestamp=now, webhook_id="msg_fixed"
    )

    assert headers["webhook-id"] == "msg_fixed" and headers["webhook-timestamp"] == str(now)
    assert Webhook(fake_replicate.webhook_secret).verify(body, headers)["id"] == prediction.id
    other = "whsec_" + base64.b64encode(b"x" * 24).decode()
    headers, body = fake_replicate.signed_webhook(prediction.id, secret=other)
    with pytest.raises(WebhookVerificationError):
        Webhook(fake_replicate.webhook_secret).verify(body, headers)
    Webhook(other).verify(body, headers)


# --- throttling and server errors ------------------------------------------------------------


def test_throttled_creates_raise_429_with_retry_after(fake_replicate: FakeReplicate) -> None:
    client = fake_replicate.client()
    fake_replicate.throttle_next_creates(2, retry_after_s=1)

    with pytest.raises(ReplicateError) as throttled:  # POSTs are not retried by the client
        client.models.predictions.create(model=NANO, input={"prompt": "x"})
    assert (throttled.value.status, throttled.value.title) == (429, "Request was throttled")

    raw = httpx.post(
        f"{fake_replicate.base_url}/v1/models/{NANO}/predictions",
        json={"input": {"prompt": "x"}},
        headers={"Authorization": f"Bearer {fake_replicate.api_token}"},
    )
    assert raw.status_code == 429 and raw.headers["retry-after"] == "1"
    assert raw.json() == {
        "title": "Request was throttled",
        "detail": "Request was throttled. Expected available in 1 second.",
        "status": 429,
    }

    client.models.predictions.create(model=NANO, input={"prompt": "x"})
    assert (fake_replicate.creates, fake_replicate.throttled) == (1, 2)


def test_throttled_gets_are_retried_by_the_client_and_5xx_creates_raise(
    fake_replicate: FakeReplicate,
) -> None:
    client = fake_replicate.client()
    prediction = client.models.predictions.create(model=NANO, input={"prompt": "x"})

    fake_replicate.throttle_next_gets(2, retry_after_s=0)
    assert client.predictions.get(prediction.id).id == prediction.id  # transport retried twice
    assert fake_replicate.throttled == 2

    fake_replicate.server_error_next_creates(1, status=503)
    with pytest.raises(ReplicateError) as unavailable:
        client.models.predictions.create(model=NANO, input={"prompt": "x"})
    assert unavailable.value.status == 503
    assert (fake_replicate.creates, fake_replicate.server_errors) == (1, 1)


# --- steering over HTTP, in this process and in another -------------------------------------------


def test_control_client_steers_the_in_thread_server(fake_replicate: FakeReplicate) -> None:
    client = fake_replicate.client()
    with fake_replicate.control() as control:
        config = control.configure(latency_s=0.1, seed=3)
        assert config["latency_s"] == 0.1 and config["webhook_secret"].startswith("whsec_")
        control.fail_next(1, error="E005: flagged")
        prediction = client.models.predictions.create(model=NANO, input={"prompt": "x"})
        prediction.wait()
        assert prediction.error == "E005: flagged"
        assert control.stats()["by_status"]["failed"] == 1
        assert list(control.predictions) == [prediction.id]
        with pytest.raises(httpx.HTTPStatusError):
            control.configure(fail_share=2.0)
        control.reset()
        assert control.stats()["predictions"] == 0 and fake_replicate.config["latency_s"] == 0.2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
def test_runs_as_its_own_process() -> None:
    port = _free_port()
    secret = "whsec_" + base64.b64encode(b"s" * 24).decode()
    command = [sys.executable, "-m", "tests.support.fake_replicate", "--port", str(port)]
    command += ["--latency", "0.1", "--api-token", "r8_sub", "--webhook-secret", secret]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 20)
        assert ready, "no ready line"
        base_url = f"http://127.0.0.1:{port}"
        assert process.stdout.readline().strip() == f"ready {base_url}"

        with FakeReplicateControl(base_url) as control:
            assert control.config["webhook_secret"] == secret
            control.configure(latency_s=0.1, seed=1)
            client = Client(api_token="r8_sub", base_url=base_url)
            client.poll_interval = 0.05
            prediction = client.models.predictions.create(model=NANO, input={"prompt": "x"})
            prediction.wait()
            assert prediction.status == "succeeded"
            stats = control.stats()
            assert stats["creates"] == 1 and stats["by_status"]["succeeded"] == 1
            headers, body = control.signed_webhook(prediction.id)
            assert Webhook(secret).verify(body, headers)["id"] == prediction.id
            assert json.loads(body)["status"] == "succeeded"
            control.throttle_next_creates(1, retry_after_s=2)
            with pytest.raises(ReplicateError) as throttled:
                client.models.predictions.create(model=NANO, input={"prompt": "x"})
            assert throttled.value.status == 429
            control.reset()
            assert control.stats()["predictions"] == 0
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
