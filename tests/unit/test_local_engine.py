"""Tests for the offline Pillow generation engine and the shared engine contract."""

from __future__ import annotations

import io
import itertools
from dataclasses import replace

import pytest
from PIL import Image, ImageChops, ImageCms, ImageDraw, ImageStat

from stylestudio.adapters.generation_engine import (
    ASPECT_RATIOS,
    OUTPUT_LONG_SIDE,
    STYLES,
    GenerationEngine,
    GenerationEngineError,
    GenerationRequest,
    output_size,
    validate_request,
)
from stylestudio.adapters.local_engine.engine import LocalEngine

PRODUCT_RED = (200, 30, 40)


# --------------------------------------------------------------------------- helpers


def _encode(image: Image.Image, fmt: str = "JPEG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _product_on_white(size: tuple[int, int] = (600, 800)) -> bytes:
    """A red 'bottle' with a white label on a white backdrop, like a catalogue shot."""
    width, height = size
    image = Image.new("RGB", size, (250, 250, 250))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle(
        (width * 0.35, height * 0.25, width * 0.65, height * 0.9), radius=30, fill=PRODUCT_RED
    )
    draw.rectangle((width * 0.45, height * 0.12, width * 0.55, height * 0.26), fill=PRODUCT_RED)
    draw.rectangle((width * 0.4, height * 0.5, width * 0.6, height * 0.65), fill=(245, 245, 240))
    return _encode(image, quality=92)


def _scene() -> bytes:
    """A stand-in for a model/scene photo: sky, floor and a figure."""
    image = Image.new("RGB", (900, 600), (120, 160, 210))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 400, 900, 600), fill=(150, 120, 90))
    draw.ellipse((400, 80, 500, 180), fill=(220, 180, 150))
    draw.rounded_rectangle((370, 180, 530, 520), radius=30, fill=(40, 60, 160))
    return _encode(image, quality=90)


def _request(**overrides: object) -> GenerationRequest:
    base = GenerationRequest(
        product_image=_product_on_white(),
        model_image=None,
        prompt="a bottle on a studio backdrop",
        style="realistic",
        quality="draft",
        aspect_ratio="1:1",
        seed=42,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _mean_difference(a: bytes, b: bytes) -> float:
    """Mean absolute per-channel difference (0-255) between two encoded images."""
    first, second = _decode(a).convert("RGB"), _decode(b).convert("RGB")
    if first.size != second.size:
        second = second.resize(first.size)
    return sum(ImageStat.Stat(ImageChops.difference(first, second)).mean) / 3


def _share_near(data: bytes, colour: tuple[int, int, int], tolerance: int = 45) -> float:
    """Fraction of pixels within ``tolerance`` (per channel) of ``colour``."""
    image = _decode(data).convert("RGB")
    diff = ImageChops.difference(image, Image.new("RGB", image.size, colour))
    red, green, blue = diff.split()
    distance = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    histogram = distance.histogram()
    return sum(histogram[: tolerance + 1]) / (image.width * image.height)


@pytest.fixture(scope="module")
def engine() -> LocalEngine:
    return LocalEngine()


# --------------------------------------------------------------------------- contract


def test_engine_satisfies_protocol(engine: LocalEngine) -> None:
    typed: GenerationEngine = engine
    assert typed.name == "local"


@pytest.mark.parametrize(
    ("quality", "aspect", "expected"),
    [
        ("draft", "1:1", (512, 512)),
        ("standard", "16:9", (1024, 576)),
        ("standard", "9:16", (576, 1024)),
        ("high", "3:2", (1536, 1024)),
        ("draft", "2:3", (344, 512)),
        ("standard", "3:2", (1024, 680)),
    ],
)
def test_output_size_known_values(quality: str, aspect: str, expected: tuple[int, int]) -> None:
    assert output_size(quality, aspect) == expected


@pytest.mark.parametrize(("quality", "aspect"), itertools.product(OUTPUT_LONG_SIDE, ASPECT_RATIOS))
def test_output_size_shape(quality: str, aspect: str) -> None:
    width, height = output_size(quality, aspect)
    assert width % 8 == 0 and height % 8 == 0
    assert max(width, height) == OUTPUT_LONG_SIDE[quality]
    ratio_w, ratio_h = ASPECT_RATIOS[aspect]
    assert abs(width / height - ratio_w / ratio_h) < 0.03


@pytest.mark.parametrize(
    ("quality", "aspect"), [("ultra", "1:1"), ("standard", "4:3"), ("", ""), ("Standard", "1:1")]
)
def test_output_size_rejects_unknown_values(quality: str, aspect: str) -> None:
    with pytest.raises(ValueError):
        output_size(quality, aspect)


def test_validate_request_rejects_unknown_style() -> None:
    with pytest.raises(ValueError, match="style"):
        validate_request(_request(style="cyberpunk"))
    assert validate_request(_request(quality="standard", aspect_ratio="16:9")) == (1024, 576)


def test_error_carries_message_and_retryable() -> None:
    error = GenerationEngineError("Try again later", retryable=True)
    assert str(error) == "Try again later"
    assert error.retryable is True
    assert GenerationEngineError("nope").retryable is False


# --------------------------------------------------------------------------- output format


@pytest.mark.parametrize(("quality", "aspect"), itertools.product(OUTPUT_LONG_SIDE, ASPECT_RATIOS))
def test_generated_size_matches_output_size(engine: LocalEngine, quality: str, aspect: str) -> None:
    result = engine.generate(_request(quality=quality, aspect_ratio=aspect))
    image = _decode(result.data)
    assert image.format == "JPEG"
    assert result.content_type == "image/jpeg"
    assert image.size == output_size(quality, aspect) == (result.width, result.height)


def test_output_has_no_metadata(engine: LocalEngine) -> None:
    source = Image.open(io.BytesIO(_product_on_white()))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0131] = "editor 1.0"  # Software
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    tagged = _encode(source, exif=exif.tobytes(), comment=b"private note", icc_profile=srgb)

    result = _decode(engine.generate(_request(product_image=tagged)).data)
    assert not result.getexif()
    assert "exif" not in result.info
    assert "icc_profile" not in result.info
    assert "comment" not in result.info


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_bytes(engine: LocalEngine) -> None:
    request = _request(quality="standard", seed=1234, style="vintage")
    assert engine.generate(request).data == engine.generate(request).data


