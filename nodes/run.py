"""One node execution: its client, its requests on worker threads, progress, and stopping.

A run is awaited by the node's coroutine while its work (encoding, HTTP, decoding) goes on in
threads, so ComfyUI executes other nodes meanwhile. All runs in flight share one interruption:
the host's interrupt flag is global and reset by whoever raises it, so the first run to see it
stops every run. A run that fails, or that the host gives up on, drains instead: nothing new is
sent, and requests already on the endpoint run to their answer and are kept in the result store.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..client import prefs
from ..client.api import EditedImage, FriendliImageClient, ImageLike
from ..client.errors import FriendliBatchError, FriendliCancelledError
from ..client.request import ImageRequest
from ..client.runner import OrderedSlots, run_jobs
from ..client.scheduler import run_cpu
from ..client.store import ResultStore
from ..client.transport import CancelScope
from . import confirm, host
from .endpoint import Endpoint
from .progress import BatchProgress, answer_times, known_gpus, timing_key

T = TypeVar("T")
log = logging.getLogger(__name__)

_runs: set["NodeRun"] = set()
_runs_lock = threading.Lock()


def stop_all(error: FriendliCancelledError, *, but: "NodeRun | None" = None, drain: bool = False) -> None:
    """Stop every run in flight (except ``but``); with ``drain`` they send nothing new but finish
    the requests already sent."""
    with _runs_lock:
        runs = [r for r in _runs if r is not but]
    for run in runs:
        run.scope.drain(error) if drain else run.scope.cancel(error)


def result_store(settings: prefs.Preferences) -> ResultStore | None:
    """The result store in ComfyUI's user folder, unless Settings > Friendli turned it off."""
    if not settings.result_store:
        return None
    return ResultStore(host.user_folder() / prefs.STORE_FOLDER, settings.result_store_bytes)


def image_request(steps: int, guidance_scale: float, response_format: str, prompt: str, seed: int,
                  endpoint: Endpoint, **extra: Any) -> ImageRequest:
    """The request of the shared widgets (a negative guidance = leave it to the endpoint); ``extra`` sets
    the other fields (``kind``, ``controlnet_weights``)."""
    guidance = None if guidance_scale is None or guidance_scale < 0 else float(guidance_scale)
    return ImageRequest(prompt=prompt, endpoint_id=endpoint.endpoint_id, adapter_route=endpoint.adapter_route,
                        num_inference_steps=int(steps), guidance_scale=guidance, seed=int(seed),
                        response_format=response_format, **extra)


