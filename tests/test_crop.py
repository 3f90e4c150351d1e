"""Crop to the mask, stitch back, and the send-size cap (nodes/crop.py, nodes/sizing.py): pure tensors,
no host and no endpoint; the emulator's stand-in edit plays the endpoint's answer."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import photo, tensor


@pytest.fixture(scope="module")
def crop(pack):
    return importlib.import_module(pack.__name__ + ".nodes.crop")


@pytest.fixture(scope="module")
def sizing(pack):
    return importlib.import_module(pack.__name__ + ".nodes.sizing")


@pytest.fixture(scope="module")
def stand_in(pack):
    return importlib.import_module(pack.__name__ + ".emulator.stand_in").stand_in_edit


def rect_mask(height: int, width: int, top: int, left: int, bottom: int, right: int) -> torch.Tensor:
    mask = torch.zeros(height, width)
    mask[top:bottom, left:right] = 1
    return mask


def smooth(width: int, height: int) -> np.ndarray:
    """A noiseless uint8 HxWx3 gradient: what survives resizing down and up again."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // (width - 1), y * 255 // (height - 1), (x + y) * 255 // (width + height)],
                    axis=-1).astype(np.uint8)


def answer(stand_in, pixels: np.ndarray, seed: int = 1) -> np.ndarray:
    """What the emulator would return for ``pixels``: its stand-in edit, at the size sent."""
    return np.asarray(stand_in([Image.fromarray(pixels)], "make it blue", seed, 20, None))


# ---- the box --------------------------------------------------------------------------------------

def test_box_is_the_mask_bounding_box_with_context_and_minimum(crop):
    mask = rect_mask(1000, 1500, 400, 600, 600, 1000)  # 200 high, 400 wide
    assert crop.mask_box(mask) == (400, 600, 600, 1000)
    box = crop.crop_box(mask, context=0.25, min_px=32)
    assert box == (400 - 50, 600 - 100, 600 + 50, 1000 + 100)  # a quarter of each side, per axis
    assert crop.crop_box(mask, context=0.1, min_px=64) == (400 - 64, 600 - 64, 600 + 64, 1000 + 64)  # the minimum wins
    assert crop.crop_box(mask, context=0.0, min_px=0) == (400, 600, 600, 1000)
    box = crop.crop_box(mask, context=0.1, min_px=32)
    assert (box.height, box.width) == (200 + 2 * 32, 400 + 2 * 40)


def test_box_is_clamped_to_the_image(crop):
    mask = rect_mask(100, 200, 0, 180, 10, 200)  # top right corner
    assert crop.crop_box(mask, context=0.25, min_px=32) == (0, 148, 42, 200)
    soft = torch.zeros(50, 50)
    soft[20, 30] = 1e-4  # any weight above 0 would be composited, so it is inside the box
    assert crop.mask_box(soft) == (20, 30, 21, 31)


def test_empty_mask_gives_no_plan(crop):
    image = tensor(photo(64, 48))[0]
    assert crop.mask_box(torch.zeros(48, 64)) is None
    assert crop.crop_box(torch.zeros(48, 64)) is None
    assert crop.plan(image, torch.zeros(48, 64)) is None


# ---- sizes to send at -----------------------------------------------------------------------------

def test_megapixel_size_keeps_the_aspect_in_multiples_of_16(sizing):
    h, w = sizing.megapixel_size(300, 400, 1.0)
    assert h % 16 == 0 and w % 16 == 0
    assert abs(h * w - 1024 * 1024) / (1024 * 1024) < 0.03 and abs(w / h - 4 / 3) < 0.02
    assert sizing.megapixel_size(1000, 1000, 1.0) == (1024, 1024)
    assert sizing.megapixel_size(4000, 6000, 2.0) == (1184, 1776)  # down as well as up
    assert sizing.megapixel_size(10, 5000, 0.01)[0] == 16  # never below one multiple


