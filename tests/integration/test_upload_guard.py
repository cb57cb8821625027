"""The upload guard: oversized, many-file and signed-out uploads — and uploads that name a tab
without its owner's session cookie — are refused before anything is spooled to the temp
directory; a normal upload still reaches the handler.

The handler behind the guard is a real Starlette route calling `await request.form()`, as
Reflex's upload endpoint does, so what it spools is measured, not assumed. Starlette spools
files over 1 MB to unnamed temp files (O_TMPFILE or unlinked at once), invisible to a
directory listing: the measure also counts this process's open, deleted files in the temp dir.
"""

from __future__ import annotations

import functools
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import reflex as rx
from reflex.istate.manager import StateManager
from reflex.istate.manager.disk import StateManagerDisk
from reflex.istate.manager.memory import StateManagerMemory
from reflex.utils import prerequisites
from reflex_base.config import get_config
from reflex_base.constants import StateManagerMode
from sqlalchemy.engine import Engine
from sqlmodel import select
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from stylestudio.api.session_cookie import SESSION_COOKIE
from stylestudio.db import session_scope
from stylestudio.models import UserSession, utcnow
from stylestudio.services.accounts import accounts
from stylestudio.services.media.media import MAX_UPLOAD_BYTES
from stylestudio.state import socket_sessions
from stylestudio.state import upload_guard as guard_module
from stylestudio.state.session import SessionState
from stylestudio.state.upload_guard import (
    MAX_UPLOAD_REQUEST_BYTES,
    SessionCheck,
    UploadGuard,
    tab_is_signed_in,
    upload_guard,
)

MB = 1024 * 1024
CHUNK = 64 * 1024
BOUNDARY = "----stylestudio-test-boundary"
UPLOAD = "/_upload"

# --------------------------------------------------------------------------- measuring


def spooled_bytes(directory: Path) -> int:
    """Bytes held in `directory`: named files, plus this process's open unnamed temp files."""
    total = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
    prefix = f"{directory}/"
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(prefix) and target.endswith(" (deleted)"):
                total += os.fstat(int(fd)).st_size
        except OSError:
            continue  # the fd of the listing itself, or one closed meanwhile
    return total


