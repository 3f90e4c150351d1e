"""The job pool: order, failures, cancellation, deadline, and ordered slots."""

from __future__ import annotations

import importlib
import threading
import time

import pytest


@pytest.fixture(scope="module")
def runner(pack):
    return importlib.import_module(pack.__name__ + ".client.runner")


def test_results_keep_job_order_and_on_done_runs_on_the_calling_thread(runner):
    seen = []
    jobs = [lambda i=i: (time.sleep(0.05 * (3 - i)), i * 10)[1] for i in range(4)]
    out = runner.run_jobs(jobs, workers=4, on_done=lambda i, r: seen.append((i, threading.current_thread())))
    assert out == [0, 10, 20, 30]
    assert sorted(i for i, _ in seen) == [0, 1, 2, 3] and {t for _, t in seen} == {threading.current_thread()}


def test_first_failure_names_the_job(runner, client_pkg):
    def boom():
        raise ValueError("bad pixels")

    with pytest.raises(client_pkg.FriendliBatchError, match="image 2 of 3 failed: bad pixels") as info:
        runner.run_jobs([lambda: 1, boom, lambda: 3], workers=1)
    assert info.value.index == 1 and isinstance(info.value.cause, ValueError)
    assert info.value.__cause__ is info.value.cause  # chained; its traceback is dropped (no buffers kept alive)
    with pytest.raises(ValueError):  # a single job raises its own error
        runner.run_jobs([boom])


def test_cancel_and_deadline_return_without_waiting_and_stop_the_jobs(runner, client_pkg, pack):
    transport = importlib.import_module(pack.__name__ + ".client.transport")
    release, finished = threading.Event(), []

    def stuck():
        release.wait(30)
        finished.append(1)

    flag = threading.Event()
    threading.Timer(0.2, flag.set).start()
    with pytest.raises(client_pkg.FriendliCancelledError):
        runner.run_jobs([stuck], cancel=flag.is_set)
    scope, stopped = transport.CancelScope(), threading.Event()
    with pytest.raises(client_pkg.FriendliTimeoutError):
        runner.run_jobs([lambda: scope.event.wait(30) and stopped.set()], deadline=0.2, scope=scope)
    assert finished == []  # both returned while their jobs still ran
    assert stopped.wait(5)  # and the run's scope told the abandoned job to stop
    release.set()
    ran = []
    with pytest.raises(client_pkg.FriendliCancelledError):  # already cancelled: nothing starts
        runner.run_jobs([lambda: ran.append(1)], cancel=lambda: True)
    assert ran == []


def test_ordered_slots_admit_in_index_order_and_bound_holders(runner, client_pkg):
    slots = runner.OrderedSlots(2)
    lock, held, order, peak = threading.Lock(), [0], [], [0]

    def job(i):
        time.sleep(0.01 * (5 - i))  # later jobs are ready first
        with slots.slot(i, lambda: False):
            with lock:
                order.append(i)
                held[0] += 1
                peak[0] = max(peak[0], held[0])
            time.sleep(0.02)
            with lock:
                held[0] -= 1

    runner.run_jobs([lambda i=i: job(i) for i in range(6)], workers=6)
    assert order == list(range(6)) and peak[0] == 2
    with pytest.raises(client_pkg.FriendliCancelledError):
        with runner.OrderedSlots(1).slot(1, lambda: True):  # waiting for job 0, then stopped
            pass