def test_plan_sends_the_crop_at_the_target_area(crop, sizing):
    rgb = photo(1200, 800, seed=3)
    image = tensor(rgb)[0]
    mask = rect_mask(800, 1200, 300, 500, 400, 640)  # 100 x 140
    plan = crop.plan(image, mask, context=0.25, min_px=32, megapixels=1.0)
    assert plan.box == (300 - 32, 500 - 35, 400 + 32, 640 + 35)
    h, w = plan.pixels.shape[:2]
    assert plan.pixels.dtype == np.uint8 and plan.pixels.shape[2] == 3
    assert (h, w) == sizing.megapixel_size(plan.box.height, plan.box.width, 1.0)
    rows, cols = plan.box.slices
    down = np.asarray(Image.fromarray(plan.pixels).resize((plan.box.width, plan.box.height), Image.Resampling.BOX))
    assert np.abs(down.astype(int) - rgb[rows, cols].astype(int)).mean() < 6  # the crop's content, scaled
    small = crop.plan(image, mask, megapixels=0.05)  # a cap passed as min(megapixels, cap)
    assert small.pixels.shape[0] * small.pixels.shape[1] <= 0.06 * 1024 * 1024


# ---- stitching ------------------------------------------------------------------------------------

def test_stitch_is_bit_exact_where_the_mask_is_0_and_the_edit_inside(crop, stand_in):
    torch.manual_seed(0)
    image = torch.rand(300, 400, 3)  # values no uint8 round trip could reproduce
    mask = torch.zeros(300, 400)
    mask[100:180, 150:260] = 1
    mask[120:140, 170:190] = 0.5  # soft values inside are blended
    plan = crop.plan(image, mask, megapixels=0.25)
    out = crop.stitch(image, answer(stand_in, plan.pixels), mask, plan.box)
    keep = (mask == 0)[..., None].expand_as(image)
    assert torch.equal(out[keep], image[keep])  # exact float equality, inside the box's context too
    edit = mask == 1
    assert (out[edit] - image[edit]).abs().mean() > 0.05  # changed where the mask is 1
    assert not torch.equal(out, image) and torch.equal(image, image.clone())  # the original is not touched


def test_inside_the_mask_is_the_edit_of_the_crop(crop, stand_in):
    rgb = smooth(400, 300)
    image = tensor(rgb)[0]
    mask = rect_mask(300, 400, 100, 150, 180, 260)
    plan = crop.plan(image, mask, megapixels=0.03)  # near the crop's own size: little resampling
    out = crop.stitch(image, answer(stand_in, plan.pixels), mask, plan.box)
    full = torch.from_numpy(answer(stand_in, rgb).copy()).float()  # the stand-in's edit of the whole frame
    edit = mask == 1
    assert (out[edit] * 255 - full[edit]).abs().mean() < 4  # the same edit, pixel for pixel (stripes aside)
    assert (out[edit] * 255 - image[edit] * 255).abs().mean() > 10


def test_feathered_seam_stays_inside_the_mask(crop, stand_in):
    torch.manual_seed(1)
    image = torch.rand(200, 200, 3)
    mask = rect_mask(200, 200, 60, 60, 140, 140)
    plan = crop.plan(image, mask, megapixels=0.1)
    hard = crop.stitch(image, answer(stand_in, plan.pixels), mask, plan.box)
    soft = crop.stitch(image, answer(stand_in, plan.pixels), mask, plan.box, feather=8)
    keep = (mask == 0)[..., None].expand_as(image)
    assert torch.equal(soft[keep], image[keep])
    assert torch.equal(soft[100, 100], hard[100, 100])  # far from the edge: the edit itself
    edge_soft = (soft[60, 100] - image[60, 100]).abs().sum()
    edge_hard = (hard[60, 100] - image[60, 100]).abs().sum()
    assert edge_soft < edge_hard  # on the mask's edge: closer to the original


@pytest.mark.parametrize("channels", [1, 4])
def test_stitch_keeps_the_input_channels(crop, stand_in, channels):
    image = tensor(photo(120, 80, channels))[0]
    mask = rect_mask(80, 120, 20, 30, 50, 90)
    plan = crop.plan(image, mask, megapixels=0.05)
    out = crop.stitch(image, answer(stand_in, plan.pixels), mask, plan.box)
    assert out.shape == image.shape
    if channels == 4:
        assert torch.equal(out[..., 3], image[..., 3])
    keep = (mask == 0)[..., None].expand_as(image)
    assert torch.equal(out[keep], image[keep])


