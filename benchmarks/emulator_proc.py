"""The pack's emulator in a process of its own, so its CPU work and memory stay out of the measured process.

Run as ``python emulator_proc.py LATENCY``: prints one JSON line with the URLs, serves until stdin closes.
Each edit request is answered LATENCY seconds after it arrives, the emulator's own work (decoding our
image, its stand-in edit, encoding the result) included: a model of an endpoint that takes LATENCY
per request, so that the ideal wall time of a batch is exactly ceil(n / concurrency) x LATENCY.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "flp_benchmark-token"


@contextlib.contextmanager
def emulator_process(latency: float) -> Iterator[dict[str, str]]:
    """Start the emulator with ``latency`` seconds per request; yields its base_url and files_base_url."""
    proc = subprocess.Popen([sys.executable, __file__, str(latency)], stdin=subprocess.PIPE,
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


def answer_at_latency(emulator: object, latency: float) -> None:
    """Hold each API answer until ``latency`` s after the request arrived (work done meanwhile counts)."""
    handle = emulator._handle_api

    def handle_api(h: object) -> None:
        due = time.monotonic() + latency
        reply = h.reply

        def reply_when_due(*args: object, **kwargs: object) -> None:
            time.sleep(max(0.0, due - time.monotonic()))
            reply(*args, **kwargs)

        h.reply = reply_when_due
        handle(h)

    emulator._handle_api = handle_api


def main() -> None:
    spec = importlib.util.spec_from_file_location("friendli_emulator", ROOT / "client" / "emulator.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)  # the emulator needs only the standard library, numpy and Pillow
    with module.Emulator(token=TOKEN, endpoints=("bench",)) as emulator:
        answer_at_latency(emulator, float(sys.argv[1]))
        print(json.dumps({"base_url": emulator.base_url, "files_base_url": emulator.files_base_url}), flush=True)
        sys.stdin.read()  # until the parent closes our stdin (or dies)


if __name__ == "__main__":
    main()
