"""The emulator's command line: ``python -m comfyui_friendli.emulator --port 8080 --token T``."""

from __future__ import annotations

import argparse
import time

from .server import Emulator


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 <= value < float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Serve the emulator until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m comfyui_friendli.emulator",
        description="Local emulator of the FriendliAI image API (edits, generations, endpoint routes). "
                    "Its images are deterministic stand-ins, not a model.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="API port (0 = any free port)")
    parser.add_argument("--files-port", type=int, default=0, help="file server port for url results")
    parser.add_argument("--token", default="test-token", help="accepted bearer token (Dedicated)")
    parser.add_argument("--endpoint", action="append", help="known endpoint id (repeatable)")
    parser.add_argument("--latency", type=_seconds, default=0.0, metavar="SECONDS",
                        help="answer each edit or generation this many seconds after it arrived "
                             "(its own work included), as a real model takes time")
    parser.add_argument("--sleeping", action="store_true",
                        help="the endpoints start asleep: the first request wakes them through their "
                             "phases (answered 503 meanwhile), as a scaled-to-zero endpoint does")
    parser.add_argument("--wake-seconds", type=_seconds, default=6.0, metavar="SECONDS",
                        help="with --sleeping: how long a wake takes, split evenly over its three phases "
                             "(default 6)")
    args = parser.parse_args(argv)
    emu = Emulator(args.token, endpoints=args.endpoint or ("test-endpoint",), host=args.host,
                   port=args.port, files_port=args.files_port)
    emu.latency = args.latency
    if args.sleeping:
        for endpoint in emu.endpoints.values():
            endpoint.set_state("SLEEPING", phases=(args.wake_seconds / 3,) * 3)
    emu.start()
    print(emu.base_url, flush=True)
    print(f"files: {emu.files_base_url}  endpoints: {', '.join(emu.endpoints)}"
          f"{'  (sleeping)' if args.sleeping else ''}{f'  latency: {args.latency:g} s' if args.latency else ''}",
          flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
    return 0
