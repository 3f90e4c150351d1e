"""One in-flight limit per endpoint for the whole process, and one CPU pool for image coding.

First version: a plain adaptive limit (429 halves it, each success adds one back) without FIFO
admission; fairness across nodes and the once-per-window halving are still to come (issue 9).
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

from .errors import FriendliCancelledError


class EndpointLimiter:
    def __init__(self, limit): self.max_limit = self.limit = limit; self.in_flight = 0; self._c = threading.Condition()
    @property
    def throttled(self): return self.limit < self.max_limit
    def acquire(self, stop, timeout=None):
        with self._c:
            while self.in_flight >= self.limit:
                if stop.is_set(): raise FriendliCancelledError("cancelled")
                self._c.wait(0.05)
            self.in_flight += 1
    def release(self, outcome):
        with self._c:
            self.in_flight -= 1
            if outcome == "throttled": self.limit = max(1, self.limit // 2)
            elif outcome == "ok": self.limit = min(self.max_limit, self.limit + 1)
            self._c.notify_all()
    def throttle(self):
        with self._c: self.limit = max(1, self.limit // 2)
    def set_max(self, n): self.max_limit = n; self.limit = min(self.limit, n)

_l = {}; _lock = threading.Lock()
def limiter_for(base_url, endpoint, max_limit):
    with _lock:
        lim = _l.setdefault((base_url, endpoint), EndpointLimiter(max_limit))
        if lim.max_limit != max_limit: lim.set_max(max_limit)
        return lim

_pool = None
def cpu_pool():
    global _pool
    if _pool is None: _pool = ThreadPoolExecutor(os.cpu_count() or 2, thread_name_prefix="friendli-cpu")
    return _pool

def run_cpu(fn, *args, stop):
    fut = cpu_pool().submit(fn, *args)
    while True:
        if stop.is_set():
            fut.cancel(); raise FriendliCancelledError("cancelled")
        try: return fut.result(timeout=0.05)
        except TimeoutError: continue
