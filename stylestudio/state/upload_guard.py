"""A guard in front of Reflex's upload endpoint that refuses bad uploads before they are stored.

Reflex's `POST /_upload` parses the body with Starlette's `request.form()`, which spools every
file to temporary disk before our handler can look at the size or the session. This ASGI
middleware runs first. It refuses, without handing the body on:

- a declared Content-Length over the limit (413, body never read);
- a request that is not multipart/form-data (415);
- an upload whose own session cookie does not sign in the owner of the tab named by its
  `Reflex-Client-Token` header (401). The tab token alone is not a credential: page scripts
  can read it. The upload XHR goes cross-origin to the backend (same site) with credentials
  (components/upload_credentials.py), and CORS allows credentials for the app's own origin
  only (rxconfig.py). While the handler runs, the request's session speaks for the tab
  (state/socket_sessions.py), wherever the tab's socket is connected;
- while the body streams, the chunk that would take it past the limit (413) or that holds a
  file part beyond the allowed count (400). The downstream parser then sees a disconnect, so
  it closes whatever it spooled so far.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from reflex.istate.manager import StateManager, get_state_manager
from reflex.istate.manager.token import BaseStateToken
from reflex_base import constants
from reflex_base.config import get_config
from sqlalchemy.engine import Engine
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stylestudio.api.session_cookie import session_token_from
from stylestudio.db import session_scope
from stylestudio.services.accounts import accounts
from stylestudio.services.generation.generations import MAX_PRODUCT_IMAGES
from stylestudio.services.media.media import MAX_UPLOAD_BYTES
from stylestudio.state import socket_sessions
from stylestudio.state.session import SessionState

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

log = logging.getLogger(__name__)

# The studio sends up to four product photos in one request (a drop of several angles); the
# rest is multipart framing and the event args field. Each file's own limit is checked by
# the upload handler as it reads it.
MAX_UPLOAD_FILES = MAX_PRODUCT_IMAGES
MAX_UPLOAD_REQUEST_BYTES = MAX_UPLOAD_FILES * MAX_UPLOAD_BYTES + 64 * 1024

# Reflex's client tokens are UUIDs; anything else is not worth a state lookup.
_CLIENT_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")

SessionCheck = Callable[[str, str | None], Awaitable[str | None]]
"""(client token, Cookie header) -> the session token of the request if it signs in the owner
of that browser tab, else None."""


@dataclass(frozen=True)
class Refusal:
    status: int
    detail: str

    async def send(self, send: Send) -> None:
        body = json.dumps({"detail": self.detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    # The rest of the body is never read: the connection cannot be reused.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


TOO_LARGE = Refusal(413, f"An upload may be at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
NOT_MULTIPART = Refusal(415, "Uploads must be sent as multipart/form-data.")
BAD_LENGTH = Refusal(400, "Invalid Content-Length.")
MALFORMED = Refusal(400, "Invalid multipart body.")
NOT_SIGNED_IN = Refusal(401, "Sign in to upload.")


def _too_many_files(limit: int) -> Refusal:
    return Refusal(400, f"Upload at most {limit} file{'s' if limit != 1 else ''} at a time.")


class _BodyCheck:
    """Counts the bytes and the file parts of a multipart body as it streams past."""

    def __init__(self, boundary: bytes, *, max_bytes: int, max_files: int) -> None:
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.received = 0
        self.files = 0
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        callbacks: MultipartCallbacks = {
            "on_part_begin": self._on_part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
        }
        self._parser = MultipartParser(boundary, callbacks)

    def feed(self, chunk: bytes) -> Refusal | None:
        """The refusal this chunk earns, checked before anyone downstream sees it."""
        self.received += len(chunk)
        if self.received > self.max_bytes:
            return TOO_LARGE
        try:
            self._parser.write(chunk)
        except MultipartParseError:
            return MALFORMED
        if self.files > self.max_files:
            return _too_many_files(self.max_files)
        return None

    def _on_part_begin(self) -> None:
        self._disposition = b""

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def _on_headers_finished(self) -> None:
        # The same test Starlette's form parser uses to decide that a part is a file.
        _, options = parse_options_header(self._disposition)
        if b"filename" in options:
            self.files += 1


def _multipart_boundary(content_type: str) -> bytes | None:
    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    return boundary if kind == b"multipart/form-data" and boundary else None


class UploadGuard:
    """ASGI middleware: checks size, file count and session of uploads before they are parsed.

    Requests to any other path (or with another method) go straight through.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        is_signed_in: SessionCheck,
        path: str = str(constants.Endpoint.UPLOAD),
        max_body_bytes: int = MAX_UPLOAD_REQUEST_BYTES,
        max_files: int = MAX_UPLOAD_FILES,
    ) -> None:
        self.app = app
        self.is_signed_in = is_signed_in
        self.path = path
        self.max_body_bytes = max_body_bytes
        self.max_files = max_files

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        checked = await self._check_request(headers)
        if isinstance(checked, Refusal):
            log.info("upload refused before reading the body: %s", checked.detail)
            await checked.send(send)
            return
        boundary, session_token = checked
        client_token = headers.get("reflex-client-token", "")
        with socket_sessions.upload_session(client_token, session_token):
            await self._forward_checked(
                _BodyCheck(boundary, max_bytes=self.max_body_bytes, max_files=self.max_files),
                scope,
                receive,
                send,
            )

    async def _check_request(self, headers: Headers) -> Refusal | tuple[bytes, str]:
        """The refusal the headers alone earn, or the multipart boundary to read the body by
        and the request's session token."""
        length = headers.get("content-length")
        if length is not None:
            if not (length.isascii() and length.isdigit()):
                return BAD_LENGTH
            if int(length) > self.max_body_bytes:
                return TOO_LARGE
        boundary = _multipart_boundary(headers.get("content-type", ""))
        if boundary is None:
            return NOT_MULTIPART
        session_token = await self.is_signed_in(
            headers.get("reflex-client-token", ""), headers.get("cookie")
        )
        if session_token is None:
            return NOT_SIGNED_IN
        return boundary, session_token

    async def _forward_checked(
        self, check: _BodyCheck, scope: Scope, receive: Receive, send: Send
    ) -> None:
        refused = False
        answered = False  # our refusal went out: what the app sends after it is dropped
        downstream_started = False

        async def checked_receive() -> Message:
            nonlocal refused, answered
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] != "http.request":
                return message
            refusal = check.feed(message.get("body", b""))
            if refusal is None:
                return message
            refused = True
            log.info("upload refused after %d bytes: %s", check.received, refusal.detail)
            if not downstream_started:
                await refusal.send(send)
                answered = True
            # To the app the client has gone: Starlette closes the files it spooled so far.
            return {"type": "http.disconnect"}

        async def checked_send(message: Message) -> None:
            nonlocal downstream_started
            if answered:
                return
            if message["type"] == "http.response.start":
                downstream_started = True
            await send(message)

        try:
            await self.app(scope, checked_receive, checked_send)
        except ClientDisconnect:
            # An app that lets the disconnect we made up escape: the client has its answer.
            if not answered:
                raise


