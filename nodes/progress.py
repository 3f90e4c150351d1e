"""Progress of one node run, reported to the host from the run's own thread.

Worker threads only put client events (retries, reused results, throttling, the endpoint's
state) on a queue; ``poll`` (called by ``run_jobs`` every 0.1 s as its cancel hook) drains it
and sends throttled updates: the host progress bar (for this node id), the ``friendli.progress``
websocket event and the status text.

Endpoint time is the union of the spans in which an attempt of a request was at the endpoint (from its
body sent to its answer, as the transport reports them): back-off and ``Retry-After`` waits, the
in-flight limit's queue and waking waits are not in it. Successful answer times are kept per kind of
request (``timing_key``: endpoint, steps and image size, roughly) for every run of the process; their
median and 90th percentile give the ETA of a lone request and the estimate before a large run.

A batch's time left (``batch_left``) uses the same median T, once known (from earlier runs or this run's own
first answers): the run has ``slots`` requests in flight at most (its max_concurrency, capped by the shared
in-flight limit and by throttling); a slot whose request has been at the endpoint for ``a`` seconds frees in
max(0, T − a), an idle slot now; each image not yet sent takes T in whichever slot frees first; the estimate is
when the last one ends. Images answered and being decoded count as done. There is none while the endpoint wakes
or a retry wait is on (those are said apart), and below 1 s it says "almost done". The status text says it, and
the event carries it as ``left`` (seconds at the time of the event; absent when there is none) for the browser to
count down.

Previews of finished images (``preview``) are made on the CPU pool, one at a time per node (a
preview asked for while one is being made, or while the pool has work waiting, is dropped), and
sent by the run's thread too: ComfyUI's progress hook checks the global interrupt flag and resets
it when it raises, so from a worker thread it could swallow the user's Cancel.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ..client.scheduler import cpu_pool
from . import host
from .preview import preview_image, preview_tuple

log = logging.getLogger(__name__)

EVENT = "friendli.progress"
EVENT_INTERVAL = 0.25  # at most 4 events per second, except start and end
TEXT_INTERVAL = 1.0  # the status text's clock ticks once a second
STATE_WORDS = {"INITIALIZING": "initializing", "AWAKING": "waking", "UPDATING": "updating", "SLEEPING": "sleeping"}
PHASE_WORDS = {"REQUESTING_VIRTUAL_MACHINE": "requesting a machine", "DOWNLOADING_MODEL": "downloading model",
               "ENGINE_INITIALIZING": "starting the engine"}  # as web/friendli-strings.js says them
TIMES_KEPT = 20  # answer times kept per kind of request
LATE_MARGIN = 0.5  # seconds past the 90th percentile before a request is "taking longer than usual"

_times: dict[tuple[Any, ...], deque[float]] = {}
_gpus: dict[tuple[str, str], int] = {}  # (base URL, endpoint id) -> its GPUs, once a spec said
_times_lock = threading.Lock()


def _rough(value: float | None) -> int | None:
    """A value's class in steps of √2 (20 and 25 steps share one, 1 MP and 1.3 MP too)."""
    return round(2 * math.log2(value)) if value and value > 0 else None


def timing_key(base_url: str, endpoint_id: str, route: str, kind: str, steps: int | None,
               pixels: int | None) -> tuple[Any, ...]:
    """The kind of a request whose answer times are kept together: its endpoint (and adapter route and
    kind), its steps and the pixels it sends, roughly."""
    return (base_url, endpoint_id, route, kind, _rough(steps), _rough(pixels))


def record_answer(key: tuple[Any, ...], seconds: float) -> None:
    """An attempt of a request of ``key`` was answered after ``seconds`` at the endpoint."""
    with _times_lock:
        _times.setdefault(key, deque(maxlen=TIMES_KEPT)).append(seconds)


