"""Mask composites of FriendliImageEdit: exact preservation, sizes and batch broadcasting like ComfyUI."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from helpers import batch, run_edit


def half_mask(height: int = 32, width: int = 48) -> torch.Tensor:
    """[1,H,W]: 0 on the left half (keep), 1 on the right half (edit)."""
    mask = torch.zeros(1, height, width)
    mask[..., width // 2:] = 1
    return mask


def comfy_reference(original, edited, mask):
    """ImageCompositeMasked's arithmetic (x = y = 0, source the same size), written out independently."""
    m = F.interpolate(mask.reshape(-1, 1, *mask.shape[-2:]), size=original.shape[1:3], mode="bilinear")
    m = m.repeat(-(-len(original) // len(m)), 1, 1, 1)[:len(original)].movedim(1, -1)
    return m * edited + (1 - m) * original


def test_pixels_outside_the_mask_stay_bit_exact(nodes, online):
    torch.manual_seed(0)
    image = torch.rand(2, 32, 48, 3)  # values no uint8 round trip could reproduce
    edited, _ = run_edit(nodes, image, seed=3)
    out, _ = run_edit(nodes, image, seed=3, mask=half_mask())
    assert torch.equal(out[..., :24, :], image[..., :24, :])
    assert torch.equal(out[..., 24:, :], edited[..., 24:, :])
    assert not torch.equal(out[..., 24:, :], image[..., 24:, :])
    assert len(online.requests) == 4  # the mask is never sent


def test_hw_mask_equals_batch_of_one(nodes, online):
    image = batch(3)
    with_hw, _ = run_edit(nodes, image, mask=half_mask()[0])
    with_b1, _ = run_edit(nodes, image, mask=half_mask())
    assert torch.equal(with_hw, with_b1)
    assert torch.equal(with_hw[:, :, :24], image[:, :, :24])  # broadcast to every image of the batch


def test_mask_of_another_size_and_batch_follows_image_composite_masked(nodes, online):
    image = batch(3)
    torch.manual_seed(1)
    mask = (torch.rand(2, 8, 12) > 0.5).float()  # 2 masks for 3 images: repeated as m0, m1, m0
    edited, _ = run_edit(nodes, image)
    out, _ = run_edit(nodes, image, mask=mask)
    assert torch.allclose(out, comfy_reference(image, edited, mask), atol=1e-6)
    weight = nodes.tensors.fit_mask(mask, 3, 32, 48)
    assert torch.equal(weight[2], weight[0]) and not torch.equal(weight[1], weight[0])
    keep = (weight == 0).expand_as(image)
    assert torch.equal(out[keep], image[keep])


def test_longer_mask_batch_is_cut(nodes):
    mask = torch.stack([torch.zeros(4, 4), torch.ones(4, 4), torch.ones(4, 4)])
    weight = nodes.tensors.fit_mask(mask, 1, 4, 4)
    assert weight.shape == (1, 4, 4, 1) and weight.sum() == 0


def test_mask_with_endpoint_size_composites_at_the_endpoint_size(nodes, online):
    online.output_size = (96, 64)
    image = batch(2)
    out, _ = run_edit(nodes, image, mask=half_mask(), output_size="endpoint size")
    assert out.shape == (2, 64, 96, 3)
    resized = nodes.tensors.resize(image, 64, 96)
    assert torch.equal(out[:, :, :46], resized[:, :, :46])  # columns 46+ get a blended (upscaled) mask edge


def test_alpha_input_with_mask_keeps_alpha(nodes, online):
    image = batch(1, channels=4)
    out, _ = run_edit(nodes, image, mask=half_mask())
    assert torch.equal(out[..., 3], image[..., 3]) and torch.equal(out[:, :, :24], image[:, :, :24])


@pytest.mark.parametrize("bad", [torch.zeros(2, 3, 4, 5), "not a mask"])
def test_bad_mask_is_a_clear_error(nodes, online, bad):
    with pytest.raises(ValueError, match="mask"):
        run_edit(nodes, batch(1), mask=bad)
    assert online.requests == []


def test_tensor_helpers(nodes):
    t = nodes.tensors
    gray = torch.tensor([[[0.5], [1 / 255 * 0.6]]])  # [1,2,1]: 127.5 -> 128, 0.6 -> 1
    assert t.to_rgb_uint8(gray).tolist() == [[[128] * 3, [1] * 3]]
    rgba = torch.ones(2, 2, 4)
    assert t.to_rgb_uint8(rgba).shape == (2, 2, 3)
    small, large = torch.rand(4, 6, 3), torch.rand(8, 10, 3)
    stacked = t.stack_same_size([small, large])  # results of differing sizes: the first one's size
    assert stacked.shape == (2, 4, 6, 3) and torch.equal(stacked[0], small)
    assert t.resize(small, 4, 6) is small
    luma = t.match_channels(torch.tensor([[[1.0, 0.0, 0.0]]]), torch.zeros(1, 1, 1))
    assert luma.shape == (1, 1, 1) and abs(luma.item() - 0.299) < 1e-6
    with pytest.raises(ValueError, match="image"):
        t.check_image(torch.zeros(1, 4, 4, 2))
