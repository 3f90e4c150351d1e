"""Image bytes: numpy/PIL -> PNG/JPEG -> data URI -> JSON, and PNG/JPEG/WebP bytes -> numpy.

PNG is the default (lossless); the settings come from benchmarks/ (README, Performance).
With the optional ``fast`` extra a PNG is written here, a standard one: every row
Up-filtered by numpy, the rows deflated in one zlib stream by ISA-L (``isal``, level 1)
or, without it, by libdeflate (imagecodecs, level 1). The whole request encode
measures 1.7-1.9x an fpng-class encoder's time, ~4x faster than libpng with Paeth
and Z_RLE, for ~11 % more bytes than that. base64 is pybase64's, and ``json_bytes``
copies data URIs into the JSON without scanning them.
JPEG is written by libjpeg-turbo and PNG read by libpng (imagecodecs). Pillow is the
fallback for everything (PNG: zlib level 1, Z_RLE).
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import json
import struct
import zlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import FriendliInputError, FriendliResponseError, plain

MAX_IMAGE_BYTES = 50 * 1024 * 1024  # the API's limit per input image
MAX_PIXELS = 64 * 1024 * 1024  # decoded results at most 64 MP (8192×8192): far above real outputs
IMAGE_FORMATS = ("png", "jpeg")
PNG_OPTIONS = {"compress_level": 1, "compress_type": 3}  # Pillow: zlib level 1, 3 = Z_RLE
JPEG_OPTIONS = {"quality": 95, "subsampling": 0}  # Pillow: 4:4:4, no chroma subsampling
FAST_PNG_LEVEL = 1  # ISA-L's / libdeflate's level for the Up-filtered rows (benchmarks: level 2 gains ~1 %)
FAST_JPEG_OPTIONS = {"level": 95, "subsampling": "444"}  # imagecodecs: the same JPEG as JPEG_OPTIONS
USE_FAST = True  # False forces Pillow and the standard library (the benchmarks compare both in one run)

_MODES_BY_CHANNELS = {1: "L", 3: "RGB", 4: "RGBA"}
_PNG_COLOR_TYPES = {1: 0, 3: 2, 4: 6}  # gray, RGB, RGBA
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def sniff_mime(data: bytes) -> str | None:
    """The MIME type of PNG, JPEG or WebP bytes, else None."""
    if data.startswith(PNG_SIGNATURE):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


@functools.lru_cache(maxsize=None)
def _imagecodecs() -> ModuleType | None:
    """imagecodecs (the ``fast`` extra) if it imports and has PNG and JPEG, else None; loaded on first use."""
    try:
        import imagecodecs
    except ImportError:
        return None
    try:
        ok = imagecodecs.PNG.available and imagecodecs.JPEG8.available
    except AttributeError:  # a release too old for this API
        return None
    return imagecodecs if ok else None


def fast_codecs() -> ModuleType | None:
    """The faster codec module in use, or None when Pillow does all the work."""
    return _imagecodecs() if USE_FAST else None


@functools.lru_cache(maxsize=None)
def _isal_zlib() -> ModuleType | None:
    """ISA-L's zlib (``isal``, in the ``fast`` extra) if it imports, else None."""
    try:
        from isal import isal_zlib
    except ImportError:
        return None
    return isal_zlib


@functools.lru_cache(maxsize=None)
def _pybase64() -> ModuleType | None:
    """pybase64 (in the ``fast`` extra) if it imports, else None."""
    try:
        import pybase64
    except ImportError:
        return None
    return pybase64


def png_deflate() -> tuple[str, Callable[[Any], bytes]] | None:
    """The library that deflates the PNG rows written here and its zlib compress function, or None
    when Pillow writes the whole PNG."""
    if not USE_FAST:
        return None
    isal_zlib = _isal_zlib()
    if isal_zlib is not None:
        return "isal", functools.partial(isal_zlib.compress, level=FAST_PNG_LEVEL)
    fast = _imagecodecs()
    if fast is not None and fast.DEFLATE.available:
        return "imagecodecs", functools.partial(fast.deflate_encode, level=FAST_PNG_LEVEL)
    return None


def png_encoder() -> str:
    """Who writes a PNG now: "isal", "imagecodecs" (each with the numpy filter here) or "Pillow"."""
    deflate = png_deflate()
    return deflate[0] if deflate else "Pillow"


