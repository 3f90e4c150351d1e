"""The emulator's stand-in "edit" and "generation", and image helpers: deterministic, NOT a model.

Edit: the inputs are averaged (resized to the first one's size), then tinted per channel and striped
faintly by a hash of (prompt, seed, steps, guidance).
Generation: a gradient with seeded noise and stripes, its colours from the same hash; each control
image (resized to the output size) is blended over it by 0.8 × its weight, so weight 0 leaves no trace.
Same inputs give byte-identical output; another seed or prompt gives another output.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json

import numpy as np
from PIL import Image


def _hash_params(prompt: str, seed: int, steps: int, guidance: float | None) -> bytes:
    guidance = None if guidance is None else float(guidance)  # 7 and 7.0 are the same request
    return hashlib.sha256(json.dumps([prompt, seed, steps, guidance]).encode()).digest()


def _mean_rgb(images: list[Image.Image]) -> np.ndarray:
    """The inputs as float32 RGB, resized to the first one's size and averaged."""
    first = images[0].convert("RGB")
    acc = np.asarray(first, dtype=np.float32).copy()
    for img in images[1:]:
        acc += np.asarray(img.convert("RGB").resize(first.size, Image.Resampling.BILINEAR), np.float32)
    return acc / len(images)


def stand_in_edit(images: list[Image.Image], prompt: str, seed: int, steps: int,
                  guidance: float | None, size: tuple[int, int] | None = None) -> Image.Image:
    """Deterministic stand-in for a model edit; ``size`` is (width, height) of the output."""
    arr = _mean_rgb(images)
    digest = np.frombuffer(_hash_params(prompt, seed, steps, guidance), dtype=np.uint8).astype(np.float32)
    scale = 0.75 + digest[0:3] / 255 * 0.25
    offset = digest[3:6] / 255 * 80 - 40
    h, w = arr.shape[:2]
    stripes = ((np.arange(w)[None, :] + np.arange(h)[:, None] + int(digest[6])) // 4 % 2) * 6.0
    out = np.clip(np.rint(arr * scale + offset + stripes[..., None]), 0, 255).astype(np.uint8)
    img = Image.fromarray(out, "RGB")
    if size is not None and img.size != tuple(size):
        img = img.resize(tuple(size), Image.Resampling.BILINEAR)
    return img


GENERATION_SIZE = (512, 512)  # (width, height) of a generation without control images


def stand_in_generate(prompt: str, seed: int, steps: int, guidance: float | None,
                      controls: list[Image.Image] | None = None, weights: list[float] | None = None,
                      size: tuple[int, int] | None = None) -> Image.Image:
    """Deterministic stand-in for a text-to-image model. ``size`` (width, height) defaults to the first
    control image's size, else GENERATION_SIZE; ``weights`` default to 1.0 per control image."""
    controls = controls or []
    w, h = tuple(size) if size is not None else controls[0].size if controls else GENERATION_SIZE
    digest = _hash_params(prompt, seed, steps, guidance)
    colours = np.frombuffer(digest[:9], dtype=np.uint8).astype(np.float32).reshape(3, 3)
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :, None]
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    out = colours[0] * (1 - x) + colours[1] * x  # left to right
    out = out * (1 - y / 2) + colours[2] * (y / 2)  # towards a third colour downwards
    period = 4 + digest[9] % 12
    stripes = ((np.arange(w)[None, :] - np.arange(h)[:, None]) // period % 2) * 12.0
    noise = np.random.default_rng(int.from_bytes(digest[10:18], "big")).normal(0.0, 8.0, (h, w, 1))
    out = out + stripes[..., None] + noise.astype(np.float32)
    for img, weight in zip(controls, weights if weights is not None else [1.0] * len(controls)):
        control = np.asarray(img.convert("RGB").resize((w, h), Image.Resampling.BILINEAR), np.float32)
        alpha = 0.8 * float(weight)
        out = out * (1 - alpha) + control * alpha
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), "RGB")


def encode_image(img: Image.Image, fmt: str) -> bytes:
    """png/url -> PNG, jpeg/jpg -> JPEG, raw -> lossless WebP (what raw holds is undocumented)."""
    buf = io.BytesIO()
    if fmt in ("jpeg", "jpg"):
        img.save(buf, "JPEG", quality=95)
    elif fmt == "raw":
        img.save(buf, "WEBP", lossless=True)
    else:
        img.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def open_image(data: bytes) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
        return img
    except Exception as exc:  # Pillow raises many kinds for bad bytes
        raise ValueError(f"the data is not a valid image ({type(exc).__name__})") from None


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
