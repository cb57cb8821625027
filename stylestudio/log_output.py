"""How the processes write their logs: plain text lines or one JSON object per line, each
carrying the ids of what it happened in (an HTTP request, a Reflex event, a worker's job).

The ids live in a context variable (`bind`, `bound`), so every line logged while handling a
request or an event — by our code, a library, or a thread started with the context copied
(`asyncio.to_thread` does) — carries them. Secrets are taken out before a line is written:
the record factory of `log_redaction` cleans the message and its arguments, and the JSON
formatter cleans every extra field and the rendered traceback as well.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, Literal, TextIO

from stylestudio.log_redaction import REDACTED, is_secret_name, redact
from stylestudio.log_redaction import install as install_redaction

LogFormat = Literal["text", "json"]

_NOTHING: Mapping[str, str | int] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, str | int]] = contextvars.ContextVar(
    "stylestudio_log_context", default=_NOTHING
)

# What every LogRecord has of its own; anything else on a record came in through `extra=`.
_RECORD_FIELDS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime"}
)
# Set by the context filter below (the same values are written from `context`).
_CONTEXT_ATTR = "stylestudio_context"


def bind(**fields: str | int) -> contextvars.Token[Mapping[str, str | int]]:
    """Add `fields` to every log line of the current context (task, thread) from now on."""
    return _context.set({**_context.get(), **fields})


def unbind(token: contextvars.Token[Mapping[str, str | int]]) -> None:
    _context.reset(token)


@contextlib.contextmanager
def bound(**fields: str | int) -> Iterator[None]:
    """`fields` on every log line written inside the block."""
    token = bind(**fields)
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> Mapping[str, str | int]:
    return _context.get()


class ContextFilter(logging.Filter):
    """Copies the bound ids onto each record (handlers format them later, maybe elsewhere)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, _CONTEXT_ATTR):
            setattr(record, _CONTEXT_ATTR, dict(_context.get()))
        return True


def _clean(value: Any, name: str = "") -> Any:
    """An extra field's value, JSON-ready, without secrets: a field or key named like a
    credential is withheld whole; any other text is redacted."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if name and is_secret_name(name):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): _clean(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_clean(v) for v in value]
    try:
        return redact(str(value))
    except Exception:
        return "<unprintable>"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the bound ids, every extra
    field, and the traceback, all redacted."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            # Already redacted, with its arguments, by log_redaction's record factory.
            "message": record.getMessage(),
            "pid": record.process,
        }
        context = getattr(record, _CONTEXT_ATTR, None)
        if context is None:
            context = _context.get()
        # Our own ids (validated where they come from outside), never redacted: a proxy's
        # request id may look like a tab token.
        payload.update(context)
        for key, value in vars(record).items():
            if key in _RECORD_FIELDS or key == _CONTEXT_ATTR or key in payload:
                continue
            payload[key] = _clean(value, key)
        if record.exc_info and record.exc_info[0] is not None:
            payload["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            payload["exception"] = redact(record.exc_text)
        if record.stack_info:
            payload["stack"] = redact(record.stack_info)
        return json.dumps(payload, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger message key=value…`, the bound ids at the end."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = getattr(record, _CONTEXT_ATTR, None)
        if context is None:
            context = _context.get()
        if not context:
            return line
        head, sep, tail = line.partition("\n")
        ids = " ".join(f"{k}={v}" for k, v in context.items())
        return f"{head} [{ids}]{sep}{tail}"


# Loggers that speak at INFO on every readiness probe (alembic names its migration context
# each time the revision is read): quiet in the processes that serve, not in `migrate`.
_PROBE_CHATTER = ("alembic.runtime.migration",)
_handler: logging.Handler | None = None


def configure_logging(
    level: int = logging.INFO,
    *,
    log_format: LogFormat | None = None,
    serving: bool = False,
    stream: TextIO | None = None,
) -> logging.Handler:
    """The process's logging: one handler on stderr (or `stream`) for the root logger,
    redacted, in the configured format (STYLESTUDIO_LOG_FORMAT). `serving`: a web process,
    whose readiness probes must not each leave lines. Safe to call again (the handler is
    replaced, never stacked); returns it."""
    global _handler
    install_redaction()
    if log_format is None:
        from stylestudio.settings import get_settings

        log_format = get_settings().effective_log_format
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    root.addHandler(handler)
    root.setLevel(level)
    _handler = handler
    if serving:
        for name in _PROBE_CHATTER:
            logging.getLogger(name).setLevel(logging.WARNING)
    return handler


def remove_handler() -> None:
    """Take the handler `configure_logging` installed off the root logger (tests)."""
    global _handler
    if _handler is not None:
        logging.getLogger().removeHandler(_handler)
        _handler = None
