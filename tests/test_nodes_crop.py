"""Issue 19 through the edit nodes against the emulator: crop to the mask sends only the crop, the
output is bit-exact beyond the mask; the send-size cap; previews once per finished image."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import batch, photo, run_edit, tensor


def sent_images(emulator) -> list[np.ndarray]:
    """The images the emulator received (decoded), in arrival order."""
    out = []
    for request in emulator.requests:
        image = request.body["image"]
        for item in image if isinstance(image, list) else [image]:
            data = base64.b64decode(item["image"].partition(",")[2])
            out.append(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
    return out


def square_mask(b, h, w, top, left, size):
    mask = torch.zeros(b, h, w)
    mask[:, top:top + size, left:left + size] = 1.0
    return mask


def test_crop_to_mask_sends_only_the_crop_and_keeps_the_rest_bit_exact(nodes, online):
    image = tensor(photo(512, 384, seed=3))  # 1 × 384 × 512
    mask = square_mask(1, 384, 512, 100, 200, 40)
    out, _ = run_edit(nodes, image, mask=mask, mask_mode="crop to mask", crop_context=0.25, crop_megapixels=0.25)
    sent, = sent_images(online)
    # the box 100..140 × 200..240 widened by max(0.25 × 40, 32) = 32 px: 104 × 104, sent at 0.25 MP (512 × 512)
    assert sent.shape == (512, 512, 3)
    crop = (image[0, 68:172, 168:272].numpy() * 255).round().astype(np.uint8)
    expected = np.asarray(Image.fromarray(crop).resize((512, 512), Image.Resampling.LANCZOS))
    assert np.abs(sent.astype(int) - expected.astype(int)).max() <= 1  # the crop, nothing else
    outside = mask[0] == 0
    assert torch.equal(out[0][outside], image[0][outside])  # bit-exact beyond the mask
    inside = mask[0] > 0
    assert (out[0][inside] - image[0][inside]).abs().mean() > 0.02  # and the edit inside


def test_per_image_masks_in_a_batch_and_one_mask_for_all(nodes, online):
    images = batch(3, 96, 64)
    masks = torch.zeros(3, 64, 96)
    masks[0, 5:15, 5:15] = 1
    masks[1, 40:60, 70:90] = 1
    masks[2, 20:30, 30:50] = 1
    out, seeds = run_edit(nodes, images, mask=masks, mask_mode="crop to mask")
    for i in range(3):
        outside = masks[i] == 0
        assert torch.equal(out[i][outside], images[i][outside])
        assert not torch.equal(out[i][masks[i] > 0], images[i][masks[i] > 0])
    assert len(online.requests) == 3 and seeds == "7, 8, 9"
    out, _ = run_edit(nodes, images, mask=masks[1:2], mask_mode="crop to mask")  # one mask for all
    for i in range(3):
        assert torch.equal(out[i][masks[1] == 0], images[i][masks[1] == 0])


def test_an_empty_mask_sends_nothing_and_returns_the_image(nodes, online, caplog):
    images = batch(2)
    masks = torch.zeros(2, 32, 48)
    masks[1, 4:10, 4:10] = 1
    out, seeds = run_edit(nodes, images, mask=masks, mask_mode="crop to mask")
    assert torch.equal(out[0], images[0]) and len(online.requests) == 1 and seeds == "8"
    assert "empty mask: nothing was sent" in caplog.text


def test_crop_to_mask_without_a_mask_is_refused_before_sending(nodes, online, client_pkg):
    with pytest.raises(client_pkg.FriendliInputError, match="mask_mode: crop to mask needs a MASK"):
        run_edit(nodes, batch(1), mask_mode="crop to mask")
    assert online.requests == []


def test_the_send_size_cap_sends_a_smaller_image_and_restores_the_size(nodes, online):
    image = tensor(photo(1600, 1200, seed=5))  # 1.83 MP
    out, _ = run_edit(nodes, image, max_send_megapixels=0.5)
    sent, = sent_images(online)
    assert sent.shape[0] * sent.shape[1] <= 0.5 * 1024 * 1024 and sent.shape[1] / sent.shape[0] == pytest.approx(4 / 3, rel=0.02)
    assert tuple(out.shape) == (1, 1200, 1600, 3)  # match input
    out, _ = run_edit(nodes, image, max_send_megapixels=0)  # no cap: sent whole
    assert sent_images(online)[-1].shape == (1200, 1600, 3)


def test_the_line_says_at_what_size_an_image_was_sent(nodes, online, fake_host):
    run_edit(nodes, tensor(photo(1600, 1200)), max_send_megapixels=0.5, unique_id="1")
    assert any(e.get("sent", "").count("×") == 1 for e in fake_host.progress_events())
    assert any("sent at " in text for text, _ in fake_host.texts)


def test_multi_image_crops_image_1_only(nodes, online):
    first, second = tensor(photo(256, 192, seed=1)), tensor(photo(80, 60, seed=2))
    mask = square_mask(1, 192, 256, 50, 50, 20)
    out, _ = __import__("asyncio").run(nodes.edit.FriendliMultiImageEdit().edit(
        first, "p", "test-endpoint", 20, -1.0, 4, "png", mask=mask, mask_mode="crop to mask",
        crop_megapixels=0.25, image_2=second))
    crop_sent, ref_sent = sent_images(online)
    assert crop_sent.shape == (512, 512, 3) and ref_sent.shape == (60, 80, 3)  # image_2 whole
    assert torch.equal(out[0][mask[0] == 0], first[0][mask[0] == 0])


def test_previews_arrive_for_finished_images(nodes, online, fake_host):
    run_edit(nodes, batch(3), max_concurrency=1, unique_id="2")
    assert 1 <= len(fake_host.previews) <= 3
    kind, picture, side = fake_host.previews[-1][2]
    assert kind == "JPEG" and max(picture.size) <= 512 and side == 512
