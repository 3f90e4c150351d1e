"""Process-wide resources: one adaptive in-flight limit per endpoint, one memory budget for answers
in flight, and one CPU pool for image coding.

Every request to the same (base URL, endpoint) — from any node, prompt or the command line — takes
a slot of that endpoint's ``EndpointLimiter`` first, strictly first come, first served. A 429 halves
the limit (once per window: a burst of 429s from requests sent together counts once), each success
gives one slot back, up to the configured maximum (Settings > Friendli, default 8).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout  # not the builtin before Python 3.11
from contextlib import contextmanager
from typing import TypeVar

from .config import endpoint_key
from .errors import FriendliCancelledError, FriendliRateLimitError, FriendliTimeoutError

T = TypeVar("T")
POLL = 0.05
DEFAULT_MEMORY_BUDGET = 512 << 20  # Settings > Friendli (prefs.memory_budget_mib)


class EndpointLimiter:
    """A fair, adaptive limit on the requests in flight to one endpoint."""

    def __init__(self, limit: int) -> None:
        self.max_limit = max(1, int(limit))
        self.limit = self.max_limit
        self.in_flight = 0
        self._cond = threading.Condition()
        self._queue: deque[object] = deque()  # waiting tickets, oldest first
        self._admitted = 0  # admissions so far
        self._window_end = 0  # a halving ignores 429s of requests admitted before it
        self._mine = threading.local()  # admissions held by the calling thread (release without a number)

    @property
    def throttled(self) -> bool:
        return self.limit < self.max_limit

    def acquire(self, stop: threading.Event, timeout: float | None = None) -> int:
        """Wait for a slot, in arrival order; returns the admission number (for ``release``).

        FriendliCancelledError when ``stop`` is (or becomes) set before admission, FriendliTimeoutError
        after ``timeout`` seconds; either way the caller leaves the queue and those behind move up.
        """
        if stop.is_set():
            raise FriendliCancelledError("cancelled before the request was sent")
        ticket = object()
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._queue.append(ticket)
            try:
                while self._queue[0] is not ticket or self.in_flight >= self.limit:
                    if stop.is_set():
                        raise FriendliCancelledError("cancelled while waiting for the endpoint's in-flight limit")
                    if end is not None and time.monotonic() >= end:
                        raise FriendliTimeoutError("waited too long for the endpoint's in-flight limit")
                    self._cond.wait(POLL)
            finally:
                self._queue.remove(ticket)
                self._cond.notify_all()
            self.in_flight += 1
            self._admitted += 1
            self._held().append(self._admitted)
            return self._admitted

    def _held(self) -> list[int]:
        held = getattr(self._mine, "held", None)
        if held is None:
            held = self._mine.held = []
        return held

    def throttle(self, admission: int | None = None) -> None:
        """A 429: halve the limit, unless this request was admitted before the last halving.

        Without ``admission`` the calling thread's latest admission counts (if it holds one)."""
        if admission is None and self._held():
            admission = self._held()[-1]
        with self._cond:
            if admission is not None and admission <= self._window_end:
                return
            self.limit = max(1, self.limit // 2)
            self._window_end = self._admitted
            self._cond.notify_all()

    def release(self, outcome: str = "other", admission: int | None = None) -> None:
        """Give the slot back: ``ok`` raises the limit by one, ``throttled`` halves it (see ``throttle``),
        anything else leaves it. Without ``admission`` the calling thread's latest admission is meant."""
        held = self._held()
        if admission is None and held:
            admission = held.pop()
        elif admission in held:
            held.remove(admission)
        if outcome == "throttled":
            self.throttle(admission)
        with self._cond:
            self.in_flight -= 1
            if outcome == "ok" and self.limit < self.max_limit:
                self.limit += 1
            self._cond.notify_all()

    @contextmanager
    def slot(self, stop: threading.Event, timeout: float | None = None) -> Iterator[Slot]:
        """``with limiter.slot(stop) as s:`` holds a slot for the block. The outcome given back is
        ``s.outcome`` if the block set it, else "ok" when the block ends normally, "throttled" when it
        raises FriendliRateLimitError and "other" for any other exception. ``s.throttle()`` reports a
        429 seen mid-request."""
        held = Slot(self, self.acquire(stop, timeout))
        try:
            yield held
        except FriendliRateLimitError:
            self.release(held.outcome or "throttled", held.admission)
            raise
        except BaseException:
            self.release(held.outcome or "other", held.admission)
            raise
        self.release(held.outcome or "ok", held.admission)

    def set_max(self, limit: int) -> None:
        """The setting changed."""
        with self._cond:
            was_throttled = self.throttled  # a lowered limit stays lowered (at most the new maximum)
            self.max_limit = max(1, int(limit))
            self.limit = min(self.limit, self.max_limit) if was_throttled else self.max_limit
            self._cond.notify_all()


class Slot:
    """One admitted request (see ``EndpointLimiter.slot``)."""

    def __init__(self, limiter: EndpointLimiter, admission: int) -> None:
        self.limiter = limiter
        self.admission = admission
        self.outcome: str | None = None  # "ok" | "throttled" | "other"; None = decided by how the block ends

    def throttle(self) -> None:
        """A 429 seen before the request ended (the retry machinery)."""
        self.limiter.throttle(self.admission)


_limiters: dict[tuple[str, str], EndpointLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(base_url: str, endpoint: str, max_limit: int) -> EndpointLimiter:
    """The process-wide limiter of (base URL, endpoint), created on first use; spellings of one
    endpoint share one (``config.endpoint_key``)."""
    key = endpoint_key(base_url, endpoint)
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            limiter = _limiters[key] = EndpointLimiter(max_limit)
        elif limiter.max_limit != max_limit:
            limiter.set_max(max_limit)
        return limiter


def reset_limiters() -> None:
    """Forget every limiter (tests; a fresh start)."""
    with _limiters_lock:
        _limiters.clear()


class MemoryBudget:
    """Bytes of answers being read or processed, for the whole process.

    Each answer takes a ``Lease``. An answer whose size is declared (Content-Length) reserves all of it
    before its first byte (``Lease.reserve``), so it never waits halfway; one of unknown size grows its
    lease chunk by chunk. A lease proceeds when what it asks fits the budget and, for a lease holding
    nothing yet, no older lease is waiting (first come, first served); or when it would hold everything in
    use (so one answer larger than the budget goes through alone). When every lease holding bytes waits
    for room (answers of unknown size, each half read), the oldest of them proceeds; only then can the
    peak pass the budget, by at most the rest of that one answer.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(1, int(limit))
        self.used = 0
        self.peak = 0  # the most ever held at once (benchmarks, tests)
        self._cond = threading.Condition()
        self._next = 0
        self._held: dict[int, int] = {}  # lease number -> bytes, for leases holding some
        self._waiting: set[int] = set()  # leases waiting for room

    def lease(self, cap: int) -> "Lease":
        """A lease for one answer, whose raw bytes together may not pass ``cap``."""
        with self._cond:
            self._next += 1
            return Lease(self, self._next, cap)

    def _may(self, number: int, size: int) -> bool:
        mine = self._held.get(number, 0)
        if mine == 0 and any(w < number for w in self._waiting):  # a newcomer never overtakes
            return False
        if mine == self.used or self.used + size <= self.limit:  # alone (nothing else held), or it fits
            return True
        holders = [n for n in self._held if n != number]
        return mine > 0 and number < min(holders) and all(n in self._waiting for n in holders)

    def _take(self, lease: "Lease", size: int, stop: threading.Event) -> None:
        with self._cond:
            if not self._may(lease.number, size):
                self._waiting.add(lease.number)
                self._cond.notify_all()  # the oldest holder may now be the only one not waiting
                try:
                    while not self._may(lease.number, size):
                        if stop.is_set():
                            raise FriendliCancelledError("cancelled while waiting for memory to read the answer")
                        self._cond.wait(POLL)
                finally:
                    self._waiting.discard(lease.number)
                    self._cond.notify_all()
            self.used += size
            self._held[lease.number] = self._held.get(lease.number, 0) + size
            self.peak = max(self.peak, self.used)

    def _release(self, lease: "Lease") -> None:
        with self._cond:
            self.used -= self._held.pop(lease.number, 0)
            self._cond.notify_all()


class Lease:
    """One answer's share of the ``MemoryBudget``: ``reserve`` what a declared answer will hold, ``take``
    bytes as they are read, ``release`` once the answer is processed (or failed). ``raw`` counts the bytes
    read against ``cap``."""

    def __init__(self, budget: MemoryBudget, number: int, cap: int) -> None:
        self.budget, self.number, self.cap, self.raw = budget, number, cap, 0
        self._reserved = 0  # bytes held ahead of reading them

    def reserve(self, raw: int, weight: int, stop: threading.Event) -> None:
        """Hold ``raw`` bytes (``weight`` times over) before reading them: the read then never waits."""
        self.budget._take(self, raw * weight, stop)
        self._reserved += raw * weight

    def take(self, raw: int, weight: int, stop: threading.Event) -> None:
        """Account ``raw`` bytes read, held ``weight`` times over while they are processed (from the
        reservation first)."""
        size = raw * weight
        covered = min(size, self._reserved)
        self._reserved -= covered
        if size > covered:
            self.budget._take(self, size - covered, stop)
        self.raw += raw

    def release(self) -> None:
        self.budget._release(self)

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


_budget: MemoryBudget | None = None


def memory_budget(limit: int) -> MemoryBudget:
    """The process-wide budget, created on first use; ``limit`` (the setting) applies from now on."""
    global _budget
    with _limiters_lock:
        if _budget is None:
            _budget = MemoryBudget(limit)
        with _budget._cond:
            _budget.limit = max(1, int(limit))
            _budget._cond.notify_all()
        return _budget


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpu_pool() -> ThreadPoolExecutor:
    """One pool for image encoding and decoding across all nodes, one thread per core."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=cores(), thread_name_prefix="friendli-cpu")
        return _pool


def run_cpu(fn: Callable[..., T], *args: object, stop: threading.Event) -> T:
    """``fn(*args)`` on the CPU pool; FriendliCancelledError as soon as ``stop`` is set (a queued job
    never starts; a running one is no longer waited for)."""
    future = cpu_pool().submit(fn, *args)
    while True:
        if stop.is_set():
            future.cancel()
            raise FriendliCancelledError("cancelled")
        try:
            return future.result(timeout=POLL)
        except FutureTimeout:
            continue
