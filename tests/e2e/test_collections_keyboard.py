"""The gallery's "New collection" field: Enter creates the collection, as `Create` does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import open_page, product_jpeg, sign_up

pytestmark = pytest.mark.e2e


def test_enter_in_new_collection_creates_it(page: Any, tmp_path: Path) -> None:
    sign_up(page, "collector.e2e@example.com", "collector-password-1")
    open_page(page, "/upload")
    page.locator("#product input[type=file]").set_input_files(
        str(product_jpeg(tmp_path / "mug.jpg", color=(160, 90, 40)))
    )
    page.get_by_text("mug.jpg").wait_for()
    page.get_by_role("button", name="Generate", exact=True).click()
    page.locator(".generation-status[data-status=completed]").wait_for(timeout=90_000)

    open_page(page, "/gallery")
    field = page.get_by_label("New collection name")
    field.fill("Autumn mugs")
    field.press("Enter")
    page.locator(".collection-chip").filter(has_text="Autumn mugs").wait_for()
    page.locator("#gallery-message").get_by_text("Collection created.").wait_for()
    assert field.input_value() == ""
