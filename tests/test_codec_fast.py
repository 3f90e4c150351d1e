"""The optional imagecodecs path (extra `fast`) gives exactly what the Pillow path gives, and is optional."""

from __future__ import annotations

import importlib
import io
import sys

import numpy as np
import pytest
from PIL import Image

from helpers import photo


@pytest.fixture
def codec(pack, monkeypatch):
    module = importlib.import_module(pack.__name__ + ".client.codec")
    monkeypatch.setattr(module, "USE_FAST", True)
    return module


@pytest.fixture
def fast(codec):
    pytest.importorskip("imagecodecs")
    assert codec.fast_codecs() is not None
    return codec


def both(codec, monkeypatch, fn):
    """fn() with imagecodecs, then with Pillow alone."""
    with_fast = fn()
    monkeypatch.setattr(codec, "USE_FAST", False)
    try:
        return with_fast, fn()
    finally:
        monkeypatch.setattr(codec, "USE_FAST", True)


def pil_bytes(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_fast_png_is_lossless_and_readable_by_pillow(fast, monkeypatch, channels):
    array = photo(channels=channels)
    data_fast, data_pil = both(fast, monkeypatch, lambda: fast.encode_image(array, "png"))
    assert data_fast != data_pil  # really another encoder
    for data in (data_fast, data_pil):
        assert np.array_equal(fast.decode_image(data), array)
        with Image.open(io.BytesIO(data)) as img:
            assert np.array_equal(np.asarray(img).reshape(array.shape), array)


def test_fast_encoder_takes_pil_images_and_2d_arrays(fast):
    rgb = photo()
    assert np.array_equal(fast.decode_image(fast.encode_image(Image.fromarray(rgb))), rgb)
    gray = photo(channels=1)[:, :, 0]
    assert np.array_equal(fast.decode_image(fast.encode_image(gray))[:, :, 0], gray)
    strided = photo(width=200)[:, ::2]
    assert np.array_equal(fast.decode_image(fast.encode_image(strided)), strided)


def test_fast_jpeg_matches_pillow_quality(fast, monkeypatch):
    array = photo()
    data_fast, data_pil = both(fast, monkeypatch, lambda: fast.encode_image(array, "jpeg"))
    assert fast.sniff_mime(data_fast) == "image/jpeg"
    a, b = fast.decode_image(data_fast).astype(int), fast.decode_image(data_pil).astype(int)
    assert abs(len(data_fast) - len(data_pil)) < 0.05 * len(data_pil)
    assert np.abs(a - b).mean() < 1 and np.abs(a - array).mean() < 6


@pytest.mark.parametrize("make", [
    lambda: pil_bytes(Image.fromarray(photo()).convert("P")),                       # palette
    lambda: pil_bytes(Image.fromarray(photo(channels=4)).convert("LA")),           # gray + alpha
    lambda: pil_bytes(Image.fromarray(photo()), transparency=(0, 0, 0)),           # tRNS
    lambda: pil_bytes(Image.fromarray(photo(channels=1)[:, :, 0]).convert("I;16")),  # 16-bit
    lambda: pil_bytes(Image.fromarray(photo())),                                    # plain RGB
    lambda: pil_bytes(Image.fromarray(photo(channels=1)[:, :, 0])),                # plain gray
    lambda: pil_bytes(Image.fromarray(photo()), "JPEG"),
    lambda: pil_bytes(Image.fromarray(photo()), "WEBP", lossless=True),
])
def test_decoding_gives_the_same_pixels_with_or_without_fast(fast, monkeypatch, make):
    data = make()
    got_fast, got_pil = both(fast, monkeypatch, lambda: fast.decode_image(data))
    assert got_fast.dtype == got_pil.dtype == np.uint8
    assert np.array_equal(got_fast, got_pil)


def test_corrupt_png_gives_the_same_error_with_or_without_fast(fast, monkeypatch):
    errors = importlib.import_module(fast.__name__.rpartition(".")[0] + ".errors")
    data = fast.encode_image(photo())
    broken = data[:60] + bytes(len(data) - 60)
    messages = []
    for use in (True, False):
        monkeypatch.setattr(fast, "USE_FAST", use)
        with pytest.raises(errors.FriendliResponseError) as info:
            fast.decode_image(broken)
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_without_imagecodecs_pillow_does_everything(codec, monkeypatch):
    monkeypatch.setitem(sys.modules, "imagecodecs", None)  # import fails
    codec._imagecodecs.cache_clear()
    try:
        assert codec.fast_codecs() is None
        array = photo(channels=4)
        data = codec.encode_image(array)
        assert data == pil_bytes(Image.fromarray(array), **codec.PNG_OPTIONS)
        assert np.array_equal(codec.decode_image(data), array)
    finally:
        codec._imagecodecs.cache_clear()
