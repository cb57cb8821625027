"""The README's REST API example, run as a user would run it: the very code block from the
README, as its own Python process, against the running app, on a folder of 10 photos."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from stylestudio.db import create_db_engine, session_scope
from stylestudio.services.accounts import api_keys
from tests.e2e.conftest import API, ROOT, RunningApp, product_jpeg
from tests.support.builders import grant_credits, new_user

pytestmark = pytest.mark.e2e

PHOTOS = 10


def readme_example() -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(
        r"<!-- example:style_folder -->\n```python\n(.*?)```\n<!-- /example:style_folder -->",
        readme,
        re.S,
    )
    assert match, "the README lost its example block"
    return match.group(1)


def test_the_readme_example_styles_a_folder_of_ten_photos(
    app_server: RunningApp, tmp_path: Path
) -> None:
    engine = create_db_engine(f"sqlite:///{app_server.data_dir / 'stylestudio.db'}")
    try:
        user_id = new_user(engine, "scripted.seller@example.com")
        grant_credits(engine, user_id, 100)
        with session_scope(engine) as session:
            key = api_keys.create_api_key(
                session,
                user_id=user_id,
                name="catalogue script",
                scopes=["generate", "read", "library:write"],
            ).secret
    finally:
        engine.dispose()
    folder = tmp_path / "photos"
    folder.mkdir()
    for n in range(PHOTOS):
        product_jpeg(folder / f"product-{n:02d}.jpg", color=(20 * n, 90, 200 - 15 * n))
    script = tmp_path / "style_folder.py"
    script.write_text(readme_example())

    done = subprocess.run(
        [sys.executable, str(script), str(folder)],
        env={**os.environ, "STYLESTUDIO_URL": API, "STYLESTUDIO_API_KEY": key},
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    lines = sorted(done.stdout.split("\n")[:-1])
    assert lines == [f"product-{n:02d}.jpg completed " for n in range(PHOTOS)], done.stdout
    for n in range(PHOTOS):
        [result] = folder.glob(f"product-{n:02d}-realistic-*.jpg")
        with Image.open(result) as image:
            assert image.format == "JPEG" and min(image.size) >= 256
    assert not [log.name for log in app_server.logs if key in log.read_text()]
