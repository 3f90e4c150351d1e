"""The pack's emulator in a process of its own, so its CPU work and memory stay out of the measured process.

Run as ``python emulator_proc.py LATENCY``: prints one JSON line with the URLs, serves until stdin closes.
Each edit request is answered LATENCY seconds after it arrives, the emulator's own work (decoding our
image, its stand-in edit, encoding the result) included: a model of an endpoint that takes LATENCY
per request, so that the ideal wall time of a batch is exactly ceil(n / concurrency) x LATENCY.
With CACHE=1 a byte-identical request gets the answer computed the first time (the stand-in edit is
deterministic), so on a small machine the emulator's CPU work stops competing with the client's.
A line ``requests`` on stdin is answered with one JSON line: what the emulator received since the last
such line (``recorded`` in the yielded dict asks for it), then those recorded requests are dropped.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "flp_benchmark-token"


@contextlib.contextmanager
def emulator_process(latency: float, cache: bool = False) -> Iterator[dict[str, Any]]:
    """Start the emulator with ``latency`` seconds per request; yields its base_url and files_base_url, and
    ``recorded``: a function returning the image requests received since its last call (see ``summary``)."""
    proc = subprocess.Popen([sys.executable, __file__, str(latency), str(int(cache))], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)

    def recorded() -> list[dict[str, Any]]:
        proc.stdin.write("requests\n")
        proc.stdin.flush()
        return json.loads(proc.stdout.readline())

    try:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the emulator process did not start")
        yield {**json.loads(line), "recorded": recorded}
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def summary(request: Any) -> dict[str, Any]:
    """One recorded image request: its path, request body bytes, and per image sent its encoded bytes and
    (width, height); the fields the stand-in edit depends on, as the emulator reads them."""
    from PIL import Image

    body = request.body if isinstance(request.body, dict) else {}
    image = body.get("image")
    items = image if isinstance(image, list) else [image] if isinstance(image, dict) else []
    images = []
    for item in items:
        data = base64.b64decode(str(item.get("image", "")).partition(",")[2])
        with Image.open(io.BytesIO(data)) as img:  # the header only
            images.append({"bytes": len(data), "size": list(img.size), "format": img.format})
    return {"path": request.path.split("?")[0], "body_bytes": len(request.raw), "images": images,
            "prompt": body.get("prompt"), "seed": body.get("seed"),
            "steps": body.get("num_inference_steps", 20), "guidance": body.get("guidance_scale")}


def main() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from common import load_pack

    emulator_module = importlib.import_module(load_pack().__name__ + ".emulator")
    with emulator_module.Emulator(token=TOKEN, endpoints=("bench",)) as emulator:
        emulator.latency = float(sys.argv[1])  # answered LATENCY s after arrival, its own work included
        emulator.cache_responses = sys.argv[2:] == ["1"]
        print(json.dumps({"base_url": emulator.base_url, "files_base_url": emulator.files_base_url}), flush=True)
        for line in sys.stdin:  # until the parent closes our stdin (or dies)
            if line.strip() == "requests":
                with emulator._lock:
                    taken, emulator.requests[:] = list(emulator.requests), []
                print(json.dumps([summary(r) for r in taken]), flush=True)


if __name__ == "__main__":
    main()
