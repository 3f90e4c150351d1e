"""Many requests from the command line: ``--each`` / ``--count`` streamed through ``client.edit_many`` /
``generate_many``, each result written as it lands, and with ``--out-dir`` resumable (an existing
output is skipped without a request), with a JSON-lines ``--report``, ``--max-failures`` and ``--shard``.

Seeds: with ``--seed S`` input *i* gets S + *i*, *i* being its position in the whole listing (every
shard, every skipped output included), so a shard, a resumed run and a single run give an input the
same seed as long as the inputs are the same.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from ..client import prefs
from ..client.api import EditedImage, FriendliImageClient
from ..client.bulk import BulkResult, BulkRun, Item
from ..client.errors import FriendliInputError
from ..client.request import SEED_MAX
from .inputs import FORMAT_SUFFIX, Entry, in_shard, output_name, parse_shard, plan

EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}


class OutputError(Exception):
    """A result could not be written, or some inputs failed (exit code 1, one line, no traceback)."""


def add_bulk_options(p: argparse.ArgumentParser, each: str) -> None:
    """--out-dir … --shard, shared by friendli-edit and friendli-generate."""
    p.add_argument("--out-dir", type=Path, metavar="DIR",
                   help=f"write each result into DIR as it lands ({each}); inputs whose output exists are skipped")
    p.add_argument("--overwrite", action="store_true", help="with --out-dir: redo inputs whose output exists")
    p.add_argument("--report", type=Path, metavar="FILE",
                   help="write one JSON line per input as it finishes (input, output, status, seed, "
                        "endpoint_seconds, error)")
    p.add_argument("--max-failures", type=_at_least_one, metavar="N",
                   help="stop sending after N failed inputs (requests already sent finish)")
    p.add_argument("--shard", type=_shard, metavar="K/N",
                   help="with --out-dir: only shard K of N (1-based; by each input's relative path, so N machines "
                        "running 1/N … N/N together do every input once)")


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def _shard(text: str) -> tuple[int, int]:
    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def check_bulk_usage(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.out_dir is not None and args.out is not None:
        parser.error("give --out (one file name) or --out-dir (a folder), not both")
    for flag, value in (("--shard", args.shard), ("--overwrite", args.overwrite)):
        if value and args.out_dir is None:
            parser.error(f"{flag} needs --out-dir")


def write_atomic(path: Path, data: bytes, folders: set[Path] | None = None) -> None:
    """Write ``data`` to ``path`` whole or not at all: to a hidden temporary name beside it, then renamed.
    ``folders``: those known to exist already (the parent is added)."""
    if folders is None or path.parent not in folders:
        path.parent.mkdir(parents=True, exist_ok=True)
        if folders is not None:
            if len(folders) > 4096:
                folders.clear()
            folders.add(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with open(temporary, "wb") as f:
            f.write(data)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


class Report:
    """The --report file: one JSON line per finished input, written at once (any thread)."""

    def __init__(self, path: Path | None) -> None:
        self._file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "w", encoding="utf-8")
        self._lock = threading.Lock()

    def line(self, entry: Entry, output: Path | None, status: str, seed: int | None = None,
             seconds: float | None = None, error: str | None = None) -> None:
        if self._file is None:
            return
        record = {"input": entry.label, "output": None if output is None else str(output), "status": status,
                  "seed": seed, "endpoint_seconds": seconds, "error": error}
        with self._lock:
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class BulkProgress:
    """Counts of a bulk run, its live line on a terminal (stderr) and its summary."""

    def __init__(self, total: int, quiet: bool, price_per_gpu_hour: float = 0.0) -> None:
        self.total, self.quiet = total, quiet
        self.ok = self.skipped = self.failed = 0
        self.live = sys.stderr.isatty() and not quiet
        self.started = time.monotonic()
        self.first_sent: float | None = None
        self.price, self.gpus = price_per_gpu_hour, 1
        self.run: BulkRun | None = None
        self.note = ""
        self.single = False  # one input, no --out-dir: its failure is raised as it is
        self.last_error: Exception | None = None
        self._drawn = 0.0
        self._lock = threading.Lock()

    @property
    def finished(self) -> int:
        return self.ok + self.skipped + self.failed

    def count(self, status: str) -> None:
        with self._lock:
            setattr(self, status, getattr(self, status) + 1)

    @property
    def endpoint_seconds(self) -> float:
        return self.run.endpoint_seconds if self.run is not None else 0.0

    @property
    def cost(self) -> float | None:
        return self.endpoint_seconds / 3600 * self.price * self.gpus if self.price else None

    def on_event(self, event: dict[str, Any]) -> None:
        """The client's event hook: retries, the endpoint's state and GPU count (for the cost)."""
        kind = event.get("type")
        if kind == "endpoint_info":
            self.gpus = int(event.get("num_gpu") or 1)
        elif kind == "retry":
            self.note = f" · retrying ({event['reason']})" + (" · endpoint waking up" if event.get("waking") else "")
        elif kind == "endpoint":
            self.note = f" · endpoint {str(event.get('status')).lower()}"
        elif kind == "answered":
            self.note = ""

    def line(self) -> str:
        """E.g. ``120/1000 · 3.9/s · ETA 3m45s · 2 failed · endpoint 31 s ≈ $0.04``."""
        now = time.monotonic()
        sent = self.ok + self.failed
        parts = [f"{self.finished}/{self.total}"]
        if sent and self.first_sent is not None and now > self.first_sent:
            rate = sent / (now - self.first_sent)
            parts += [f"{rate:.1f}/s", f"ETA {_duration(max(self.total - self.finished, 0) / rate)}"]
        if self.skipped:
            parts.append(f"{self.skipped} skipped")
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.run is not None:
            cost = f" ≈ ${self.cost:.2f}" if self.cost is not None else ""
            parts.append(f"endpoint {self.endpoint_seconds:.0f} s{cost}")
        return " · ".join(parts) + self.note

    def poll(self) -> bool:
        """The run's cancel hook (often, on the run's thread): redraws the live line at most 10 times a second."""
        if self.live and time.monotonic() - self._drawn >= 0.1:
            self._drawn = time.monotonic()
            sys.stderr.write(f"\r{self.line()}\033[K")
            sys.stderr.flush()
        return False

    def say(self, text: str) -> None:
        """A line on stderr above the live line."""
        sys.stderr.write(("\r\033[K" if self.live else "") + text + "\n")
        sys.stderr.flush()

    def summary(self, prog: str, non_images: int, run: BulkRun | None) -> str:
        parts = [f"{self.ok} written", f"{self.skipped} skipped (output existed)", f"{self.failed} failed"]
        text = f"{prog}: {', '.join(parts)} of {self.total}"
        if non_images:
            text += f" · {non_images} non-image file{'s' if non_images != 1 else ''} ignored"
        text += f" · {_duration(time.monotonic() - self.started)}"
        if run is not None and (self.ok or self.failed):
            cost = f" ≈ ${self.cost:.2f}" if self.cost is not None else ""
            text += f" · endpoint {self.endpoint_seconds:.1f} s{cost}"
        if run is not None and run.stopped:
            rest = self.total - self.finished
            text += f" · stopped after {self.failed} failures (--max-failures); {rest} not sent"
        return text


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m{seconds:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


class Outputs:
    """Where results go: ``--out-dir`` (``DIR/<rel>`` with the format's suffix; planned before sending,
    so an existing one is skipped), or the single-run names (``--out`` or ``default_stem``, ``-1``,
    ``-2`` … when several, the suffix of the result's type)."""

    def __init__(self, out_dir: Path | None, out: Path | None, default_stem: str, response_format: str,
                 several: bool) -> None:
        self.out_dir, self.out, self.default_stem = out_dir, out, default_stem
        self.suffix = FORMAT_SUFFIX.get(response_format, ".png")
        self.several = several
        self.folders: set[Path] = set()  # output folders made so far (no mkdir per result)

    def name(self, entry: Entry) -> str:
        return output_name(entry.rel, self.suffix)

    def planned(self, entry: Entry) -> Path | None:
        return self.out_dir / self.name(entry) if self.out_dir is not None else None

    def paths(self, entry: Entry, images: list[EditedImage]) -> list[Path]:
        paths = []
        for j, image in enumerate(images):
            ext = EXTENSIONS.get(image.mime, ".bin")
            planned = self.planned(entry)
            if planned is not None:
                base = planned if ext == planned.suffix else planned.with_suffix(ext)
            else:
                base = self.out if self.out else Path(self.default_stem + ext)
                if self.out and not base.suffix:
                    base = base.with_suffix(ext)
                if self.several:
                    base = base.with_name(f"{base.stem}-{entry.index + 1}{base.suffix}")
            paths.append(base if j == 0 else base.with_name(f"{base.stem}-{j + 1}{base.suffix}"))
        return paths


def run_bulk(prog: str, args: argparse.Namespace, client: FriendliImageClient, entries: Any,
             outputs: Outputs, start: Callable[[Iterator[Item], Callable[[], bool]], BulkRun],
             read: Callable[[str], Any] | None = None, total: int | None = None) -> None:
    """Plan (with --out-dir), then send every entry of our shard whose output is missing (all with
    --overwrite), writing each result as it lands; raise OutputError with the summary when any failed."""
    shard = args.shard or (1, 1)
    if outputs.out_dir is not None:  # before anything is sent: missing files, outputs written twice
        total, everything = plan(entries, outputs.name, shard)
    else:
        total = everything = total if total is not None else sum(1 for _ in entries)  # missing files
    non_images = getattr(entries, "non_images", 0)  # of the whole listing (a stopped run walks only part again)
    if not everything:
        raise FriendliInputError("INPUT", f"no images found ({non_images} other files); a folder gives its png, "
                                 "jpg, jpeg and webp files")
    if args.seed is not None and everything and args.seed + everything - 1 > SEED_MAX:
        raise FriendliInputError("seed", f"{args.seed} + {everything - 1} (one more per input) passes {SEED_MAX}; "
                                 f"give a seed of at most {max(SEED_MAX - everything + 1, 0)}")
    settings = prefs.read()
    progress = BulkProgress(total or 0, args.quiet, settings.price_per_gpu_hour)
    progress.single = total == 1 and outputs.out_dir is None and args.report is None
    client.on_event = progress.on_event
    client.describe_endpoint = settings.price_per_gpu_hour > 0
    report = Report(args.report)

    def items() -> Iterator[Item]:
        for entry in entries:
            if not in_shard(entry.rel, shard):
                continue
            planned = outputs.planned(entry)
            seed = None if args.seed is None else args.seed + entry.index
            if planned is not None and not args.overwrite and planned.exists():
                progress.count("skipped")
                report.line(entry, planned, "skipped", seed)
                continue
            image = (lambda source=entry.source: read(source)) if read and entry.source is not None else None
            if progress.first_sent is None:
                progress.first_sent = time.monotonic()
            yield Item(entry, image, seed)

    run = None
    try:
        with start(items(), progress.poll) as run:
            progress.run = run
            for result in run:
                _finish(result, outputs, report, progress, args.quiet)
                del result  # written: hold it no longer while the next is awaited
    finally:
        report.close()
        if progress.live:
            sys.stderr.write("\r\033[K")
    summary = progress.summary(prog, non_images, run)
    if progress.failed and progress.single:
        raise progress.last_error  # a run of one fails as one request does  # type: ignore[misc]
    if progress.failed:
        raise OutputError(summary[len(prog) + 2:] + (f"; see {args.report}" if args.report else ""))
    if not args.quiet:
        print(summary, file=sys.stderr)


def _finish(result: BulkResult, outputs: Outputs, report: Report, progress: BulkProgress, quiet: bool) -> None:
    """Write one result (or report its failure)."""
    entry: Entry = result.key
    planned = outputs.planned(entry)
    if result.error is None:
        try:
            paths = outputs.paths(entry, result.images)
            for path, image in zip(paths, result.images):
                write_atomic(path, image.data, outputs.folders)
        except OSError as exc:
            result.error = OutputError(f"could not write {exc.filename or planned}: {exc.strerror or type(exc).__name__}")
        else:
            progress.count("ok")
            report.line(entry, paths[0], "ok", result.seed, result.endpoint_seconds)
            if outputs.out_dir is None:  # a single run's names: say each, as friendli-edit always did
                for path, image in zip(paths, result.images):
                    print(path if quiet else f"wrote {path} ({image.image.shape[1]}x{image.image.shape[0]}, "
                          f"{image.mime}, seed {image.seed if image.seed is not None else 'n/a'})")
            return
    progress.count("failed")
    progress.last_error = result.error
    error = f"{type(result.error).__name__}: {result.error}"
    report.line(entry, planned, "failed", result.seed, result.endpoint_seconds, error)
    if not progress.single:
        progress.say(f"failed: {entry.label}: {error}")
