"""The shared per-endpoint limiter and the CPU pool: fairness, bounds, AIMD, cancellation (no timings)."""

from __future__ import annotations

import importlib
import os
import threading

import pytest


@pytest.fixture
def sched(pack):
    return importlib.import_module(pack.__name__ + ".client.scheduler")


def start_waiters(limiter, count, stop, order, barrier=None):
    """Threads that arrive one after another (each queued before the next starts) and record admissions."""
    threads = []
    for i in range(count):
        def wait(i=i):
            limiter.acquire(stop)
            order.append(i)
        t = threading.Thread(target=wait, daemon=True)
        queued = len(limiter._queue)
        t.start()
        while len(limiter._queue) == queued and t.is_alive():  # until it has taken its place in the queue
            threading.Event().wait(0.005)
        threads.append(t)
    return threads


def test_first_come_first_served_and_never_over_the_limit(sched):
    limiter = sched.EndpointLimiter(2)
    stop = threading.Event()
    limiter.acquire(stop), limiter.acquire(stop)  # full
    order = []
    threads = start_waiters(limiter, 6, stop, order)
    for _ in range(6):
        assert limiter.in_flight <= limiter.limit
        limiter.release("other")
        while len(order) < _ + 1:
            threading.Event().wait(0.005)
    for t in threads:
        t.join(2)
    assert order == list(range(6)) and limiter.in_flight == 2


def test_a_burst_of_429s_halves_once_and_successes_climb_back(sched):
    limiter = sched.EndpointLimiter(8)
    stop = threading.Event()
    admissions = [limiter.acquire(stop) for _ in range(8)]
    for a in admissions:  # eight requests sent together, all answered 429
        limiter.throttle(a)
    assert limiter.limit == 4 and limiter.throttled
    for a in admissions:
        limiter.release("other", a)
    for expected in (2, 1, 1):  # each new window halves again, never below 1
        a = limiter.acquire(stop)
        limiter.release("throttled", a)
        assert limiter.limit == expected
    for expected in range(2, 9):
        limiter.release("ok", limiter.acquire(stop))
        assert limiter.limit == expected
    limiter.release("ok", limiter.acquire(stop))
    assert limiter.limit == 8 and not limiter.throttled


def test_cancel_while_waiting_leaves_the_queue(sched, client_pkg):
    limiter = sched.EndpointLimiter(1)
    limiter.acquire(threading.Event())
    cancelled, other, order = threading.Event(), threading.Event(), []
    errors = []

    def first():
        try:
            limiter.acquire(cancelled)
        except client_pkg.FriendliCancelledError as exc:
            errors.append(exc)

    t = threading.Thread(target=first, daemon=True)
    t.start()
    while not limiter._queue:
        threading.Event().wait(0.005)
    threads = start_waiters(limiter, 1, other, order)
    cancelled.set()
    t.join(2)
    assert errors and not t.is_alive()
    limiter.release("other")
    threads[0].join(2)
    assert order == [0]  # the one behind the cancelled waiter got the slot
    with pytest.raises(client_pkg.FriendliTimeoutError):
        limiter.acquire(threading.Event(), timeout=0.05)


def test_limiters_are_shared_per_base_url_and_endpoint(sched):
    a = sched.limiter_for("https://api.friendli.ai", "ep1", 8)
    assert sched.limiter_for("https://api.friendli.ai", "ep1", 8) is a
    assert sched.limiter_for("https://api.friendli.ai", "ep2", 8) is not a
    assert sched.limiter_for("https://other.example", "ep1", 8) is not a
    assert sched.limiter_for("https://api.friendli.ai", "ep1", 3) is a and a.max_limit == 3 and a.limit == 3


def test_cpu_pool_has_one_thread_per_core_and_cancels_queued_jobs(sched, client_pkg):
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    pool = sched.cpu_pool()
    assert pool._max_workers == cores and sched.cpu_pool() is pool
    assert sched.run_cpu(sum, [1, 2, 3], stop=threading.Event()) == 6
    release, started, ran = threading.Event(), threading.Semaphore(0), []
    blockers = [pool.submit(lambda: (started.release(), release.wait(10))) for _ in range(cores)]
    for _ in range(cores):
        started.acquire(timeout=5)  # every worker is busy now
    stop = threading.Event()
    stop.set()
    with pytest.raises(client_pkg.FriendliCancelledError):
        sched.run_cpu(lambda: ran.append(1), stop=stop)
    release.set()
    for b in blockers:
        b.result(5)
    pool.submit(lambda: None).result(5)
    assert ran == []  # the queued job never ran