async def tab_is_signed_in(
    client_token: str,
    cookie_header: str | None,
    *,
    state_manager: StateManager | None = None,
    engine: Engine | None = None,
) -> str | None:
    """The upload request's session token, if its cookie signs in a live session of the user
    whose tab `client_token` names (or of anyone, for a tab that holds no one's data yet).

    The tab's owner is read from the app's state manager without taking the tab's lock (a
    read, not an event); the session is the request's own, resolved in the database like
    every event handler does. A tab token without the matching cookie is refused.
    """
    session_token = session_token_from(cookie_header)
    if not session_token or not _CLIENT_TOKEN_RE.fullmatch(client_token):
        return None

    def resolve() -> int | None:
        with session_scope(engine, write=False) as session:
            user = accounts.resolve_session(session, token=session_token)
            return user.id if user is not None else None

    user_id = await asyncio.to_thread(resolve)
    if user_id is None:
        return None
    manager = state_manager if state_manager is not None else get_state_manager()
    root = await manager.get_state(BaseStateToken(ident=client_token, cls=SessionState))
    owner = (await root.get_state(SessionState))._user_id
    return session_token if owner in (0, user_id) else None


def upload_guard(app: ASGIApp) -> ASGIApp:
    """The `rx.App(api_transformer=...)` entry: the guard on this app's upload path."""
    path = get_config().prepend_backend_path(str(constants.Endpoint.UPLOAD))
    return UploadGuard(app, is_signed_in=tab_is_signed_in, path=path)
