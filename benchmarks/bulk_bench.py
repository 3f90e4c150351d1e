"""The bulk section (issue 22): ``friendli-edit FOLDER --out-dir DIR`` over many images, against the emulator in
its own process answering each request ``latency`` seconds after it arrives.

Each row runs the command line in a fresh process (``cli.main`` timed in-process, after its imports) on a
folder of N PNG files (100 per sub-folder, hard links to one real image, so the disk holds one copy and the
emulator's answer cache keeps its own CPU work off the clock; the client reads, sends, receives, checks and
writes every one as if they differed). Measured: wall time against the ideal N / concurrency × latency,
the process's peak RSS (and its RSS after the imports), and its CPU time per image (user + system).
The parent drains the emulator's record of requests every second (it keeps each body) and counts them.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FULL = [(256, 1000, 16, 0.25), (256, 10000, 16, 0.25), (1024, 100, 10, 1.0)]  # size, images, concurrency, latency
ARGS = ["-p", "Turn it into a winter evening", "-e", "bench", "--no-store", "--quiet"]
QUICK = [(64, 40, 8, 0.02), (64, 160, 8, 0.02)]  # a smoke run: two fresh processes


def run(quick: bool, synthetic: bool) -> dict[str, Any]:
    """Every row of QUICK or FULL against one emulator process per latency; the table's numbers and verdict."""
    from PIL import Image

    import images
    from emulator_proc import emulator_process

    picture = Image.fromarray(images.load(1, 1024, synthetic)[0])
    rows, emulators = [], contextlib.ExitStack()
    started: dict[float, dict[str, Any]] = {}  # one emulator process per latency
    with emulators:
        for size, count, concurrency, latency in QUICK if quick else FULL:
            if latency not in started:
                started[latency] = emulators.enter_context(emulator_process(latency, cache=True))
            rows.append(_row(picture, size, count, concurrency, latency, started[latency]))
    small = [r for r in rows if r["size"] == rows[0]["size"]]
    ratio = small[-1]["peak_rss_bytes"] / small[0]["peak_rss_bytes"]
    ok = all(r["efficiency"] >= 0.9 and r["requests"] == r["images"] == r["written"] and not r["failed"]
             for r in rows)
    return {"rows": rows, "rss_ratio": ratio, "rss_ratio_of": [small[0]["images"], small[-1]["images"]],
            "pass": ok and ratio <= 1.3}


def _row(picture: Any, size: int, count: int, concurrency: int, latency: float,
         emulator: dict[str, Any]) -> dict[str, Any]:
    """One row: ``count`` links to ``picture`` at ``size``² through friendli-edit in a fresh process."""
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="friendli-bulk-") as tmp:
        source = Path(tmp) / "one.png"
        picture.resize((size, size), Image.Resampling.LANCZOS).save(source)
        folder = Path(tmp) / "in"
        for i in range(count):
            path = folder / f"part{i // 100:03d}" / f"img{i:05d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            os.link(source, path)
        _warm_up(emulator["base_url"], source, tmp)
        emulator["recorded"]()  # forget the warm-up request
        received = _Drain(emulator["recorded"])
        try:
            row = _child(emulator["base_url"], str(folder), str(Path(tmp) / "out"), str(concurrency), tmp)
        finally:
            received.stop()
        written = sum(len(files) for _, _, files in os.walk(Path(tmp) / "out"))
        ideal = count / concurrency * latency
        return {"size": size, "images": count, "concurrency": concurrency, "latency": latency,
                "input_bytes": source.stat().st_size, "ideal_s": ideal, "efficiency": ideal / row["wall_s"],
                "requests": received.count, "written": written, "cpu_ms_per_image": 1000 * row["cpu_s"] / count,
                **row}


class _Drain:
    """Empties the emulator process's record of requests every second (it keeps their bodies); counts them."""

    def __init__(self, recorded: Any) -> None:
        self.count, self._recorded = 0, recorded
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            self.count += len(self._recorded())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.count += len(self._recorded())


def _warm_up(base_url: str, source: Path, tmp: str) -> None:
    """One edit of ``source`` as the command line sends it, so the emulator's answer cache holds it before the
    timed run (otherwise the first ``concurrency`` requests all wait for its stand-in edit of the image)."""
    from common import load_pack, sub

    folder = Path(tmp) / "warm"
    folder.mkdir()
    os.link(source, folder / "one.png")
    cli = sub(load_pack(), "cli.main")
    os.environ["FRIENDLI_TOKEN"] = "flp_benchmark-token"
    if cli.main([str(folder), *ARGS, "--base-url", base_url, "--out-dir", str(Path(tmp) / "warm-out"),
                 "--concurrency", "1"]) != 0:
        raise RuntimeError("the warm-up edit failed")


def _child(base_url: str, folder: str, out: str, concurrency: str, home: str) -> dict[str, Any]:
    env = {**os.environ, "FRIENDLI_TOKEN": "flp_benchmark-token", "XDG_CONFIG_HOME": f"{home}/config",
           "XDG_CACHE_HOME": f"{home}/cache", "NO_PROXY": "127.0.0.1,localhost"}
    done = subprocess.run([sys.executable, __file__, base_url, folder, out, concurrency], capture_output=True,
                          text=True, timeout=1800, cwd=HERE, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"bulk benchmark child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _status(field: str) -> int:
    """VmRSS (now) or VmHWM (peak) of this process in bytes. Not getrusage's ru_maxrss: on Linux that
    includes the parent's memory, copied at the fork before our exec."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith(field + ":"))
    return int(line.split()[1]) * 1024


def _main(base_url: str, folder: str, out: str, concurrency: str) -> dict[str, Any]:
    """In the child: run ``friendli-edit FOLDER --out-dir OUT`` in this process, timed after the imports."""
    from common import load_pack, sub

    cli = sub(load_pack(), "cli.main")
    before = _status("VmRSS")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    report = Path(out).with_name("report.jsonl")
    code = cli.main([folder, *ARGS, "--base-url", base_url, "--out-dir", out, "--concurrency", concurrency,
                     "--report", str(report)])
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    if code not in (0, 1):  # 1: some inputs failed; the row says how many
        raise SystemExit(f"friendli-edit exited with {code}")
    cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    seconds = sorted(line["endpoint_seconds"] for line in lines if line["status"] == "ok")
    return {"wall_s": wall, "cpu_s": cpu, "rss_after_imports_bytes": before, "peak_rss_bytes": _status("VmHWM"),
            "request_s_median": seconds[len(seconds) // 2], "request_s_max": seconds[-1],
            "failed": sum(line["status"] == "failed" for line in lines),
            "errors": sorted({line["error"] for line in lines if line["error"]})[:3]}


if __name__ == "__main__":
    print(json.dumps(_main(*sys.argv[1:])))