def write_png(array: np.ndarray, deflate: Callable[[Any], bytes]) -> bytes:
    """A standard 8-bit PNG of a uint8 HxWxC array (C = 1, 3, 4): one IDAT of rows that all use the
    Up filter (each byte minus the one above it, mod 256), deflated as one zlib stream by ``deflate``."""
    height, width, channels = array.shape
    rows = np.ascontiguousarray(array).reshape(height, width * channels)
    lines = np.empty((height, width * channels + 1), np.uint8)
    lines[:, 0] = 2  # filter type Up; above the first row PNG takes zeros, so it stays as it is
    lines[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=lines[1:, 1:])
    header = struct.pack(">IIBBBBB", width, height, 8, _PNG_COLOR_TYPES[channels], 0, 0, 0)
    return b"".join([PNG_SIGNATURE, *_png_chunk(b"IHDR", header), *_png_chunk(b"IDAT", deflate(lines)),
                     *_png_chunk(b"IEND", b"")])


def _png_chunk(kind: bytes, data: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    return struct.pack(">I", len(data)), kind, data, struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def to_pil(image: np.ndarray | Image.Image, field: str = "image") -> Image.Image:
    """A PIL image in L, RGB or RGBA mode from a uint8 HxW[xC] array or any PIL image."""
    if isinstance(image, Image.Image):
        if image.mode in ("L", "RGB", "RGBA"):
            return image
        has_alpha = image.mode in ("LA", "PA", "RGBa", "La") or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB")
    array = to_array(image, field)
    channels = array.shape[2]
    return Image.fromarray(np.ascontiguousarray(array[:, :, 0] if channels == 1 else array),
                           _MODES_BY_CHANNELS[channels])


def to_array(image: np.ndarray | Image.Image, field: str = "image") -> np.ndarray:
    """A uint8 HxWxC array (C = 1, 3 or 4) from a uint8 HxW[xC] array (a view, not a copy) or any PIL
    image (converted as ``to_pil`` does)."""
    if isinstance(image, Image.Image):
        array = np.asarray(to_pil(image, field))
        return array[:, :, None] if array.ndim == 2 else array
    if not isinstance(image, np.ndarray):
        raise FriendliInputError(field, f"expected a numpy array or PIL image, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise FriendliInputError(field, f"array dtype is {image.dtype}; convert to uint8 (0..255) first")
    if image.ndim not in (2, 3) or image.ndim == 3 and image.shape[2] not in _MODES_BY_CHANNELS:
        raise FriendliInputError(field, f"array shape {image.shape} is not HxW, HxWx1, HxWx3 or HxWx4")
    if min(image.shape[:2]) == 0:
        raise FriendliInputError(field, f"array shape {image.shape} is empty")
    return image[:, :, None] if image.ndim == 2 else image


def encode_image(image: np.ndarray | Image.Image, fmt: str = "png", field: str = "image") -> bytes:
    """Encode as PNG (lossless, keeps alpha) or JPEG (no alpha), checking the 50 MiB limit."""
    fmt = fmt.lower()
    if fmt == "jpg":
        fmt = "jpeg"
    if fmt not in IMAGE_FORMATS:
        raise FriendliInputError(field, f"image format {fmt!r} is not one of png, jpeg")
    deflate = png_deflate() if fmt == "png" else None
    fast = fast_codecs() if fmt == "jpeg" else None
    if deflate is None and fast is None:  # Pillow
        pil = to_pil(image, field)
        if fmt == "jpeg" and pil.mode == "RGBA":
            raise FriendliInputError(field, _NO_ALPHA_IN_JPEG)
        out = io.BytesIO()
        if fmt == "png":
            pil.save(out, "PNG", **PNG_OPTIONS)
        else:
            pil.save(out, "JPEG", **JPEG_OPTIONS)
        return check_size(out.getvalue(), field)
    array = to_array(image, field)
    if deflate is not None:
        return check_size(write_png(array, deflate[1]), field)
    if array.shape[2] == 4:
        raise FriendliInputError(field, _NO_ALPHA_IN_JPEG)
    array = np.ascontiguousarray(array[:, :, 0] if array.shape[2] == 1 else array)
    return check_size(bytes(fast.jpeg8_encode(array, **FAST_JPEG_OPTIONS)), field)


_NO_ALPHA_IN_JPEG = "JPEG cannot keep the alpha channel; send it as png or drop the alpha"


def check_size(data: bytes, field: str = "image") -> bytes:
    if len(data) > MAX_IMAGE_BYTES:
        raise FriendliInputError(
            field,
            f"encoded image is {len(data) / 2**20:.1f} MiB, over the API's 50 MiB limit; "
            "downscale it before sending (e.g. with an upscale/scale node set below 1×)",
        )
    return data


class DataURI(str):
    """A data URI made by ``data_uri``: base64 text, so plain ASCII with nothing to escape in JSON."""

    __slots__ = ()


def data_uri(data: bytes, field: str = "image") -> DataURI:
    """A data URI whose MIME type is that of the bytes themselves."""
    mime = sniff_mime(data)
    if mime is None:
        raise FriendliInputError(field, "bytes are not a PNG, JPEG or WebP image")
    encoded = ((USE_FAST and _pybase64()) or base64).b64encode(check_size(data, field))
    return DataURI(b"data:%s;base64,%s" % (mime.encode(), encoded), "ascii")


_HOLE = "\0data-uri\0"  # stands in for a DataURI while the rest is dumped


def json_bytes(value: Any, **options: Any) -> bytes:
    """The bytes of ``json.dumps(value, **options).encode("utf-8")``, made with each DataURI copied in as
    it is rather than scanned for characters to escape (that scan costs ~3 ms per MB of base64)."""
    uris: list[str] = []

    def hollow(item: Any) -> Any:
        if isinstance(item, DataURI):
            uris.append(item)
            return _HOLE
        if isinstance(item, dict):
            return {key: hollow(v) for key, v in item.items()}
        if isinstance(item, (list, tuple)):
            return [hollow(v) for v in item]
        return item

    pieces = json.dumps(hollow(value), **options).split(json.dumps(_HOLE))
    if len(pieces) != len(uris) + 1:  # a string of the body spelled the hole itself
        return json.dumps(value, **options).encode("utf-8")
    out = [pieces[0]]
    for uri, piece in zip(uris, pieces[1:]):
        out += ['"', uri, '"', piece]
    return "".join(out).encode("utf-8")


def decode_b64(text: str) -> bytes:
    """Base64 text (optionally a data URI) to bytes, with a clear error when it is not."""
    if not isinstance(text, str) or not text:
        raise FriendliResponseError("the endpoint returned an empty or non-text image field")
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise FriendliResponseError("the endpoint returned image data that is not valid base64") from None


def decode_image(data: bytes) -> np.ndarray:
    """PNG/JPEG/WebP bytes -> uint8 HxWxC with C = 1, 3 or 4 as the file has it."""
    if sniff_mime(data) is None:
        head = data[:64].lstrip().lower()
        what = "an HTML page" if head.startswith((b"<!doctype html", b"<html")) else f"{len(data)} bytes"
        raise FriendliResponseError(f"the endpoint returned {what} that is not a PNG, JPEG or WebP image")
    array = _fast_png_decode(data)
    if array is not None:
        return array
    try:
        with Image.open(io.BytesIO(data)) as pil:
            check_pixels(*pil.size)
            pil = to_pil(pil)
            array = np.asarray(pil)
    except Image.DecompressionBombError:
        raise FriendliResponseError(f"the endpoint returned an image over {MAX_PIXELS >> 20} MP; "
                                    "refusing to decode it") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        detail = "not a readable image file" if isinstance(exc, UnidentifiedImageError) else plain(str(exc))[:200]
        raise FriendliResponseError(f"the endpoint returned a corrupt image ({detail})") from None
    return array[:, :, None] if array.ndim == 2 else array


def check_pixels(width: int, height: int) -> None:
    """FriendliResponseError for a result whose pixels would not fit the MAX_PIXELS budget."""
    if width * height > MAX_PIXELS:
        raise FriendliResponseError(
            f"the endpoint returned a {width}×{height} image ({width * height / 1e6:.0f} MP), over the "
            f"{MAX_PIXELS >> 20} MP this pack decodes; check the endpoint's output size")


def _fast_png_decode(data: bytes) -> np.ndarray | None:
    """Plain 8-bit gray/RGB/RGBA PNGs via imagecodecs; None leaves the file to Pillow.

    Everything Pillow would convert (palette, gray+alpha, tRNS, 16-bit, interlaced)
    or refuse, and every error, goes to Pillow; an image over MAX_PIXELS is refused first.
    """
    fast = fast_codecs()
    if fast is None or len(data) < 33 or data[12:16] != b"IHDR":
        return None
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    check_pixels(width, height)
    if depth != 8 or color not in (0, 2, 6) or interlace:
        return None
    idat = data.find(b"IDAT", 33)
    if idat < 0 or b"tRNS" in data[33:idat]:
        return None
    try:
        array = fast.png_decode(data)
    except Exception:  # noqa: BLE001 - Pillow then explains what is wrong with the file
        return None
    if array.dtype != np.uint8 or array.shape[:2] != (height, width):
        return None
    return array[:, :, None] if array.ndim == 2 else array
