"""Section 1, codec: per image, tensor -> request JSON bytes and response JSON bytes -> tensor; and the
request encoder (RGB uint8 -> PNG -> base64 -> JSON) beside its floor, an fpng-class encoder.

The pack's path is the real one: the node's tensor conversions, ``FriendliImageClient.build_body``
and ``codec.json_bytes`` as ``send`` does; ``parse_json`` and the client's result handling (base64, url
download) and ``EditedImage.image`` on the way back. The naive baseline is what a first version
would do: truncating ``(x*255).to(uint8)``, Pillow's default PNG settings, ComfyUI's LoadImage
conversion back. Times are the best of ``reps`` runs per image, then the median over images.

    python benchmarks/codec_bench.py [--images N] [--reps R] [--synthetic]   # the encoder table alone
"""

from __future__ import annotations

import argparse
import base64
import functools
import io
import json
import os
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

import numpy as np
import torch
from PIL import Image

from common import TOKEN, best_of, load_pack, median, sub, table, timed, verdict
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
            return self.codec.json_bytes(body)  # as send() does
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

    def pack_body(uri: str) -> bytes:  # as FriendliImageClient sends it
        return codec.json_bytes({"image": {"image": uri}, **fields})

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
                lambda: pack_body(codec.data_uri(data)),
                lambda: codec.decode_b64(paths.transport.parse_json(content)["data"][0]["b64_json"]),
                lambda: codec.decode_image(data), lambda: paths.to_tensor(array)]
        stages.append([(best_of(n, reps), best_of(p, reps)) for n, p in zip(naive, pack)])
    names = ["tensor -> uint8", "encode PNG", "base64 + JSON body", "parse JSON + base64 decode", "decode PNG",
             "uint8 -> tensor"]
    return [{"stage": name, "naive_ms": 1e3 * median([s[i][0] for s in stages]),
             "pack_ms": 1e3 * median([s[i][1] for s in stages])} for i, name in enumerate(names)]


def run(pack: ModuleType, emulator: Any, images_by_size: dict[int, list[np.ndarray]], reps: int,
        batch4_sizes: tuple[int, ...] = (1024, 2048)) -> dict[str, Any]:
    """All codec rows per size; the batch-of-4 columns only for ``batch4_sizes``; the stage breakdown, the
    target and the encoder table at the smallest size (1024 in the full run)."""
    paths = PackPaths(pack, emulator)
    codec = paths.codec
    fast = codec.fast_codecs() is not None
    encoders = [("fast extra", True)] if fast else []
    encoders.append(("Pillow", False))
    sizes: dict[str, Any] = {}
    first = min(images_by_size)
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
        if size == first:
            sizes[str(size)]["stages"] = breakdown(paths, images, reps)
    base, best = sizes[str(first)]["rows"][:2]
    time_ratio = best["round_trip_ms"] / base["round_trip_ms"]
    ratios = [b / a for a, b in zip(base["request_bytes_each"], best["request_bytes_each"])]
    size_ratio = median(ratios)  # per image, like the times; the total and the worst image beside it
    target = {"row": best["row"], "size": first, "time_ratio": time_ratio, "payload_ratio": size_ratio,
              "payload_ratio_total": sum(best["request_bytes_each"]) / sum(base["request_bytes_each"]),
              "payload_ratio_worst": max(ratios), "pass": time_ratio <= 0.25 and size_ratio <= 1.15}
    return {"fast_codecs": "imagecodecs" if fast else None, "png_encoder": codec.png_encoder(),
            "tensor_functions": paths.tensor_source, "sizes": sizes, "target": target,
            "encoder": encoder(pack, images_by_size[first], reps)}


# --- the request encoder against its floor -------------------------------------------------------------

TODAY_PNG = {"level": 1, "strategy": 3, "filter": 128}  # imagecodecs.png_encode as the pack called it before
FIELDS = {"prompt": PROMPT, "model": "bench", "num_inference_steps": 20, "guidance_scale": None, "seed": 1,
          "response_format": "png"}


def _optional(name: str) -> ModuleType | None:
    try:
        return __import__(name)
    except ImportError:
        return None


