"""No secret reaches a log line: session cookies, tokens, tickets, API keys, webhook secrets,
signatures and Reflex tab tokens are replaced before any handler sees the record.

Installed as the process's log record factory (`install`), so it covers every logger —
ours, Reflex's (which logs a failed event with its whole router data), uvicorn's access lines
(query strings carry `?ticket=` and the websocket's `?token=`) — whichever handlers they
write to. Arguments keep their shape (uvicorn's access formatter unpacks them); only a value
whose text holds a secret is replaced by its redacted text. A traceback that would print a
secret is rendered, redacted, into the message instead.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

REDACTED = "[redacted]"

_NAMES = (
    r"[\w-]*(?:token|ticket|secret|signature|password|passwd|api[_-]?key|session|cookie"
    r"|authorization|code_verifier|nonce|access[_-]?key|credential)s?|code|state|sig|ss_session"
)

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # A header line or mapping entry that is a credential as a whole.
    (
        re.compile(
            r"""(?i)(\b(?:set-)?cookie|\bauthorization|\bproxy-authorization)(['"]?\s*[:=]\s*)"""
            r"""(?:(['"])(?:\\.|(?!\3).)*\3|[^\r\n]*)"""
        ),
        rf"\1\2'{REDACTED}'",
    ),
    # name=value in query strings, cookies and key=value text.
    (
        # (Not an already redacted value: redacting twice must change nothing.)
        re.compile(rf"""(?i)(?<![\w-])({_NAMES})=(?!\[redacted\])([^&\s'",;)\]}}]+)"""),
        rf"\1={REDACTED}",
    ),
    # 'name': 'value' / "name": "value" in reprs and JSON.
    (
        re.compile(rf"""(?i)(['"])({_NAMES})\1(\s*:\s*)(['"])(?:\\.|(?!\4).)*\4"""),
        rf"\1\2\1\3'{REDACTED}'",
    ),
    # Bearer credentials and provider keys wherever they stand.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {REDACTED}"),
    (re.compile(r"\b(?:whsec|sk|rk|pk)_(?:live_|test_)?[A-Za-z0-9]{8,}"), REDACTED),
    (re.compile(r"\br8_[A-Za-z0-9]{16,}"), REDACTED),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), REDACTED),  # AWS access key ids
    (re.compile(r"\bv1,[A-Za-z0-9+/=]{20,}"), REDACTED),  # Standard Webhooks signatures
    # Reflex tab tokens (canonical UUIDs; our own ids are hex or integers).
    (
        # (Reflex writes them glued to a state name: `<token>_reflex___state…`.)
        re.compile(
            r"(?i)(?<![0-9a-f])[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
            r"(?![0-9a-f])"
        ),
        REDACTED,
    ),
)


_SECRET_NAME = re.compile(rf"(?i)(?:{_NAMES}|set-cookie|proxy-authorization)")


def is_secret_name(name: str) -> bool:
    """Whether a field called `name` holds a credential as a whole (`token`, `cookie`, …)."""
    return _SECRET_NAME.fullmatch(name) is not None


def redact(text: str) -> str:
    """`text` with every secret it holds replaced by `[redacted]`."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = value if isinstance(value, str) else _safe_str(value)
    clean = redact(text)
    return value if clean == text else clean


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception:
        return ""


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    if record.args and isinstance(record.msg, str) and redact(record.msg) != record.msg:
        # The format string itself holds a secret's name (`"cookie=%s"`): redacting it alone
        # would swallow its placeholders and the line would fail to format. Redact the line.
        try:
            rendered = record.getMessage()
        except Exception:
            rendered = record.msg
        record.msg, record.args = redact(rendered), ()
    record.msg = _redact_value(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(_redact_value(a) for a in record.args)
    elif isinstance(record.args, dict):
        record.args = {k: _redact_value(v) for k, v in record.args.items()}
    if record.exc_info and record.exc_info[0] is not None:
        rendered = "".join(traceback.format_exception(*record.exc_info))
        clean = redact(rendered)
        if clean != rendered:
            # The handler would render the traceback (exception message included) again
            # from exc_info: hand it the redacted text instead.
            message = record.getMessage()
            record.msg, record.args = f"{message}\n{clean.rstrip()}", ()
            record.exc_info, record.exc_text = None, None
    return record


_installed = False


def install() -> None:
    """Redact every log record this process creates from now on (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    make_record = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(make_record(*args, **kwargs))

    logging.setLogRecordFactory(factory)


def configure_logging(level: int = logging.INFO) -> None:
    """The processes' logging, redacted: see `stylestudio.log_output.configure_logging`."""
    from stylestudio.log_output import configure_logging as configure

    configure(level)
