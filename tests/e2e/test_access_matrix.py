"""User B, from a tab of their own, calls the pages' event handlers with user A's ids —
everything a hostile user can send from the browser console. Nothing of A's changes, and
nothing of A's comes back in B's state updates. A visitor gets no private media."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from stylestudio.state.admin import AdminState
from stylestudio.state.auth import AuthState
from stylestudio.state.explore import ExploreState
from stylestudio.state.gallery import GalleryState
from stylestudio.state.studio import StudioState
from stylestudio.state.studio_inputs import StudioInputsState
from tests.e2e.conftest import API, RunningApp, open_page, product_jpeg, sign_up
from tests.support.reflex_tab import ReflexTab

pytestmark = pytest.mark.e2e

# A's rows, and every row of the tables B's attempts could have written to.
QUERIES = {
    "generations": "SELECT * FROM generations WHERE user_id = :a",
    "images": "SELECT * FROM images WHERE user_id = :a",
    "collections": "SELECT * FROM collections WHERE user_id = :a",
    "collection_items": "SELECT * FROM collection_items",
    "share_links": "SELECT * FROM share_links",
    "audit_log": "SELECT * FROM audit_log",
    "credit_ledger": "SELECT * FROM credit_ledger WHERE user_id = :a",
    "jobs": "SELECT * FROM jobs",
    "users": "SELECT id, credits, publishing_suspended FROM users WHERE id = :a",
}


def _snapshot(app: RunningApp, user_a: int) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(app.data_dir / "stylestudio.db") as conn:
        return {
            table: sorted(conn.execute(sql, {"a": user_a}).fetchall(), key=repr)
            for table, sql in QUERIES.items()
        }


def _one(app: RunningApp, sql: str) -> Any:
    with sqlite3.connect(app.data_dir / "stylestudio.db") as conn:
        return conn.execute(sql).fetchone()


def _typed(frames: str) -> str:
    return ""


def test_another_user_can_do_nothing_with_a_users_images(
    page: Any, app_server: RunningApp, tmp_path: Path
) -> None:
    # A: a finished image, in a collection, shared, waiting for featuring.
    pg = page
    sign_up(pg, "owner.a.e2e@example.com", "owner-a-password-1")
    open_page(pg, "/upload")
    pg.locator("#product input[type=file]").set_input_files(
        str(product_jpeg(tmp_path / "secret.jpg", color=(90, 30, 120)))
    )
    pg.get_by_text("secret.jpg").wait_for()
    pg.get_by_label("Prompt", exact=True).fill("zebrawood jewellery box")
    pg.get_by_role("button", name="Generate", exact=True).click()
    pg.locator(".generation-status[data-status=completed]").wait_for(timeout=90_000)
    open_page(pg, "/gallery")
    pg.get_by_label("New collection name").fill("Private shelf")
    pg.get_by_role("button", name="Create", exact=True).click()
    pg.locator(".collection-chip").first.wait_for()
    card = pg.locator(".generation-card").first
    card.get_by_role("button", name="Collect").click()
    pg.get_by_role("menuitem", name="Private shelf").click()
    pg.locator("#gallery-message").get_by_text("Added").wait_for()
    card.get_by_role("button", name="Share").click()
    pg.get_by_role("button", name="Create link").click()
    pg.locator("#share-url").wait_for()
    pg.keyboard.press("Escape")
    card.get_by_role("button", name="Request featuring").click()
    pg.get_by_role("button", name="Send for review").click()
    card.locator(".feature-state[data-moderation=pending]").wait_for()
    src = card.locator("img").first.get_attribute("src")
    assert src and "?sig=" in src

    gen_id, image_id, key, user_a = _one(
        app_server,
        "SELECT g.id, i.id, i.storage_key, g.user_id FROM generations g JOIN images i "
        "ON i.generation_id = g.id WHERE i.category = 'generated' ORDER BY g.id DESC LIMIT 1",
    )
    (collection_id,) = _one(app_server, "SELECT id FROM collections ORDER BY id DESC LIMIT 1")
    (product_id,) = _one(
        app_server,
        f"SELECT image_id FROM generation_inputs WHERE generation_id = {int(gen_id)} LIMIT 1",
    )
    (link_id,) = _one(app_server, "SELECT id FROM share_links ORDER BY id DESC LIMIT 1")
    before = _snapshot(app_server, user_a)

    # B, from a tab of their own, with A's ids.
    tab = ReflexTab(API, path="/signup")
    try:
        signed = tab.send(
            f"{AuthState.get_full_name()}.sign_up",
            {"form": {"email": "intruder.b.e2e@example.com", "password": "intruder-pass-1"}},
            path="/signup",
            until="/api/auth/session?ticket=",
        )
        assert "/api/auth/session?ticket=" in signed  # to the backend, for the cookie
        tab.follow_sign_in(signed)  # as the browser does: the cookie, a new websocket
        gallery, admin = GalleryState.get_full_name(), AdminState.get_full_name()
        explore, studio = ExploreState.get_full_name(), StudioState.get_full_name()
        inputs = StudioInputsState.get_full_name()
        answers = [
            tab.send(f"{gallery}.open_gallery", {}),
            tab.send(f"{gallery}.search", {"value": "zebrawood"}),
            tab.send(f"{gallery}.cancel", {"generation_id": gen_id}),
            tab.send(f"{gallery}.ask_delete", {"generation_id": gen_id}),
            tab.send(f"{gallery}.delete", {"generation_id": gen_id}),
            tab.send(f"{gallery}.ask_featuring", {"image_id": image_id}),
            tab.send(f"{gallery}.submit_featuring", {}),
            tab.send(f"{gallery}.withdraw", {"image_id": image_id}),
            tab.send(f"{gallery}.open_share", {"image_id": image_id}),
            tab.send(f"{gallery}.create_share", {}),
            tab.send(f"{gallery}.revoke_share", {"link_id": link_id}),
            tab.send(
                f"{gallery}.toggle_collection",
                {"image_id": image_id, "collection_id": collection_id},
            ),
            tab.send(f"{gallery}.select_collection", {"collection_id": collection_id}),
            tab.send(f"{gallery}.set_rename_to", {"value": "mine now"}),
            tab.send(f"{gallery}.rename_collection", {}),
            tab.send(f"{gallery}.delete_collection", {}),
            tab.send(f"{studio}.cancel_current", {}),
            tab.send(f"{studio}.cancel_generation", {"generation_id": gen_id}),
            tab.send(f"{studio}.use_settings", {"generation_id": gen_id, "seed": 1}),
            tab.send(f"{studio}.regenerate", {"generation_id": gen_id}),
            tab.send(f"{inputs}.make_primary", {"image_id": product_id}),
            tab.send(f"{inputs}.move_product", {"image_id": product_id, "step": 1}),
            tab.send(f"{inputs}.remove_product", {"image_id": product_id}),
            tab.send(f"{explore}.open_image", {"image_id": image_id}, path="/explore"),
            tab.send(f"{admin}.open_admin", {}, path="/admin"),
            tab.send(f"{admin}.approve", {"image_id": image_id}, path="/admin"),
            tab.send(f"{admin}.ask_reason", {"action": "reject", "image_id": image_id}),
            tab.send(f"{admin}.set_decide_reason", {"value": "because"}, path="/admin"),
            tab.send(f"{admin}.confirm_decision", {}, path="/admin"),
            # (B's own typing comes back as B's own field: not part of what B learns.)
            _typed(tab.send(f"{admin}.set_publish_email", {"value": "owner.a.e2e@example.com"})),
            tab.send(f"{admin}.set_publish_reason", {"value": "because"}, path="/admin"),
            tab.send(f"{admin}.set_publishing", {"suspended": True}, path="/admin"),
        ]
    finally:
        tab.close()

    after = _snapshot(app_server, user_a)
    for table in QUERIES:
        assert after[table] == before[table], table
    everything_b_saw = "\n".join(answers)
    # B typed "zebrawood" into their own search: it comes back as their query, never as a
    # prompt of an item; nor does any key, collection or address of A's.
    for secret in ('"prompt":"zebrawood', key, "Private shelf", "owner.a.e2e", "secret.jpg"):
        assert secret not in everything_b_saw.replace(" ", ""), secret
    assert '"denied_rx_state_":true' in everything_b_saw.replace(" ", "")  # /admin refused

    # A visitor: no signature, a forged one, another key's.
    media = f"{API}/api/media/{key}"
    assert httpx.get(media, timeout=5).status_code == 403
    assert httpx.get(f"{media}?sig=forged", timeout=5).status_code == 403
    signed_url = src if src.startswith("http") else f"{API}{src}"
    assert httpx.get(signed_url, timeout=5).status_code == 200
    other_key = re.sub(r"/api/media/[^?]+", "/api/media/users/0/other.jpg", signed_url)
    assert httpx.get(other_key, timeout=5).status_code == 403