def test_stitch_takes_a_float_answer(crop):
    image = torch.zeros(64, 64, 3)
    mask = rect_mask(64, 64, 16, 16, 48, 48)
    box = crop.crop_box(mask, min_px=8)
    out = crop.stitch(image, torch.ones(32, 32, 3), mask, box)
    assert torch.equal(out[20:44, 20:44], torch.ones(24, 24, 3)) and float(out.sum()) == 32 * 32 * 3


# ---- batches --------------------------------------------------------------------------------------

def test_per_image_masks_match_image_composite_masked(crop, nodes):
    torch.manual_seed(2)
    masks = (torch.rand(2, 8, 12) > 0.5).float()  # 2 masks for 3 images: m0, m1, m0, resized
    fitted = nodes.tensors.fit_mask(masks, 3, 32, 48)
    got = list(crop.per_image_masks(masks, 3, 32, 48))
    assert len(got) == 3 and all(torch.equal(g, f[..., 0]) for g, f in zip(got, fitted))
    one = list(crop.per_image_masks(masks[0], 3, 32, 48))  # [H,W]: one mask for all
    assert all(torch.equal(m, fitted[0][..., 0]) for m in one)
    assert len(list(crop.per_image_masks(torch.zeros(5, 4, 4), 2, 4, 4))) == 2  # a longer batch is cut


def test_batch_with_a_mask_per_image_and_one_for_all(crop, stand_in):
    torch.manual_seed(3)
    images = torch.rand(3, 120, 160, 3)
    masks = torch.stack([rect_mask(120, 160, 10, 10, 40, 50), torch.zeros(120, 160),
                         rect_mask(120, 160, 60, 90, 110, 150)])
    for mask in (masks, masks[2]):  # per image (the second empty), then one for all
        outs, sent = [], []
        for image, m in zip(images, crop.per_image_masks(mask, 3, 120, 160)):
            plan = crop.plan(image, m, megapixels=0.05)
            if plan is None:  # empty: nothing sent, the image unchanged
                outs.append(image)
                continue
            sent.append(plan.box)
            outs.append(crop.stitch(image, answer(stand_in, plan.pixels), m, plan.box))
        out = torch.stack(outs)
        weights = torch.stack(list(crop.per_image_masks(mask, 3, 120, 160)))
        keep = (weights == 0)[..., None].expand_as(images)
        assert torch.equal(out[keep], images[keep])
        assert ((out - images).abs().sum(-1) > 0.02).float()[weights == 1].mean() > 0.9
        if mask.ndim == 3:
            assert sent == [crop.crop_box(masks[0]), crop.crop_box(masks[2])] and torch.equal(out[1], images[1])
        else:
            assert sent == [crop.crop_box(masks[2])] * 3


# ---- the send-size cap ----------------------------------------------------------------------------

def test_cap_downscales_above_the_cap_and_the_result_is_restored(sizing, nodes):
    rgb = smooth(3000, 2000)  # 6 MP (5.7 x 1024²)
    capped = sizing.cap_size(rgb, 2.0)
    h, w = capped.shape[:2]
    assert h * w <= 2 * 1024 * 1024 and h * w > 1.9 * 1024 * 1024 and h % 16 == 0 and w % 16 == 0
    assert abs(w / h - 1.5) < 0.01 and capped.dtype == np.uint8
    assert sizing.cap_size(rgb, 8.0) is rgb and sizing.cap_size(rgb, 0) is rgb and sizing.cap_size(rgb, None) is rgb
    # output_size = match input: to_result resizes the answer back to the input's size
    original = tensor(rgb)[0]
    back = nodes.tensors.to_result(capped, original, tuple(original.shape[:2]))
    assert back.shape == original.shape and (back - original).abs().mean() < 0.005
    gray = photo(2000, 1000, channels=1)
    assert sizing.cap_size(gray, 1.0).shape[2] == 1


def test_a_mask_of_another_size_is_refused(crop):
    with pytest.raises(ValueError, match="per_image_masks"):
        crop.plan(torch.zeros(32, 48, 3), torch.ones(16, 24))
