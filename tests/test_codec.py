"""Image bytes in and out: lossless PNG, honest MIME types, clear errors."""

from __future__ import annotations

import base64
import importlib
import io
import json

import numpy as np
import pytest
from PIL import Image

from helpers import photo


@pytest.fixture(scope="module")
def codec(pack):
    return importlib.import_module(pack.__name__ + ".client.codec")


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_png_round_trip_is_exact_and_keeps_channels(codec, channels):
    array = photo(channels=channels)
    data = codec.encode_image(array, "png")
    assert codec.sniff_mime(data) == "image/png"
    assert np.array_equal(codec.decode_image(data), array)


def test_two_dimensional_array_is_grayscale(codec):
    gray = photo(channels=1)[:, :, 0]
    assert codec.decode_image(codec.encode_image(gray)).shape == gray.shape + (1,)


def test_jpeg_encoding_and_data_uri_mime_matches_bytes(codec):
    data = codec.encode_image(photo(), "jpg")
    uri = codec.data_uri(data)
    assert uri.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == data
    decoded = codec.decode_image(data)
    assert decoded.shape == (64, 96, 3) and np.abs(decoded.astype(int) - photo()).mean() < 6


def test_pil_images_of_other_modes_are_converted(codec):
    palette = Image.fromarray(photo()).convert("P")
    assert codec.decode_image(codec.encode_image(palette)).shape[2] == 3
    la = Image.fromarray(photo(channels=4)).convert("LA")
    assert codec.decode_image(codec.encode_image(la)).shape[2] == 4


def test_webp_decodes_and_garbage_says_what_it_is(codec, client_pkg):
    out = io.BytesIO()
    Image.fromarray(photo()).save(out, "WEBP", lossless=True)
    assert np.array_equal(codec.decode_image(out.getvalue()), photo())
    with pytest.raises(client_pkg.FriendliResponseError, match="HTML page"):
        codec.decode_image(b"<!DOCTYPE html><html>Bad gateway</html>")
    with pytest.raises(client_pkg.FriendliResponseError, match="corrupt"):
        codec.decode_image(b"\x89PNG\r\n\x1a\n" + b"\0" * 50)
    with pytest.raises(client_pkg.FriendliResponseError, match="base64"):
        codec.decode_b64("not base64 !!")


def test_png_settings_are_not_larger_than_pillow_default_on_a_photo(codec):
    array = photo(512, 512)
    default = io.BytesIO()
    Image.fromarray(array).save(default, "PNG")
    assert len(codec.encode_image(array)) <= 1.15 * len(default.getvalue())


@pytest.mark.parametrize("shape", [(1, 1, 3), (3, 7, 3), (7, 3, 4), (3, 7, 1)], ids=lambda s: "x".join(map(str, s)))
def test_odd_sizes_round_trip_exactly_and_pillow_reads_them(codec, shape):
    array = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    data = codec.encode_image(array)
    assert np.array_equal(codec.decode_image(data), array)
    with Image.open(io.BytesIO(data)) as img:
        assert np.array_equal(np.asarray(img).reshape(shape), array)


def request_body(codec, *images):
    uris = [codec.data_uri(codec.encode_image(photo(seed=i))) for i in range(len(images) or 1)]
    return {"image": [{"image": u} for u in uris] if images else {"image": uris[0]},
            "prompt": 'a "quoted" prompt\\ with é, 한국어 and a\nnewline', "model": "ep:1", "seed": 3,
            "guidance_scale": None, "num_inference_steps": 20, "response_format": "png"}


@pytest.mark.parametrize("options", [{}, {"sort_keys": True, "separators": (",", ":")}, {"ensure_ascii": False}])
@pytest.mark.parametrize("images", [(), (1, 2)], ids=["one image", "list of two"])
def test_json_bytes_are_exactly_json_dumps(codec, options, images):
    body = request_body(codec, *images)
    uri = body["image"][0]["image"] if images else body["image"]["image"]
    assert isinstance(uri, codec.DataURI) and uri.startswith("data:image/png;base64,")
    data = codec.json_bytes(body, **options)
    assert data == json.dumps(body, **options).encode("utf-8")
    assert json.loads(data) == body


def test_json_bytes_when_a_string_spells_the_placeholder(codec):
    body = request_body(codec)
    body["prompt"] = codec._HOLE
    assert codec.json_bytes(body) == json.dumps(body).encode("utf-8")
    body["image"]["image"] = str(body["image"]["image"])  # a plain str goes through json.dumps itself
    assert codec.json_bytes(body) == json.dumps(body).encode("utf-8")
