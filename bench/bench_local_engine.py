"""Local engine speed per quality: one generation against decoding + re-encoding the same
output size (the least any engine must do). Prints JSON; ratios are machine-independent."""

from __future__ import annotations

import functools
import io
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stylestudio.adapters.generation_engine import GenerationRequest, output_size
from stylestudio.adapters.local_engine.engine import LocalEngine

REPEATS = 3


def _product() -> bytes:
    img = Image.new("RGB", (1600, 1600), (248, 248, 248))
    ImageDraw.Draw(img).ellipse((400, 300, 1200, 1400), fill=(170, 40, 60))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90)
    return out.getvalue()


def _best(fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    product = _product()
    engine = LocalEngine()
    results: dict[str, object] = {"benchmark": "local_engine.generate", "repeats": REPEATS}
    for quality in ("draft", "standard", "high"):
        size = output_size(quality, "16:9")
        request = GenerationRequest(
            product_image=product,
            model_image=None,
            prompt="",
            style="fashion",
            quality=quality,
            aspect_ratio="16:9",
            seed=7,
        )

        def baseline(size: tuple[int, int] = size) -> None:
            with Image.open(io.BytesIO(product)) as im:
                im.convert("RGB").resize(size).save(io.BytesIO(), "JPEG", quality=90)

        base_s = _best(baseline)
        gen_s = _best(functools.partial(engine.generate, request))
        results[quality] = {
            "size": f"{size[0]}x{size[1]}",
            "baseline_decode_resize_encode_ms": round(base_s * 1000, 1),
            "generate_ms": round(gen_s * 1000, 1),
            "ratio": round(gen_s / base_s, 1),
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
