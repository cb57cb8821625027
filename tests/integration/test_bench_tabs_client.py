"""The load bench's browser tabs (bench/bench_tabs.py) against a real development backend:
they hydrate, their page events and setter are answered, a session cookie in the handshake
signs a tab in, and a page that does not answer as expected is counted, not timed."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from bench.bench_tabs import Tab, TabError, development_server, load, running, seed_sessions
from tests.support.databases import migrated_database


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_bench_tabs_are_answered_and_a_missing_answer_is_an_error(tmp_path: Path) -> None:
    with migrated_database("sqlite", tmp_path) as database_url:
        cookies = seed_sessions(database_url, 2)
        server = development_server(database_url, tmp_path, _free_port())
        with running(server):
            result = asyncio.run(
                load(
                    api=server.api,
                    origin=server.origin,
                    cookies=[*cookies, ""],
                    events=4,
                    timeout_s=30,
                )
            )
            assert result["hydrate"]["failed"] == 0
            assert result["connect_errors"] == 0
            for kind in ("page", "setter"):
                assert result[kind]["events"] == 6, result
                assert result[kind]["answered"] == 6, result
                assert result[kind]["errors"] == 0, result
            assert result["signed_in_tabs"] == 2

            async def gallery(cookie: str) -> float:
                tab = Tab(api=server.api, cookie=cookie, origin=server.origin, timeout_s=3)
                try:
                    await tab.open("/explore")
                    return await tab.navigate("/gallery")
                finally:
                    await tab.close()

            # The cookie signs the tab in: its gallery loads.
            assert asyncio.run(gallery(cookies[0])) > 0
            # Without it /gallery sends the tab to /login: no page answer, an error.
            with pytest.raises(TabError, match="timeout"):
                asyncio.run(gallery(""))
