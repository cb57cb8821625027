"""Issue 14 (7), over the running app's websocket: wrong-typed arguments from a signed-in
tab are refused with a message, never "An error occurred." and a traceback."""

from __future__ import annotations

from typing import Any

import pytest

from stylestudio.state.account import AccountState
from stylestudio.state.auth import AuthState
from stylestudio.state.gallery import GalleryState
from stylestudio.state.studio import StudioState
from tests.e2e.conftest import API, RunningApp
from tests.support.reflex_tab import ReflexTab

pytestmark = pytest.mark.e2e


def test_wrong_typed_arguments_are_refused_with_a_message(app_server: RunningApp) -> None:
    # A browser holds its sign-in nonce before the form works (login CSRF binding).
    tab = ReflexTab(API, path="/signup", cookie=ReflexTab.sign_in_nonce(API))
    try:
        signed = tab.send(
            f"{AuthState.get_full_name()}.sign_up",
            {"form": {"email": "typed.e2e@example.com", "password": "typed-e2e-pass-1"}},
            path="/signup",
            until="/api/auth/session?ticket=",  # a cold backend hashes slowly
        )
        tab.follow_sign_in(signed)
        gallery, studio = GalleryState.get_full_name(), StudioState.get_full_name()
        refused: list[tuple[str, dict[str, Any], str]] = [
            (f"{gallery}.set_filter_status", {"value": ["completed"]}, "Value must be one of"),
            (f"{gallery}.revoke_share", {"link_id": 2**70}, "Link id must be a whole number"),
            (
                f"{AccountState.get_full_name()}.revoke",
                {"session_id": 2**70},
                "Session id must be a whole number",
            ),
            (f"{studio}.set_variations", {"value": "²"}, "Value must be a whole number"),
        ]
        for handler, payload, said in refused:
            frames = tab.send(handler, payload)
            assert said in frames and "Refused" in frames, (handler, frames[-500:])
            assert "An error occurred" not in frames, handler
        # The studio still answers: the session and the tab are intact.
        assert "seed_text" in tab.send(f"{studio}.set_seed_text", {"value": "1²3"}, path="/upload")
    finally:
        tab.close()
