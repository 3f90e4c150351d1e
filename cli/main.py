"""``friendli-edit``: edit images from the shell (``--status`` shows an endpoint's state); the option groups,
progress display, output writing and exit-code handling that ``friendli-generate`` (generate.py) shares.

Exit codes: 0 done, 1 the request failed, 2 bad usage, input or configuration,
130 interrupted.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable

from ..client import prefs
from ..client.api import RESPONSE_FORMATS, EditedImage, FriendliImageClient
from ..client.config import CONTAINER, DEDICATED
from ..client.errors import FriendliConfigError, FriendliError, FriendliInputError
from ..client.lifecycle import explain
from ..client.store import ResultStore
from ..client.version import __version__
from .bulk import OutputError, Outputs, add_bulk_options, check_bulk_usage, run_bulk
from .inputs import Listing

SAMPLE_IMAGE = Path(__file__).resolve().parents[1] / "client" / "data" / "sample.png"
DEMO_PROMPT = "Turn the scene into a snowy winter evening"
EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}


def _positive(kind: type) -> Any:
    """An argparse type: a finite number above 0."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be a finite number above 0")
        return value
    return parse


def add_request_options(p: argparse.ArgumentParser, *, prompt_help: str, seed_help: str) -> None:
    """--prompt … --format: the request's fields, shared by friendli-edit and friendli-generate."""
    p.add_argument("--prompt", "-p", help=prompt_help)
    p.add_argument("--endpoint-id", "-e", help="the dedicated endpoint id (Friendli Suite > Endpoints)")
    p.add_argument("--adapter-route", help="send to this adapter of the endpoint")
    p.add_argument("--steps", type=int, default=20, help="num_inference_steps, 1..50 (default 20)")
    p.add_argument("--guidance", type=float, help="guidance_scale (default: the endpoint's)")
    p.add_argument("--seed", type=int, help=seed_help)
    p.add_argument("--format", default=None, choices=sorted(set(RESPONSE_FORMATS[DEDICATED])),
                   help="response_format (default png; jpeg for a container)")


def add_out_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", "-o", type=Path, help="output file (several results get -1, -2, … suffixes)")


def add_concurrency_option(p: argparse.ArgumentParser, when: str) -> None:
    p.add_argument("--concurrency", type=_positive(int), default=4, help=f"parallel requests {when} (default 4)")


def add_service_options(p: argparse.ArgumentParser) -> None:
    """--container … --quiet: where to send, how long to wait, the result store, the output's verbosity."""
    p.add_argument("--container", action="store_true",
                   help="target a Friendli Container (default base URL http://localhost:8000)")
    p.add_argument("--base-url", help="API base URL (default FRIENDLI_BASE_URL or the service's)")
    p.add_argument("--team", help="team id sent as X-Friendli-Team (default FRIENDLI_TEAM)")
    p.add_argument("--read-timeout", type=_positive(float), default=600.0, help="seconds to wait for an answer (default 600)")
    p.add_argument("--no-store", action="store_true",
                   help="don't answer a repeated seeded request from the local result store (~/.cache/comfyui-friendli)")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the written paths (with --out-dir: no "
                   "progress line and no summary unless something failed)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="friendli-edit",
        description="Edit images with a FriendliAI Dedicated Endpoint or a Friendli Container. "
                    "The API key comes from FRIENDLI_TOKEN or the stored credentials file.",
        epilog="Try it without a key: friendli-edit --demo",
    )
    p.add_argument("images", nargs="*", metavar="IMAGE", help="image files or http(s) URLs; several are sent "
                   "as one multi-image request unless --each is given. With --out-dir also folders (their png, "
                   "jpg, jpeg and webp images, recursively) and @MANIFEST (a file listing one path or URL a line)")
    add_request_options(p, prompt_help="what to change",
                        seed_help="seed (default: random); with --each, image i gets seed + i")
    add_out_option(p)
    p.add_argument("--each", action="store_true",
                   help="edit each IMAGE separately, concurrently; each result is written as it lands")
    add_concurrency_option(p, "with --each")
    add_bulk_options(p, "implies --each; DIR/<path relative to its folder>")
    add_service_options(p)
    p.add_argument("--status", action="store_true",
                   help="print the state of --endpoint-id (running, sleeping, waking …) and exit; sends no edit")
    p.add_argument("--demo", action="store_true",
                   help="edit a sample image with a local emulator of the API (no key, no network)")
    p.add_argument("--version", action="version", version=f"friendli-edit {__version__}")
    return p