class NodeRun:
    """The client, progress and stop switch of one node execution; use as a context manager."""

    def __init__(self, endpoint: Endpoint, request: ImageRequest, total: int, node_id: Any,
                 concurrency: int = 1) -> None:
        settings = host.preferences()
        self.progress = BatchProgress(total, node_id, concurrency)  # its slots: for a batch's time left
        self.client = FriendliImageClient(
            service=endpoint.service, base_url=endpoint.base_url or None, team=endpoint.team or None,
            credentials_path=host.credentials_path(), trusted_hosts=settings.trusted_hosts,
            max_in_flight=settings.max_in_flight, memory_budget=settings.memory_budget_bytes,
            store=result_store(settings), on_event=self.progress.on_client_event)
        try:
            self.client.check_ready(request)  # no key, an untrusted host, a bad field: before anything is sent
        except BaseException:
            self.client.close()
            raise
        self.request = request
        self.settings = settings
        self.concurrency = max(1, int(concurrency))
        if self.concurrency > settings.max_in_flight:  # the shared limit caps this node: say so
            self.progress.limit = settings.max_in_flight
        self.progress.price_per_gpu_hour = settings.price_per_gpu_hour
        self.client.describe_endpoint = settings.price_per_gpu_hour > 0
        self.scope = CancelScope(self.client.deadline)
        self._slots = OrderedSlots(self.concurrency)  # requests in flight, sent in job order
        self.keep_failures = False  # set by ``execute``
        self._lock = threading.Lock()
        self._work_done = False
        self._detached = False  # the host gave up on the node while requests were in flight

    def __enter__(self) -> "NodeRun":
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._detached:  # a detached run closes itself once its last request is answered
            self._close()

    def _close(self) -> None:
        self.scope.cancel()  # whatever is still running stops now
        self.client.close()

    def cpu(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the process-wide CPU pool (encoding, decoding), stopped with the run."""
        return run_cpu(fn, *args, stop=self.scope.event)

    def encode(self, fn: Callable[..., T], *args: Any) -> T:
        """Like ``cpu`` for work before sending: stopped when the run drains too."""
        return run_cpu(fn, *args, stop=self.scope.closed)

    def send(self, index: int, image: ImageLike | Sequence[ImageLike], request: ImageRequest) -> list[EditedImage]:
        """Request ``index`` of the run: encoded on the CPU pool, then sent when one of the run's
        ``concurrency`` slots frees (in job order), so the next bodies are ready in time."""
        try:
            body = self.encode(self.client.body, request, image)
        except BaseException:
            self._skip(index)  # let the requests after this one go on
            raise
        self.progress.expect(self._timing_key(request, _pixels(image)))
        with self._slots.slot(index, self.scope.closed.is_set) as release:  # freed once answered, before decoding
            try:
                return self.client.send(body, self.scope, self.cpu, release)
            except Exception as exc:
                if not self.keep_failures and not isinstance(exc, FriendliCancelledError):
                    self.scope.drain()  # before the slot frees: the next request must not leave
                raise

    def _timing_key(self, request: ImageRequest, pixels: int | None) -> tuple[Any, ...]:
        return timing_key(self.client.settings.base_url, request.endpoint_id or "", request.adapter_route or "",
                          request.kind, request.num_inference_steps, pixels)

    def estimate(self, requests: int) -> confirm.Estimate | None:
        """What ``requests`` of this run will likely take (endpoint time, cost), from recent answers of the
        endpoint at these steps (any image size); None before any."""
        times = answer_times(self._timing_key(self.request, None), any_size=True)
        if times is None:
            return None
        gpus = known_gpus(self.client.settings.base_url, self.request.endpoint_id or "")
        return confirm.estimate(times[0], requests, min(self.concurrency, self.settings.max_in_flight),
                                self.settings.price_per_gpu_hour * gpus if gpus else 0.0)

    def prepare(self, index: int, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the CPU pool before request ``index`` is sent (what to send). When it fails or
        gives None (nothing to send), the request's turn passes, so the requests after it go on."""
        try:
            value = self.encode(fn, *args)
        except BaseException:
            self._skip(index)
            raise
        if value is None:
            self._skip(index)
        return value

    def _skip(self, index: int) -> None:
        with self._slots.slot(index, self.scope.closed.is_set):
            pass

    def send_framed(self, index: int, frame: Any, request: ImageRequest, size: tuple[int, int]) -> EditedImage:
        """Send one framed image (``framing.Frame``) of a batch; returns the first result (its preview shown).
        The line says the size sent when it is not ``size`` (cropped or capped)."""
        height, width = frame.pixels.shape[:2]
        if (height, width) != tuple(size):
            self.progress.sent_size(width, height)
        results = self.send(index, frame.pixels, request)
        if len(results) > 1:
            log.warning("Friendli: the endpoint returned %d images for image %d; using the first", len(results),
                        index + 1)
        self.preview(results[0].image)
        return results[0]

    def preview(self, image: Any) -> None:
        """Show a finished image of a batch on the node while the others are still on their way. A lone
        image is not previewed: its result goes downstream at once, and a preview on the node takes the
        prompt box's room."""
        if self.progress.total > 1:
            self.progress.preview(image)

    async def execute(self, jobs: Sequence[Callable[[], T]], *, keep_failures: bool = False) -> list[T]:
        """Run the jobs on ``2 × concurrency`` threads (half of them prepare the next requests) and
        await them; raise the host's interruption when cancelled. Failed jobs are returned as
        exceptions with ``keep_failures``."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[T]] = loop.create_future()
        self.keep_failures = keep_failures

        def deliver(ok: bool, value: Any) -> None:
            if not done.done():
                done.set_result(value) if ok else done.set_exception(value)

        def work() -> None:
            try:
                result: Any = run_jobs(jobs, workers=2 * self.concurrency, cancel=self._poll, scope=self.scope,
                                       on_done=lambda index, value: self.progress.image_done(),
                                       keep_failures=keep_failures)
                ok = True
            except FriendliBatchError as exc:  # say whether the finished results were kept
                result, ok = FriendliBatchError(exc.index, exc.total, exc.cause, finished=exc.finished,
                                                stored=self.client.store is not None), False
                result.__cause__ = exc.cause
            except BaseException as exc:  # noqa: BLE001 - handed to the coroutine
                result, ok = exc, False
            with self._lock:
                self._work_done = True
                detached = self._detached
            if detached:
                self._close()
                return
            loop.call_soon_threadsafe(deliver, ok, result)

        await confirm.ask(len(jobs), self.progress.node, self.settings, self.estimate(len(jobs)))  # before sending
        with _runs_lock:
            _runs.add(self)
        self.progress.start()
        try:
            threading.Thread(target=work, daemon=True, name="friendli-run").start()
            return await done
        except asyncio.CancelledError:  # the host gave up on the prompt: finish what was sent, in the background
            self.scope.drain(FriendliCancelledError("stopped: the prompt ended"))
            with self._lock:
                self._detached = not self._work_done
            raise
        except BaseException as exc:
            cancelled = isinstance(exc, FriendliCancelledError) or host.is_interruption(exc)
            kept = exc.finished if isinstance(exc, FriendliBatchError) and self.client.store is not None else 0
            self.progress.report_failure(exc, cancelled, kept)
            if cancelled:
                stop_all(FriendliCancelledError("cancelled by the user"), but=self)
            else:
                stop_all(FriendliCancelledError("stopped: another Friendli node of this prompt failed"), but=self,
                         drain=True)
            if isinstance(exc, FriendliCancelledError):
                host.raise_interrupted(exc)
            raise
        finally:
            with _runs_lock:
                _runs.discard(self)

    def succeed(self, seeds: list[int], failed: list[int] | None = None, outcome: str = "kept unchanged") -> str:
        """Report success (``failed`` images were ``outcome``); the seeds as the node's STRING output."""
        self.progress.report_done(seeds, failed or [], outcome)
        return ", ".join(str(s) for s in seeds)

    def _poll(self) -> bool:
        """run_jobs' cancel hook, every 0.1 s on the run's thread: progress, and the host's interruption."""
        self.progress.poll()
        if host.interrupted():
            stop_all(FriendliCancelledError("cancelled by the user"))
        return self.scope.stopped


def _pixels(image: Any) -> int | None:
    """The pixels of the image(s) of a request (arrays or PIL images), None without any."""
    total = 0
    for one in image if isinstance(image, (list, tuple)) else [image]:
        shape = getattr(one, "shape", None)
        size = (shape[0], shape[1]) if shape is not None and len(shape) >= 2 else getattr(one, "size", None)
        if isinstance(size, tuple) and len(size) == 2:
            total += int(size[0]) * int(size[1])
    return total or None