def _encoders(codec: ModuleType) -> dict[str, Callable[[np.ndarray], tuple[bytes, Callable, Callable]]]:
    """name -> fn(array) giving (PNG bytes, base64 step, JSON step), each step a function of the one before.
    The pack's rows run its real functions (``encode_image``, ``data_uri``, ``json_bytes``)."""
    fpng, imagecodecs, pybase64 = _optional("fpng"), _optional("imagecodecs"), _optional("pybase64")
    pack_b64 = lambda png: codec.data_uri(png)  # noqa: E731
    pack_json = lambda uri: codec.json_bytes({"image": {"image": uri}, **FIELDS})  # noqa: E731
    old_b64 = lambda png: "data:image/png;base64," + base64.b64encode(png).decode("ascii")  # noqa: E731
    old_json = lambda uri: json.dumps({"image": {"image": uri}, **FIELDS}).encode("utf-8")  # noqa: E731
    out: dict[str, Callable] = {}
    if fpng is not None and pybase64 is not None:
        out["floor: fpng + pybase64"] = lambda a: (fpng.from_ndarray(np.ascontiguousarray(a)), pybase64.b64encode,
                                                   None)
    out[f"pack, fast extra ({codec.png_encoder()})"] = lambda a: (codec.encode_image(a), pack_b64, pack_json)
    if codec.png_encoder() == "isal" and imagecodecs is not None:
        libdeflate = functools.partial(imagecodecs.deflate_encode, level=codec.FAST_PNG_LEVEL)
        out["pack without isal (imagecodecs' libdeflate)"] = lambda a: (codec.write_png(a, libdeflate), pack_b64,
                                                                        pack_json)
    if imagecodecs is not None:
        out["before: imagecodecs png_encode (Paeth, Z_RLE)"] = lambda a: (
            bytes(imagecodecs.png_encode(a, **TODAY_PNG)), old_b64, old_json)

    def pillow(a: np.ndarray) -> tuple[bytes, Callable, Callable]:
        codec.USE_FAST = False
        try:
            return codec.encode_image(a), lambda png: _no_fast(codec, codec.data_uri, png), pack_json
        finally:
            codec.USE_FAST = True
    out["pack, Pillow only (no fast extra)"] = pillow
    return out


def _no_fast(codec: ModuleType, fn: Callable, *args: Any) -> Any:
    codec.USE_FAST = False
    try:
        return fn(*args)
    finally:
        codec.USE_FAST = True


def _bit_exact(png: bytes, array: np.ndarray) -> bool:
    """Pillow and (when installed) imagecodecs both read ``png`` back as ``array``."""
    with Image.open(io.BytesIO(png)) as img:
        ok = np.array_equal(np.asarray(img).reshape(array.shape), array)
    imagecodecs = _optional("imagecodecs")
    return ok and (imagecodecs is None or np.array_equal(imagecodecs.png_decode(png).reshape(array.shape), array))


def encoder(pack: ModuleType, images: list[np.ndarray], reps: int) -> dict[str, Any]:
    """Each encoder on each image, interleaved (so other load hits all alike): best of ``reps`` per step,
    medians over images; payload = PNG bytes against the pack's PNG before this encoder (per image)."""
    codec = sub(pack, "client.codec")
    encoders = _encoders(codec)
    times: dict[str, list[list[float]]] = {name: [] for name in encoders}
    sizes: dict[str, list[int]] = {name: [] for name in encoders}
    exact = dict.fromkeys(encoders, True)
    load_start = os.getloadavg()
    for array in images:
        best = {name: [float("inf")] * 3 for name in encoders}
        for _ in range(max(reps, 1)):
            for name, encode in encoders.items():
                start = time.perf_counter()
                png, to_b64, to_json = encode(array)
                png_at = time.perf_counter()
                text = to_b64(png)
                b64_at = time.perf_counter()
                if to_json is not None:
                    to_json(text)
                end = time.perf_counter()
                for i, seconds in enumerate((png_at - start, b64_at - png_at, end - b64_at)):
                    best[name][i] = min(best[name][i], seconds)
        for name, encode in encoders.items():
            png = encode(array)[0]
            sizes[name].append(len(png))
            exact[name] = exact[name] and _bit_exact(png, array)
            times[name].append(best[name])
    reference = next((n for n in encoders if n.startswith("before")), "pack, Pillow only (no fast extra)")
    floor = next((n for n in encoders if n.startswith("floor")), None)
    rows = []
    for name in encoders:
        png_ms, b64_ms, json_ms = (1e3 * median([t[i] for t in times[name]]) for i in range(3))
        ratios = [b / a for a, b in zip(sizes[reference], sizes[name])]
        rows.append({"row": name, "png_ms": png_ms, "base64_ms": b64_ms, "json_ms": json_ms,
                     "total_ms": 1e3 * median([sum(t) for t in times[name]]), "png_bytes": int(median(sizes[name])),
                     "payload_ratio": median(ratios), "payload_ratio_total": sum(sizes[name]) / sum(sizes[reference]),
                     "payload_ratio_worst": max(ratios), "bit_exact": exact[name]})
    by_name = {r["row"]: r for r in rows}
    pack_row = rows[1] if floor else rows[0]
    target = {"row": pack_row["row"], "floor": floor, "reference": reference,
              "payload_ratio": pack_row["payload_ratio"], "payload_ratio_worst": pack_row["payload_ratio_worst"]}
    if floor:
        target["time_ratio"] = pack_row["total_ms"] / by_name[floor]["total_ms"]
        target["pass"] = target["time_ratio"] <= 2 and target["payload_ratio"] <= 1.2 and pack_row["bit_exact"]
    return {"images": len(images), "size": list(images[0].shape), "reps": reps, "rows": rows, "target": target,
            "base64": _base64_variants(codec, images[0], reps), "fpng": _version("fpng"),
            "load_average": [load_start[0], os.getloadavg()[0]]}


