"""The sections that run the real FriendliImageEdit node, each in a fresh process.

batch:  8 images against the emulator (its own process, see emulator_proc.py) with injected latency, at
        concurrency 1, 2, 4, 8; wall time against the ideal ceil(8 / c) x latency.
overlap: a graph of 2 remote FriendliImageEdit branches and 1 local branch, each taking the same latency,
        run as ComfyUI runs it: one event loop, the async nodes started as tasks first, then a synchronous
        local node that holds the loop; wall time against one latency (ideal) and 3 latencies (one at a
        time). It shares the batch section's child process and emulator (same latency).
memory: peak RSS of a process running a batch of 4 through the node. The kernel's peak-RSS mark
        (VmHWM, also ru_maxrss) is reset after torch, the pack and the input tensors exist, so the
        peak is the node's own; it is reported above the inputs and above the imports.
import: time to import the pack in a fresh process that already imported torch, numpy, PIL, requests.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NODE = "FriendliImageEdit"
_CONFIG: Any = None  # the child's own config folder (see _setup)


def _child(*args: str, timeout: float = 600, script: str = __file__) -> dict[str, Any]:
    """Run ``script`` (this file) with ``args`` in a fresh interpreter; its last stdout line is the JSON result."""
    run = subprocess.run([sys.executable, str(Path(script)), *args], capture_output=True, text=True,
                         timeout=timeout, cwd=HERE)
    if run.returncode != 0:
        raise RuntimeError(f"benchmark child {args[0]} failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


# ---- entry points used by run.py ---------------------------------------------------------------

def edits(latency: float, sizes: list[int], synthetic: bool, reps: int = 1, count: int = 8,
          overlap_size: int | None = None, cache: bool = True) -> dict[str, Any]:
    """The batch section (``count`` images at each of ``sizes``; none when empty) and, with ``overlap_size``,
    the graph-overlap row, in one child process against one emulator process answering after ``latency``.

    ``cache``: the emulator answers repeated requests from its cache (its CPU work then stays off the clock).
    Returns {"batch": ..., "overlap": ...} (each may be {"skipped": reason}; "overlap" only when asked).
    """
    from emulator_proc import emulator_process

    with emulator_process(latency, cache) as urls:
        result = _child("edits", urls["base_url"], str(latency), ",".join(map(str, sizes)), str(int(synthetic)),
                        str(count), str(reps), str(overlap_size or 0), timeout=900)
    if "skipped" in result:
        return {"batch": result, **({"overlap": result} if overlap_size else {})}
    for row in result["rows"]:
        row["emulator_cache"] = cache
        row["ideal_s"] = math.ceil(count / row["concurrency"]) * latency
        row["over_ideal"] = row["wall_s"] / row["ideal_s"] - 1
        row["pass"] = row["over_ideal"] <= 0.10
    out = {"batch": {"latency": latency, "sizes": sizes, "images": count, "reps": reps, "rows": result["rows"]}}
    if overlap_size:
        graph = result["overlap"]
        if "skipped" not in graph:
            over = graph["wall_s"] / latency - 1
            graph = {"latency": latency, "size": overlap_size, "reps": reps, "remote_branches": 2,
                     "local_branches": 1, "ideal_s": latency, "one_at_a_time_s": 3 * latency, "over_ideal": over,
                     "pass": over <= 0.10, "emulator_cache": cache, **graph}
        out["overlap"] = graph
    return out


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

def _setup(base_url: str, **settings: Any) -> tuple[Any, Any]:
    """torch and the pack loaded, the node class (or None), settings pointed at the emulator.

    The node reads its preferences beside the credentials file: a fresh folder here, with the result
    store off, so every measured request really goes to the endpoint (a store hit would cost nothing)
    and nothing is written into the user's own config folder. ``settings``: more preferences.
    """
    import tempfile

    import torch
    from common import TOKEN, load_pack

    global _CONFIG
    _CONFIG = tempfile.TemporaryDirectory(prefix="friendli-bench-")  # removed when the child exits
    os.environ.update(FRIENDLI_TOKEN=TOKEN, FRIENDLI_BASE_URL=base_url, NO_PROXY="127.0.0.1,localhost",
                      FRIENDLI_CREDENTIALS_FILE=str(Path(_CONFIG.name) / "credentials.json"))
    pack = load_pack()
    prefs = importlib.import_module(pack.__name__ + ".client.prefs")
    prefs.write(prefs.validate({"result_store": False} | settings), prefs.default_path())
    node = pack.NODE_CLASS_MAPPINGS.get(NODE)
    return torch, (pack, node)


def _inputs(torch: Any, size: int, synthetic: bool, count: int) -> Any:
    """A [count, size, size, 3] float32 batch of real images, built one image at a time."""
    import images

    batch = torch.empty((count, size, size, 3), dtype=torch.float32)
    for i, array in enumerate(images.load(count, size, synthetic)):
        batch[i] = torch.from_numpy(array).to(torch.float32).div_(255)
    return batch


def _call_node(node: Any, image: Any, concurrency: int, **extra: Any) -> Any:
    """Call FriendliImageEdit's function as ComfyUI would: its result, or its coroutine for an async node."""
    kwargs = dict(image=image, prompt="Make the sky a warm sunset", endpoint_id="bench", num_inference_steps=20,
                  guidance_scale=-1.0, seed=1, response_format="png", max_concurrency=concurrency) | extra
    inputs = node.INPUT_TYPES()
    accepted = inputs.get("required", {}) | inputs.get("optional", {}) | inputs.get("hidden", {})
    return getattr(node(), node.FUNCTION)(**{k: v for k, v in kwargs.items() if k in accepted})


