"""``friendli-generate``: generate images from the shell, optionally guided by control images (ControlNet).

It shares friendli-edit's options, progress display, output writing and exit codes (main.py): 0 done,
1 the request failed, 2 bad usage, input or configuration, 130 interrupted.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from ..client.api import FriendliImageClient
from ..client.request import GENERATE, ImageRequest
from ..client.version import __version__
from .bulk import Outputs, add_bulk_options, check_bulk_usage, run_bulk
from .inputs import generations
from .main import (Progress, add_concurrency_option, add_out_option, add_request_options, add_service_options,
                   read_input, request_params, run_command, _positive)

DEMO_PROMPT = "A lighthouse on a rocky coast at dusk"
DEFAULT_STEM = "generated"  # <stem><ext> in the current folder without --out


def _weight(text: str) -> float:
    """An argparse type: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number from 0 to 1")
    return value


class _AddControl(argparse.Action):
    """--control IMAGE: one more control image, weight not yet given ([path, None])."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        setattr(namespace, "controls", [*(namespace.controls or []), [values, None]])


class _SetWeight(argparse.Action):
    """--weight W: the weight of the --control just before it (once)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        controls = namespace.controls or []
        if not controls:
            parser.error(f"--weight {values:g} must follow the --control IMAGE it applies to")
        if controls[-1][1] is not None:
            parser.error(f"--control {controls[-1][0]} has two --weight values; give one after each --control")
        controls[-1][1] = values


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="friendli-generate",
        description="Generate images with a FriendliAI Dedicated Endpoint or a Friendli Container, optionally "
                    "guided by control images (ControlNet). "
                    "The API key comes from FRIENDLI_TOKEN or the stored credentials file.",
        epilog="Try it without a key: friendli-generate --demo",
    )
    add_request_options(p, prompt_help="what to generate",
                        seed_help="seed (default: random); with --count N, image i gets seed + i")
    p.add_argument("--control", action=_AddControl, dest="controls", default=None, metavar="IMAGE",
                   help="a control image file or http(s) URL (e.g. a pose, depth or edge map); repeat for several")
    p.add_argument("--weight", action=_SetWeight, dest="controls", type=_weight, metavar="W",
                   help="how strongly the --control just before guides the generation, 0..1 (default 1)")
    p.add_argument("--count", "-n", type=_positive(int), default=1,
                   help="how many images: one request each, seeds seed .. seed + N - 1, concurrently (default 1)")
    add_out_option(p)
    add_concurrency_option(p, "with --count")
    add_bulk_options(p, "DIR/generated-00001.png …")
    add_service_options(p)
    p.add_argument("--demo", action="store_true",
                   help="generate with a local emulator of the API (no key, no network)")
    p.add_argument("--version", action="version", version=f"friendli-generate {__version__}")
    return p


def run(args: argparse.Namespace, client: FriendliImageClient, progress: Progress) -> None:
    """Read the control images (any bad field raises before one is sent), then send the --count requests
    --concurrency at a time, writing each result as it lands."""
    params = request_params(args, client)
    controls = args.controls or []
    images = [read_input(path) for path, _ in controls]
    weights = None if all(w is None for _, w in controls) else tuple(1.0 if w is None else w for _, w in controls)
    client.body(ImageRequest(args.prompt, kind=GENERATE, controlnet_weights=weights, **params), images)  # check
    outputs = Outputs(args.out_dir, args.out, DEFAULT_STEM, params["response_format"], several=args.count > 1)
    run_bulk("friendli-generate", args, client, list(generations(args.count)) if args.count <= 1 else
             _Generations(args.count), outputs,
             lambda items, poll: client.generate_many(args.prompt, items=items, control_images=images,
                                                      controlnet_weights=weights, concurrency=args.concurrency,
                                                      max_failures=args.max_failures, cancel=poll, **params),
             total=args.count)


class _Generations:
    """The --count entries, anew each time they are iterated."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __iter__(self):  # type: ignore[no-untyped-def]
        return generations(self.count)


def _demo(args: argparse.Namespace) -> None:
    args.prompt = args.prompt or DEMO_PROMPT
    args.out = args.out or Path("friendli-demo-generated.png")


def _usage(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not args.prompt:
        parser.error("--prompt is required")
    check_bulk_usage(parser, args)


def main(argv: list[str] | None = None) -> int:
    """``friendli-generate``; returns the exit code."""
    return run_command("friendli-generate", build_parser(), argv, demo=_demo, check=_usage,
                       total=lambda args: args.count, act=run)


if __name__ == "__main__":
    sys.exit(main())
