"""What one image sends and how its answer comes back: the whole image under the send-size cap, or
the crop around its mask (issue 19). The edit nodes call ``frame`` on the CPU pool per image."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..client.errors import FriendliInputError

WHOLE, CROP = "whole image", "crop to mask"
MASK_MODES = [WHOLE, CROP]
MAX_SEND_MP = 4.0  # default send-size cap (README: why 4)
FEATHER = 4  # px: the crop's seam is softened this much, inside the mask only


@dataclass(frozen=True)
class Frame:
    """``pixels`` (RGB uint8) to send; ``finish(answer)`` turns the decoded answer into the result [H,W,C]."""

    pixels: np.ndarray
    finish: Callable[[np.ndarray], Any]
    composited: bool  # the mask is already applied (a crop is stitched in with it)


@dataclass(frozen=True)
class Framing:
    """The node's choices: mask mode, crop context and size, send-size cap, the result's size."""

    mode: str = WHOLE
    crop_context: float = 0.25
    crop_megapixels: float = 1.0
    max_send_megapixels: float = MAX_SEND_MP
    size: tuple[int, int] | None = None  # whole image: resize results to this (match input); None = keep

    def check(self, mask: Any) -> "Framing":
        """FriendliInputError, before anything is sent, for a choice that cannot work."""
        if self.mode not in MASK_MODES:
            raise FriendliInputError("mask_mode", f"{self.mode!r} is not one of {', '.join(MASK_MODES)}")
        if self.mode == CROP and mask is None:
            raise FriendliInputError("mask_mode", "crop to mask needs a MASK on the mask input; connect one "
                                     "or set mask_mode to whole image")
        return self

    def frame(self, image: Any, mask: Any = None) -> Frame | None:
        """The frame of one image [H,W,C] (with its own mask [H,W] in crop mode); None when the mask is
        empty: send nothing, keep the image."""
        from . import crop, sizing, tensors

        if self.mode == CROP:
            target = min(self.crop_megapixels, self.max_send_megapixels or self.crop_megapixels)
            plan = crop.plan(image, mask, context=self.crop_context, megapixels=target)
            if plan is None:
                return None
            return Frame(plan.pixels, lambda answer: crop.stitch(image, answer, mask, plan.box, FEATHER), True)
        pixels = sizing.cap_size(tensors.to_rgb_uint8(image), self.max_send_megapixels)
        return Frame(pixels, lambda answer: tensors.to_result(answer, image, self.size), False)


def inputs(target: str) -> dict[str, Any]:
    """The framing widgets of an edit node; ``target`` names the image a crop applies to."""
    return {
        "mask_mode": (MASK_MODES, {"default": WHOLE, "tooltip": (
            f"whole image: send {target} (under max_send_megapixels); a mask is composited on this machine. "
            f"crop to mask: send only the mask's neighbourhood of {target}, at crop_megapixels, and stitch the "
            "answer back: pixels where the mask is 0 stay exactly as they were. An empty mask sends nothing.")}),
        "crop_context": ("FLOAT", {"default": 0.25, "min": 0.0, "max": 2.0, "step": 0.05, "tooltip": (
            "crop to mask: context around the mask's box, as a fraction of the box (at least 32 px), so the "
            "model sees what surrounds the edit.")}),
        "crop_megapixels": ("FLOAT", {"default": 1.0, "min": 0.25, "max": 8.0, "step": 0.25, "tooltip": (
            "crop to mask: the size the crop is sent at, in megapixels (edit models work best near 1-2).")}),
        "max_send_megapixels": ("FLOAT", {"default": MAX_SEND_MP, "min": 0.0, "max": 64.0, "step": 0.5, "tooltip": (
            "Images above this many megapixels are downscaled (Lanczos) before they are sent; with output_size "
            "match input the result comes back at the input's size. 0 = no cap.")}),
    }
