"""Offline generation engine: a Pillow-only product-photo studio.

``LocalEngine`` (in `engine`) needs no network and no model weights. It cuts the product out of
its photo, stands it on a generated studio sweep (or on a supplied model/scene
photo) with contact and cast shadows, then grades the frame with a style preset.

Every random decision is drawn from ``random.Random(request.seed)`` in a fixed
order, and every Pillow operation used is deterministic, so the same request
yields byte-identical JPEG output (for the same Pillow/libjpeg build).
"""
