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
import hashlib
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


def answer_from_cache(emulator: object) -> None:
    """Answer a byte-identical edit request with the answer it got the first time."""
    record, answer, answers = emulator._record, emulator._answer_edit, {}

    def record_with_key(h: object, into: list) -> object:
        rec = record(h, into)
        if rec is not None:
            h.bench_key = hashlib.blake2b(rec.raw, digest_size=16).digest()
        return rec

    def cached_answer(h: object, service: str, body: object, keep_file: bool) -> None:
        key = getattr(h, "bench_key", None)
        if key in answers:
            args, kwargs = answers[key]
            return h.reply(*args, **kwargs)
        reply = h.reply

        def keep(*args: object, **kwargs: object) -> None:
            if args[0] == 200:
                answers[key] = args, kwargs
            reply(*args, **kwargs)

        h.reply = keep
        return answer(h, service, body, keep_file)

    emulator._record, emulator._answer_edit = record_with_key, cached_answer


def main() -> None:
    spec = importlib.util.spec_from_file_location("friendli_emulator", ROOT / "client" / "emulator.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)  # the emulator needs only the standard library, numpy and Pillow
    with module.Emulator(token=TOKEN, endpoints=("bench",)) as emulator:
        answer_at_latency(emulator, float(sys.argv[1]))
        if sys.argv[2:] == ["1"]:
            answer_from_cache(emulator)
        print(json.dumps({"base_url": emulator.base_url, "files_base_url": emulator.files_base_url}), flush=True)
        sys.stdin.read()  # until the parent closes our stdin (or dies)


if __name__ == "__main__":
    main()