class Progress:
    """A one-line waiting display on stderr. ``poll`` is handed to the runner as its
    cancellation hook: it redraws the line every 0.1 s and never cancels."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.total, self.done, self.quiet = total, 0, quiet
        self.started = time.monotonic()
        self.note = ""
        self.live = sys.stderr.isatty() and not quiet

    def poll(self) -> bool:
        if self.live:
            elapsed = time.monotonic() - self.started
            sys.stderr.write(f"\rwaiting for the endpoint… {self.done}/{self.total} done · {elapsed:.1f} s{self.note}\033[K")
            sys.stderr.flush()
        return False

    def on_event(self, event: dict[str, Any]) -> None:
        if event.get("type") == "endpoint":
            phase = f" · {str(event['phase']).lower().replace('_', ' ')}" if event.get("phase") else ""
            self.note = f" · endpoint {str(event.get('status')).lower()}{phase}"
            return
        if event.get("type") != "retry":
            return
        waking = " · endpoint waking up" if event.get("waking") else ""
        self.note = f" · retry {event['attempt']} ({event['reason']}){waking}"
        if not self.live and not self.quiet:
            print(f"retrying: {event['reason']}{waking}", file=sys.stderr)

    def clear_line(self) -> None:
        if self.live:
            sys.stderr.write("\r\033[K")


def output_paths(out: Path | None, first_input: str, results: list[EditedImage]) -> list[Path]:
    """Where each result goes: --out (suffixed when several), else <input stem>-edited<ext>."""
    return result_paths(out, f"{Path(first_input).stem or 'image'}-edited", results)


def result_paths(out: Path | None, default_stem: str, results: list[EditedImage]) -> list[Path]:
    """Where each result goes: --out (suffixed when several), else <default_stem><ext>."""
    paths = []
    for i, result in enumerate(results):
        ext = EXTENSIONS.get(result.mime, ".bin")
        base = out if out else Path(f"{default_stem}{ext}")
        if out and not base.suffix:
            base = base.with_suffix(ext)
        paths.append(base if len(results) == 1 else base.with_name(f"{base.stem}-{i + 1}{base.suffix}"))
    return paths


def read_input(arg: str) -> bytes | str:
    if arg.startswith(("http://", "https://")):
        return arg
    try:
        return Path(arg).read_bytes()
    except OSError as exc:
        raise FriendliInputError("IMAGE", f"cannot read {arg!r}: {exc.strerror}") from None


def request_params(args: argparse.Namespace, client: FriendliImageClient) -> dict[str, Any]:
    """The ImageRequest fields the shared options give (all but the prompt and the seed)."""
    return dict(endpoint_id=args.endpoint_id, adapter_route=args.adapter_route, num_inference_steps=args.steps,
                guidance_scale=args.guidance, response_format=args.format
                or ("jpeg" if client.settings.service == CONTAINER else "png"))


def run(args: argparse.Namespace, client: FriendliImageClient, progress: Progress) -> list[Path]:
    params = request_params(args, client)
    if args.each or args.out_dir is not None:
        run_each(args, client, params)
        return []
    inputs = [read_input(a) for a in args.images]
    image = inputs if len(inputs) > 1 else inputs[0]
    results = client.edit(image, args.prompt, seed=args.seed, cancel=progress.poll, **params)
    progress.done = progress.total
    progress.clear_line()
    return write_results(output_paths(args.out, args.images[0], results), results, args.quiet)


def run_each(args: argparse.Namespace, client: FriendliImageClient, params: dict[str, Any]) -> None:
    """--each / --out-dir: one request per input, ``--concurrency`` at a time, each result written as it lands."""
    if args.out_dir is None:
        for arg in args.images:
            if arg.startswith("@") or Path(arg).is_dir():
                raise FriendliInputError("IMAGE", f"{arg!r} is a {'manifest' if arg.startswith('@') else 'folder'}; "
                                         "give --out-dir DIR to edit the images it holds")
    outputs = Outputs(args.out_dir, args.out, f"{Path(args.images[0]).stem or 'image'}-edited",
                      params["response_format"], several=len(args.images) > 1)
    run_bulk("friendli-edit", args, client, Listing(args.images, exclude=args.out_dir), outputs,
             lambda items, poll: client.edit_many(items, args.prompt, concurrency=args.concurrency,
                                                  max_failures=args.max_failures, cancel=poll, **params),
             read=read_input)


def write_results(paths: list[Path], results: list[EditedImage], quiet: bool) -> list[Path]:
    """Write each result to its path and say so (only the path with ``quiet``)."""
    for path, result in zip(paths, results):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(result.data)
        except OSError as exc:
            raise OutputError(f"could not write {path}: {exc.strerror or type(exc).__name__}") from None
        if quiet:
            print(path)
        else:
            w, h = result.image.shape[1], result.image.shape[0]
            print(f"wrote {path} ({w}x{h}, {result.mime}, seed {result.seed if result.seed is not None else 'n/a'})")
    return paths


def show_status(client: FriendliImageClient, endpoint_id: str) -> None:
    """``--status``: the endpoint's state in words; no edit is sent."""
    status = client.lifecycle().status(endpoint_id, strict=True)
    if status is None:
        print(f"{client.settings.base_url} does not offer the endpoint status route (a proxy or container?)")
    else:
        print(f"{endpoint_id}: {status.words()}" + ("" if status.status in ("RUNNING", "READY", "SLEEPING")
                                                     else f" — {explain(status)}"))


