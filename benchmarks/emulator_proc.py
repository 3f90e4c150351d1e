"""The pack's emulator in a process of its own, so its CPU work and memory stay out of the measured process.

Run as ``python emulator_proc.py LATENCY``: prints one JSON line with the URLs, serves until stdin closes.
Each edit request is answered LATENCY seconds after it arrives, the emulator's own work (decoding our
image, its stand-in edit, encoding the result) included: a model of an endpoint that takes LATENCY
per request, so that the ideal wall time of a batch is exactly ceil(n / concurrency) x LATENCY.
With CACHE=1 a byte-identical request gets the answer computed the first time (the stand-in edit is
deterministic), so on a small machine the emulator's CPU work stops competing with the client's.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "flp_benchmark-token"


@contextlib.contextmanager
def emulator_process(latency: float, cache: bool = False) -> Iterator[dict[str, str]]:
    """Start the emulator with ``latency`` seconds per request; yields its base_url and files_base_url."""
    proc = subprocess.Popen([sys.executable, __file__, str(latency), str(int(cache))], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the emulator process did not start")
        yield json.loads(line)
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from common import load_pack

    emulator_module = importlib.import_module(load_pack().__name__ + ".emulator")
    with emulator_module.Emulator(token=TOKEN, endpoints=("bench",)) as emulator:
        emulator.latency = float(sys.argv[1])  # answered LATENCY s after arrival, its own work included
        emulator.cache_responses = sys.argv[2:] == ["1"]
        print(json.dumps({"base_url": emulator.base_url, "files_base_url": emulator.files_base_url}), flush=True)
        sys.stdin.read()  # until the parent closes our stdin (or dies)


if __name__ == "__main__":
    main()