@pytest.fixture
def spool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty temp dir that `tempfile` (and so Starlette's form parser) spools into."""
    directory = tmp_path / "spool"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


# --------------------------------------------------------------------------- the handler


@dataclass
class Handler:
    """A Starlette app that parses uploads like Reflex does, and records what it saw.

    `peak` is the most the temp dir held while it read the body; `handled` the uploads whose
    form parsed completely (with the bytes spooled at that moment).
    """

    spool: Path
    calls: int = 0
    body_bytes: int = 0
    peak: int = 0
    handled: list[dict[str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route(UPLOAD, self._receive_upload, methods=["POST"]),
                Route("/api/other", self._receive_upload, methods=["POST"]),
            ]
        )

    async def _receive_upload(self, request: Request) -> Response:
        try:
            form = await request.form()
        except ClientDisconnect:
            return Response()  # what Reflex's upload endpoint does
        try:
            files = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
            seen = {"files": len(files), "spooled": spooled_bytes(self.spool)}
            seen["bytes"] = sum(f.size or 0 for f in files)
        finally:
            await form.close()
        self.handled.append(seen)
        return JSONResponse(seen)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1

        async def measured_receive() -> Message:
            # Sampled before each read: what the previous chunks left on disk.
            self.peak = max(self.peak, spooled_bytes(self.spool))
            message = await receive()
            self.body_bytes += len(message.get("body", b""))
            return message

        await self.app(scope, measured_receive, send)


def allow_all() -> SessionCheck:
    async def check(_client_token: str, _cookie: str | None) -> str | None:
        return "session-token"

    return check


def client_for(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        # httpx types an ASGI app with dicts, Starlette with MutableMappings.
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        base_url="http://backend",
        timeout=60,
    )


# --------------------------------------------------------------------------- bodies


@dataclass
class Body:
    """A multipart body generated as it is sent, never held whole; counts what was read."""

    file_sizes: list[int]
    sent: int = 0

    def _head(self, index: int) -> bytes:
        return (
            f"--{BOUNDARY}\r\n"
            f'Content-Disposition: form-data; name="files"; filename="photo{index}.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()

    _tail = f"--{BOUNDARY}--\r\n".encode()

    @property
    def length(self) -> int:
        heads = sum(len(self._head(i)) + 2 for i in range(len(self.file_sizes)))
        return heads + sum(self.file_sizes) + len(self._tail)

    def _pieces(self) -> Iterator[bytes]:
        block = b"\xff" * CHUNK
        for index, size in enumerate(self.file_sizes):
            yield self._head(index)
            for start in range(0, size, CHUNK):
                yield block[: min(CHUNK, size - start)]
            yield b"\r\n"
        yield self._tail

    async def stream(self) -> AsyncIterator[bytes]:
        """The body in 64 KiB chunks, as a server hands it on (parts do not align with them)."""
        buffer = bytearray()
        for piece in self._pieces():
            buffer += piece
            while len(buffer) >= CHUNK:
                yield self._counted(bytes(buffer[:CHUNK]))
                del buffer[:CHUNK]
        if buffer:
            yield self._counted(bytes(buffer))

    def _counted(self, data: bytes) -> bytes:
        self.sent += len(data)
        return data


async def post(
    client: httpx.AsyncClient,
    body: Body,
    *,
    framing: str = "chunked",
    client_token: str | None = "tab",
    session_token: str | None = None,
    path: str = UPLOAD,
) -> httpx.Response:
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    if client_token is not None:
        headers["Reflex-Client-Token"] = client_token
    if session_token is not None:
        headers["Cookie"] = f"{SESSION_COOKIE}={session_token}"
    if framing == "content-length":
        headers["Content-Length"] = str(body.length)
    elif framing == "lying-content-length":
        headers["Content-Length"] = "1000"
    return await client.post(path, content=body.stream(), headers=headers)


# --------------------------------------------------------------------------- size


@pytest.mark.parametrize("framing", ["content-length", "chunked", "lying-content-length"])
async def test_a_200_mb_upload_is_refused_before_it_is_spooled(spool: Path, framing: str) -> None:
    handler = Handler(spool)
    guard = UploadGuard(handler, is_signed_in=allow_all(), path=UPLOAD)
    body = Body([200 * MB])
    before = spooled_bytes(spool)

    started = time.perf_counter()
    async with client_for(guard) as client:
        response = await post(client, body, framing=framing)
    elapsed = time.perf_counter() - started

    assert response.status_code == 413
    assert response.json() == {"detail": "An upload may be at most 10 MB."}
    assert response.headers["connection"] == "close"
    assert handler.handled == []
    assert spooled_bytes(spool) == before == 0
    # Never more than the limit reaches the form parser, so never more is spooled.
    assert handler.body_bytes <= MAX_UPLOAD_REQUEST_BYTES
    assert handler.peak <= MAX_UPLOAD_REQUEST_BYTES
    if framing == "content-length":
        assert body.sent == 0 and handler.calls == 0  # refused on the header alone
    else:
        assert body.sent <= MAX_UPLOAD_REQUEST_BYTES + CHUNK
    print(f"\n200 MB, {framing}: 413 in {elapsed * 1000:.1f} ms after reading {body.sent} bytes")


async def test_just_under_the_limit_still_goes_through(spool: Path) -> None:
    handler = Handler(spool)
    guard = UploadGuard(handler, is_signed_in=allow_all(), path=UPLOAD)
    async with client_for(guard) as client:
        response = await post(client, Body([MAX_UPLOAD_BYTES]))
    assert response.status_code == 200
    assert response.json()["bytes"] == MAX_UPLOAD_BYTES
    assert spooled_bytes(spool) == 0  # the handler closed its form


async def test_without_the_guard_the_same_body_is_spooled(spool: Path) -> None:
    """The control: what the measure shows when nothing stands in front of the parser."""
    handler = Handler(spool)
    async with client_for(handler) as client:
        response = await post(client, Body([24 * MB]))
    assert response.status_code == 200
    assert response.json()["spooled"] >= 24 * MB
    assert handler.peak >= 23 * MB


async def test_an_app_that_lets_the_disconnect_escape_still_answers_413(spool: Path) -> None:
    async def read_body(request: Request) -> Response:
        return Response(str(len(await request.body())))

    app = Starlette(routes=[Route(UPLOAD, read_body, methods=["POST"])])
    guard = UploadGuard(app, is_signed_in=allow_all(), path=UPLOAD, max_body_bytes=1 * MB)
    async with client_for(guard) as client:
        response = await post(client, Body([2 * MB]))
    assert response.status_code == 413


# --------------------------------------------------------------------------- file count


async def test_fifty_files_are_refused_before_any_is_spooled(spool: Path) -> None:
    handler = Handler(spool)
    guard = UploadGuard(handler, is_signed_in=allow_all(), path=UPLOAD)
    body = Body([1024] * 50)
    async with client_for(guard) as client:
        response = await post(client, body)
    assert response.status_code == 400
    assert response.json() == {"detail": "Upload at most 4 files at a time."}
    assert handler.handled == []
    assert handler.body_bytes == 0  # all 50 headers sit in the first chunk: none passed on
    assert spooled_bytes(spool) == 0


async def test_a_fifth_file_is_refused_and_the_first_four_are_removed(spool: Path) -> None:
    handler = Handler(spool)
    guard = UploadGuard(handler, is_signed_in=allow_all(), path=UPLOAD)
    async with client_for(guard) as client:
        response = await post(client, Body([3 * MB] * 5), framing="content-length")
    assert response.status_code == 400
    assert handler.handled == []
    assert handler.peak >= 8 * MB  # the first four files were on their way to disk...
    assert spooled_bytes(spool) == 0  # ...and are gone with the refusal


async def test_a_body_that_is_not_multipart_is_refused(spool: Path) -> None:
    handler = Handler(spool)
    guard = UploadGuard(handler, is_signed_in=allow_all(), path=UPLOAD)
    async with client_for(guard) as client:
        response = await client.post(
            UPLOAD, content=b"x" * 100, headers={"Content-Type": "application/octet-stream"}
        )
        broken = await client.post(
            UPLOAD,
            content=b"not a multipart body at all\r\n" * 100,
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        )
    assert response.status_code == 415
    assert broken.status_code == 400
    assert handler.handled == []


# --------------------------------------------------------------------------- other routes


async def test_other_routes_and_methods_pass_through_untouched(spool: Path) -> None:
    asked: list[str] = []

    async def check(client_token: str, _cookie: str | None) -> str | None:
        asked.append(client_token)
        return None

    handler = Handler(spool)
    guard = UploadGuard(handler, is_signed_in=check, path=UPLOAD)
    async with client_for(guard) as client:
        other = await post(
            client, Body([12 * MB, 1024, 1024]), client_token=None, path="/api/other"
        )
        listing = await client.get(UPLOAD)
    assert other.status_code == 200
    assert other.json()["files"] == 3
    assert other.json()["spooled"] >= 12 * MB
    assert listing.status_code == 405  # Starlette's answer, not the guard's
    assert asked == []


# --------------------------------------------------------------------------- sessions


@pytest.fixture(params=["memory", "disk"])
async def state_manager(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[StateManager]:
    """The state manager Reflex creates for the app, in the modes this app runs with locally."""
    monkeypatch.setattr(get_config(), "state_manager_mode", StateManagerMode(request.param))
    monkeypatch.setattr(prerequisites, "get_states_dir", lambda: tmp_path / "states")
    manager = StateManager.create()
    assert type(manager) is {"memory": StateManagerMemory, "disk": StateManagerDisk}[request.param]
    yield manager
    await manager.close()


async def open_tab(manager: StateManager, *, owner: int) -> str:
    """A browser tab whose state holds `owner`'s data (0: nobody's yet)."""
    client_token = str(uuid.uuid4())
    async with manager.modify_state(
        rx.BaseStateToken(ident=client_token, cls=SessionState)
    ) as root:
        (await root.get_state(SessionState))._user_id = owner
    return client_token


@dataclass(frozen=True)
class Sessions:
    """Ada's tab and her live, revoked and expired session tokens; Bob's tab and token."""

    ada_tab: str
    live: str
    revoked: str
    expired: str
    bob_tab: str
    bob: str
    fresh_tab: str


@pytest.fixture
async def sessions(db: Engine, state_manager: StateManager) -> Sessions:
    with session_scope(db) as session:
        ada = accounts.sign_up(session, email="ada@example.com", password="correct horse")
        bob = accounts.sign_up(session, email="bob@example.com", password="battery staple")
        assert ada.id is not None and bob.id is not None
        ada_id, bob_id = ada.id, bob.id
        live = accounts.start_session(session, user_id=ada_id)
        revoked = accounts.start_session(session, user_id=ada_id)
        expired = accounts.start_session(session, user_id=ada_id)
        bob_token = accounts.start_session(session, user_id=bob_id)
    with session_scope(db) as session:
        accounts.end_session(session, token=revoked)
        row = session.exec(
            select(UserSession).where(UserSession.token_hash == accounts.hash_token(expired))
        ).one()
        row.expires_at = utcnow() - timedelta(minutes=1)
        session.add(row)
    return Sessions(
        ada_tab=await open_tab(state_manager, owner=ada_id),
        live=live,
        revoked=revoked,
        expired=expired,
        bob_tab=await open_tab(state_manager, owner=bob_id),
        bob=bob_token,
        fresh_tab=await open_tab(state_manager, owner=0),
    )


@pytest.fixture
def session_check(db: Engine, state_manager: StateManager) -> SessionCheck:
    return functools.partial(tab_is_signed_in, state_manager=state_manager, engine=db)


async def test_an_upload_without_its_owners_live_session_cookie_is_refused_unread(
    spool: Path, sessions: Sessions, session_check: SessionCheck
) -> None:
    cases: dict[str, tuple[str | None, str | None]] = {
        "no tab header": (None, sessions.live),
        "malformed tab token": ("../" + "x" * 100, sessions.live),
        # The tab token alone (page scripts and logs can hold it) is not a credential.
        "the owner's tab token, no cookie": (sessions.ada_tab, None),
        "a fresh tab, no cookie": (sessions.fresh_tab, None),
        "forged session token": (sessions.ada_tab, "made-up-session-token"),
        "revoked session": (sessions.ada_tab, sessions.revoked),
        "expired session": (sessions.ada_tab, sessions.expired),
        # Another user's live cookie does not make Ada's tab theirs.
        "another user's cookie": (sessions.ada_tab, sessions.bob),
        "the tab's owner on another user's tab": (sessions.bob_tab, sessions.live),
    }
    for case, (client_token, session_token) in cases.items():
        handler = Handler(spool)
        guard = UploadGuard(handler, is_signed_in=session_check, path=UPLOAD)
        body = Body([3 * MB])
        async with client_for(guard) as client:
            response = await post(
                client, body, client_token=client_token, session_token=session_token
            )
        assert response.status_code == 401, case
        assert response.json() == {"detail": "Sign in to upload."}, case
        assert (handler.calls, body.sent) == (0, 0), case
        assert spooled_bytes(spool) == 0, case


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_an_upload_with_its_owners_cookie_reaches_the_handler_and_is_spooled(
    spool: Path, sessions: Sessions, session_check: SessionCheck, framing: str
) -> None:
    for client_token, session_token in [
        (sessions.ada_tab, sessions.live),
        (sessions.bob_tab, sessions.bob),
        (sessions.fresh_tab, sessions.bob),  # a tab that holds nobody's data yet
    ]:
        handler = Handler(spool)
        guard = UploadGuard(handler, is_signed_in=session_check, path=UPLOAD)
        async with client_for(guard) as client:
            response = await post(
                client,
                Body([3 * MB]),
                framing=framing,
                client_token=client_token,
                session_token=session_token,
            )
        assert response.status_code == 200
        assert handler.handled == [{"files": 1, "bytes": 3 * MB, "spooled": 3 * MB}]
        assert spooled_bytes(spool) == 0


async def test_while_an_upload_is_handled_its_session_speaks_for_the_tab(
    spool: Path, sessions: Sessions, session_check: SessionCheck
) -> None:
    """The upload's handler may run in a process the tab's socket is not connected to: the
    session the guard checked is what it acts with, and only while it runs."""
    seen: list[tuple[bool, str | None]] = []

    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(socket_sessions.session_token("a-socket-elsewhere", sessions.ada_tab))
        await Response("ok")(scope, receive, send)

    guard = UploadGuard(handler, is_signed_in=session_check, path=UPLOAD)
    async with client_for(guard) as client:
        response = await post(
            client, Body([1024]), client_token=sessions.ada_tab, session_token=sessions.live
        )
    assert response.status_code == 200
    assert seen == [(True, sessions.live)]
    assert socket_sessions.session_token("a-socket-elsewhere", sessions.ada_tab) == (False, None)


async def test_signing_out_in_the_database_stops_the_next_upload(
    db: Engine, spool: Path, sessions: Sessions, session_check: SessionCheck
) -> None:
    handler = Handler(spool)
    guard = UploadGuard(handler, is_signed_in=session_check, path=UPLOAD)
    async with client_for(guard) as client:
        first = await post(
            client, Body([1024]), client_token=sessions.ada_tab, session_token=sessions.live
        )
        with session_scope(db) as session:
            accounts.end_session(session, token=sessions.live)
        second = await post(
            client, Body([1024]), client_token=sessions.ada_tab, session_token=sessions.live
        )
    assert (first.status_code, second.status_code) == (200, 401)
    assert len(handler.handled) == 1


# --------------------------------------------------------------------------- wiring


def test_the_app_transformer_guards_reflex_upload_path() -> None:
    async def reflex_api(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("not called")

    guard = upload_guard(reflex_api)
    assert isinstance(guard, UploadGuard)
    assert guard.app is reflex_api
    assert guard.path == "/_upload"
    assert guard.is_signed_in is guard_module.tab_is_signed_in
    assert guard.max_body_bytes == 4 * MAX_UPLOAD_BYTES + 64 * 1024
    assert guard.max_files == 4


@pytest.fixture(autouse=True)
def _no_stray_temp_files(spool: Path) -> Iterator[None]:
    yield
    assert spooled_bytes(spool) == 0
