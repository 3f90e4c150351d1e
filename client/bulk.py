"""Many requests in constant memory: what ``client.edit_many`` and ``client.generate_many`` return.

Items are taken from their iterable only as turns free up: ``2 × concurrency`` threads each read
and encode one item, then send it when one of ``concurrency`` slots frees (in item order, as the
nodes do), so the next requests are ready while others are on the network. A result waits for the
caller to take it before its thread takes another item: at most ``2 × concurrency`` items are alive
(read, in flight, or handed to the caller) however many the iterable holds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import count
from typing import TYPE_CHECKING, Any

from .errors import FriendliCancelledError
from .request import ImageRequest
from .runner import OrderedSlots, stream_jobs
from .transport import CancelScope

if TYPE_CHECKING:
    from .api import EditedImage, FriendliImageClient


@dataclass
class Item:
    """One request of a bulk run. ``image``: what ``edit`` takes (a list = one multi-image edit), a
    generation's control images (a list; None = the run's), or a function of no arguments returning
    either, called on a worker thread when the item's turn comes (read files there, not before).
    ``seed`` overrides the run's ``seed + index``."""

    key: Any
    image: Any = None
    seed: int | None = None


@dataclass
class BulkResult:
    """The outcome of one item: its ``key`` and position ``index``; the ``images`` (empty on failure),
    the ``seed`` (as the endpoint reported it, else as sent), the ``error`` of a failed item, and the
    seconds its attempts were at the endpoint (retry waits and queueing left out; 0 from the result store)."""

    key: Any
    index: int
    images: list[EditedImage] = field(default_factory=list, repr=False)
    seed: int | None = None
    error: Exception | None = None
    endpoint_seconds: float | None = None

    @property
    def status(self) -> str:
        return "failed" if self.error is not None else "ok"