def answer_times(key: tuple[Any, ...] | None, any_size: bool = False) -> tuple[float, float] | None:
    """(median, 90th percentile) of the recent answer times of ``key`` (with ``any_size``, of its endpoint
    and steps at any image size), or None before the first answer."""
    if key is None:
        return None
    with _times_lock:
        values = sorted(t for k, times in _times.items() if k == key or any_size and k[:5] == key[:5]
                        for t in times)
    if not values:
        return None
    n = len(values)
    median = values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2
    return round(median, 2), round(values[math.ceil(0.9 * n) - 1], 2)


def known_gpus(base_url: str, endpoint_id: str) -> int | None:
    with _times_lock:
        return _gpus.get((base_url, endpoint_id))


def reset_times() -> None:
    """Forget every answer time and GPU count (tests)."""
    with _times_lock:
        _times.clear()
        _gpus.clear()


def batch_left(median: float, at_endpoint: list[float], queued: int, slots: int) -> float:
    """Seconds until a batch likely ends (see the module docstring): requests at the endpoint for
    ``at_endpoint`` seconds each, ``queued`` images not yet sent, ``slots`` in flight at most, ``median``
    seconds per answer."""
    slots = max(1, slots, len(at_endpoint))
    frees = sorted([max(0.0, median - a) for a in at_endpoint] + [0.0] * (slots - len(at_endpoint)))
    ends = [frees[j] + math.ceil((queued - j) / slots) * median for j in range(min(slots, queued))]
    return max(frees + ends)


def left_words(seconds: float) -> str:
    """``~12 s left``, or ``almost done`` below a second."""
    return f"~{math.ceil(seconds)} s left" if seconds >= 1 else "almost done"


