"""Run blocking jobs on a bounded pool that the caller can stop at any moment.

When the caller cancels or the deadline passes, ``run_jobs`` returns at once (within ``poll``
seconds) and stops the run's ``CancelScope``: jobs not yet started never start, sleeping retries
wake, open sockets are shut down, so the worker threads end within moments and no request is sent
after that. When a job fails, the run drains instead: nothing new is sent, but requests the
endpoint already received run to their answer (and are kept in the result store), since their
work is done and paid for; then the failure is raised.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from .errors import FriendliBatchError, FriendliCancelledError, FriendliTimeoutError
from .transport import CancelScope

T = TypeVar("T")


def run_jobs(
    jobs: Sequence[Callable[[], T]],
    *,
    workers: int = 4,
    cancel: Callable[[], bool] | None = None,
    on_done: Callable[[int, T], None] | None = None,
    deadline: float | None = None,
    poll: float = 0.1,
    scope: CancelScope | None = None,
    keep_failures: bool = False,
) -> list[T]:
    """Run ``jobs`` with at most ``workers`` at once; results in job order.

    ``cancel`` is checked every ``poll`` seconds (raise FriendliCancelledError); ``deadline``
    bounds the whole run in seconds (FriendliTimeoutError), as does ``scope``'s own deadline. The
    first failing job drains the run (see the module docstring), then raises FriendliBatchError
    (or the job's own error for a single job), unless ``keep_failures``: then a failed job's
    exception is its result and the others go on. ``on_done(index, result)`` runs on the calling
    thread for each job that succeeded. Jobs should use ``scope`` for their requests.
    """
    total = len(jobs)
    if total == 0:
        return []
    scope = scope or CancelScope()
    if deadline is not None:
        limit = CancelScope(deadline).deadline
        scope.deadline = limit if scope.deadline is None else min(scope.deadline, limit)  # type: ignore[type-var]
    results: list[object] = [None] * total
    failure: tuple[int, BaseException] | None = None
    succeeded = finished = 0
    try:
        for index, ok, value in stream_jobs(jobs, workers=min(workers, total), cancel=cancel, poll=poll,
                                            scope=scope):
            finished += 1
            if not ok and scope.stopped:
                scope.check()  # the job failed because the run was stopped: say why
            if not ok and not (keep_failures and _is_item_failure(value)):
                if failure is None or (_is_item_failure(value) and not _is_item_failure(failure[1])):
                    failure = (index, value)  # type: ignore[assignment]
                scope.drain()
                continue
            results[index] = value
            succeeded += ok
            if on_done is not None:
                on_done(index, value)  # type: ignore[arg-type]
        if failure is None and finished < total:
            scope.check_new()  # drained from outside before every job started: say why
        if failure is not None:
            index, error = failure
            if not _is_item_failure(error):
                scope.check_new()  # drained from outside, no job of its own failed: say why
            if total == 1:
                raise error
            raise FriendliBatchError(index, total, error, finished=succeeded) from error
    except BaseException as exc:
        scope.cancel(exc if isinstance(exc, (FriendliCancelledError, FriendliTimeoutError)) else
                     FriendliCancelledError("stopped: another request of this run failed"))
        raise
    return results  # type: ignore[return-value]


def stream_jobs(
    jobs: Iterable[Callable[[], T]],
    *,
    workers: int = 4,
    window: int | None = None,
    cancel: Callable[[], bool] | None = None,
    poll: float = 0.1,
    scope: CancelScope | None = None,
) -> Iterator[tuple[int, bool, T | BaseException]]:
    """Run ``jobs``, taken lazily from an iterable, on ``workers`` threads; yield ``(index, ok, result
    or exception)`` on the calling thread as each finishes. The pool ``run_jobs`` runs on.

    At most ``window`` jobs (default ``workers``) are taken and not yet handed on: a job's turn
    returns once the caller asks for the next one, so a slow caller holds the pool back and a
    million jobs cost no more memory than ``window``. Once ``scope`` drains no job is taken any
    more, and the stream ends when those started are done. ``cancel`` (polled every ``poll`` s),
    the scope's deadline or stop raise as in ``run_jobs``; closing the stream early stops the scope.
    """
    scope = scope or CancelScope()
    threads = max(1, workers)
    turns = threading.Semaphore(max(threads, window or threads))
    source = iter(jobs)  # not enumerate(): its reused result tuple would keep the last job alive
    taken = [0]
    source_lock = threading.Lock()
    finished: queue.SimpleQueue[tuple[int, bool, object] | None] = queue.SimpleQueue()

    def take() -> tuple[int, Callable[[], T]] | None:
        """The next job and its index, holding a turn; None when there is none or no new job may start."""
        while not turns.acquire(timeout=poll):
            if scope.closed.is_set():
                return None
        with source_lock:
            try:
                if not scope.closed.is_set():
                    job = next(source)
                    taken[0] += 1
                    return taken[0] - 1, job
            except StopIteration:
                pass
            except BaseException as exc:  # noqa: BLE001 - the iterable itself failed: the caller raises it
                forget_frames(exc)
                finished.put((-1, False, exc))
        turns.release()
        return None

    def work() -> None:
        try:
            while (next_job := take()) is not None:
                index, job = next_job
                del next_job
                try:
                    finished.put((index, True, job()))
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    forget_frames(exc)
                    finished.put((index, False, exc))
                del job  # nothing of a finished job stays alive while waiting for the next turn
        finally:
            finished.put(None)

    if cancel is not None and cancel():
        scope.cancel()
    scope.check()
    for _ in range(threads):
        threading.Thread(target=work, daemon=True, name="friendli-job").start()
    running = threads
    try:
        while running:
            item = _next(finished, scope, cancel, poll)
            if item is None:
                running -= 1
                continue
            index, ok, value = item
            del item
            if index < 0:
                raise value  # type: ignore[misc]
            try:
                yield index, ok, value  # type: ignore[misc]
            finally:
                del value
                turns.release()
    except BaseException as exc:
        scope.cancel(exc if isinstance(exc, (FriendliCancelledError, FriendliTimeoutError)) else
                     FriendliCancelledError("stopped"))
        raise


def forget_frames(exc: BaseException) -> None:
    """Drop the tracebacks of ``exc`` and its causes, so a failure keeps no answer or body alive."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc.__traceback__ = None
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]


def _next(finished: "queue.SimpleQueue[tuple[int, bool, object] | None]", scope: CancelScope,
          cancel: Callable[[], bool] | None, poll: float) -> tuple[int, bool, object] | None:
    """The next finished job, checking ``cancel`` and the scope every ``poll`` seconds."""
    while True:
        if cancel is not None and cancel():
            scope.cancel()
        scope.check()
        try:
            return finished.get(timeout=poll)
        except queue.Empty:
            continue


def _is_item_failure(exc: object) -> bool:
    """A job's own failure (kept with ``keep_failures``), as opposed to the run being stopped."""
    return isinstance(exc, Exception) and not isinstance(exc, FriendliCancelledError)


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
    def slot(self, index: int, stop: Callable[[], bool]) -> Iterator[Callable[[], None]]:
        """Hold a slot for job ``index``; FriendliCancelledError if ``stop()`` turns true while waiting.
        Yields a ``release`` to give the slot back before the block ends (idempotent)."""
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
        released = []

        def release() -> None:
            with self._cond:
                if not released:
                    released.append(True)
                    self._held -= 1
                    self._cond.notify_all()
        try:
            yield release
        finally:
            release()