def test_same_seed_is_identical_with_scene(engine: LocalEngine) -> None:
    request = _request(model_image=_scene(), seed=5, style="artistic", aspect_ratio="16:9")
    assert engine.generate(request).data == engine.generate(request).data


@pytest.mark.parametrize("style", STYLES)
def test_different_seeds_give_visibly_different_results(engine: LocalEngine, style: str) -> None:
    results = [engine.generate(_request(style=style, seed=seed)).data for seed in (1, 2, 3)]
    assert len(set(results)) == 3
    # Not just noise: at least one pair differs in backdrop or placement.
    assert max(_mean_difference(a, b) for a, b in itertools.combinations(results, 2)) > 4


# --------------------------------------------------------------------------- styles and inputs


def test_every_style_is_a_valid_and_distinct_jpeg(engine: LocalEngine) -> None:
    outputs = {}
    for style in STYLES:
        data = engine.generate(_request(style=style, quality="standard", seed=9)).data
        image = _decode(data)
        assert image.format == "JPEG"
        assert image.mode == "RGB"
        outputs[style] = data
    for (name_a, a), (name_b, b) in itertools.combinations(outputs.items(), 2):
        assert _mean_difference(a, b) > 3, f"{name_a} and {name_b} look the same"


def test_product_is_visible_in_result(engine: LocalEngine) -> None:
    data = engine.generate(_request(quality="standard")).data
    # The bottle covers roughly 6-10% of the frame after scaling.
    assert _share_near(data, PRODUCT_RED) > 0.03


def test_white_backdrop_of_product_photo_is_removed(engine: LocalEngine) -> None:
    data = engine.generate(_request(quality="standard", style="fashion", seed=3)).data
    # The product photo is mostly near-white; a pasted rectangle would keep it.
    assert _share_near(data, (250, 250, 250), tolerance=8) < 0.05


def test_with_model_image(engine: LocalEngine) -> None:
    without = engine.generate(_request(quality="standard", aspect_ratio="16:9"))
    with_scene = engine.generate(
        _request(quality="standard", aspect_ratio="16:9", model_image=_scene())
    )
    assert (with_scene.width, with_scene.height) == (1024, 576)
    assert _decode(with_scene.data).size == (1024, 576)
    assert _mean_difference(without.data, with_scene.data) > 10
    # The scene's sky survives as the background.
    assert _share_near(with_scene.data, (120, 160, 210), tolerance=35) > 0.2


