"""Progress of one node run, reported to the host from the node's calling thread.

Worker threads only put client events (retries) on a queue; ``poll`` (called by
``run_jobs`` every 0.1 s as its cancel hook) drains it and sends throttled updates:
the host progress bar, the ``friendli.progress`` websocket event and the status text.
"""

from __future__ import annotations

import queue
import time
from typing import Any

from . import host

EVENT = "friendli.progress"
EVENT_INTERVAL = 0.25  # at most 4 events per second, except start and end
TEXT_INTERVAL = 1.0  # the status text's clock ticks once a second


class BatchProgress:
    """Counts finished images, retries and waking notices of one run and reports them."""

    def __init__(self, total: int, node_id: Any) -> None:
        self.total = total
        self.node = None if node_id is None else str(node_id)
        self.done = 0
        self.retries = 0
        self.waking = False
        self.started = time.monotonic()
        self._events: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._bar = host.progress_bar(total, self.node)
        self._sent_event = self._sent_text = float("-inf")
        self._dirty = False

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def text(self) -> str:
        """E.g. ``3/8 done · 12.4 s · retry 2 · endpoint waking up``."""
        parts = [f"{self.done}/{self.total} done", f"{self.elapsed:.1f} s"]
        if self.retries:
            parts.append(f"retry {self.retries}")
        if self.waking:
            parts.append("endpoint waking up")
        return " · ".join(parts)

    def on_client_event(self, event: dict[str, Any]) -> None:
        """The client's ``on_event`` hook; safe from any thread."""
        self._events.put(event)

    def start(self) -> None:
        self._report("running", force=True)

    def image_done(self) -> None:
        """One more image finished (calling thread)."""
        self.done += 1
        self.waking = False
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

    def finish(self, seeds: list[int]) -> None:
        self._drain()
        self._report("done", force=True, seeds=seeds)

    def fail(self, exc: BaseException, cancelled: bool) -> None:
        self._drain()
        extra = {} if cancelled else {"message": str(exc)}
        self._report("cancelled" if cancelled else "error", force=True, **extra)

    def _drain(self) -> None:
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            if event.get("type") == "retry":
                self.retries += 1
                self.waking = self.waking or bool(event.get("waking"))
                self._dirty = True

    def _report(self, state: str, force: bool = False, **extra: Any) -> None:
        """Send the event and the status text now, or (throttled) mark them due for ``poll``."""
        now = time.monotonic()
        if not force and now - self._sent_event < EVENT_INTERVAL:
            self._dirty = True
            return
        host.send_event(EVENT, {"node": self.node, "state": state, "done": self.done, "total": self.total,
                                "elapsed": round(self.elapsed, 2), "retries": self.retries,
                                "waking": self.waking, **extra})
        host.send_text(self.text(), self.node)
        self._sent_event = self._sent_text = now
        self._dirty = False
