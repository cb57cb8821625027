"""`LocalEngine`: the offline pipeline's steps in their fixed order.

Decode the photos, plan the frame, cut the product out, build the set (a studio sweep or the
scene photo), stand the product in it, grade, encode. The seeded ``random.Random`` is passed
to the steps in this order; changing the order changes every output."""

from __future__ import annotations

import random
from typing import Final

from PIL import Image, ImageOps

from stylestudio.adapters.generation_engine import (
    LOCAL_MODEL,
    GeneratedImage,
    GenerationEngineError,
    GenerationRequest,
    ModelSpec,
    validate_request,
)
from stylestudio.adapters.local_engine.backdrop import studio_backdrop, tinted_backdrop
from stylestudio.adapters.local_engine.codec import decode, encode_jpeg
from stylestudio.adapters.local_engine.compositing import composite_product
from stylestudio.adapters.local_engine.cutout import cut_out
from stylestudio.adapters.local_engine.grading import GradeContext, finish
from stylestudio.adapters.local_engine.placement import place_product, plan_layout
from stylestudio.adapters.local_engine.styles import STYLE_SPECS

_LANCZOS: Final = Image.Resampling.LANCZOS


class LocalEngine:
    """Pillow-only engine used when no remote generation service is configured."""

    name = "local"
    models: tuple[ModelSpec, ...] = (LOCAL_MODEL,)

    def generate(self, request: GenerationRequest) -> GeneratedImage:
        """Render a styled studio shot of the request's product.

        Raises ``GenerationEngineError`` (not retryable) for invalid options or
        unreadable images.
        """
        try:
            size = validate_request(request)
        except ValueError as exc:
            raise GenerationEngineError(f"Unsupported generation option: {exc}") from exc

        product = decode(request.product_image, "product", max(size), keep_alpha=True, cover=False)
        scene = None
        if request.model_image is not None:
            scene = decode(request.model_image, "model", max(size), keep_alpha=False, cover=True)

        # Anything raised past this point is a bug or resource exhaustion, not bad
        # input: let it propagate so the worker logs it and retries the job.
        data = encode_jpeg(_render(request, size, product, scene))
        return GeneratedImage(data=data, content_type="image/jpeg", width=size[0], height=size[1])


def _render(
    request: GenerationRequest,
    size: tuple[int, int],
    product: Image.Image,
    scene: Image.Image | None,
) -> Image.Image:
    spec = STYLE_SPECS[request.style]
    rng = random.Random(request.seed)
    layout = plan_layout(size, spec, scene is not None, rng)
    unit = max(size) / 1024  # scales blur radii etc. with the output resolution

    cutout, mask = cut_out(product, layout.max_w, layout.max_h)
    box = place_product(layout, size, cutout.size)

    if scene is None:
        walls = tinted_backdrop(layout.backdrop, request, rng)
        canvas = studio_backdrop(size, walls, spec, layout, box, rng)
        reflection = spec.reflection
    else:
        canvas = ImageOps.fit(scene, size, _LANCZOS, centering=(0.5, 0.45))
        # The scene's floor is unknown, so no mirror reflection on it.
        reflection = 0.0

    canvas = composite_product(
        canvas,
        cutout,
        mask,
        box,
        light_dx=layout.light_dx,
        shadow=spec.shadow,
        reflection=reflection,
        unit=unit,
    )
    return finish(canvas, request.style, request.strength, GradeContext(rng, unit, box))
