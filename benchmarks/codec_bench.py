"""Section 1, codec: per image, tensor -> request JSON bytes and response JSON bytes -> tensor.

The pack's path is the real one: the node's tensor conversions, ``FriendliImageClient.build_body``
and ``json.dumps`` as ``send`` does; ``parse_json`` and the client's result handling (base64, url
download) and ``EditedImage.image`` on the way back. The naive baseline is what a first version
would do: truncating ``(x*255).to(uint8)``, Pillow's default PNG settings, ComfyUI's LoadImage
conversion back. Times are the best of ``reps`` runs per image, then the median over images.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

import numpy as np
import torch
from PIL import Image

from common import TOKEN, best_of, median, sub, timed
from conversions import tensor_functions

PROMPT = "Make the sky a warm sunset"
BATCH = 4  # the node's default concurrency: it encodes and decodes inside its request workers


def naive_request(tensor: torch.Tensor) -> bytes:
    array = (tensor[0] * 255).to(torch.uint8).numpy()
    out = io.BytesIO()
    Image.fromarray(array).save(out, "PNG")  # Pillow's default: zlib level 6, adaptive filters
    uri = "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")
    body = {"image": {"image": uri}, "prompt": PROMPT, "model": "bench", "num_inference_steps": 20,
            "guidance_scale": None, "seed": 1, "response_format": "png"}
    return json.dumps(body).encode("utf-8")


def naive_response(content: bytes) -> torch.Tensor:
    data = base64.b64decode(json.loads(content)["data"][0]["b64_json"])
    image = Image.open(io.BytesIO(data)).convert("RGB")
    return torch.from_numpy(np.array(image).astype(np.float32) / 255.0)[None,]  # as ComfyUI's LoadImage


class PackPaths:
    """The pack's request and response paths, with imagecodecs on or off."""

    def __init__(self, pack: ModuleType, emulator: Any) -> None:
        self.codec = sub(pack, "client.codec")
        self.api = sub(pack, "client.api")
        self.transport = sub(pack, "client.transport")
        self.emulator_module = sub(pack, "emulator")
        self.client = self.api.FriendliImageClient(token=TOKEN, base_url=emulator.base_url)
        self.to_uint8, self.to_tensor, self.tensor_source = tensor_functions(pack)
        self.emulator = emulator
        self._answers: dict[tuple[int, str], tuple[bytes, int]] = {}

    def request(self, fmt: str) -> Callable[[torch.Tensor], bytes]:
        def run(tensor: torch.Tensor) -> bytes:
            body = self.client.build_body(self.to_uint8(tensor), PROMPT, endpoint_id="bench", seed=1,
                                          image_format=fmt)
            return json.dumps(body).encode("utf-8")
        return run

    def response(self, content: bytes) -> torch.Tensor:
        items = self.api._data_items(self.transport.parse_json(content))
        return self.to_tensor(self.client._dedicated_result(items[0]).image)

    def response_body(self, array: np.ndarray, fmt: str) -> tuple[bytes, int]:
        """The endpoint's answer for this image (encoded as the emulator does) and its image bytes."""
        key = (id(array), fmt)
        if key not in self._answers:
            self._answers[key] = self._answer(array, fmt)
        return self._answers[key]

    def _answer(self, array: np.ndarray, fmt: str) -> tuple[bytes, int]:
        data = self.emulator_module.encode_image(Image.fromarray(array), "png" if fmt == "url" else fmt)
        if fmt == "url":
            name = secrets.token_hex(8) + ".png"
            self.emulator._store_file(name, data)
            item = {"url": f"{self.emulator.files_base_url}/files/{name}"}
        else:
            item = {"b64_json": base64.b64encode(data).decode("ascii")}
        return json.dumps({"data": [{**item, "seed": 1, "response_format": fmt}]}).encode(), len(data)


def _batch_time(fn: Callable[[Any], Any], inputs: list[Any], reps: int) -> float:
    """Per-item time when the batch runs on BATCH threads at once."""
    batch = (inputs * BATCH)[:BATCH]
    with ThreadPoolExecutor(BATCH) as pool:
        return best_of(lambda: list(pool.map(fn, batch)), reps) / BATCH


def _row(name: str, request: Callable | None, response: Callable, fmt: str, images: list[np.ndarray],
         paths: PackPaths, reps: int, batch4: bool = True) -> dict[str, Any]:
    """One table row: ``fmt`` is the response format answered (the request is PNG or JPEG)."""
    tensors = [torch.from_numpy(a.astype(np.float32) / 255)[None,] for a in images]
    bodies = [paths.response_body(a, fmt) for a in images]
    row: dict[str, Any] = {"row": name}
    if request is not None:
        runs = [timed(lambda: request(t), reps) for t in tensors]
        row["request_ms"] = 1e3 * median([seconds for seconds, _ in runs])
        row["request_bytes_each"] = [len(body) for _, body in runs]
        row["request_bytes"] = int(median(row["request_bytes_each"]))
        if batch4:
            row["request_batch4_ms"] = 1e3 * _batch_time(request, tensors, reps)
    row["response_ms"] = 1e3 * median([best_of(lambda: response(b), reps) for b, _ in bodies])
    row["response_image_bytes"] = int(median([n for _, n in bodies]))
    if batch4:
        row["response_batch4_ms"] = 1e3 * _batch_time(response, [b for b, _ in bodies], reps)
    if request is not None:
        row["round_trip_ms"] = row["request_ms"] + row["response_ms"]
    return row