def _version(dist: str) -> str | None:
    from importlib import metadata
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _base64_variants(codec: ModuleType, array: np.ndarray, reps: int) -> list[dict[str, Any]]:
    """base64 and JSON of one image's PNG, each way: ms (best of max(reps, 5))."""
    png = codec.encode_image(array)
    uri = codec.data_uri(png)
    body = {"image": {"image": uri}, **FIELDS}
    plain = {"image": {"image": str(uri)}, **FIELDS}
    pybase64 = _optional("pybase64")
    variants = [("base64.b64encode (standard library)", lambda: base64.b64encode(png))]
    if pybase64 is not None:
        variants.append(("pybase64.b64encode", lambda: pybase64.b64encode(png)))
    variants += [("codec.data_uri (the pack: " + ("pybase64" if pybase64 else "base64") + ", one str)",
                  lambda: codec.data_uri(png)),
                 ("json.dumps(body).encode()", lambda: json.dumps(plain).encode("utf-8")),
                 ("codec.json_bytes(body) (the same bytes)", lambda: codec.json_bytes(body))]
    assert codec.json_bytes(body) == json.dumps(plain).encode("utf-8")
    return [{"step": name, "ms": 1e3 * best_of(fn, max(reps, 5)), "kb": len(png) / 1024} for name, fn in variants]


def encoder_tables(result: dict[str, Any]) -> list[str]:
    """The encoder section as Markdown tables."""
    h, w, _ = result["size"]
    t = result["target"]
    floor_note = "" if t["floor"] else " (fpng not installed: `pip install fpng` for the floor row)"
    rows = [[r["row"], r["png_ms"], r["base64_ms"], r["json_ms"] if r["json_ms"] > 1e-6 else None, r["total_ms"],
             f"{r['total_ms'] / result['rows'][0]['total_ms']:.2f}x" if t["floor"] else None, r["png_bytes"] / 1024,
             f"{r['payload_ratio']:.3f}x ({r['payload_ratio_total']:.3f}x, {r['payload_ratio_worst']:.3f}x)",
             "yes" if r["bit_exact"] else "NO"] for r in result["rows"]]
    out = [table(f"Request encoder, {w}x{h} RGB, per image (median of {result['images']} images, best of "
                 f"{result['reps']}, interleaved; load {result['load_average'][0]:.2f} -> "
                 f"{result['load_average'][1]:.2f}){floor_note}",
                 ["encoder", "PNG ms", "base64 ms", "JSON ms", "request encode ms", "vs floor", "PNG KB",
                  f"payload vs '{t['reference']}' (median, all, worst)", "bit-exact in Pillow + libpng"], rows)]
    out.append(table("base64 and JSON of one image's PNG", ["step", "ms"],
                     [[b["step"], b["ms"]] for b in result["base64"]]))
    if t["floor"]:
        out.append(table("Encoder target", ["encoder", "vs floor", "payload", "target", "result"],
                         [[t["row"], f"{t['time_ratio']:.2f}x", f"{t['payload_ratio']:.3f}x (worst "
                           f"{t['payload_ratio_worst']:.3f}x)", "≤ 2x the floor, payload ≤ 1.2x, bit-exact",
                           verdict(t["pass"])]]))
    return out


def main(argv: list[str] | None = None) -> int:
    import images as image_sets

    parser = argparse.ArgumentParser(description="The request encoder against its floor (one table).")
    parser.add_argument("--images", type=int, default=35, help="1024x1024 images (default 35)")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--synthetic", action="store_true", help="generated images (no network)")
    args = parser.parse_args(argv)
    result = encoder(load_pack(), image_sets.load(args.images, 1024, args.synthetic), args.reps)
    for text in encoder_tables(result):
        print(text, "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