class _Busy:
    """The union of the spans during which at least one attempt of the run was at the endpoint."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self._since = 0.0
        self._total = 0.0

    def start(self) -> None:
        with self._lock:
            if self._active == 0:
                self._since = time.monotonic()
            self._active += 1

    def stop(self) -> None:
        with self._lock:
            self._active -= 1
            if self._active == 0:
                self._total += time.monotonic() - self._since

    @property
    def seconds(self) -> float:
        with self._lock:
            return self._total + (time.monotonic() - self._since if self._active else 0.0)


class BulkRun:
    """An iterator of ``BulkResult`` in the order they complete. Use it in a ``with`` block (or call
    ``close``): leaving early stops the run, its open requests closed. After ``max_failures`` failed
    items nothing new is sent; requests already sent finish and are yielded, then the run ends
    (``stopped`` says so; ``not_sent`` counts the items prepared but never sent). ``cancel`` is polled
    every 0.1 s; True stops the run at once (FriendliCancelledError). No deadline bounds the whole
    run; each request has the client's timeouts."""

    def __init__(self, client: FriendliImageClient, request: ImageRequest, items: Iterable[Item], *,
                 default_image: Any = None, concurrency: int = 4, max_failures: int | None = None,
                 cancel: Callable[[], bool] | None = None) -> None:
        client.check_ready(request)  # the key and every field, before anything is read or sent
        if max_failures is not None and max_failures < 1:
            raise ValueError("max_failures must be at least 1 (or None for no limit)")
        self.client, self.request = client, request
        self.concurrency = max(1, int(concurrency))
        self.max_failures = max_failures
        self.scope = CancelScope(None)
        self.done = self.failed = self.not_sent = 0
        self.stopped = False
        self._failures = 0
        self._lock = threading.Lock()
        self._busy = _Busy()
        self._slots = OrderedSlots(self.concurrency)
        self._default_image = default_image
        self._results = self._run(items, cancel)

    @property
    def endpoint_seconds(self) -> float:
        """Wall seconds during which at least one request of the run was at the endpoint (its billed time)."""
        return self._busy.seconds

    def __iter__(self) -> Iterator[BulkResult]:
        return self

    def __next__(self) -> BulkResult:
        return next(self._results)

    def __enter__(self) -> BulkRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the run: nothing more is sent, open requests are closed."""
        self.scope.cancel()
        self._results.close()

    def _run(self, items: Iterable[Item], cancel: Callable[[], bool] | None) -> Iterator[BulkResult]:
        jobs = self._jobs(items)
        workers = 2 * self.concurrency
        for _, ok, value in stream_jobs(jobs, workers=workers, window=workers, cancel=cancel, scope=self.scope):
            if not ok:
                if isinstance(value, FriendliCancelledError) and self.scope.closed.is_set():
                    self.not_sent += 1  # prepared, then the run stopped sending
                    continue
                raise value  # type: ignore[misc]
            result: BulkResult = value  # type: ignore[assignment]
            del value
            if result.error is None:
                self.done += 1
            else:
                self.failed += 1
            yield result
            del result  # before the next is asked for (which frees its turn)

    def _jobs(self, items: Iterable[Item]) -> Iterator[Callable[[], BulkResult]]:
        """A job per item; while suspended it holds none of them (no name is bound to one)."""
        source = iter(items)
        for index in count():
            try:
                yield partial(self._job, index, next(source))
            except StopIteration:
                return

    def _job(self, index: int, item: Item) -> BulkResult:
        """Read, encode and send one item; its failure is its result (a stop of the run is raised)."""
        seed = item.seed if item.seed is not None else (None if self.request.seed is None
                                                        else self.request.seed + index)
        result = BulkResult(item.key, index, seed=seed)
        try:
            image = item.image() if callable(item.image) else item.image
            if image is None:
                image = self._default_image
            body = self.client.body(replace(self.request, seed=seed), image)
            del image
        except Exception as exc:  # noqa: BLE001 - this item fails, the others go on
            result.error = exc
            self._failure()
            self._skip(index)
            return result
        except BaseException:
            self._skip(index)
            raise
        with self._slots.slot(index, self.scope.closed.is_set) as release:  # freed once answered
            spans: list[float] = []  # each attempt's time at the endpoint: retry waits and queueing left out

            def on_event(event: dict[str, Any]) -> None:
                if event.get("type") == "attempt_sent":
                    self._busy.start()
                elif event.get("type") == "attempt_done":
                    self._busy.stop()
                    spans.append(event["end"] - event["start"])
            try:
                with self.client.observe(on_event):
                    result.images = self.client.send(body, self.scope, None, release)
                del body
            except FriendliCancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                result.error = exc
                self._failure()  # before the slot frees: past max_failures the next request must not leave
            finally:
                result.endpoint_seconds = round(sum(spans), 3)
        if result.images and result.images[0].seed is not None:
            result.seed = result.images[0].seed
        return result

    def _failure(self) -> None:
        """Count a failed item; at ``max_failures`` nothing new is sent."""
        with self._lock:
            self._failures += 1
            if self.max_failures is None or self._failures < self.max_failures or self.stopped:
                return
            self.stopped = True
        self.scope.drain(FriendliCancelledError(f"not sent: {self._failures} items failed "
                                                f"(max_failures {self.max_failures})"))

    def _skip(self, index: int) -> None:
        """Item ``index`` sends nothing: its turn passes, so the items after it go on."""
        try:
            with self._slots.slot(index, self.scope.closed.is_set):
                pass
        except FriendliCancelledError:
            pass


def edit_items(items: Iterable[Any]) -> Iterator[Item]:
    """``edit_many``'s items as ``Item``: an Item, a ``(key, image)`` pair, or an image (its key = its position)."""
    source = iter(items)
    for index in count():
        try:
            yield _edit_item(next(source), index)
        except StopIteration:
            return


def _edit_item(raw: Any, index: int) -> Item:
    if isinstance(raw, Item):
        return raw
    return Item(raw[0], raw[1]) if isinstance(raw, tuple) and len(raw) == 2 else Item(index, raw)


def generate_items(items: Iterable[Any]) -> Iterator[Item]:
    """``generate_many``'s items as ``Item``: an Item, or a key (the run's control images)."""
    source = iter(items)
    while True:
        try:
            raw = next(source)
        except StopIteration:
            return
        yield raw if isinstance(raw, Item) else Item(raw)