def breakdown(paths: PackPaths, images: list[np.ndarray], reps: int) -> list[dict[str, Any]]:
    """PNG round trip stage by stage, naive vs the pack (default encoder), median ms over images."""
    codec, stages = paths.codec, []
    fields = {"prompt": PROMPT, "model": "bench", "num_inference_steps": 20, "guidance_scale": None, "seed": 1,
              "response_format": "png"}

    def pil_png(array: np.ndarray) -> bytes:
        out = io.BytesIO()
        Image.fromarray(array).save(out, "PNG")
        return out.getvalue()

    def body(uri: str) -> bytes:
        return json.dumps({"image": {"image": uri}, **fields}).encode("utf-8")

    for array in images:
        tensor = torch.from_numpy(array.astype(np.float32) / 255)[None,]
        content, _ = paths.response_body(array, "png")
        data = base64.b64decode(json.loads(content)["data"][0]["b64_json"])
        naive = [lambda: (tensor[0] * 255).to(torch.uint8).numpy(), lambda: pil_png(array),
                 lambda: body("data:image/png;base64," + base64.b64encode(data).decode("ascii")),
                 lambda: base64.b64decode(json.loads(content)["data"][0]["b64_json"]),
                 lambda: np.array(Image.open(io.BytesIO(data)).convert("RGB")),
                 lambda: torch.from_numpy(array.astype(np.float32) / 255.0)[None,]]
        pack = [lambda: paths.to_uint8(tensor), lambda: codec.encode_image(array, "png"),
                lambda: body(codec.data_uri(data)),
                lambda: codec.decode_b64(paths.transport.parse_json(content)["data"][0]["b64_json"]),
                lambda: codec.decode_image(data), lambda: paths.to_tensor(array)]
        stages.append([(best_of(n, reps), best_of(p, reps)) for n, p in zip(naive, pack)])
    names = ["tensor -> uint8", "encode PNG", "base64 + JSON body", "parse JSON + base64 decode", "decode PNG",
             "uint8 -> tensor"]
    return [{"stage": name, "naive_ms": 1e3 * median([s[i][0] for s in stages]),
             "pack_ms": 1e3 * median([s[i][1] for s in stages])} for i, name in enumerate(names)]


def run(pack: ModuleType, emulator: Any, images_by_size: dict[int, list[np.ndarray]], reps: int,
        batch4_sizes: tuple[int, ...] = (1024, 2048)) -> dict[str, Any]:
    """All codec rows per size; the batch-of-4 columns only for ``batch4_sizes``."""
    paths = PackPaths(pack, emulator)
    codec = paths.codec
    fast = codec.fast_codecs() is not None
    encoders = [("imagecodecs", True)] if fast else []
    encoders.append(("Pillow", False))
    sizes: dict[str, Any] = {}
    for size, images in images_by_size.items():
        batch4 = size in batch4_sizes
        rows = [_row("png naive: Pillow level 6, truncating", naive_request, naive_response, "png",
                     images, paths, reps, batch4)]
        for label, use_fast in encoders:
            codec.USE_FAST = use_fast
            for fmt in ("png", "jpeg"):
                rows.append(_row(f"{fmt}: {label}", paths.request(fmt), paths.response, fmt, images, paths, reps,
                                 batch4))
        codec.USE_FAST = True
        for fmt, label in (("raw", "raw (WebP): Pillow"), ("url", "url (PNG download)")):
            rows.append(_row(label, None, paths.response, fmt, images, paths, reps, batch4))
        sizes[str(size)] = {"images": len(images), "rows": rows}
        if size == 1024:
            sizes[str(size)]["stages"] = breakdown(paths, images, reps)
    base = sizes["1024"]["rows"][0] if "1024" in sizes else None
    best = sizes["1024"]["rows"][1] if base else None
    target = None
    if base:
        time_ratio = best["round_trip_ms"] / base["round_trip_ms"]
        ratios = [b / a for a, b in zip(base["request_bytes_each"], best["request_bytes_each"])]
        size_ratio = median(ratios)  # per image, like the times; the total and the worst image beside it
        target = {"row": best["row"], "time_ratio": time_ratio, "payload_ratio": size_ratio,
                  "payload_ratio_total": sum(best["request_bytes_each"]) / sum(base["request_bytes_each"]),
                  "payload_ratio_worst": max(ratios), "pass": time_ratio <= 0.25 and size_ratio <= 1.15}
    return {"fast_codecs": "imagecodecs" if fast else None, "tensor_functions": paths.tensor_source,
            "sizes": sizes, "target": target}
