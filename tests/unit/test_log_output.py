"""Log lines as operators read them: one JSON object per line (or text), each carrying the
ids of what it happened in, and no secret in any field."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from stylestudio import log_output, log_redaction
from stylestudio.settings import Settings

SESSION = "TUktGGj0qOah6TzfcWafLEN-6xtG7xHJV37O8bEcsJ8"
STRIPE_KEY = "sk_live_51Habcdefghijklmnop"
TAB = "5f0c2a9e-8d7b-4c1e-9a36-2b7f4e1d0c8a"


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """configure_logging(format) into a buffer; the root logger as it was afterwards."""
    previous_factory = logging.getLogRecordFactory()
    monkeypatch.setattr(log_redaction, "_installed", False)
    root = logging.getLogger()
    previous_level = root.level
    out = io.StringIO()

    def configure(log_format: log_output.LogFormat) -> io.StringIO:
        log_output.configure_logging(log_format=log_format, stream=out)
        return out

    yield configure
    log_output.remove_handler()
    root.setLevel(previous_level)
    logging.setLogRecordFactory(previous_factory)


def _lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_json_lines_parse_and_carry_the_bound_ids(configure: Any) -> None:
    out = configure("json")
    log = logging.getLogger("stylestudio.test")
    log.info("before any request")
    with log_output.bound(request_id="req-0001"):
        log.warning("refused %s", "a webhook", extra={"webhook": "stripe", "attempt": 2})
        with log_output.bound(event_id="abc123", event="GalleryState.open_gallery"):
            log.error("inside an event")
    log.info("after")

    first, refused, event, after = _lines(out)
    assert first["message"] == "before any request" and "request_id" not in first
    assert refused["level"] == "warning" and refused["logger"] == "stylestudio.test"
    assert refused["message"] == "refused a webhook"
    assert refused["request_id"] == "req-0001"
    assert (refused["webhook"], refused["attempt"]) == ("stripe", 2)
    assert refused["time"].endswith("+00:00") and isinstance(refused["pid"], int)
    assert event["request_id"] == "req-0001" and event["event_id"] == "abc123"
    assert event["event"] == "GalleryState.open_gallery"
    assert "request_id" not in after and "event_id" not in after


def test_ids_follow_into_threads_and_stay_in_their_own_task(configure: Any) -> None:
    out = configure("json")
    log = logging.getLogger("stylestudio.test")

    async def handle(request_id: str) -> None:
        log_output.bind(request_id=request_id)
        await asyncio.sleep(0)  # the other task runs here: its id must not leak into ours
        await asyncio.to_thread(log.info, "from a thread")
        log.info("from the task")

    async def main() -> None:
        await asyncio.gather(handle("req-a"), handle("req-b"))

    asyncio.run(main())
    lines = _lines(out)
    assert sorted(line["request_id"] for line in lines) == ["req-a", "req-a", "req-b", "req-b"]


def test_no_secret_in_any_json_field(configure: Any) -> None:
    out = configure("json")
    log = logging.getLogger("stylestudio.test")
    with log_output.bound(request_id="req-0002"):
        log.warning(
            "request with cookie: ss_session=%s and tab %s",
            SESSION,
            TAB,
            extra={
                "headers": {"cookie": f"ss_session={SESSION}", "authorization": "x"},
                "url": f"/api/auth/session?ticket={SESSION}",
                "note": f"Bearer {SESSION}",
                "keys": [STRIPE_KEY],
            },
        )
        try:
            raise RuntimeError(f"provider refused api_key={STRIPE_KEY}")
        except RuntimeError:
            log.exception("call failed", extra={"token": SESSION})

    text = out.getvalue()
    assert SESSION not in text and STRIPE_KEY not in text and TAB not in text
    warning, failure = _lines(out)
    assert warning["request_id"] == "req-0002"
    assert "[redacted]" in warning["message"] and "[redacted]" in warning["url"]
    assert warning["headers"] == {"cookie": "[redacted]", "authorization": "[redacted]"}
    assert warning["note"] == "Bearer [redacted]" and warning["keys"] == ["[redacted]"]
    # A traceback that would print a secret comes redacted, inside the message.
    traceback = failure.get("exception", failure["message"])
    assert "RuntimeError: provider refused api_key=[redacted]" in traceback
    assert failure["token"] == "[redacted]"


def test_a_traceback_without_secrets_has_its_own_field(configure: Any) -> None:
    out = configure("json")
    try:
        raise ValueError("bad input")
    except ValueError:
        logging.getLogger("stylestudio.test").exception("failed")
    (line,) = _lines(out)
    assert line["message"] == "failed"
    assert line["exception"].startswith("Traceback")
    assert "ValueError: bad input" in line["exception"]


def test_text_lines_end_with_the_ids(configure: Any) -> None:
    out = configure("text")
    with log_output.bound(request_id="req-0003"):
        logging.getLogger("stylestudio.test").warning("refused cookie=%s", SESSION)
    line = out.getvalue().strip()
    assert line.endswith("[request_id=req-0003]")
    assert " WARNING stylestudio.test refused cookie='[redacted]'" in line
    assert SESSION not in line


def test_configuring_again_replaces_the_handler(configure: Any) -> None:
    out = configure("json")
    configure("json")
    logging.getLogger("stylestudio.test").warning("once")
    assert len(out.getvalue().splitlines()) == 1


@pytest.mark.parametrize(
    ("environment", "setting", "expected"),
    [
        ("development", None, "text"),
        ("test", None, "text"),
        ("production", None, "json"),
        ("production", "text", "text"),
        ("development", "json", "json"),
    ],
)
def test_the_format_defaults_to_json_in_production_only(
    monkeypatch: pytest.MonkeyPatch, environment: str, setting: str | None, expected: str
) -> None:
    monkeypatch.setenv("STYLESTUDIO_ENV", environment)
    monkeypatch.setenv("STYLESTUDIO_SECRET_KEY", "k" * 40)
    if setting is None:
        monkeypatch.delenv("STYLESTUDIO_LOG_FORMAT", raising=False)
    else:
        monkeypatch.setenv("STYLESTUDIO_LOG_FORMAT", setting)
    assert Settings(_env_file=None).effective_log_format == expected
