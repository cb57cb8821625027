"""The upload pipeline (validate + display image + thumbnail + placeholder, encodes included)
against one plain full Pillow decode of the same 12 MP photo, measured in the same run,
interleaved so that both see the same machine load. Prints JSON; progress goes to stderr.

Target: for a JPEG, pipeline p50 <= 1.0 x plain decode p50. A HEIC of the same picture is
reported beside it (libheif has no reduced decode: its pipeline costs more than its decode).
"""

from __future__ import annotations

import base64
import io
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stylestudio.services.media.imaging import PreparedImage, prepare_for_storage

WIDTH, HEIGHT = 4032, 3024  # a 12 MP phone photo
RUNS = 20
HEIC_RUNS = 10  # a HEIC decode is several times slower; 10 keep the bench under a minute
WARMUP = 2


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def photo_like(seed: int = 7) -> Image.Image:
    """Gradients, overlapping soft-edged shapes and fine grain: compresses like a photo
    (about 4 MB as a quality-90 JPEG), unlike a flat synthetic picture."""
    rnd = random.Random(seed)
    red = Image.linear_gradient("L").resize((WIDTH, HEIGHT))
    green = Image.linear_gradient("L").rotate(90).resize((WIDTH, HEIGHT))
    blue = Image.radial_gradient("L").resize((WIDTH, HEIGHT))
    im = Image.merge("RGB", (red, green, blue))
    draw = ImageDraw.Draw(im)
    for _ in range(60):
        x, y = rnd.randrange(WIDTH), rnd.randrange(HEIGHT)
        box = (x, y, x + rnd.randrange(80, 900), y + rnd.randrange(80, 900))
        colour = (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
        if rnd.random() < 0.5:
            draw.ellipse(box, fill=colour)
        else:
            draw.rectangle(box, fill=colour)
    im = im.filter(ImageFilter.GaussianBlur(3))
    grain = Image.merge(
        "RGB",
        [
            Image.effect_noise((WIDTH, HEIGHT), 28).filter(ImageFilter.GaussianBlur(0.7))
            for _ in range(3)
        ],
    )
    return ImageChops.add(im, grain, scale=1.0, offset=-128)


def phone_exif() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    exif[0x010F] = "BenchPhone"  # Make
    exif[0x0110] = "Model 12"  # Model
    exif[0x0132] = "2024:05:01 12:00:00"  # DateTime
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (48.0, 51.0, 29.5), "E", (2.0, 17.0, 40.0)
    return exif.tobytes()


def _encoded(im: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, exif=phone_exif(), **options)
    return out.getvalue()


def _percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": round(statistics.median(samples), 2), "p99": round(cuts[98], 2)}


def measure(data: bytes, runs: int) -> dict[str, Any]:
    """Plain decode and pipeline of `data`, interleaved run by run."""

    def plain() -> None:
        with Image.open(io.BytesIO(data)) as im:
            im.load()

    def pipeline() -> PreparedImage:
        return prepare_for_storage(data, label="The bench photo")

    steps: list[tuple[str, Callable[[], object]]] = [("plain", plain), ("pipeline", pipeline)]
    times: dict[str, list[float]] = {name: [] for name, _ in steps}
    for run in range(WARMUP + runs):
        # A B, B A, A B, ...: each step runs as often after itself as after the other, so
        # neither always pays for the memory the other just gave back to the system.
        for name, step in steps if run % 2 == 0 else steps[::-1]:
            start = time.perf_counter()
            step()
            elapsed = (time.perf_counter() - start) * 1000
            if run >= WARMUP:
                times[name].append(elapsed)
    prepared = pipeline()
    with Image.open(io.BytesIO(prepared.previews.thumbnail)) as thumb:
        thumb_size = thumb.size
    blur = prepared.previews.blur_data_url or ""
    plain_ms, pipeline_ms = _percentiles(times["plain"]), _percentiles(times["pipeline"])
    return {
        "file_bytes": len(data),
        "runs": runs,
        "plain_decode_ms": plain_ms,
        "pipeline_ms": pipeline_ms,
        "ratio_p50": round(pipeline_ms["p50"] / plain_ms["p50"], 3),
        "ratio_p99": round(pipeline_ms["p99"] / plain_ms["p99"], 3),
        "display": {
            "size": [prepared.width, prepared.height],
            "bytes": len(prepared.data),
            "content_type": prepared.content_type,
        },
        "thumbnail": {"size": list(thumb_size), "bytes": len(prepared.previews.thumbnail)},
        "placeholder_bytes": len(base64.b64decode(blur.partition("base64,")[2])),
        "placeholder_data_url_chars": len(blur),
    }


def main() -> None:
    _progress(f"making a photo-like {WIDTH}x{HEIGHT} picture ...")
    picture = photo_like()
    jpeg = _encoded(picture, "JPEG", quality=90)
    _progress(f"JPEG {len(jpeg)} bytes; encoding the HEIC (512 px tiles, as phones write) ...")
    # pillow-heif writes the EXIF orientation as the HEIF rotation too, as phones do.
    heic = _encoded(picture, "HEIF", quality=50, tile_size=512, enc_params={"preset": "ultrafast"})
    _progress(f"HEIC {len(heic)} bytes; measuring the JPEG over {RUNS} runs ...")
    jpeg_result = measure(jpeg, RUNS)
    _progress(f"measuring the HEIC over {HEIC_RUNS} runs ...")
    heic_result = measure(heic, HEIC_RUNS)
    print(
        json.dumps(
            {
                "benchmark": "upload_pipeline",
                "photo": [WIDTH, HEIGHT],
                "target": "jpeg pipeline p50 <= 1.0 x plain decode p50",
                "meets_target": jpeg_result["ratio_p50"] <= 1.0,
                "jpeg": jpeg_result,
                "heic": heic_result,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