def _store() -> ResultStore | None:
    """The command line's result store (the user cache folder), unless the preferences turned it off."""
    settings = prefs.read()
    return ResultStore(ResultStore.default_folder(), settings.result_store_bytes) \
        if settings.result_store else None


def main(argv: list[str] | None = None) -> int:
    """``friendli-edit``; returns the exit code."""
    return run_command("friendli-edit", build_parser(), argv, demo=_edit_demo, check=_edit_usage,
                       total=lambda args: len(args.images) if args.each else 1, act=_edit_action)


def _edit_demo(args: argparse.Namespace) -> None:
    args.images = args.images or [str(SAMPLE_IMAGE)]
    args.prompt = args.prompt or DEMO_PROMPT
    args.out = args.out or Path("friendli-demo.png")


def _edit_usage(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.status and not args.endpoint_id:
        parser.error("--status needs --endpoint-id")
    if not args.images and not args.status:
        parser.error("give at least one IMAGE, or --demo")
    if not args.prompt and not args.status:
        parser.error("--prompt is required")
    check_bulk_usage(parser, args)


def _edit_action(args: argparse.Namespace, client: FriendliImageClient, progress: Progress) -> None:
    show_status(client, args.endpoint_id) if args.status else run(args, client, progress)


def run_command(prog: str, parser: argparse.ArgumentParser, argv: list[str] | None, *,
                demo: Callable[[argparse.Namespace], None],
                check: Callable[[argparse.ArgumentParser, argparse.Namespace], None],
                total: Callable[[argparse.Namespace], int],
                act: Callable[[argparse.Namespace, FriendliImageClient, Progress], Any]) -> int:
    """What every command does around its own work: parse ``argv``; with --demo start the emulator and
    let ``demo`` fill in defaults; ``check`` the usage (parser.error exits 2); open the client (progress,
    result store) and ``act``; map errors to exit codes (0 done, 1 the request failed, 2 bad usage,
    input or configuration, 130 interrupted) with one line on stderr."""
    args = parser.parse_args(argv)
    emulator = None
    try:
        if args.demo:
            from ..emulator import Emulator

            emulator = Emulator(token="demo-token", endpoints=("demo-endpoint",)).start()
            demo(args)
            args.endpoint_id, args.container = "demo-endpoint", False
            if not args.quiet:
                work = "edit" if prog == "friendli-edit" else "generation"
                print(f"demo: a local emulator at {emulator.base_url} stands in for the API; its {work} is a "
                      "deterministic stand-in, not a model", file=sys.stderr)
        check(parser, args)
        if not args.container and not args.endpoint_id:
            parser.error("--endpoint-id is required for a dedicated endpoint (or use --container)")
        progress = Progress(total(args), args.quiet)
        with FriendliImageClient(
            service=CONTAINER if args.container else DEDICATED,
            token="demo-token" if emulator else None,
            base_url=emulator.base_url if emulator else args.base_url,
            team=args.team, read_timeout=args.read_timeout, on_event=progress.on_event,
            max_in_flight=getattr(args, "concurrency", 8),  # --concurrency is the limit, also above 8
            store=None if args.no_store or emulator else _store(),
        ) as client:
            act(args, client, progress)
        return 0
    except OutputError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except (FriendliInputError, FriendliConfigError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except FriendliError as exc:
        print(f"{prog}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return 130
    finally:
        if emulator is not None:
            emulator.stop()
