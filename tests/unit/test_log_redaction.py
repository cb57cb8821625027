"""No secret reaches a log line, whatever logger, arguments or traceback carry it."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from stylestudio import log_redaction

# Fixed values: test ids must be the same in every pytest-xdist worker.
SESSION = "TUktGGj0qOah6TzfcWafLEN-6xtG7xHJV37O8bEcsJ8"
TICKET = "q1Zr0nDq5cYt8vJx3mWbL7aPzE2sKfH9uGoRiNc4TyA"
TAB = "5f0c2a9e-8d7b-4c1e-9a36-2b7f4e1d0c8a"


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    # Installed for this test only: other tests' log captures stay as they were.
    previous = logging.getLogRecordFactory()
    monkeypatch.setattr(log_redaction, "_installed", False)
    log_redaction.install()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    loggers = [logging.getLogger(n) for n in ("reflex_base.event", "uvicorn.access", "ours")]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield out
    for logger in loggers:
        logger.removeHandler(handler)
    logging.setLogRecordFactory(previous)


def test_reflex_failed_event_line_names_no_cookie_or_tab_token(captured: io.StringIO) -> None:
    # What Reflex logs for an event naming an unregistered handler: the whole event.
    event = {
        "token": TAB,
        "name": "state.reset",
        "router_data": {
            "headers": {"cookie": f"theme=dark; ss_session={SESSION}", "origin": "x"},
            "token": TAB,
        },
    }
    logging.getLogger("reflex_base.event").error(f"Error processing event queue entry for {event}")
    logging.getLogger("reflex_base.event").error("Event %s from %r", event, TAB)
    logging.getLogger("reflex_base.event").warning(f"Lock for token {TAB}_reflex___state held")
    text = captured.getvalue()
    assert SESSION not in text and TAB not in text
    assert "state.reset" in text and "[redacted]" in text  # the rest stays readable


def test_access_lines_keep_their_shape_without_tickets_or_tokens(captured: io.StringIO) -> None:
    access = logging.getLogger("uvicorn.access")
    access.info(
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:5",
        "GET",
        f"/api/auth/session?ticket={TICKET}&next=/upload",
        "1.1",
        303,
    )
    access.info('%s - "WebSocket %s" [accepted]', "127.0.0.1:6", f"/_event/?token={TAB}&EIO=4")
    text = captured.getvalue()
    assert TICKET not in text and TAB not in text
    assert '/api/auth/session?ticket=[redacted]&next=/upload HTTP/1.1" 303' in text


@pytest.mark.parametrize(
    "secret_line",
    [
        f"Cookie: ss_session={SESSION}",
        f"authorization: Bearer {SESSION}",
        "STRIPE_WEBHOOK_SECRET=whsec_" + "a1B2c3D4e5F6g7H8",
        "api key sk_test_" + "a1B2c3D4e5F6g7H8i9",
        "webhook-signature: v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
        f"{{'password': 'hunter22-{SESSION}'}}",
        f'{{"client_token": "{SESSION}"}}',
        f"AWS_SECRET_ACCESS_KEY={SESSION}",
        f"{{'aws_secret_access_key': '{SESSION}', 'region': 'eu-west-1'}}",
        "?X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261203%2Feu-west-1&X-Amz-Expires=60",
        "access key id AKIAIOSFODNN7EXAMPLE from the environment",
    ],
)
def test_credentials_in_any_form_are_redacted(captured: io.StringIO, secret_line: str) -> None:
    logging.getLogger("ours").warning(secret_line)
    text = captured.getvalue()
    assert "[redacted]" in text
    for secret in (SESSION, "whsec_a1B2", "sk_test_a1B2", "K5oZfzN95Z9", "AKIAIOSFODNN7"):
        assert secret not in text


def test_a_traceback_that_holds_a_secret_is_printed_redacted(captured: io.StringIO) -> None:
    try:
        raise KeyError(f"No registered handler found for event with token={TAB}")
    except KeyError:
        logging.getLogger("ours").exception("event failed")
    text = captured.getvalue()
    assert TAB not in text
    assert "KeyError" in text and "event failed" in text


def test_redacting_twice_changes_nothing() -> None:
    """A record may pass two factories (the CLI installed one, a test another)."""
    for line in (
        f"GET /api/auth/session?ticket={TICKET}&next=/upload",
        f"/_event/?token={TAB}&EIO=4 X-Amz-Credential=AKIAIOSFODNN7EXAMPLE",
        f"Cookie: ss_session={SESSION}",
    ):
        once = log_redaction.redact(line)
        assert log_redaction.redact(once) == once and TICKET not in once
