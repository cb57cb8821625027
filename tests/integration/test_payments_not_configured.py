"""Production without Stripe keys: no checkout is offered, the test checkout is not served,
and the webhook endpoint has nothing behind it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from stylestudio import runtime
from stylestudio.api.routes import build_api
from stylestudio.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "STYLESTUDIO_ENV": "production",
    "STYLESTUDIO_SECRET_KEY": "p" * 48,
    "STRIPE_SECRET_KEY": "",
    "STYLESTUDIO_PAYMENTS": "auto",
}


def _routes(env: dict[str, str]) -> list[str]:
    script = "import stylestudio.stylestudio as m; print('\\n'.join(m.app._unevaluated_pages))"
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return out.stdout.split()


def test_the_test_checkout_page_is_served_only_when_it_is_the_checkout(tmp_path: Path) -> None:
    data = {"STYLESTUDIO_DATA_DIR": str(tmp_path)}
    assert "checkout/test/[session_id]" in _routes({**data, "STYLESTUDIO_ENV": "development"})
    production = _routes({**data, **PRODUCTION})
    assert "checkout/test/[session_id]" not in production
    assert "credits" in production


def test_without_a_provider_buy_has_nothing_to_call_and_webhooks_find_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    runtime.reset()
    try:
        assert runtime.get_checkout_provider() is None
        assert runtime.webhook_secrets() == ()

        async def post() -> httpx.Response:
            transport = httpx.ASGITransport(app=build_api())
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                return await client.post(
                    "/api/webhooks/stripe", content=b"{}", headers={"stripe-signature": "t=1"}
                )

        assert asyncio.run(post()).status_code == 404
    finally:
        get_settings.cache_clear()
        runtime.reset()