def test_a_storm_of_threads_fills_the_limit_and_never_exceeds_it(sched):
    limit, rounds = 3, 8
    limiter = sched.EndpointLimiter(limit)
    stop = threading.Event()
    together = threading.Barrier(limit, timeout=10)  # only passes when `limit` requests are in flight at once
    lock, counts, errors = threading.Lock(), {"now": 0, "peak": 0}, []

    def request():
        try:
            with limiter.slot(stop):
                with lock:
                    counts["now"] += 1
                    counts["peak"] = max(counts["peak"], counts["now"])
                together.wait()
                with lock:
                    counts["now"] -= 1
        except BaseException as exc:  # a broken barrier means the limiter admitted fewer than `limit`
            errors.append(exc)

    threads = [threading.Thread(target=request, daemon=True) for _ in range(limit * rounds)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not errors and counts["peak"] == limit and limiter.in_flight == 0 and limiter.limit == limit


def test_a_burst_of_throttled_releases_without_numbers_halves_once(sched):
    limiter = sched.EndpointLimiter(8)
    stop = threading.Event()
    all_in, errors = threading.Barrier(8, timeout=10), []

    def request():  # acquire and release in the same thread, as the client does; no admission numbers
        try:
            limiter.acquire(stop)
            all_in.wait()  # all eight were sent together
            limiter.release("throttled")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=request, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors and limiter.limit == 4 and limiter.in_flight == 0
    limiter.acquire(stop)
    limiter.throttle()  # a 429 of a request admitted after the halving: a new window
    assert limiter.limit == 2
    limiter.release("throttled")  # the same request ends throttled: the same window
    assert limiter.limit == 2


def test_slot_outcomes(sched, client_pkg):
    limiter = sched.EndpointLimiter(4)
    stop = threading.Event()
    with limiter.slot(stop) as s:
        s.throttle()  # a 429 on the way
        assert limiter.limit == 2 and limiter.in_flight == 1
    assert limiter.limit == 3 and limiter.in_flight == 0  # it then succeeded: one back
    with pytest.raises(client_pkg.FriendliRateLimitError):
        with limiter.slot(stop):
            raise client_pkg.FriendliRateLimitError("429 after every retry")
    assert limiter.limit == 1 and limiter.in_flight == 0
    with pytest.raises(ValueError):
        with limiter.slot(stop):
            raise ValueError("broken")
    assert limiter.limit == 1 and limiter.in_flight == 0  # "other" leaves the limit
    with pytest.raises(ValueError):
        with limiter.slot(stop) as s:
            s.outcome = "ok"  # the answer arrived; decoding failed afterwards
            raise ValueError("not an image")
    assert limiter.limit == 2
    with limiter.slot(stop) as s:
        s.outcome = "other"
    assert limiter.limit == 2 and limiter.in_flight == 0


def test_a_stopped_caller_is_never_admitted(sched, client_pkg):
    limiter = sched.EndpointLimiter(2)
    stop = threading.Event()
    stop.set()
    with pytest.raises(client_pkg.FriendliCancelledError):
        limiter.acquire(stop)
    assert limiter.in_flight == 0 and not limiter._queue


def test_raising_the_maximum_admits_waiters(sched):
    limiter = sched.EndpointLimiter(1)
    stop = threading.Event()
    limiter.acquire(stop)
    order = []
    threads = start_waiters(limiter, 2, stop, order)
    limiter.set_max(3)
    for t in threads:
        t.join(5)
    assert order == [0, 1] and limiter.in_flight == 3 and limiter.limit == 3
    limiter.throttle()
    limiter.set_max(2)  # lowered while throttled: stays throttled, below the new maximum
    assert limiter.limit == 1 and limiter.max_limit == 2 and limiter.throttled


def test_run_cpu_stops_waiting_for_a_running_job(sched, client_pkg):
    started, release, stop = threading.Event(), threading.Event(), threading.Event()
    finished = []

    def job():
        started.set()
        release.wait(10)
        finished.append(1)

    def cancel_when_started():
        started.wait(10)
        stop.set()

    threading.Thread(target=cancel_when_started, daemon=True).start()
    try:
        with pytest.raises(client_pkg.FriendliCancelledError):
            sched.run_cpu(job, stop=stop)
        assert started.is_set() and finished == []  # returned while the job still ran
    finally:
        release.set()
