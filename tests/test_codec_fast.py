"""The optional `fast` extra (isal, imagecodecs, pybase64): standard PNGs every decoder reads bit-exact, the same
JPEGs, decodes and data URIs as Pillow's path, and everything still works without any of them."""

from __future__ import annotations

import importlib
import io
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from helpers import ROOT, photo

FAST_MODULES = ("isal", "imagecodecs", "pybase64")
SHAPES = [(64, 96, 3), (64, 96, 4), (64, 96, 1), (1, 1, 3), (1, 1, 4), (3, 7, 3), (7, 3, 4), (3, 7, 1)]


def clear_caches(codec) -> None:
    for loader in (codec._isal_zlib, codec._imagecodecs, codec._pybase64):
        loader.cache_clear()


@pytest.fixture
def codec(pack, monkeypatch):
    module = importlib.import_module(pack.__name__ + ".client.codec")
    monkeypatch.setattr(module, "USE_FAST", True)
    clear_caches(module)
    yield module
    monkeypatch.undo()  # modules blocked by a test come back before the caches are refilled
    clear_caches(module)


def block(codec, monkeypatch, *names: str) -> None:
    """Make ``import name`` fail from now on in this test, as if the library were not installed."""
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)
    clear_caches(codec)


@pytest.fixture
def fast(codec):
    pytest.importorskip("imagecodecs")
    assert codec.fast_codecs() is not None
    return codec


@pytest.fixture(params=["isal", "imagecodecs"])
def writer(codec, monkeypatch, request):
    """The codec with the PNG rows deflated by ISA-L, or by libdeflate when isal is not installed."""
    pytest.importorskip(request.param)
    if request.param == "imagecodecs":
        block(codec, monkeypatch, "isal")
    assert codec.png_encoder() == request.param
    return codec


def image(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    if min(shape[:2]) >= 8:
        return photo(shape[1], shape[0], shape[2], seed=seed)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)  # every byte value, any size


def pil_bytes(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of each chunk of a PNG, checking its length and CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    out, at = [], 8
    while at < len(data):
        length = int.from_bytes(data[at:at + 4], "big")
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        assert len(body) == length
        assert int.from_bytes(data[at + 8 + length:at + 12 + length], "big") == zlib.crc32(kind + body)
        out.append((kind, body))
        at += 12 + length
    return out


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_png_written_here_reads_bit_exact_in_pillow_libpng_and_the_pack(writer, shape):
    array = image(shape)
    data = writer.encode_image(array, "png")
    with Image.open(io.BytesIO(data)) as img:
        assert img.mode == {1: "L", 3: "RGB", 4: "RGBA"}[shape[2]]
        assert np.array_equal(np.asarray(img).reshape(shape), array)
    imagecodecs = pytest.importorskip("imagecodecs")
    assert np.array_equal(imagecodecs.png_decode(data).reshape(shape), array)
    assert np.array_equal(writer.decode_image(data), array)


def test_png_written_here_is_a_plain_standard_png(writer):
    array = image((5, 6, 3))
    kinds = chunks(writer.encode_image(array))
    assert [kind for kind, _ in kinds] == [b"IHDR", b"IDAT", b"IEND"]
    assert kinds[0][1] == (6).to_bytes(4, "big") + (5).to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])  # 8-bit RGB
    rows = np.frombuffer(zlib.decompress(kinds[1][1]), np.uint8).reshape(5, 1 + 6 * 3)  # one zlib stream
    assert set(rows[:, 0]) <= {0, 1, 2, 3, 4}
    assert rows[0, 1:].tobytes() == array[0].tobytes()  # Up over the zeros above the first row


def test_png_written_here_takes_pil_images_gray_and_strided_arrays(writer):
    rgb = photo()
    assert np.array_equal(writer.decode_image(writer.encode_image(Image.fromarray(rgb))), rgb)
    gray = photo(channels=1)[:, :, 0]
    assert np.array_equal(writer.decode_image(writer.encode_image(gray))[:, :, 0], gray)
    strided = photo(width=200)[:, ::2]
    assert np.array_equal(writer.decode_image(writer.encode_image(strided)), strided)
    palette = Image.fromarray(rgb).convert("P")
    assert np.array_equal(writer.decode_image(writer.encode_image(palette)), np.asarray(palette.convert("RGB")))