def union_seconds(spans: list[tuple[float, float]]) -> float:
    """The length of the union of (start, end) spans."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


class BatchProgress:
    """Counts finished images, retries and waking notices of one run and reports them."""

    def __init__(self, total: int, node_id: Any, concurrency: int = 1) -> None:
        self.total = total
        self.concurrency = max(1, int(concurrency))  # the node's max_concurrency
        self.node = None if node_id is None else str(node_id)
        self.done = 0
        self.retries = 0
        self.retry: dict[str, Any] | None = None  # the latest retry: attempt, max, cause, wait
        self._retry_until = float("-inf")  # when the latest retry's wait ends, monotonic
        self.advisory: str | None = None  # e.g. the endpoint's state is unknown and the edit went ahead
        self.waking = False
        self.reused = 0
        self.throttled: int | None = None  # the endpoint's lowered in-flight limit
        self.endpoint: dict[str, Any] = {}  # state, phase and wait while the endpoint is not running
        self.key: tuple[Any, ...] | None = None  # ``timing_key`` of the requests being sent
        self.limit: int | None = None  # the endpoint's shared limit, when it caps this node's concurrency
        self.price_per_gpu_hour = 0.0  # Settings > Friendli
        self.gpus = 1  # the endpoint's GPUs, once its spec said
        self.sent: str | None = None  # the size the latest image was sent at, "1024×768", when resized
        self._busy: list[tuple[float, float]] = []  # (sent, answered) of each attempt that ended, monotonic
        self._open: list[float] = []  # when each attempt at the endpoint now was sent
        self.unanswered = 0  # attempts that ended with no answer (reset, timeout, Cancel): may still be billed
        self._answered = 0  # attempts answered with an image (200)
        self._ended = False  # the run's final event was sent
        self.started = time.monotonic()
        self._events: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._bar = host.progress_bar(total, self.node)
        self._sent_event = self._sent_text = float("-inf")
        self._dirty = False
        self.make_preview: Callable[[Any], Any] = preview_image  # on the CPU pool
        self._preview_lock = threading.Lock()
        self._preview_busy = False  # one preview is being made for this node
        self._preview_ready: Any = None  # the latest preview made, not yet sent

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def endpoint_seconds(self) -> float:
        """The time the endpoint worked for this run: the union of its attempts' (sent, answered) spans,
        those still at the endpoint up to now."""
        now = time.monotonic()
        return union_seconds(self._busy + [(start, now) for start in self._open])

    @property
    def at_endpoint(self) -> float | None:
        """Seconds the lone request of a one-request run has been at the endpoint (its current attempt)."""
        if self.total != 1 or self.done or not self._open:
            return None
        return max(0.0, time.monotonic() - max(self._open))

    @property
    def eta(self) -> tuple[float, float] | None:
        """(median, 90th percentile) answer time of this run's kind of request, once known."""
        return answer_times(self.key)

    @property
    def left(self) -> float | None:
        """Seconds a batch likely has left (``batch_left``); None for a lone request, before an answer time of
        its kind is known, while the endpoint wakes or a retry wait is on, and once the run ended."""
        eta, now = self.eta, time.monotonic()
        if self.total < 2 or eta is None or self._ended or self.waking or self.endpoint or now < self._retry_until:
            return None
        answered = min(self.total, max(self.done, self._answered + self.reused))  # done, or being decoded
        queued = max(0, self.total - answered - len(self._open))
        slots = min(self.concurrency, self.limit or self.concurrency, self.throttled or self.concurrency)
        return batch_left(eta[0], [now - start for start in self._open], queued, slots)

    def eta_text(self) -> str:
        """``~12 s left``, ``almost done`` or ``taking longer than usual`` for a lone request at the endpoint;
        ``~12 s left`` or ``almost done`` for a batch (``left``)."""
        if self.total > 1:
            left = self.left
            return "" if left is None else left_words(left)
        at, eta = self.at_endpoint, self.eta
        if at is None or eta is None:
            return ""
        if at > eta[1] + LATE_MARGIN:
            return "taking longer than usual"
        return left_words(eta[0] - at)

    @property
    def cost(self) -> float | None:
        """An estimate of what the endpoint time cost, when a price is set."""
        hourly = self.price_per_gpu_hour * self.gpus
        return round(self.endpoint_seconds / 3600 * hourly, 4) if hourly else None

    @property
    def stored(self) -> bool:
        """Every finished image came from the result store."""
        return self.done > 0 and self.reused >= self.done

    def text(self) -> str:
        """E.g. ``0/8 done · 74.2 s · endpoint waking · downloading model · 72 s`` or ``8/8 done · 3.1 s · 3 reused``."""
        parts = [f"{self.done}/{self.total} done", f"{self.elapsed:.1f} s"]
        eta = self.eta_text()
        if eta:
            parts.append(eta)
        if self.retry:
            r = self.retry
            parts.append(f"retry {r['attempt']}/{r['max']} · {r['cause']} · next in {r['wait']:.0f} s")
        if self.advisory:
            parts.append(self.advisory)
        if self.sent:
            parts.append(f"sent at {self.sent}")
        if self.endpoint:
            parts.append(f"endpoint {STATE_WORDS.get(self.endpoint['endpoint_state'], 'starting')}")
            if self.endpoint.get("endpoint_phase"):
                parts.append(PHASE_WORDS.get(self.endpoint["endpoint_phase"], "starting"))
            parts.append(f"{self.endpoint['endpoint_wait']:.0f} s · waking time is billed")
        elif self.waking:
            parts.append("endpoint waking up · waking time is billed")
        if self.throttled:
            parts.append(f"throttled to {self.throttled} in flight")
        elif self.limit:
            parts.append(f"{self.limit} in flight (endpoint limit)")
        if self.stored:
            parts.append("from the result store · no endpoint time")
        else:
            if self.reused:
                parts.append(f"{self.reused} reused")
            seconds, cost = self.endpoint_seconds, self.cost
            if seconds >= 0.05:  # not "0.0 s" before the endpoint got work
                money = "" if not cost else f" ≈ ${cost:.2f}" if cost >= 0.01 else " < $0.01"
                parts.append(f"endpoint time {seconds:.1f} s{money}")
        if self.unanswered:
            parts.append(f"{self.unanswered} sent, not answered: may still be billed")
        return " · ".join(parts)

    @property
    def unsure(self) -> int:
        """Attempts sent and not answered (at the endpoint now, or cut off): the endpoint may bill them."""
        return self.unanswered + len(self._open)

    def expect(self, key: tuple[Any, ...]) -> None:
        """The run sends requests of this ``timing_key`` (safe from any thread)."""
        self.key = key

    def on_client_event(self, event: dict[str, Any]) -> None:
        """The client's ``on_event`` hook; safe from any thread."""
        self._events.put(event)

    def sent_size(self, width: int, height: int) -> None:
        """An image was sent at ``width`` × ``height`` (cropped or capped); safe from any thread."""
        self._events.put({"type": "sent_size", "size": f"{int(width)}×{int(height)}"})

    def preview(self, image: Any) -> bool:
        """Show a finished image (decoded uint8 HxWxC or float [H,W,C]) on the node; safe from any thread.

        The preview is made on the CPU pool and sent by the run's thread at its next ``poll``. Returns
        False when dropped: outside ComfyUI, while this node's previous preview is being made, or while
        the pool has work waiting for a thread (a preview must not delay encoding or decoding)."""
        if self._bar is None:
            return False
        with self._preview_lock:
            if self._preview_busy:
                return False
            self._preview_busy = True
        pool = cpu_pool()
        waiting = getattr(pool, "_work_queue", None)  # ThreadPoolExecutor's queue of jobs not yet started
        try:
            if waiting is not None and waiting.qsize() > 0:
                raise RuntimeError("the CPU pool is busy")
            pool.submit(self._make_preview, image)
            return True
        except RuntimeError:  # busy, or the pool is shutting down
            with self._preview_lock:
                self._preview_busy = False
            return False

    def _make_preview(self, image: Any) -> None:
        try:
            picture = self.make_preview(image)
            with self._preview_lock:
                self._preview_ready = picture
        except Exception:  # noqa: BLE001 - a preview is never worth failing the run
            log.debug("Friendli: no preview", exc_info=True)
        finally:
            with self._preview_lock:
                self._preview_busy = False

    def _send_preview(self) -> None:
        """Send the preview made since the last one, if any (the run's thread)."""
        with self._preview_lock:
            picture, self._preview_ready = self._preview_ready, None
        if picture is not None and self._bar is not None:
            self._bar.update_absolute(self.done, self.total, preview_tuple(picture))

    def start(self) -> None:
        self._report("running", force=True)

    def image_done(self) -> None:
        """One more image finished (the run's thread)."""
        self._drain()  # its answer first: it is no longer at the endpoint
        self.done += 1
        self.waking = False
        self.retry = None
        self.endpoint = {}
        if self._bar is not None:
            self._bar.update_absolute(self.done, self.total)
        self._report("running")

    def poll(self) -> bool:
        """Drain retry events and send what is due; returns False (usable inside a cancel hook)."""
        self._drain()
        self._send_preview()
        now = time.monotonic()
        if self._dirty and now - self._sent_event >= EVENT_INTERVAL:
            self._report("running", force=True)
        elif self._open and now - self._sent_event >= TEXT_INTERVAL:  # endpoint time and cost grow
            self._report("running", force=True)
        elif now - self._sent_text >= TEXT_INTERVAL:  # let the clock in the status text tick
            host.send_text(self.text(), self.node)
            self._sent_text = now
        return False

    def report_done(self, seeds: list[int], failed: list[int] | None = None, outcome: str = "kept unchanged") -> None:
        """The run succeeded; ``failed`` (0-based) images were ``outcome`` (kept unchanged, skipped)."""
        self._drain()
        self._ended = True
        self._send_preview()  # one made in time; a preview still being made is dropped
        extra: dict[str, Any] = {}
        if failed:
            extra["failed"] = [i + 1 for i in failed]
            extra["warning"] = (f"image{'s' if len(failed) > 1 else ''} {', '.join(str(i + 1) for i in failed)} "
                                f"of {self.total} failed and {'were' if len(failed) > 1 else 'was'} {outcome}")
        self._report("done", force=True, seeds=seeds, **extra)

    def report_failure(self, exc: BaseException, cancelled: bool, kept: int = 0) -> None:
        """The run failed (``kept`` finished results are in the result store) or was cancelled."""
        self._drain()
        self._ended = True
        extra: dict[str, Any] = {} if cancelled else {"message": str(exc)}
        if kept and not cancelled:
            extra["kept"] = kept
        if cancelled and self.unsure:  # their sockets are closed now, but the endpoint may work on
            self.unanswered, self._open = self.unsure, []
            extra["unanswered"] = self.unanswered
        self._report("cancelled" if cancelled else "error", force=True, **extra)

    def _drain(self) -> None:
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            kind = event.get("type")
            if kind == "retry":
                self.retries += 1
                self.waking = self.waking or bool(event.get("waking"))
                wait = float(event.get("wait") or 0)
                self._retry_until = max(self._retry_until, time.monotonic() + wait)  # waking waits too
                if not event.get("waking") and event.get("attempt"):
                    self.retry = {"attempt": event["attempt"], "max": event.get("max"),
                                  "cause": event.get("reason"), "wait": round(wait, 1)}
            elif kind == "advisory":
                self.advisory = str(event.get("text"))
            elif kind == "attempt_sent":
                self._open.append(float(event["at"]))
            elif kind == "attempt_done":
                self._attempt_done(float(event["start"]), float(event["end"]), event.get("status"))
            elif kind == "endpoint_info":
                self.gpus = int(event["num_gpu"])
                if self.key is not None:
                    with _times_lock:
                        _gpus[self.key[:2]] = self.gpus
            elif kind == "reused":
                self.reused += 1
            elif kind == "sent_size":
                self.sent = event["size"]
            elif kind == "throttled":
                self.throttled = event.get("limit")
            elif kind == "endpoint" and event.get("status") in ("RUNNING", "READY"):
                self.endpoint = {}
            elif kind == "endpoint":
                self.endpoint = {"endpoint_state": event.get("status"), "endpoint_phase": event.get("phase"),
                                 "endpoint_wait": round(float(event.get("waited") or 0), 1)}
            self._dirty = True

    def _attempt_done(self, start: float, end: float, status: Any) -> None:
        if start in self._open:
            self._open.remove(start)
        self._busy.append((start, end))
        if status is None:
            self.unanswered += 1
        elif status == 200:
            self._answered += 1
            if self.key is not None:
                record_answer(self.key, end - start)

    def _report(self, state: str, force: bool = False, **extra: Any) -> None:
        """Send the event and the status text now, or (throttled) mark them due for ``poll``."""
        now = time.monotonic()
        if not force and now - self._sent_event < EVENT_INTERVAL:
            self._dirty = True
            return
        eta, at, left = self.eta, self.at_endpoint, self.left
        host.send_event(EVENT, {"node": self.node, "state": state, "done": self.done, "total": self.total,
                                "elapsed": round(self.elapsed, 2), "retries": self.retries,
                                "waking": self.waking, "reused": self.reused, "throttled": self.throttled,
                                "retry": self.retry, "advisory": self.advisory,
                                "eta": eta and eta[0], "eta_p90": eta and eta[1],
                                "at_endpoint": None if at is None else round(at, 2),
                                "endpoint_s": round(self.endpoint_seconds, 2), "cost": self.cost,
                                "limit": self.limit, "stored": self.stored,
                                **({"sent": self.sent} if self.sent else {}),
                                **({} if left is None else {"left": round(left, 2)}), **self.endpoint, **extra})
        host.send_text(self.text(), self.node)
        self._sent_event = self._sent_text = now
        self._dirty = False
