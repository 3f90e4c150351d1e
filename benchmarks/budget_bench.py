"""The budget section: the process-wide memory budget for answers in flight (issue 16).

bound:  16 requests through FriendliImageEdit at max_concurrency 16 (and max_in_flight 16, so all are in
        flight together), each answered by a local server with ~100 MiB of JSON: a small real PNG carrying
        75 MiB in a private ancillary chunk. Peak RSS above the RSS just before the call, in a fresh
        process per setting: the default budget (512 MiB) and the budget effectively off (65536 MiB).
normal: the batch section's setup (8 images, emulator process answering after ``latency``, its answer
        cache on) at concurrency 8 with the default budget and with it off, alternating, best of
        ``reps``: the budget must not make normal answers wait.
peak:   issue 25's case: 4 clients ("nodes") x 4 concurrent edits, each answered with ~40 MiB of JSON (120 MiB
        held, counted 3x), at budgets of 64 and 512 MiB, answers with a Content-Length and chunked ones (size
        unknown until read); fresh process per row. The budget's peak must stay within the setting plus one
        answer; with a Content-Length, within the setting or one answer, whichever is larger.
The budget's own high-water mark (MemoryBudget.peak, JSON bytes counted 3x) is reported for all. Peak RSS
growth of the peak rows is mostly glibc's per-thread malloc arenas keeping freed answers (16 threads): at 64 MiB
with a Content-Length it measured 564 MiB, and 163 MiB with MALLOC_ARENA_MAX=1 (budget peak 120 MiB both times).
Run alone: ``python benchmarks/budget_bench.py [--quick]`` prints the peak table.
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
PEAK_MIB = (64, 512)
JSON_WEIGHT = 3  # client/api.py: a JSON answer is held about 3 times over while parsed


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
    """A local server answering every edit with ``answer`` (no status route: 404), in a thread; ``chunked``:
    without a Content-Length (Transfer-Encoding: chunked), so the client learns the size only by reading."""

    def __init__(self, answer: bytes, chunked: bool = False) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if chunked else "HTTP/1.0"

            def _any(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body, status = (b"{}", 404) if "/beta/endpoint/" in self.path else (answer, 200)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if chunked and status == 200:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for at in range(0, len(body), 1 << 20):
                        part = body[at:at + (1 << 20)]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n\r\n")
                else:
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


def run(quick: bool, synthetic: bool, smoke: bool = False) -> dict[str, Any]:
    """bound and normal (and peak unless ``quick``); ``smoke`` (tests): answers of ~2 MiB, latency 0.1 s."""
    from emulator_proc import emulator_process

    extra = (2 if smoke else 8 if quick else 75) << 20
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
    latency, size, reps = (0.1, 64, 1) if smoke else (0.25, 256, 1) if quick else (1.0, 1024, 5)
    with emulator_process(latency, cache=True) as urls:
        normal = node_bench._child("normal", urls["base_url"], str(size), str(int(synthetic)), str(reps),
                                  script=__file__)
    walls = {r["budget_mib"]: r["wall_s"] for r in normal["rows"]}
    normal.update(latency=latency, size=size, images=8, concurrency=8, reps=reps,
                  difference=walls[DEFAULT_MIB] / walls[OFF_MIB] - 1)
    default_peak = normal["rows"][0]["budget_peak_bytes"]
    normal["pass"] = abs(normal["difference"]) <= 0.05 and default_peak < DEFAULT_MIB << 20
    return {"bound": bound, "normal": normal, **({} if quick else {"peak": peak(quick)})}  # run alone when quick


def peak(quick: bool) -> dict[str, Any]:
    """The peak rows (see the module docstring): 16 answers of ~40 MiB (~8 MiB with ``quick``) of JSON."""
    answer = padded_answer((6 if quick else 30) << 20)
    one = len(answer) * JSON_WEIGHT  # one answer as the budget counts it
    rows = []
    for chunked in (False, True):
        server = BigAnswers(answer, chunked=chunked)
        try:
            for mib in PEAK_MIB:
                row = node_bench._child("peak", server.base_url, str(mib), script=__file__, timeout=600)
                setting = mib << 20
                bound = max(setting, one) if not chunked else setting + one
                rows.append({"budget_mib": mib, "content_length": not chunked, "bound_bytes": bound,
                             "pass": row["budget_peak_bytes"] <= bound and row["answers"] == 16, **row})
        finally:
            server.close()
    return {"answer_bytes": len(answer), "answer_held_bytes": one, "rows": rows,
            "pass": all(r["pass"] for r in rows)}


def peak_table(result: dict[str, Any]) -> str:
    from common import table, verdict

    mib = lambda n: n / 2**20  # noqa: E731
    return table(f"Memory budget peak: 4 clients x 4 concurrent edits, answers of {mib(result['answer_bytes']):.0f} "
                 f"MiB of JSON ({mib(result['answer_held_bytes']):.0f} MiB held), fresh process per row",
                 ["budget", "answers", "budget peak MiB", "bound MiB", "peak RSS growth MiB", "wall s", "result"],
                 [[f"{r['budget_mib']} MiB", "Content-Length" if r["content_length"] else "chunked",
                   mib(r["budget_peak_bytes"]),
                   f"{mib(r['bound_bytes']):.0f} (" + ("max(setting, answer)" if r["content_length"] else
                                                       "setting + answer") + ")",
                   mib(r["growth_bytes"]), r["wall_s"], verdict(r["pass"])] for r in result["rows"]])


# ---- the children ------------------------------------------------------------------------------

def _budget(pack: Any) -> Any:
    """The process-wide MemoryBudget the node uses (its limit is re-set from the preferences per run)."""
    scheduler = importlib.import_module(pack.__name__ + ".client.scheduler")
    prefs = importlib.import_module(pack.__name__ + ".client.prefs")
    host = importlib.import_module(pack.__name__ + ".nodes.host")
    return scheduler.memory_budget(prefs.read(host.user_folder() / prefs.FILE_NAME).memory_budget_bytes)


def _fresh_peak() -> int:
    """Collect garbage, reset the peak-RSS mark to the current RSS (where Linux allows) and return that RSS."""
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return node_bench._rss()


def _child_bound(base_url: str, mib: str) -> dict[str, Any]:
    torch, (pack, node) = node_bench._setup(base_url, memory_budget_mib=int(mib), max_in_flight=16)
    if node is None:
        return {"skipped": f"{node_bench.NODE} is not in NODE_CLASS_MAPPINGS yet"}
    image = torch.rand(16, 32, 48, 3)
    before = _fresh_peak()
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


def _child_peak(base_url: str, mib: str) -> dict[str, Any]:
    """4 clients (as 4 nodes would be) each sending 4 edits at once; the budget's peak and the peak RSS."""
    import numpy as np
    from common import TOKEN, load_pack, sub

    pack = load_pack()
    client_mod, scheduler = sub(pack, "client"), sub(pack, "client.scheduler")
    image = np.random.default_rng(2).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    clients = [client_mod.FriendliImageClient(token=TOKEN, base_url=base_url, memory_budget=int(mib) << 20,
                                              max_in_flight=16) for _ in range(4)]
    answered: list[int] = []

    def one(client: Any, seed: int) -> None:
        answered.extend(1 for _ in client.edit(image, "x", endpoint_id="e", seed=seed))

    before = _fresh_peak()
    threads = [threading.Thread(target=one, args=(c, 4 * i + j)) for i, c in enumerate(clients) for j in range(4)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    for c in clients:
        c.close()
    return {"answers": len(answered), "budget_peak_bytes": scheduler.memory_budget(int(mib) << 20).peak,
            "growth_bytes": node_bench._peak_rss() - before, "wall_s": wall}


if __name__ == "__main__":
    if sys.argv[1:] in ([], ["--quick"]):
        print(peak_table(peak(quick=sys.argv[1:] == ["--quick"])))
    else:
        kind, *rest = sys.argv[1:]
        print(json.dumps({"bound": _child_bound, "normal": _child_normal, "peak": _child_peak}[kind](*rest)))
