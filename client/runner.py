"""Run blocking jobs on a bounded pool that the caller can abandon at any moment.

Workers are daemon threads: when the caller cancels, times out or a job fails,
``run_jobs`` returns at once (within ``poll`` seconds) and jobs still in flight
are left to finish on their own; their results are discarded and nothing waits
for them, so no thread keeps a run or the process alive.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from .errors import FriendliBatchError, FriendliCancelledError, FriendliTimeoutError

T = TypeVar("T")


def run_jobs(
    jobs: Sequence[Callable[[], T]],
    *,
    workers: int = 4,
    cancel: Callable[[], bool] | None = None,
    on_done: Callable[[int, T], None] | None = None,
    deadline: float | None = None,
    poll: float = 0.1,
) -> list[T]:
    """Run ``jobs`` with at most ``workers`` at once; results in job order.

    ``cancel`` is checked every ``poll`` seconds (raise FriendliCancelledError);
    ``deadline`` bounds the whole run in seconds (FriendliTimeoutError); the first
    failing job stops the run (FriendliBatchError, or the job's own error for a
    single job). ``on_done(index, result)`` runs on the calling thread.
    """
    total = len(jobs)
    if total == 0:
        return []
    if cancel is not None and cancel():
        raise FriendliCancelledError("cancelled by the user")
    pending: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(total):
        pending.put(index)
    finished: queue.SimpleQueue[tuple[int, bool, object]] = queue.SimpleQueue()
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            try:
                index = pending.get_nowait()
            except queue.Empty:
                return
            try:
                finished.put((index, True, jobs[index]()))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                finished.put((index, False, exc))

    for _ in range(max(1, min(workers, total))):
        threading.Thread(target=work, daemon=True, name="friendli-job").start()

    results: list[object] = [None] * total
    started = time.monotonic()
    try:
        for _ in range(total):
            while True:
                if cancel is not None and cancel():
                    raise FriendliCancelledError("cancelled by the user")
                if deadline is not None and time.monotonic() - started > deadline:
                    raise FriendliTimeoutError(
                        f"no answer within the total deadline of {deadline:g} s; the endpoint may be busy "
                        "or waking up, try again or raise the deadline"
                    )
                try:
                    index, ok, value = finished.get(timeout=poll)
                    break
                except queue.Empty:
                    continue
            if not ok:
                if total == 1:
                    raise value  # type: ignore[misc]
                raise FriendliBatchError(index, total, value)  # type: ignore[arg-type]
            results[index] = value
            if on_done is not None:
                on_done(index, value)  # type: ignore[arg-type]
    finally:
        stop.set()
    return results  # type: ignore[return-value]


class OrderedSlots:
    """At most ``limit`` holders at once, admitted strictly in index order 0, 1, 2, ...

    Lets a pool prepare more jobs than may be in flight (encode the next requests while
    others wait on the network) without changing the order in which they are sent.
    """

    def __init__(self, limit: int) -> None:
        self._limit = max(1, limit)
        self._next = 0
        self._held = 0
        self._cond = threading.Condition()

    @contextmanager
    def slot(self, index: int, stop: Callable[[], bool]) -> Iterator[None]:
        """Hold a slot for job ``index``; FriendliCancelledError if ``stop()`` turns true while waiting."""
        with self._cond:
            while True:
                if stop():
                    raise FriendliCancelledError("cancelled before it was sent")
                if self._next == index and self._held < self._limit:
                    break
                self._cond.wait(0.1)
            self._next += 1
            self._held += 1
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._held -= 1
                self._cond.notify_all()
