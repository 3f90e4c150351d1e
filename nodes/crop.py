"""Crop to the mask and stitch back: send only the mask's neighbourhood, at the model's size.

For one image [H,W,C] and its mask [H,W] (1 = edit, float 0..1): ``plan`` finds the mask's bounding
box, widens it by some context, crops and resizes the crop to a target area; the caller sends
``plan.pixels`` and hands the answer to ``stitch``, which resizes it back to the box and composites it
over the original with the mask. Where the mask is 0 the original's values are copied, bit-exact; an
optional ``feather`` softens the seam inside the mask only. An empty mask gives no plan: send
nothing, return the image unchanged and warn. Masks of a batch come from ``per_image_masks``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from . import sizing, tensors

CONTEXT = 0.25  # of the box's side, on each side
MIN_CONTEXT_PX = 32
MEGAPIXELS = 1.0  # the area the crop is sent at (FLUX.1 Kontext and Qwen-Image-Edit work near 1 MP)


class Box(NamedTuple):
    """Rows ``top:bottom`` and columns ``left:right`` of an image (ends excluded)."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.bottom), slice(self.left, self.right)


class Plan(NamedTuple):
    """What to send for one image: ``pixels`` (hxwx3 uint8, RGB) cut from ``box`` of the image."""

    box: Box
    pixels: np.ndarray


def mask_box(mask: torch.Tensor) -> Box | None:
    """The bounding box of every pixel where ``mask`` [H,W] > 0, or None for an empty mask."""
    rows = torch.nonzero(mask.gt(0).any(dim=1)).flatten()
    if rows.numel() == 0:
        return None
    cols = torch.nonzero(mask.gt(0).any(dim=0)).flatten()
    return Box(int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)


def with_context(box: Box, height: int, width: int, context: float = CONTEXT,
                 min_px: int = MIN_CONTEXT_PX) -> Box:
    """``box`` widened on each side by ``context`` × its side (rows by its height, columns by its width),
    at least ``min_px``, and clamped to a ``height`` × ``width`` image."""
    dy = max(math.ceil(context * box.height), int(min_px))
    dx = max(math.ceil(context * box.width), int(min_px))
    return Box(max(0, box.top - dy), max(0, box.left - dx), min(height, box.bottom + dy), min(width, box.right + dx))


def crop_box(mask: torch.Tensor, context: float = CONTEXT, min_px: int = MIN_CONTEXT_PX) -> Box | None:
    """The box to send for ``mask`` [H,W]: its bounding box with context; None when the mask is empty."""
    box = mask_box(mask)
    return None if box is None else with_context(box, mask.shape[0], mask.shape[1], context, min_px)


def plan(image: torch.Tensor, mask: torch.Tensor, *, context: float = CONTEXT, min_px: int = MIN_CONTEXT_PX,
         megapixels: float = MEGAPIXELS) -> Plan | None:
    """The crop of ``image`` [H,W,C] around ``mask`` [H,W] as RGB uint8 at about ``megapixels`` (up or down,
    sides multiples of 16); None for an empty mask. Apply a send-size cap by passing
    ``min(megapixels, cap)``. CPU work: run it on the CPU pool."""
    _same_size(image, mask)
    box = crop_box(mask, context, min_px)
    if box is None:
        return None
    rows, cols = box.slices
    return Plan(box, sizing.to_megapixels(tensors.to_rgb_uint8(image[rows, cols]), megapixels))


def _same_size(image: torch.Tensor, mask: torch.Tensor) -> None:
    if tuple(mask.shape) != tuple(image.shape[:2]):
        raise ValueError(f"mask {tuple(mask.shape)} is not the image's size {tuple(image.shape[:2])}: "
                         "use per_image_masks")


def per_image_masks(mask: torch.Tensor, batch: int, height: int, width: int) -> Iterator[torch.Tensor]:
    """Mask [H,W] of each image of a batch, as ``tensors.fit_mask`` (ImageCompositeMasked) makes them:
    bilinear resize, a shorter mask batch repeated (one mask for all), a longer one cut; one at a time."""
    for index in range(batch):
        yield mask_at(mask, index, height, width)


def mask_at(mask: torch.Tensor, index: int, height: int, width: int) -> torch.Tensor:
    """The mask [H,W] of image ``index`` of a batch (see ``per_image_masks``)."""
    masks = tensors.check_mask(mask)  # [B,1,h,w]
    one = masks[index % len(masks)].unsqueeze(0)
    if tuple(one.shape[-2:]) != (height, width):
        one = F.interpolate(one, size=(height, width), mode="bilinear")
    return one[0, 0]


def _feathered(mask: torch.Tensor, feather: int) -> torch.Tensor:
    """``mask`` × its box blur of radius ``feather``: lower near the mask's edge, 0 wherever the mask is 0."""
    if feather <= 0:
        return mask
    size = 2 * int(feather) + 1
    padded = F.pad(mask[None, None], (feather, feather, feather, feather), mode="replicate")
    return mask * F.avg_pool2d(padded, size, stride=1)[0, 0]


def stitch(original: torch.Tensor, edited: np.ndarray | torch.Tensor, mask: torch.Tensor, box: Box,
           feather: int = 0) -> torch.Tensor:
    """``original`` [H,W,C] with the answer for ``box`` composited in: ``edited`` (hxwxC uint8 as decoded,
    or [h,w,3] float) is resized (bicubic, antialiased) to the box and blended with ``mask`` [H,W]:
    ``m × edited + (1 − m) × original``. Where the mask is 0 (all of it outside the box) the original's
    values are copied, bit-exact; ``feather`` > 0 px softens the seam inside the mask only."""
    _same_size(original, mask)
    rows, cols = box.slices
    answer = tensors.from_uint8(edited) if isinstance(edited, np.ndarray) else edited[..., :3].float()
    region = original[rows, cols]
    answer = tensors.match_channels(tensors.resize(answer, box.height, box.width), region)
    weight = _feathered(mask[rows, cols].to(torch.float32), feather)
    blended = weight[..., None] * answer + (1 - weight[..., None]) * region
    out = original.clone()
    out[rows, cols] = torch.where(weight[..., None] > 0, blended, region)
    return out