def _run_node(pack: Any, node: Any, image: Any, concurrency: int) -> Any:
    """One FriendliImageEdit call as ComfyUI would make it; returns its IMAGE output."""
    result = _call_node(node, image, concurrency)
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


def _child_edits(base_url: str, latency: str, sizes: str, synthetic: str, count: str, reps: str,
                 overlap_size: str) -> dict[str, Any]:
    torch, (pack, node) = _setup(base_url)
    if node is None:
        return {"skipped": f"{NODE} is not in NODE_CLASS_MAPPINGS yet"}
    rows = []
    for size in [int(s) for s in sizes.split(",") if s]:
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
    result: dict[str, Any] = {"rows": rows}
    if int(overlap_size):
        result["overlap"] = _graph_overlap(torch, node, float(latency), int(overlap_size), synthetic == "1", int(reps))
    return result


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


def _graph_overlap(torch: Any, node: Any, seconds: float, size: int, synthetic: bool, reps: int) -> dict[str, Any]:
    """Two remote branches and one local branch on one event loop, the way ComfyUI's executor runs them.

    ComfyUI starts a ready async node first (``ux_friendly_pick_node``), wraps its coroutine in a task
    and gives that task one step (``await asyncio.sleep(0)``) before it goes on with the next node; a
    synchronous node then runs on the loop itself and holds it until it returns. The local branch is
    ``time.sleep(latency)``: a node that waits on its GPU (it releases the GIL, as torch kernels do).
    """
    if not inspect.iscoroutinefunction(getattr(node, node.FUNCTION)):
        return {"skipped": f"{NODE}.{node.FUNCTION} is not a coroutine function (nodes are synchronous)"}
    batch = _inputs(torch, size, synthetic, 2)
    branches = [batch[0:1], batch[1:2]]  # one image per remote branch, as two Load Image -> Edit chains

    def remote(i: int) -> Any:
        return _call_node(node, branches[i], 1, seed=1 + i, unique_id=str(i + 1))

    async def graph() -> tuple[float, float, list[Any]]:
        start = time.perf_counter()
        tasks = []
        for i in range(len(branches)):
            tasks.append(asyncio.ensure_future(remote(i)))
            await asyncio.sleep(0)  # the executor lets a new async node's task take its first step
        time.sleep(seconds)  # noqa: ASYNC251 - the local node: synchronous, it holds the event loop throughout
        local_s = time.perf_counter() - start
        outputs = await asyncio.gather(*tasks)
        return time.perf_counter() - start, local_s, outputs

    async def one_at_a_time() -> float:  # what the same graph costs with synchronous nodes
        start = time.perf_counter()
        for i in range(len(branches)):
            await remote(i)
        time.sleep(seconds)  # noqa: ASYNC251 - the local node, after the remote ones
        return time.perf_counter() - start

    asyncio.run(graph())  # warm up: connections, lazy imports, the emulator's cache of answers
    walls, local_walls = [], []
    for _ in range(reps):
        wall, local_s, outputs = asyncio.run(graph())
        for image, output in zip(branches, outputs):
            assert output[0].shape == image.shape, output[0].shape
        walls.append(wall)
        local_walls.append(local_s)
    return {"wall_s": min(walls), "walls_s": walls, "local_done_s": local_walls,
            "one_at_a_time_measured_s": asyncio.run(one_at_a_time())}


def _child_import() -> dict[str, Any]:
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
    children = {"edits": _child_edits, "memory": _child_memory, "import": _child_import}
    print(json.dumps(children[kind](*rest)))
