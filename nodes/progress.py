"""Progress of one node run, reported to the host from the run's own thread.

Worker threads only put client events (retries, reused results, throttling, the endpoint's
state) on a queue; ``poll`` (called by ``run_jobs`` every 0.1 s as its cancel hook) drains it
and sends throttled updates: the host progress bar (for this node id), the ``friendli.progress``
websocket event and the status text.
"""

from __future__ import annotations

import queue
import time
from typing import Any

from . import host

EVENT = "friendli.progress"
EVENT_INTERVAL = 0.25  # at most 4 events per second, except start and end
TEXT_INTERVAL = 1.0  # the status text's clock ticks once a second
STATE_WORDS = {"INITIALIZING": "initializing", "AWAKING": "waking", "UPDATING": "updating", "SLEEPING": "sleeping"}
PHASE_WORDS = {"REQUESTING_VIRTUAL_MACHINE": "requesting a machine", "DOWNLOADING_MODEL": "downloading model",
               "ENGINE_INITIALIZING": "starting the engine"}  # as web/friendli-strings.js says them


class BatchProgress:
    """Counts finished images, retries and waking notices of one run and reports them."""

    def __init__(self, total: int, node_id: Any) -> None:
        self.total = total
        self.node = None if node_id is None else str(node_id)
        self.done = 0
        self.retries = 0
        self.retry: dict[str, Any] | None = None  # the latest retry: attempt, max, cause, wait
        self.advisory: str | None = None  # e.g. the endpoint's state is unknown and the edit went ahead
        self.waking = False
        self.reused = 0
        self.throttled: int | None = None  # the endpoint's lowered in-flight limit
        self.endpoint: dict[str, Any] = {}  # state, phase and wait while the endpoint is not running
        self.eta: float | None = None  # the endpoint's typical time per request (its recent median)
        self.limit: int | None = None  # the endpoint's shared limit, when it caps this node's concurrency
        self.price_per_gpu_hour = 0.0  # Settings > Friendli
        self.gpus = 1  # the endpoint's GPUs, once its spec said
        self._busy: list[tuple[float, float]] = []  # (sent, answered) of each request, monotonic
        self.started = time.monotonic()
        self._events: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._bar = host.progress_bar(total, self.node)
        self._sent_event = self._sent_text = float("-inf")
        self._dirty = False

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def endpoint_seconds(self) -> float:
        """The time the endpoint worked for this run: the union of its requests' (sent, answered) spans."""
        total, reach = 0.0, float("-inf")
        for start, end in sorted(self._busy):
            if end > reach:
                total += end - max(start, reach)
                reach = end
        return total

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
        if self.retry:
            r = self.retry
            parts.append(f"retry {r['attempt']}/{r['max']} · {r['cause']} · next in {r['wait']:.0f} s")
        if self.advisory:
            parts.append(self.advisory)
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
            if self._busy:
                cost = f" ≈ ${self.cost:.2f}" if self.cost is not None else ""
                parts.append(f"endpoint time {self.endpoint_seconds:.1f} s{cost}")
        return " · ".join(parts)

    def on_client_event(self, event: dict[str, Any]) -> None:
        """The client's ``on_event`` hook; safe from any thread."""
        self._events.put(event)

    def start(self) -> None:
        self._report("running", force=True)

    def image_done(self) -> None:
        """One more image finished (the run's thread)."""
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
        now = time.monotonic()
        if self._dirty and now - self._sent_event >= EVENT_INTERVAL:
            self._report("running", force=True)
        elif now - self._sent_text >= TEXT_INTERVAL:  # let the clock in the status text tick
            host.send_text(self.text(), self.node)
            self._sent_text = now
        return False

    def report_done(self, seeds: list[int], failed: list[int] | None = None) -> None:
        """The run succeeded; ``failed`` (0-based) images were kept unchanged."""
        self._drain()
        extra: dict[str, Any] = {}
        if failed:
            extra["failed"] = [i + 1 for i in failed]
            extra["warning"] = (f"image{'s' if len(failed) > 1 else ''} {', '.join(str(i + 1) for i in failed)} "
                                f"of {self.total} failed and {'were' if len(failed) > 1 else 'was'} kept unchanged")
        self._report("done", force=True, seeds=seeds, **extra)

    def report_failure(self, exc: BaseException, cancelled: bool) -> None:
        self._drain()
        extra = {} if cancelled else {"message": str(exc)}
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
                if not event.get("waking") and event.get("attempt"):
                    self.retry = {"attempt": event["attempt"], "max": event.get("max"),
                                  "cause": event.get("reason"), "wait": round(float(event.get("wait") or 0), 1)}
            elif kind == "advisory":
                self.advisory = str(event.get("text"))
            elif kind == "sent":
                self.eta = event.get("expected")
            elif kind == "endpoint_info":
                self.gpus = int(event["num_gpu"])
            elif kind == "answered":
                self._busy.append((float(event["start"]), float(event["end"])))
            elif kind == "reused":
                self.reused += 1
            elif kind == "throttled":
                self.throttled = event.get("limit")
            elif kind == "endpoint" and event.get("status") in ("RUNNING", "READY"):
                self.endpoint = {}
            elif kind == "endpoint":
                self.endpoint = {"endpoint_state": event.get("status"), "endpoint_phase": event.get("phase"),
                                 "endpoint_wait": round(float(event.get("waited") or 0), 1)}
            self._dirty = True

    def _report(self, state: str, force: bool = False, **extra: Any) -> None:
        """Send the event and the status text now, or (throttled) mark them due for ``poll``."""
        now = time.monotonic()
        if not force and now - self._sent_event < EVENT_INTERVAL:
            self._dirty = True
            return
        host.send_event(EVENT, {"node": self.node, "state": state, "done": self.done, "total": self.total,
                                "elapsed": round(self.elapsed, 2), "retries": self.retries,
                                "waking": self.waking, "reused": self.reused, "throttled": self.throttled,
                                "retry": self.retry, "advisory": self.advisory, "eta": self.eta,
                                "endpoint_s": round(self.endpoint_seconds, 2), "cost": self.cost,
                                "limit": self.limit, "stored": self.stored,
                                **self.endpoint, **extra})
        host.send_text(self.text(), self.node)
        self._sent_event = self._sent_text = now
        self._dirty = False
