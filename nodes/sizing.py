"""Sizes to send at: a target area in megapixels, the send-size cap, and the resize that gets there.

Works on the uint8 RGB arrays that are encoded and sent (``tensors.to_rgb_uint8``). One megapixel is
1024 × 1024 pixels, as in ComfyUI's own "megapixels" nodes (ImageScaleToTotalPixels). Sides are
rounded to multiples of ``MULTIPLE`` = 16: the edit models served for this API (FLUX.1 Kontext,
Qwen-Image-Edit) work on an 8× VAE latent packed in 2 × 2 patches, so their pipelines snap sizes to
16 and would otherwise crop or pad the image silently; 16 satisfies the models that need 8 too.
Resampling is Pillow's LANCZOS on uint8: antialiased with a support that widens with the reduction,
sharper than an area (box) average, which the model sees as detail; a quarter of the memory of the
float tensor, and Pillow releases the GIL, so it runs in parallel on the CPU pool.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

MEGAPIXEL = 1024 * 1024
MULTIPLE = 16


def megapixel_size(height: int, width: int, megapixels: float, multiple: int = MULTIPLE) -> tuple[int, int]:
    """(h, w) with about ``megapixels`` × 1024² pixels and the aspect of ``height`` × ``width``, each side a
    multiple of ``multiple`` (at least one multiple)."""
    scale = math.sqrt(megapixels * MEGAPIXEL / (height * width))
    return (max(multiple, round(height * scale / multiple) * multiple),
            max(multiple, round(width * scale / multiple) * multiple))


def resize_uint8(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """HxWxC uint8 (C = 1, 3 or 4) resized with LANCZOS; the same array at the same size."""
    if pixels.shape[:2] == (height, width):
        return pixels
    squeeze = pixels.ndim == 3 and pixels.shape[2] == 1
    image = Image.fromarray(pixels[:, :, 0] if squeeze else pixels)
    out = np.asarray(image.resize((width, height), Image.Resampling.LANCZOS))
    return out[:, :, None] if squeeze else out


def to_megapixels(pixels: np.ndarray, megapixels: float, multiple: int = MULTIPLE) -> np.ndarray:
    """``pixels`` resized (up or down, keeping the aspect) to about ``megapixels`` (see ``megapixel_size``)."""
    return resize_uint8(pixels, *megapixel_size(pixels.shape[0], pixels.shape[1], megapixels, multiple))


def cap_size(pixels: np.ndarray, max_megapixels: float | None, multiple: int = MULTIPLE) -> np.ndarray:
    """``pixels`` downscaled to about ``max_megapixels`` when it has more pixels than that, else itself.

    A cap of None or <= 0 means no cap. The answer comes back at the sent size: resize it to the input's
    size (``tensors.to_result`` with ``size``, what ``output_size = match input`` does)."""
    if not max_megapixels or max_megapixels <= 0:
        return pixels
    if pixels.shape[0] * pixels.shape[1] <= max_megapixels * MEGAPIXEL:
        return pixels
    scale = math.sqrt(max_megapixels * MEGAPIXEL / (pixels.shape[0] * pixels.shape[1]))
    height = max(multiple, math.floor(pixels.shape[0] * scale / multiple) * multiple)  # down: never above the cap
    width = max(multiple, math.floor(pixels.shape[1] * scale / multiple) * multiple)
    return resize_uint8(pixels, height, width)