def test_transparent_png_product(engine: LocalEngine) -> None:
    product = Image.new("RGBA", (500, 300), (0, 0, 0, 0))
    draw = ImageDraw.Draw(product)
    draw.ellipse((20, 40, 230, 260), fill=(*PRODUCT_RED, 255))
    draw.ellipse((270, 40, 480, 260), fill=(*PRODUCT_RED, 255))
    data = _encode(product, "PNG")

    result = engine.generate(_request(product_image=data, quality="standard", style="minimalist"))
    assert _decode(result.data).size == (1024, 1024)
    # Minimalist mutes colour, so allow a wider tolerance around the product red.
    assert _share_near(result.data, PRODUCT_RED, tolerance=70) > 0.02
    # Transparent pixels must not turn into a black box.
    assert _share_near(result.data, (0, 0, 0), tolerance=20) < 0.01


def test_palette_and_webp_inputs(engine: LocalEngine) -> None:
    source = Image.open(io.BytesIO(_product_on_white())).convert("RGB")
    for data in (
        _encode(source.convert("P", palette=Image.Palette.ADAPTIVE), "GIF"),
        _encode(source, "WEBP", quality=90),
        _encode(source.convert("L"), "PNG"),
    ):
        result = engine.generate(_request(product_image=data))
        assert _decode(result.data).size == (512, 512)


def test_busy_product_photo_falls_back_to_card(engine: LocalEngine) -> None:
    busy = Image.new("RGB", (400, 400))
    draw = ImageDraw.Draw(busy)
    for index in range(40):
        x, y = (index * 97) % 400, (index * 57) % 400
        draw.rectangle((x, y, x + 90, y + 90), fill=((index * 50) % 256, (index * 90) % 256, 120))
    result = engine.generate(_request(product_image=_encode(busy)))
    assert _decode(result.data).size == (512, 512)


def test_exif_orientation_is_applied(engine: LocalEngine) -> None:
    # Stored landscape, displayed portrait: orientation 6 means "rotate 90 CW".
    stored = Image.new("RGB", (800, 400), (250, 250, 250))
    ImageDraw.Draw(stored).rectangle((100, 150, 700, 250), fill=PRODUCT_RED)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = _encode(stored, exif=exif.tobytes())

    result = _decode(engine.generate(_request(product_image=data, quality="standard")).data)
    diff = ImageChops.difference(result.convert("RGB"), Image.new("RGB", result.size, PRODUCT_RED))
    near = diff.convert("L").point(lambda v: 255 if v < 30 else 0)
    box = near.getbbox()
    assert box is not None
    assert (box[3] - box[1]) > 2 * (box[2] - box[0])  # the bar stands upright


def test_prompt_colour_tints_backdrop(engine: LocalEngine) -> None:
    blue = engine.generate(_request(prompt="on a blue backdrop", seed=8)).data
    red = engine.generate(_request(prompt="on a red backdrop", seed=8)).data
    corner_blue = _decode(blue).convert("RGB").getpixel((30, 30))
    corner_red = _decode(red).convert("RGB").getpixel((30, 30))
    assert isinstance(corner_blue, tuple) and isinstance(corner_red, tuple)
    assert corner_blue[2] > corner_blue[0]
    assert corner_red[0] > corner_red[2]


def test_strength_changes_result(engine: LocalEngine) -> None:
    weak = engine.generate(_request(style="vintage", strength=0.0)).data
    strong = engine.generate(_request(style="vintage", strength=1.0)).data
    assert _mean_difference(weak, strong) > 2


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("garbage", [b"not an image at all", b"", b"\x89PNG\r\n\x1a\n" + b"0" * 64])
def test_unreadable_product_image(engine: LocalEngine, garbage: bytes) -> None:
    with pytest.raises(GenerationEngineError) as caught:
        engine.generate(_request(product_image=garbage))
    assert str(caught.value) == "The product image could not be read"
    assert caught.value.retryable is False


def test_truncated_product_image(engine: LocalEngine) -> None:
    data = _product_on_white()
    with pytest.raises(GenerationEngineError, match="product image could not be read"):
        engine.generate(_request(product_image=data[: len(data) // 3]))


def test_unreadable_model_image(engine: LocalEngine) -> None:
    with pytest.raises(GenerationEngineError) as caught:
        engine.generate(_request(model_image=b"\x00\x01garbage"))
    assert str(caught.value) == "The model image could not be read"


@pytest.mark.parametrize(
    "overrides",
    [{"style": "cyberpunk"}, {"quality": "ultra"}, {"aspect_ratio": "4:3"}],
)
def test_unknown_options_raise_engine_error(engine: LocalEngine, overrides: dict[str, str]) -> None:
    with pytest.raises(GenerationEngineError, match="Unsupported generation option"):
        engine.generate(_request(**overrides))
