"""The signed media route (`/api/media/<key>?sig=…`) serving one stored JPEG, in process
(httpx's ASGI transport, no sockets on our side), from local files and from an S3 bucket
(moto's server: its own Flask process-thread, so the S3 figure is mostly moto's speed, not
S3's). Baseline in the same run: Starlette's FileResponse on the same file, which is what
the route did before it streamed through the storage protocol.

    python bench/bench_media_route.py [--requests 300] [--kib 300]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KEY = "generated/1/0123456789abcdef0123456789abcdef.jpg"
API = "http://api"


def _jpeg(kib: int) -> bytes:
    """A noisy JPEG of about `kib` KiB (noise does not compress)."""
    side = 256
    while True:
        out = io.BytesIO()
        Image.effect_noise((side, side), 80).convert("RGB").save(out, "JPEG", quality=90)
        if out.tell() >= kib * 1024:
            return out.getvalue()
        side += 64


async def _measure(app: Starlette, url: str, n: int, expected: bytes) -> dict[str, float]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=API) as client:
        for _ in range(10):  # warm-up: connection pools, caches, threads
            await client.get(url)
        latencies: list[float] = []
        started = time.perf_counter()
        for _ in range(n):
            t0 = time.perf_counter()
            answer = await client.get(url)
            latencies.append(time.perf_counter() - t0)
            if answer.status_code != 200 or answer.content != expected:
                raise RuntimeError(f"{url}: {answer.status_code}")
        total = time.perf_counter() - started
    latencies.sort()
    return {
        "requests_per_s": round(n / total, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p95_ms": round(latencies[int(0.95 * (n - 1))] * 1000, 2),
    }


def _baseline_app(root: Path) -> Starlette:
    """The media route as it was before the storage protocol's `open`: the signature, then
    the local file's path, then Starlette's FileResponse."""
    from stylestudio.services.media.media import verify_media_signature

    async def media(request: Request) -> Response:
        key = request.path_params["key"]
        if not verify_media_signature(key, request.query_params.get("sig")):
            return Response(status_code=403)
        path = (root / key).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return Response(status_code=404)
        headers = {"Cache-Control": "private, max-age=600", "X-Content-Type-Options": "nosniff"}
        return FileResponse(path, media_type="image/jpeg", headers=headers)

    return Starlette(routes=[Route("/api/media/{key:path}", media)])


def _configure(env: dict[str, str]) -> Callable[[], Awaitable[None]]:
    from stylestudio import runtime
    from stylestudio.settings import get_settings

    os.environ.update(env)
    get_settings.cache_clear()
    runtime.reset()

    async def undo() -> None:
        for name in env:
            os.environ.pop(name, None)
        get_settings.cache_clear()
        runtime.reset()

    return undo


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--kib", type=int, default=300)
    args = parser.parse_args()

    from stylestudio.api.routes import build_api
    from stylestudio.runtime import get_storage
    from stylestudio.services.media.media import media_url
    from tests.support.s3 import FAKE_CREDENTIALS, moto_server, new_bucket

    data = _jpeg(args.kib)
    results: dict[str, object] = {"bytes": len(data), "requests": args.requests}
    with tempfile.TemporaryDirectory() as tmp, moto_server() as endpoint:
        base_env = {"STYLESTUDIO_SECRET_KEY": "bench-secret-" + "x" * 32}
        undo = _configure({**base_env, "STYLESTUDIO_DATA_DIR": tmp})
        get_storage().put(KEY, data, content_type="image/jpeg")
        url = media_url(KEY, base_url=API).removeprefix(API)
        results["baseline_file_response"] = await _measure(
            _baseline_app((Path(tmp) / "media").resolve()), url, args.requests, data
        )
        results["route_local"] = await _measure(build_api(), url, args.requests, data)
        await undo()

        os.environ.update(FAKE_CREDENTIALS)
        bucket = new_bucket(endpoint)
        undo = _configure({**base_env, **bucket.env(), "STYLESTUDIO_DATA_DIR": tmp})
        get_storage().put(KEY, data, content_type="image/jpeg")
        results["route_s3_moto"] = await _measure(build_api(), url, args.requests, data)
        await undo()

    base = results["baseline_file_response"]
    assert isinstance(base, dict)
    for name in ("route_local", "route_s3_moto"):
        case = results[name]
        assert isinstance(case, dict)
        case["p50_vs_baseline"] = round(case["p50_ms"] / base["p50_ms"], 2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
