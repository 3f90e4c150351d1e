"""FriendliMultiImageEdit: several reference images in one request."""

from __future__ import annotations

import asyncio
import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import batch, photo, tensor


def run_multi(nodes, image_1, **kw):
    args = dict(endpoint_id="test-endpoint", num_inference_steps=20, guidance_scale=-1.0, seed=11,
                response_format="png") | kw
    return asyncio.run(nodes.edit.FriendliMultiImageEdit().edit(image_1, "put them together", **args))


def sent_images(request) -> list[np.ndarray]:
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(item["image"].partition(",")[2]))))
            for item in request.body["image"]]


def test_one_request_with_every_image_in_order_each_at_its_own_size(nodes, online):
    first = batch(2)  # both images of a batch input are sent
    second = tensor(photo(20, 30, 3, seed=9))
    fourth = tensor(photo(16, 16, 4, seed=5))  # alpha is dropped for sending
    out, seeds = run_multi(nodes, first, image_2=second, image_4=fourth)
    assert len(online.requests) == 1
    images = sent_images(online.requests[0])
    assert [i.shape for i in images] == [(32, 48, 3), (32, 48, 3), (30, 20, 3), (16, 16, 3)]
    assert np.array_equal(images[2], photo(20, 30, 3, seed=9))
    assert np.array_equal(images[3], photo(16, 16, 4, seed=5)[..., :3])
    assert out.shape == (1, 32, 48, 3) and seeds == "11"
    assert online.requests[0].body["seed"] == 11


@pytest.mark.parametrize("mode, shape", [("match input", (1, 32, 48, 3)), ("endpoint size", (1, 50, 70, 3))])
def test_output_size(nodes, online, mode, shape):
    online.output_size = (70, 50)
    out, _ = run_multi(nodes, batch(1), image_2=tensor(photo(20, 30)), output_size=mode)
    assert out.shape == shape


def test_mask_is_composited_over_image_1(nodes, online):
    image_1 = batch(1, channels=4)
    mask = torch.zeros(32, 48)
    mask[:, 24:] = 1
    out, _ = run_multi(nodes, image_1, image_2=batch(1), mask=mask)
    assert out.shape == image_1.shape
    assert torch.equal(out[:, :, :24], image_1[:, :, :24]) and torch.equal(out[..., 3], image_1[..., 3])
    assert not torch.equal(out[:, :, 24:], image_1[:, :, 24:])


def test_container_multi_image(nodes, online):
    endpoint = nodes.endpoint.FriendliEndpoint().build("container", "", "", online.base_url, "")[0]
    out, seeds = run_multi(nodes, batch(1), image_2=batch(1), endpoint=endpoint, response_format="jpeg")
    assert out.shape == (1, 32, 48, 3) and seeds == "11"
    assert online.requests[0].path == "/v1/images/edits" and len(online.requests[0].body["image"]) == 2


def test_failure_is_explained(nodes, online):
    online.fault("status", status=422, body={"detail": "too many images"})
    with pytest.raises(Exception, match="too many images"):
        run_multi(nodes, batch(1), image_2=batch(1))


def test_inputs(pack):
    types = pack.NODE_CLASS_MAPPINGS["FriendliMultiImageEdit"].INPUT_TYPES()
    assert list(types["required"])[0] == "image_1"
    assert [k for k in types["optional"] if k.startswith("image_")] == [f"image_{n}" for n in range(2, 7)]
    assert {"adapter_route", "mask", "endpoint", "output_size"} <= set(types["optional"])
