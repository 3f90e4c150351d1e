"""The crop section (issue 19): a big photo with a small mask, sent whole or cropped to the mask.

A 6000 x 4000 photo (``photo``: a template render cut to 3:2, upscaled with Lanczos, with sensor grain)
and an elliptic mask over 3 % of the frame (``mask``, around the ladybug) go through FriendliImageEdit
against the emulator in its own process (latency 0), in a fresh child process per row:

    whole image, max_send_megapixels 4 (the default cap)
    whole image, max_send_megapixels 0 (no cap: the full frame is sent)
    crop to mask, crop_megapixels 1 (the default; crop_context 0.25)

Every row passes the mask, so the whole-image rows are composited with it on this machine. Reported:
the request body the emulator received (bytes, and the size of the image in it), the node's wall time
(the first run, the emulator computing its answer; then best of ``reps`` with the emulator answering
from its cache, so only the pack's own work and the loopback transfer are on the clock), the mean
absolute error inside the mask (0..255) of the node's output against the emulator's stand-in edit
applied to the full-resolution original (the answer a model that works at any size would give), and
the largest change outside the mask (must be 0). A row the pack refuses (the API's 50 MiB per image)
reports the refusal. The stand-in's faint stripes (±3 levels around their mean, period 8 px) are drawn at
the size the emulator receives, so any path that resizes misses them by ~3 on average: the second error
column compares 8 x 8 pixel means, where the reference's stripes average out.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import node_bench

HERE = Path(__file__).resolve().parent
SIZE = (6000, 4000)  # (width, height)
QUICK_SIZE = (2550, 1700)  # 4.3 MP: just over the 4 MP cap (4 x 1024²), so the cap acts
SMOKE = ((912, 608), 0.5, 0.25)  # (size, cap, crop_megapixels) for tests: 0.55 MP, a 0.5 MP cap that acts
MASK_SHARE = 0.03
GRAIN = 2.0  # standard deviation of the added sensor noise, in 0..255 levels
TEMPLATE = "flux_canny_model_example-1.webp"  # a rose with a ladybug
TEMPLATE_BOX = (0, 200, 1024, 883)  # its 3:2 cut (left, top, right, bottom), the ladybug near the middle
SUBJECT = (0.450, 0.503)  # the ladybug's centre as fractions of the 3:2 cut's width and height
PROMPT = "Remove the ladybug"
SEED = 4  # of the stand-in tints for this prompt, one that shows clearly on a yellow rose (the picture)
ROWS = (("whole image", True), ("whole image", False), ("crop to mask", True))  # (mask_mode, capped)
PICTURE_SOURCE = f"{TEMPLATE} of comfyui-workflow-templates==0.1.95 (a render; PyPI)"


def photo(width: int, height: int, synthetic: bool = False) -> np.ndarray:
    """A width x height uint8 RGB photo-like image.

    Real: the template's 3:2 cut upscaled with Lanczos, plus Gaussian grain of ``GRAIN`` levels (seeded): a
    5.9x upscale has none of a real photo's pixel-level detail and would compress far better (PNG) than a
    real 24 MP frame. Synthetic (no network): gradients with the same grain."""
    from PIL import Image

    rng = np.random.default_rng(0)
    if synthetic:
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        base = np.stack([x * (255 / width), y * (255 / height), (x / width + y / height) * 127], axis=-1)
    else:
        import images

        with Image.open(next(p for p in images.template_files() if p.name == TEMPLATE)) as img:
            cut = img.convert("RGB").crop(TEMPLATE_BOX)
        base = np.asarray(cut.resize((width, height), Image.Resampling.LANCZOS), dtype=np.float32)
    grain = rng.standard_normal(base.shape, dtype=np.float32) * GRAIN
    return np.clip(np.rint(base + grain), 0, 255).astype(np.uint8)


def mask(width: int, height: int, share: float = MASK_SHARE) -> np.ndarray:
    """A binary float32 [height, width] ellipse (3:2, like the frame) over ``share`` of the frame, centred on
    the subject."""
    # area of an ellipse with axes a x b: pi / 4 * a * b; a = 1.5 b
    b = math.sqrt(share * width * height * 4 / math.pi / 1.5)
    a = 1.5 * b
    cx, cy = SUBJECT[0] * width, SUBJECT[1] * height
    y, x = np.ogrid[0:height, 0:width]
    inside = ((x + 0.5 - cx) / (a / 2)) ** 2 + ((y + 0.5 - cy) / (b / 2)) ** 2 <= 1
    return inside.astype(np.float32)


def run(quick: bool, synthetic: bool, smoke: bool = False) -> dict[str, Any]:
    """All rows, each in a fresh child process against one emulator process (latency 0, answer cache on);
    ``smoke``: the SMOKE frame, cap and crop size (every path, little data)."""
    from emulator_proc import emulator_process

    (width, height), max_mp, crop_mp = SMOKE if smoke else (QUICK_SIZE if quick else SIZE, 4.0, 1.0)
    reps = 1 if quick else 3
    rows = []
    with emulator_process(0.0, cache=True) as emulator:
        for mode, capped in ROWS:
            cap = max_mp if capped else 0.0
            row = node_bench._child("row", emulator["base_url"], str(width), str(height), str(int(synthetic)),
                                    mode, str(cap), str(crop_mp), str(reps), script=__file__, timeout=900)
            if "skipped" in row:
                return row
            received = emulator["recorded"]()
            if received:
                first = received[0]
                same = {(r["body_bytes"], json.dumps([i["size"] for i in r["images"]])) for r in received}
                if len(same) != 1:
                    raise RuntimeError(f"{mode}, cap {cap}: the requests differ between runs: {same}")
                sent = (first["prompt"], first["seed"], first["steps"], first["guidance"])
                if list(sent) != row["reference_params"]:
                    raise RuntimeError(f"the reference edit used {row['reference_params']}, the node sent {sent}")
                row.update(requests=len(received), body_bytes=first["body_bytes"],
                           image_bytes=first["images"][0]["bytes"], sent_size=first["images"][0]["size"])
            else:
                row.update(requests=0, body_bytes=0)
            rows.append({"mask_mode": mode, "max_send_megapixels": cap,
                         "crop_megapixels": crop_mp if mode == "crop to mask" else None, **row})
    for row in rows:
        if "refused" not in row:
            row["pass"] = row["max_error_outside"] == 0
    return {"size": [width, height], "mask_share": rows[0].get("mask_share"), "reps": reps, "prompt": PROMPT,
            "seed": SEED, "grain": GRAIN, "photo": "synthetic" if synthetic else PICTURE_SOURCE
            + f", 3:2 cut {TEMPLATE_BOX} upscaled with Lanczos, grain sigma {GRAIN}", "rows": rows}


def _block_error(result: np.ndarray, reference: np.ndarray, inside: np.ndarray, block: int = 8) -> float:
    """Mean absolute error of ``block`` x ``block`` pixel means, over the blocks wholly inside the mask: the
    error at the scale of 8 px. The reference's stripes (4 px wide, period 8 along x + y) average out exactly
    in each block and the grain nearly; stripes the stand-in drew at the sent size and that were resized
    back have another period and average out only partly, so this still holds some of them."""
    rows, cols = np.nonzero(inside.any(axis=1))[0], np.nonzero(inside.any(axis=0))[0]
    top, left = rows[0] // block * block, cols[0] // block * block
    bottom, right = top + (rows[-1] + 1 - top) // block * block, left + (cols[-1] + 1 - left) // block * block

    def means(a: np.ndarray) -> np.ndarray:
        a = a[top:bottom, left:right]
        return a.reshape(a.shape[0] // block, block, a.shape[1] // block, block, *a.shape[2:]).mean(axis=(1, 3))

    full = means(inside.astype(np.float32)) == 1
    return float(np.abs(means(result) - means(reference))[full].mean())


# ---- the child ---------------------------------------------------------------------------------

def _child_row(base_url: str, width: str, height: str, synthetic: str, mode: str, cap: str, crop_mp: str,
               reps: str) -> dict[str, Any]:
    torch, (pack, node) = node_bench._setup(base_url)
    if node is None:
        return {"skipped": f"{node_bench.NODE} is not in NODE_CLASS_MAPPINGS yet"}
    if "mask_mode" not in node.INPUT_TYPES().get("optional", {}):
        return {"skipped": f"{node_bench.NODE} has no mask_mode yet"}
    from PIL import Image

    from common import sub

    stand_in = sub(pack, "emulator").stand_in_edit
    w, h = int(width), int(height)
    original = photo(w, h, synthetic == "1")
    area = mask(w, h)
    image = torch.from_numpy(original).to(torch.float32).div_(255)[None]
    mask_t = torch.from_numpy(area)[None]

    def call() -> Any:
        result = node_bench._call_node(node, image, 1, prompt=PROMPT, seed=SEED, mask=mask_t, mask_mode=mode,
                                       max_send_megapixels=float(cap), crop_megapixels=float(crop_mp),
                                       crop_context=0.25)
        return (asyncio.run(result) if inspect.iscoroutine(result) else result)[0]

    out: dict[str, Any] = {"mask_share": float(area.mean())}
    start = time.perf_counter()
    try:
        output = call()  # the emulator computes its answer (and caches it)
    except Exception as exc:  # noqa: BLE001 - a refusal is this row's result
        return {**out, "refused": f"{type(exc).__name__}: {exc}"[:300], "first_s": time.perf_counter() - start,
                "reference_params": [PROMPT, SEED, 20, None]}
    out["first_s"] = time.perf_counter() - start
    walls = []
    for _ in range(int(reps)):
        start = time.perf_counter()
        output = call()
        walls.append(time.perf_counter() - start)
    out.update(wall_s=min(walls), walls_s=walls)
    # the stand-in edit of the full-resolution original, with what the node sends (checked by the parent)
    reference = np.asarray(stand_in([Image.fromarray(original)], PROMPT, SEED, 20, None), dtype=np.float32)
    result = output[0].numpy() * 255
    inside = area > 0
    error = np.abs(result[inside] - reference[inside])
    out.update(mae_inside=float(error.mean()), p99_inside=float(np.percentile(error, 99)),
               block_mae_inside=_block_error(result, reference, inside),
               edit_inside=float(np.abs(reference[inside] - original[inside].astype(np.float32)).mean()),
               max_error_outside=float((output[0] - image[0])[~torch.from_numpy(inside)].abs().max()) * 255,
               output_shape=list(output.shape), reference_params=[PROMPT, SEED, 20, None])
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    kind, *rest = sys.argv[1:]
    print(json.dumps({"row": _child_row}[kind](*rest)))
