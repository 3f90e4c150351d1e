"""Image bytes: numpy/PIL -> PNG/JPEG -> data URI, and PNG/JPEG/WebP bytes -> numpy.

PNG is the default (lossless). Its settings come from benchmarks/ (see the README's
Performance section): Pillow's default (zlib level 6, adaptive filters) costs 3-5x
more time than zlib level 1 with the Z_RLE strategy, for a payload within a few %.
With the optional ``fast`` extra (imagecodecs, libpng) PNG is written with the
Paeth filter alone, about twice as fast again at the same size, and read ~25 %
faster; JPEG is written by libjpeg-turbo directly. Pillow is the fallback.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import struct
from types import ModuleType

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import FriendliInputError, FriendliResponseError

MAX_IMAGE_BYTES = 50 * 1024 * 1024  # the API's limit per input image
MAX_PIXELS = 64 * 1024 * 1024  # decoded results at most 64 MP (8192×8192): far above real outputs
IMAGE_FORMATS = ("png", "jpeg")
PNG_OPTIONS = {"compress_level": 1, "compress_type": 3}  # Pillow: zlib level 1, 3 = Z_RLE
JPEG_OPTIONS = {"quality": 95, "subsampling": 0}  # Pillow: 4:4:4, no chroma subsampling
FAST_PNG_OPTIONS = {"level": 1, "strategy": 3, "filter": 128}  # imagecodecs: level 1, Z_RLE, Paeth only
FAST_JPEG_OPTIONS = {"level": 95, "subsampling": "444"}  # imagecodecs: the same JPEG as JPEG_OPTIONS
USE_FAST = True  # False forces Pillow (the benchmarks compare both in one run)

_MODES_BY_CHANNELS = {1: "L", 3: "RGB", 4: "RGBA"}


def sniff_mime(data: bytes) -> str | None:
    """The MIME type of PNG, JPEG or WebP bytes, else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
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


def to_pil(image: np.ndarray | Image.Image, field: str = "image") -> Image.Image:
    """A PIL image in L, RGB or RGBA mode from a uint8 HxW[xC] array or any PIL image."""
    if isinstance(image, Image.Image):
        if image.mode in ("L", "RGB", "RGBA"):
            return image
        has_alpha = image.mode in ("LA", "PA", "RGBa", "La") or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB")
    if not isinstance(image, np.ndarray):
        raise FriendliInputError(field, f"expected a numpy array or PIL image, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise FriendliInputError(field, f"array dtype is {image.dtype}; convert to uint8 (0..255) first")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    channels = 1 if image.ndim == 2 else image.shape[2] if image.ndim == 3 else None
    if channels not in _MODES_BY_CHANNELS:
        raise FriendliInputError(field, f"array shape {image.shape} is not HxW, HxWx1, HxWx3 or HxWx4")
    if min(image.shape[:2]) == 0:
        raise FriendliInputError(field, f"array shape {image.shape} is empty")
    return Image.fromarray(np.ascontiguousarray(image), _MODES_BY_CHANNELS[channels])


def encode_image(image: np.ndarray | Image.Image, fmt: str = "png", field: str = "image") -> bytes:
    """Encode as PNG (lossless, keeps alpha) or JPEG (no alpha), checking the 50 MiB limit."""
    fmt = fmt.lower()
    if fmt == "jpg":
        fmt = "jpeg"
    if fmt not in IMAGE_FORMATS:
        raise FriendliInputError(field, f"image format {fmt!r} is not one of png, jpeg")
    pil = to_pil(image, field)
    if fmt == "jpeg" and pil.mode == "RGBA":
        raise FriendliInputError(field, "JPEG cannot keep the alpha channel; send it as png or drop the alpha")
    fast = fast_codecs()
    if fast is not None:
        array = np.ascontiguousarray(image if isinstance(image, np.ndarray) and image.ndim == 3
                                     and image.shape[2] != 1 else np.asarray(pil))
        if fmt == "png":
            return check_size(bytes(fast.png_encode(array, **FAST_PNG_OPTIONS)), field)
        return check_size(bytes(fast.jpeg8_encode(array, **FAST_JPEG_OPTIONS)), field)
    out = io.BytesIO()
    if fmt == "png":
        pil.save(out, "PNG", **PNG_OPTIONS)
    else:
        pil.save(out, "JPEG", **JPEG_OPTIONS)
    return check_size(out.getvalue(), field)


def check_size(data: bytes, field: str = "image") -> bytes:
    if len(data) > MAX_IMAGE_BYTES:
        raise FriendliInputError(
            field,
            f"encoded image is {len(data) / 2**20:.1f} MiB, over the API's 50 MiB limit; "
            "downscale it before sending (e.g. with an upscale/scale node set below 1×)",
        )
    return data


def data_uri(data: bytes, field: str = "image") -> str:
    """A data URI whose MIME type is that of the bytes themselves."""
    mime = sniff_mime(data)
    if mime is None:
        raise FriendliInputError(field, "bytes are not a PNG, JPEG or WebP image")
    return f"data:{mime};base64,{base64.b64encode(check_size(data, field)).decode('ascii')}"


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
        raise FriendliResponseError(f"the endpoint returned a corrupt image ({str(exc)[:200]})") from None
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
