"""ComfyUI tensors <-> the client's uint8 arrays, resizing, channels and the mask composite.

IMAGE is float32 [B,H,W,C] in 0..1 with C = 1, 3 or 4; MASK is [B,H,W] or [H,W].
The endpoint always gets RGB; results get the input's channel count back.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..client.errors import FriendliInputError

LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as Pillow's "L" conversion


def check_image(image: torch.Tensor, field: str = "image") -> torch.Tensor:
    """The IMAGE as float32 [B,H,W,C] on the CPU, or a clear error."""
    if not isinstance(image, torch.Tensor) or image.ndim not in (3, 4):
        raise FriendliInputError(field, "is not an IMAGE tensor [batch, height, width, channels]")
    image = image if image.ndim == 4 else image.unsqueeze(0)
    if image.shape[-1] not in (1, 3, 4) or 0 in image.shape:
        raise FriendliInputError(field, f"shape {tuple(image.shape)} is not [batch, height, width, 1|3|4 channels]")
    return image.detach().to("cpu", torch.float32)


def to_rgb_uint8(image: torch.Tensor) -> np.ndarray:
    """[H,W,C] float 0..1 -> HxWx3 uint8, rounded (gray expanded, alpha dropped)."""
    rgb = image[..., :3] if image.shape[-1] >= 3 else image[..., :1].expand(*image.shape[:-1], 3)
    scaled = torch.nan_to_num(rgb).clamp_(0, 1).mul_(255).round_()  # one float temporary, then in place
    return np.ascontiguousarray(scaled.to(torch.uint8).numpy())


def from_uint8(array: np.ndarray) -> torch.Tensor:
    """HxWxC uint8 (C = 1, 3 or 4) -> [H,W,3] float32 0..1 (gray expanded, alpha dropped)."""
    if array.ndim == 2:
        array = array[:, :, None]
    rgb = array[..., :3] if array.shape[-1] >= 3 else np.repeat(array[..., :1], 3, axis=-1)
    return torch.from_numpy(rgb.astype(np.float32)).div_(255.0)  # one copy: decoded arrays may be read-only


def resize(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resize [H,W,C] or [B,H,W,C] with antialiased bicubic filtering; a no-op at the same size."""
    if tuple(image.shape[-3:-1]) == (height, width):
        return image
    batch = image if image.ndim == 4 else image.unsqueeze(0)
    out = F.interpolate(batch.movedim(-1, 1), size=(height, width), mode="bicubic", antialias=True,
                        align_corners=False).movedim(1, -1).clamp(0, 1)
    return out if image.ndim == 4 else out[0]


def match_channels(rgb: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Give an [h,w,3] result the channels of ``like`` [H,W,C]: its alpha (resized) or luma."""
    channels = like.shape[-1]
    if channels == 1:
        weights = torch.tensor(LUMA, dtype=rgb.dtype)
        return (rgb * weights).sum(-1, keepdim=True).clamp(0, 1)
    if channels == 4:
        alpha = resize(like[..., 3:], *rgb.shape[:2])
        return torch.cat([rgb, alpha], dim=-1)
    return rgb


def to_result(array: np.ndarray, original: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
    """A decoded result as [H,W,C] float with ``original``'s channels, resized to ``size`` (h, w) if given."""
    rgb = from_uint8(array)
    if size is not None:
        rgb = resize(rgb, *size)
    return match_channels(rgb, original)


def stack_same_size(images: list[torch.Tensor]) -> torch.Tensor:
    """Stack [H,W,C] results; any that differ in size are resized to the first one's size."""
    height, width = images[0].shape[:2]
    return torch.stack([resize(img, height, width) for img in images])


def repeat_to_batch(tensor: torch.Tensor, batch: int) -> torch.Tensor:
    """ComfyUI's ``repeat_to_batch_size``: cut a longer batch, repeat a shorter one cyclically."""
    if tensor.shape[0] > batch:
        return tensor[:batch]
    if tensor.shape[0] < batch:
        reps = math.ceil(batch / tensor.shape[0])
        return tensor.repeat(reps, *([1] * (tensor.ndim - 1)))[:batch]
    return tensor


def check_mask(mask: torch.Tensor) -> torch.Tensor:
    """The MASK as float32 [B,1,H,W] on the CPU, or a clear error."""
    if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3) or 0 in mask.shape:
        raise FriendliInputError("mask", "is not a MASK tensor [batch, height, width] or [height, width]")
    return mask.detach().to("cpu", torch.float32).reshape(-1, 1, mask.shape[-2], mask.shape[-1])


def fit_mask(mask: torch.Tensor, batch: int, height: int, width: int) -> torch.Tensor:
    """A MASK as [B,H,W,1] the way ImageCompositeMasked does it: bilinear resize, then repeat/cut the batch."""
    mask = check_mask(mask)
    if tuple(mask.shape[-2:]) != (height, width):
        mask = F.interpolate(mask, size=(height, width), mode="bilinear")
    return repeat_to_batch(mask, batch).movedim(1, -1)


def composite(original: torch.Tensor, edited: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``mask × edited + (1 − mask) × original``; where the mask is 0 the original stays bit-exact.

    ``original`` is resized to the edited size first when they differ (``endpoint size`` mode).
    """
    batch, height, width = edited.shape[:3]
    original = resize(repeat_to_batch(original, batch), height, width)
    weight = fit_mask(mask, batch, height, width)
    return weight * edited + (1 - weight) * original


def failed_mask(images: torch.Tensor, failed: list[int]) -> torch.Tensor:
    """A MASK [B,H,W] of ``images``' size: 1 over every pixel of the ``failed`` images, 0 elsewhere."""
    mask = torch.zeros(images.shape[:3], dtype=torch.float32)
    mask[failed] = 1.0
    return mask