def test_png_written_here_is_not_much_larger_than_pillows(writer, monkeypatch):
    array = photo(256, 256)
    ours = len(writer.encode_image(array))
    monkeypatch.setattr(writer, "USE_FAST", False)
    assert ours <= 1.2 * len(writer.encode_image(array))


def test_fast_jpeg_matches_pillow_quality(fast, monkeypatch):
    array = photo()
    data_fast = fast.encode_image(array, "jpeg")
    monkeypatch.setattr(fast, "USE_FAST", False)
    data_pil = fast.encode_image(array, "jpeg")
    assert fast.sniff_mime(data_fast) == "image/jpeg"
    a, b = fast.decode_image(data_fast).astype(int), fast.decode_image(data_pil).astype(int)
    assert abs(len(data_fast) - len(data_pil)) < 0.05 * len(data_pil)
    assert np.abs(a - b).mean() < 1 and np.abs(a - array).mean() < 6


def test_fast_jpeg_takes_gray_and_refuses_alpha(fast, client_pkg):
    gray = photo(channels=1)
    assert np.abs(fast.decode_image(fast.encode_image(gray, "jpeg")).astype(int) - gray).mean() < 6
    with pytest.raises(client_pkg.FriendliInputError, match="alpha"):
        fast.encode_image(photo(channels=4), "jpeg")


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
    got_fast = fast.decode_image(data)
    monkeypatch.setattr(fast, "USE_FAST", False)
    got_pil = fast.decode_image(data)
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


def test_data_uri_is_the_same_text_with_or_without_pybase64(codec, monkeypatch):
    pytest.importorskip("pybase64")
    data = codec.encode_image(photo())
    fast_uri = codec.data_uri(data)
    block(codec, monkeypatch, "pybase64")
    assert isinstance(fast_uri, codec.DataURI) and fast_uri == codec.data_uri(data)


def test_without_the_fast_libraries_pillow_does_everything(codec, monkeypatch):
    array = photo(channels=4)
    block(codec, monkeypatch, *FAST_MODULES)
    assert codec.fast_codecs() is None and codec.png_deflate() is None and codec.png_encoder() == "Pillow"
    data = codec.encode_image(array)
    assert data == pil_bytes(Image.fromarray(array), **codec.PNG_OPTIONS)
    assert np.array_equal(codec.decode_image(data), array)
    assert codec.data_uri(data).endswith(__import__("base64").b64encode(data).decode())


def test_a_process_with_only_pillow_encodes_and_reads_the_fast_png(codec, tmp_path):
    """In a fresh interpreter where isal, imagecodecs and pybase64 cannot be imported: the pack falls back
    to Pillow, and Pillow alone reads the PNG the fast path wrote, bit-exact."""
    array = image((3, 7, 4))
    np.save(tmp_path / "pixels.npy", array)
    fast_png = codec.encode_image(array)
    (tmp_path / "fast.png").write_bytes(fast_png)
    check = f"""
import importlib, io, sys, types
sys.modules.update(dict.fromkeys({FAST_MODULES!r}))
import numpy as np
from PIL import Image
client = types.ModuleType("client")  # the codec and its errors alone, without the HTTP side of the pack
client.__path__ = [{str(ROOT / "client")!r}]
sys.modules["client"] = client
codec = importlib.import_module("client.codec")
array = np.load({str(tmp_path / "pixels.npy")!r})
assert codec.png_encoder() == "Pillow" and codec.fast_codecs() is None
out = io.BytesIO()
Image.fromarray(array).save(out, "PNG", **codec.PNG_OPTIONS)
assert codec.encode_image(array) == out.getvalue()
with Image.open({str(tmp_path / "fast.png")!r}) as img:
    assert img.mode == "RGBA" and img.tobytes() == array.tobytes()
print("ok", ",".join(m for m in {FAST_MODULES!r} if sys.modules.get(m) is not None) or "none")
"""
    run = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["ok", "none"]
