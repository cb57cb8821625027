"""The studio with its media in an S3 bucket (moto's server, a separate endpoint the backend
reaches over HTTP with boto3): sign up, upload, generate and see the result in the gallery,
export, `media sweep` and delete the account — every image an object in the bucket, served
only through the app's signed route."""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from stylestudio.api.session_cookie import SESSION_COOKIE
from tests.e2e.conftest import (
    API,
    BASE,
    BIN,
    ROOT,
    RunningApp,
    balance,
    open_page,
    product_jpeg,
    shot,
    sign_up,
)
from tests.support.s3 import FAKE_CREDENTIALS, Bucket, client_for

pytestmark = pytest.mark.e2e


def _objects(bucket: Bucket) -> dict[str, bytes]:
    client = client_for(bucket.endpoint_url)
    listed = client.list_objects_v2(Bucket=bucket.name, Prefix=bucket.prefix).get("Contents", [])
    return {
        o["Key"].removeprefix(bucket.prefix): client.get_object(Bucket=bucket.name, Key=o["Key"])[
            "Body"
        ].read()
        for o in listed
    }


def _cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [str(BIN / "stylestudio"), *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.mark.backend_restarts
def test_the_studio_keeps_its_media_in_s3(
    app_server: RunningApp, page: Any, s3_bucket: Bucket, tmp_path: Path
) -> None:
    pg = page
    s3_env = {
        **s3_bucket.env(),
        **FAKE_CREDENTIALS,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    local_media = app_server.data_dir / "media"
    local_before = {p for p in local_media.rglob("*") if p.is_file()}
    app_server.restart_backend(**s3_env)
    try:
        sign_up(pg, "s3.shopper@example.com", "s3-shopper-password-1")
        pg.locator("#product input[type=file]").set_input_files(
            str(product_jpeg(tmp_path / "kettle.jpg", color=(30, 120, 90)))
        )
        pg.get_by_text("kettle.jpg").wait_for()
        pg.get_by_role("button", name="Generate", exact=True).click()
        pg.locator(".generation-status[data-status=completed]").wait_for(timeout=90_000)
        pg.wait_for_function("document.querySelector('#credit-balance')?.innerText === '9 credits'")
        assert balance(pg) == 9

        stored = _objects(s3_bucket)
        assert len(stored) == 4  # the upload and the result, each with its thumbnail
        assert {k.split("/")[0] for k in stored} == {"product", "generated"}

        open_page(pg, "/gallery")
        card = pg.locator(".generation-card").first
        card.wait_for()
        pg.wait_for_function(  # every image of the card arrived, through the signed route
            "[...document.querySelectorAll('.generation-card img')]"
            ".every(i => i.complete && i.naturalWidth > 0)"
        )
        shot(pg, "gallery-on-s3")
        src = card.locator("img").first.get_attribute("src")
        assert src and src.startswith(f"{API}/api/media/")
        shown = httpx.get(src)
        assert shown.status_code == 200 and shown.content in stored.values()
        assert httpx.get(src.split("?")[0]).status_code == 403  # no signature, no image
        key = src.removeprefix(f"{API}/api/media/").split("?")[0]
        direct = httpx.get(f"{s3_bucket.endpoint_url}/{s3_bucket.name}/{s3_bucket.prefix}{key}")
        assert direct.status_code == 403  # nor from the bucket itself

        [session] = [c["value"] for c in pg.context.cookies() if c["name"] == SESSION_COOKIE]
        export = httpx.get(f"{API}/api/account/export", cookies={SESSION_COOKIE: session})
        assert export.status_code == 200
        archive = zipfile.ZipFile(io.BytesIO(export.content))
        images = [archive.read(n) for n in archive.namelist() if n.startswith("images/")]
        assert len(images) == 2 and all(i in stored.values() for i in images)

        # A file a killed process left behind: the sweep finds it in the bucket.
        client_for(s3_bucket.endpoint_url).put_object(
            Bucket=s3_bucket.name, Key=f"{s3_bucket.prefix}generated/999/lost.jpg", Body=b"x"
        )
        swept = _cli(
            {**app_server.env, **s3_env}, "media", "sweep", "--delete", "--older-than-minutes", "0"
        )
        assert "deleted generated/999/lost.jpg" in swept and "Deleted 1 orphaned file" in swept
        assert set(_objects(s3_bucket)) == set(stored)

        open_page(pg, "/account")
        pg.get_by_label("Type your email to confirm").fill("s3.shopper@example.com")
        pg.get_by_role("button", name="Delete account").click()
        pg.wait_for_url(f"{BASE}/login?account=deleted")
        assert _objects(s3_bucket) == {}  # every object of the account is gone
    finally:
        app_server.restart_backend()
    assert {p for p in local_media.rglob("*") if p.is_file()} == local_before
