"""Sections 2-4 through the real FriendliImageEdit node, each in a fresh process.

batch:  8 images against the emulator (its own process, see emulator_proc.py) with injected latency, at
        concurrency 1, 2, 4, 8; wall time against the ideal ceil(8 / c) x latency.
memory: peak RSS of a process running a batch of 4 through the node. The kernel's peak-RSS mark
        (VmHWM, also ru_maxrss) is reset after torch, the pack and the input tensors exist, so the
        peak is the node's own; it is reported above the inputs and above the imports.
import: time to import the pack in a fresh process that already imported torch, numpy, PIL, requests.
"""

from __future__ import annotations

import json
import math
import asyncio
import inspect
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NODE = "FriendliImageEdit"


def _child(*args: str, timeout: float = 600) -> dict[str, Any]:
    """Run this file with ``args`` in a fresh interpreter; its last stdout line is the JSON result."""
    run = subprocess.run([sys.executable, str(Path(__file__)), *args], capture_output=True, text=True,
                         timeout=timeout, cwd=HERE)
    if run.returncode != 0:
        raise RuntimeError(f"benchmark child {args[0]} failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


# ---- entry points used by run.py ---------------------------------------------------------------

def batch(latency: float, sizes: list[int], synthetic: bool, cache: bool, reps: int = 1, count: int = 8) -> dict[str, Any]:
    """``cache``: the emulator answers repeated requests from its cache (its CPU work then stays off the clock)."""
    from emulator_proc import emulator_process

    with emulator_process(latency, cache) as urls:
        result = _child("batch", urls["base_url"], ",".join(map(str, sizes)), str(int(synthetic)), str(count),
                        str(reps), timeout=900)
    if "skipped" in result:
        return result
    for row in result["rows"]:
        row["emulator_cache"] = cache
        row["ideal_s"] = math.ceil(count / row["concurrency"]) * latency
        row["over_ideal"] = row["wall_s"] / row["ideal_s"] - 1
        row["pass"] = row["over_ideal"] <= 0.10
    return {"latency": latency, "sizes": sizes, "images": count, "reps": reps, **result}


def memory(size: int, synthetic: bool, count: int = 4) -> dict[str, Any]:
    from emulator_proc import emulator_process

    with emulator_process(0.0) as urls:
        result = _child("memory", urls["base_url"], str(size), str(int(synthetic)), str(count))
    if "skipped" in result:
        return result
    result["pass"] = result["peak_above_imports"] < 3 * result["tensor_bytes"]
    return {"size": size, "batch": count, **result}


def import_time(runs: int) -> dict[str, Any]:
    samples = [_child("import") for _ in range(runs)]
    times = sorted(1e3 * s["seconds"] for s in samples)
    median = times[len(times) // 2]
    return {"runs": runs, "median_ms": median, "min_ms": times[0], "times_ms": times,
            "other_modules": len(samples[0]["added"]), "added_modules": samples[0]["added"],
            "nodes": samples[0]["nodes"], "pass": median < 100}


# ---- the children ------------------------------------------------------------------------------

def _setup(base_url: str) -> tuple[Any, Any]:
    """torch and the pack loaded, the node class (or None), settings pointed at the emulator."""
    import torch

    from common import TOKEN, load_pack

    os.environ.update(FRIENDLI_TOKEN=TOKEN, FRIENDLI_BASE_URL=base_url, NO_PROXY="127.0.0.1,localhost")
    pack = load_pack()
    node = pack.NODE_CLASS_MAPPINGS.get(NODE)
    return torch, (pack, node)


def _inputs(torch: Any, size: int, synthetic: bool, count: int) -> Any:
    """A [count, size, size, 3] float32 batch of real images, built one image at a time."""
    import images

    batch = torch.empty((count, size, size, 3), dtype=torch.float32)
    for i, array in enumerate(images.load(count, size, synthetic)):
        batch[i] = torch.from_numpy(array).to(torch.float32).div_(255)
    return batch


def _run_node(pack: Any, node: Any, image: Any, concurrency: int) -> Any:
    """One FriendliImageEdit call as ComfyUI would make it; returns its IMAGE output."""
    instance = node()
    function = getattr(instance, node.FUNCTION)
    kwargs = dict(image=image, prompt="Make the sky a warm sunset", endpoint_id="bench", num_inference_steps=20,
                  guidance_scale=-1.0, seed=1, response_format="png")
    required = node.INPUT_TYPES().get("required", {}) | node.INPUT_TYPES().get("optional", {})
    if "max_concurrency" in required:
        kwargs["max_concurrency"] = concurrency
    result = function(**{k: v for k, v in kwargs.items() if k in required})
    return (asyncio.run(result) if inspect.iscoroutine(result) else result)[0]


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss() -> int:
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _child_batch(base_url: str, sizes: str, synthetic: str, count: str, reps: str) -> dict[str, Any]:
    import time

    torch, (pack, node) = _setup(base_url)
    if node is None:
        return {"skipped": f"{NODE} is not in NODE_CLASS_MAPPINGS yet"}
    rows = []
    for size in map(int, sizes.split(",")):
        image = _inputs(torch, size, synthetic == "1", int(count))
        _run_node(pack, node, image, 8)  # warm up: connections, lazy imports (and the emulator's cache)
        for concurrency in (1, 2, 4, 8):
            walls = []
            for _ in range(int(reps)):
                start = time.perf_counter()
                out = _run_node(pack, node, image, concurrency)
                walls.append(time.perf_counter() - start)
                assert out.shape == image.shape, out.shape
            rows.append({"size": size, "concurrency": concurrency, "wall_s": min(walls), "walls_s": walls})
    return {"rows": rows}


def _child_memory(base_url: str, size: str, synthetic: str, count: str) -> dict[str, Any]:
    import gc

    torch, (pack, node) = _setup(base_url)
    if node is None:
        return {"skipped": f"{NODE} is not in NODE_CLASS_MAPPINGS yet"}
    _run_node(pack, node, _inputs(torch, 64, True, 1), 1)  # warm up: lazy imports, thread pools
    gc.collect()
    after_imports = _rss()
    image = _inputs(torch, int(size), synthetic == "1", int(count))
    gc.collect()
    after_inputs = _rss()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS mark to the current RSS
        reset = True
    except OSError:
        reset = False
    out = _run_node(pack, node, image, 4)
    peak = _peak_rss()
    tensor_bytes = image.nelement() * image.element_size() + out.nelement() * out.element_size()
    return {"tensor_bytes": tensor_bytes, "peak_above_inputs": peak - after_inputs,
            "peak_above_imports": peak - after_imports, "peak_mark_reset": reset,
            "method": "VmHWM after /proc/self/clear_refs=5" if reset else "ru_maxrss (mark not resettable)"}


def _child_import() -> dict[str, Any]:
    import time

    import numpy  # noqa: F401  - what ComfyUI has imported before it loads custom nodes
    import PIL.Image  # noqa: F401
    import requests  # noqa: F401
    import torch  # noqa: F401

    from common import load_pack  # imported before the clock starts: only the pack is timed

    before = set(sys.modules)
    start = time.perf_counter()
    module = load_pack("friendli_probe")
    seconds = time.perf_counter() - start
    added = sorted(m for m in set(sys.modules) - before if m.split(".")[0] != "friendli_probe")
    return {"seconds": seconds, "added": added, "nodes": sorted(module.NODE_CLASS_MAPPINGS)}


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    kind, *rest = sys.argv[1:]
    print(json.dumps({"batch": _child_batch, "memory": _child_memory, "import": _child_import}[kind](*rest)))
