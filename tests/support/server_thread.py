"""One way to run a local protocol fake: an ASGI app served by uvicorn in a daemon thread.

`start()` binds a free port (or the one asked for), serves, and returns once uvicorn says it is
listening; `stop()` asks it to finish and joins the thread. The fakes (GitHub, Stripe,
Replicate, a crafted OIDC issuer) subclass `ServerThread` and pass it their Starlette app.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Literal, Self

import uvicorn
from starlette.types import ASGIApp

START_TIMEOUT_S = 10.0


class ServerThread:
    """Serves `app` on `host:port` (port 0: a free one) in a thread; a context manager."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        name: str,
        host: str = "127.0.0.1",
        port: int = 0,
        lifespan: Literal["on", "off"] = "off",
        **uvicorn_options: Any,
    ) -> None:
        self._served_app = app
        self._server_name = name
        self._host = host
        self._port = port
        self._server_lifespan: Literal["on", "off"] = lifespan
        self._uvicorn_options = uvicorn_options
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port served on (known once started)."""
        return self._port

    def start(self) -> Self:
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says
        # TCP, and without it every keep-alive answer waits ~40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._served_app,
            log_level="warning",
            lifespan=self._server_lifespan,
            **self._uvicorn_options,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=self._server_name
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                self.stop()
                raise RuntimeError(f"{self._server_name} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=START_TIMEOUT_S)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
