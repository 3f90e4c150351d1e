"""The budget section: the process-wide memory budget for answers in flight (issue 16).

bound:  16 requests through FriendliImageEdit at max_concurrency 16 (and max_in_flight 16, so all are in
        flight together), each answered by a local server with ~100 MiB of JSON: a small real PNG carrying
        75 MiB in a private ancillary chunk. Peak RSS above the RSS just before the call, in a fresh
        process per setting: the default budget (512 MiB) and the budget effectively off (65536 MiB).
normal: the batch section's setup (8 images, emulator process answering after ``latency``, its answer
        cache on) at concurrency 8 with the default budget and with it off, alternating, best of
        ``reps``: the budget must not make normal answers wait.
The budget's own high-water mark (MemoryBudget.peak, JSON bytes counted 3x) is reported for both.
"""

from __future__ import annotations

import base64
import gc
import importlib
import io
import json
import struct
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import node_bench

OFF_MIB = 65536  # the largest memory_budget_mib the preferences accept: the budget never binds
DEFAULT_MIB = 512


def padded_answer(extra: int) -> bytes:
    """The JSON answer of one edit: a 48x32 PNG with ``extra`` bytes in a private chunk, as base64."""
    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 48, 3), dtype=np.uint8)).save(buf, "PNG")
    png, payload = buf.getvalue(), b"\0" * extra
    chunk = struct.pack(">I", extra) + b"prVt" + payload + struct.pack(">I", zlib.crc32(b"prVt" + payload))
    data = png[:-12] + chunk + png[-12:]  # before IEND; decoders skip the chunk
    return json.dumps({"data": [{"b64_json": base64.b64encode(data).decode(), "seed": 1,
                                 "response_format": "png"}]}).encode()


class BigAnswers:
    """A local server answering every edit with ``answer`` (no status route: 404), in a thread."""

    def __init__(self, answer: bytes) -> None:
        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body, status = (b"{}", 404) if "/beta/endpoint/" in self.path else (answer, 200)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                if status == 200:
                    server.answered.append(1)  # (a list: appends are atomic across threads)

            do_GET = do_POST = _any

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads, request_queue_size = True, 64  # 16 connections at once (the default backlog is 5)

        server = self.server = Server(("127.0.0.1", 0), Handler)
        server.answered = []
        self.base_url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def run(quick: bool, synthetic: bool) -> dict[str, Any]:
    from emulator_proc import emulator_process

    extra = (8 if quick else 75) << 20
    answer = padded_answer(extra)
    bound: dict[str, Any] = {"requests": 16, "concurrency": 16, "answer_bytes": len(answer), "rows": []}
    server = BigAnswers(answer)
    try:
        for mib in (DEFAULT_MIB, OFF_MIB):
            row = node_bench._child("bound", server.base_url, str(mib), script=__file__, timeout=900)
            if "skipped" in row:
                return row
            bound["rows"].append({"budget_mib": mib, **row})
        bound["answers_sent"] = len(server.server.answered)
    finally:
        server.close()
    bound["pass"] = bound["rows"][0]["growth_bytes"] < 2**30
    latency, size, reps = (0.25, 256, 1) if quick else (1.0, 1024, 5)
    with emulator_process(latency, cache=True) as urls:
        normal = node_bench._child("normal", urls["base_url"], str(size), str(int(synthetic)), str(reps),
                                  script=__file__)
    walls = {r["budget_mib"]: r["wall_s"] for r in normal["rows"]}
    normal.update(latency=latency, size=size, images=8, concurrency=8, reps=reps,
                  difference=walls[DEFAULT_MIB] / walls[OFF_MIB] - 1)
    default_peak = normal["rows"][0]["budget_peak_bytes"]
    normal["pass"] = abs(normal["difference"]) <= 0.05 and default_peak < DEFAULT_MIB << 20
    return {"bound": bound, "normal": normal}


# ---- the children ------------------------------------------------------------------------------

def _budget(pack: Any) -> Any:
    """The process-wide MemoryBudget the node uses (its limit is re-set from the preferences per run)."""
    scheduler = importlib.import_module(pack.__name__ + ".client.scheduler")
    prefs = importlib.import_module(pack.__name__ + ".client.prefs")
    host = importlib.import_module(pack.__name__ + ".nodes.host")
    return scheduler.memory_budget(prefs.read(host.user_folder() / prefs.FILE_NAME).memory_budget_bytes)


def _child_bound(base_url: str, mib: str) -> dict[str, Any]:
    torch, (pack, node) = node_bench._setup(base_url, memory_budget_mib=int(mib), max_in_flight=16)
    if node is None:
        return {"skipped": f"{node_bench.NODE} is not in NODE_CLASS_MAPPINGS yet"}
    image = torch.rand(16, 32, 48, 3)
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS mark to the current RSS
    except OSError:
        pass
    before = node_bench._rss()
    start = time.perf_counter()
    out = node_bench._run_node(pack, node, image, 16)
    wall = time.perf_counter() - start
    assert out.shape == image.shape, out.shape
    return {"growth_bytes": node_bench._peak_rss() - before, "wall_s": wall,
            "budget_peak_bytes": _budget(pack).peak}


def _child_normal(base_url: str, size: str, synthetic: str, reps: str) -> dict[str, Any]:
    torch, (pack, node) = node_bench._setup(base_url)
    if node is None:
        return {"skipped": f"{node_bench.NODE} is not in NODE_CLASS_MAPPINGS yet"}
    prefs = importlib.import_module(pack.__name__ + ".client.prefs")
    image = node_bench._inputs(torch, int(size), synthetic == "1", 8)
    node_bench._run_node(pack, node, image, 8)  # warm up: connections, lazy imports, the emulator's cache
    rows = {mib: {"budget_mib": mib, "walls_s": [], "budget_peak_bytes": 0} for mib in (DEFAULT_MIB, OFF_MIB)}
    for rep in range(int(reps)):
        for mib in (DEFAULT_MIB, OFF_MIB) if rep % 2 == 0 else (OFF_MIB, DEFAULT_MIB):  # ABBA against drift
            prefs.write(prefs.validate({"result_store": False, "memory_budget_mib": mib}), prefs.default_path())
            _budget(pack).peak = 0
            start = time.perf_counter()
            node_bench._run_node(pack, node, image, 8)
            rows[mib]["walls_s"].append(time.perf_counter() - start)
            rows[mib]["budget_peak_bytes"] = max(rows[mib]["budget_peak_bytes"], _budget(pack).peak)
    for row in rows.values():
        row["wall_s"] = min(row["walls_s"])
    return {"rows": list(rows.values())}


if __name__ == "__main__":
    kind, *rest = sys.argv[1:]
    print(json.dumps({"bound": _child_bound, "normal": _child_normal}[kind](*rest)))
