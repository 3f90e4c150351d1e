"""A node preview of a finished image: a small RGB PIL image for ``ProgressBar``'s preview tuple.

The host JPEG-encodes the preview on its server's event loop (``send_image_with_metadata``) and would
downscale a large one there too, so it is made small here, on the CPU pool: ≤ ``MAX_SIDE`` px.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

MAX_SIDE = 512
FORMAT = "JPEG"


def preview_image(image: Any, max_side: int = MAX_SIDE) -> Image.Image:
    """HxWxC uint8 (C = 1, 3 or 4, e.g. a decoded answer) or an [H,W,C] float tensor -> an RGB PIL image
    whose longer side is at most ``max_side``."""
    if not isinstance(image, np.ndarray):  # a float tensor: thin it out before the uint8 conversion
        from . import tensors

        step = max(1, max(image.shape[0], image.shape[1]) // (2 * max_side))
        image = tensors.to_rgb_uint8(image[::step, ::step])
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    picture = Image.fromarray(np.ascontiguousarray(image))
    if picture.mode != "RGB":
        picture = picture.convert("RGB")  # JPEG has no alpha
    picture.thumbnail((max_side, max_side), Image.Resampling.BICUBIC, reducing_gap=2.0)
    return picture


def preview_tuple(picture: Image.Image) -> tuple[str, Image.Image, int]:
    """What ``ProgressBar.update_absolute(value, total, preview)`` takes."""
    return FORMAT, picture, MAX_SIDE
