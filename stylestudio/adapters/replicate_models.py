"""What each Replicate model is given: one place per model maps our parameters to its inputs.

Adding a model is one small class here and one line in ``MODELS``. The style presets become
prompt text (photographers' language, not just a name); the request's own prompt and negative
prompt follow, since the editing models these map to take no separate negative prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Protocol

from stylestudio.adapters.generation_engine import GenerationRequest, ModelSpec

STYLE_PROMPTS: Final[dict[str, str]] = {
    "realistic": (
        "a photorealistic e-commerce product photograph on a clean seamless studio backdrop, "
        "soft diffused key light with a gentle fill, natural contact shadow, true-to-life colours "
        "and materials, sharp focus on the product, 85mm lens"
    ),
    "fashion": (
        "an editorial fashion campaign photograph, styled set with a model or lifestyle props, "
        "dramatic directional lighting with rim light, rich contrast, magazine-cover polish"
    ),
    "artistic": (
        "an artistic conceptual product image, bold colour blocking and sculptural shapes, "
        "creative surreal staging, painterly light, gallery-poster composition"
    ),
    "vintage": (
        "a vintage film photograph of the product, warm faded tones, soft grain, 1970s "
        "analogue colour palette, nostalgic set dressing, gentle vignette"
    ),
    "minimalist": (
        "a minimalist product photograph, generous negative space, a single muted pastel "
        "backdrop, crisp soft shadows, calm Scandinavian composition"
    ),
}

KEEP_PRODUCT: Final = (
    "Keep the product from the first image exactly as it is: same shape, colours, materials, "
    "logos and text."
)
QUALITY_HINTS: Final[dict[str, str]] = {
    "draft": "",
    "standard": "High detail.",
    "high": "Ultra high detail, print quality, perfectly clean edges.",
}


def compose_prompt(request: GenerationRequest) -> str:
    """The full instruction for an image-editing model."""
    parts = [f"Create {STYLE_PROMPTS.get(request.style, STYLE_PROMPTS['realistic'])}."]
    parts.append(KEEP_PRODUCT)
    if request.model_image is not None:
        parts.append(
            "Use the second image as the model or scene: place the product naturally in it, "
            "matching its light and perspective."
        )
    if request.prompt.strip():
        parts.append(request.prompt.strip().rstrip(".") + ".")
    if QUALITY_HINTS.get(request.quality):
        parts.append(QUALITY_HINTS[request.quality])
    if request.negative_prompt.strip():
        parts.append(f"Avoid: {request.negative_prompt.strip()}.")
    return " ".join(parts)


class ReplicateModel(Protocol):
    """How one model on Replicate is called."""

    @property
    def name(self) -> str: ...

    @property
    def spec(self) -> ModelSpec:
        """What the studio offers for it (one result per prediction: no variations)."""
        ...

    def build_input(self, request: GenerationRequest, images: list[str]) -> dict[str, Any]:
        """``images``: the primary product photo first, then the other angles, then the
        model/scene photo, as URLs Replicate reads."""
        ...


@dataclass(frozen=True)
class NanoBanana:
    """google/nano-banana: a prompt and a list of input images."""

    name: str = "google/nano-banana"

    @property
    def spec(self) -> ModelSpec:
        # No seed input; the negative prompt travels in the prompt ("Avoid: ...").
        return ModelSpec(key=self.name, label="Nano Banana (Google)", seed=False)

    def build_input(self, request: GenerationRequest, images: list[str]) -> dict[str, Any]:
        return {
            "prompt": compose_prompt(request),
            "image_input": list(images),
            "aspect_ratio": request.aspect_ratio,
            "output_format": "png" if request.quality == "high" else "jpg",
        }


@dataclass(frozen=True)
class FluxKontext:
    """black-forest-labs/flux-kontext-*: one input image, a seed."""

    name: str = "black-forest-labs/flux-kontext-pro"

    @property
    def spec(self) -> ModelSpec:
        tier = self.name.rsplit("-", 1)[-1].capitalize()
        # One input image: the primary product photo.
        return ModelSpec(
            key=self.name,
            label=f"FLUX.1 Kontext {tier}",
            all_product_images=False,
            scene_image=False,
        )

    def build_input(self, request: GenerationRequest, images: list[str]) -> dict[str, Any]:
        return {
            "prompt": compose_prompt(request),
            "input_image": images[0],
            "aspect_ratio": request.aspect_ratio,
            "seed": request.seed,
            "output_format": "png" if request.quality == "high" else "jpg",
        }


MODELS: Final[dict[str, ReplicateModel]] = {
    m.name: m
    for m in (NanoBanana(), FluxKontext(), FluxKontext("black-forest-labs/flux-kontext-max"))
}


def model_for(name: str) -> ReplicateModel:
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise ValueError(
            f"REPLICATE_MODEL {name!r} is not supported; choose one of {known}"
        ) from None
