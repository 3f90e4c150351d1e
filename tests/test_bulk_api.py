"""client.edit_many / generate_many (issue 22 item 7) and runner.stream_jobs: results as they complete with
their keys and seeds, failures as results, bounded memory (a lazily produced iterable of objects that
count themselves alive), --max-failures' drain, stopping early; against the emulator over loopback."""

from __future__ import annotations

import importlib
import threading
import time
import weakref

import pytest

from helpers import TOKEN, photo, png_bytes

PNG = png_bytes(photo(16, 16))


@pytest.fixture
def client(pack, online):
    api = importlib.import_module(pack.__name__ + ".client.api")
    with api.FriendliImageClient(token=TOKEN, base_url=online.base_url) as c:
        yield c


@pytest.fixture(scope="module")
def runner(pack):
    return importlib.import_module(pack.__name__ + ".client.runner")


class Counted:
    """An input that counts the instances alive (a finalizer per instance); calling it reads the image."""

    alive = 0
    peak = 0
    lock = threading.Lock()

    def __init__(self) -> None:
        with Counted.lock:
            Counted.alive += 1
            Counted.peak = max(Counted.peak, Counted.alive)
        weakref.finalize(self, Counted._gone)

    @staticmethod
    def _gone() -> None:
        with Counted.lock:
            Counted.alive -= 1

    def __call__(self) -> bytes:
        return PNG


def test_results_come_as_they_complete_with_keys_and_seeds(client, online):
    online.fault("latency", seconds=0.3)  # the first request to arrive answers last
    items = ((f"k{i}", PNG) for i in range(4))
    with client.edit_many(items, "x", endpoint_id="test-endpoint", seed=20, concurrency=4) as run:
        results = list(run)
    assert sorted(r.key for r in results) == ["k0", "k1", "k2", "k3"]
    # the client's span starts once the body is written, which may be a moment after the emulator's clock started
    assert results[-1].endpoint_seconds >= 0.25 and all(r.endpoint_seconds < 0.25 for r in results[:-1])
    assert {r.key: r.seed for r in results} == {"k0": 20, "k1": 21, "k2": 22, "k3": 23}
    assert all(r.status == "ok" and r.images[0].image.shape == (16, 16, 3) for r in results)
    assert run.endpoint_seconds >= 0.25 and run.done == 4


def test_retry_waits_are_not_endpoint_time(client, online):
    """Two 503s with Retry-After: 1, then an answer at once: the item's and the run's endpoint time leave
    the two waits out (the same attempt spans the nodes count)."""
    online.fault("status", times=2, status=503, retry_after=1)
    started = time.monotonic()
    with client.edit_many([("only", PNG)], "x", endpoint_id="test-endpoint", seed=1) as run:
        (result,) = list(run)
    elapsed = time.monotonic() - started
    assert result.status == "ok" and len(online.requests) == 3 and elapsed >= 2.0
    assert 0 < result.endpoint_seconds <= elapsed - 1.9, (result.endpoint_seconds, elapsed)
    assert 0 < run.endpoint_seconds <= elapsed - 1.9


def test_a_failed_item_is_a_result_and_the_others_go_on(client, pack):
    bulk = importlib.import_module(pack.__name__ + ".client.bulk")
    items = [bulk.Item("bad", b"not an image"), ("pair", PNG), PNG]
    results = {r.key: r for r in client.edit_many(items, "x", endpoint_id="test-endpoint")}
    assert set(results) == {"bad", "pair", 2}  # a bare image's key is its position
    assert results["bad"].status == "failed" and "not an image" in str(results["bad"].error)
    assert results["pair"].status == "ok" and results[2].images


def test_generate_many_counts_and_seeds(client, online):
    results = sorted(client.generate_many("a barn", 3, endpoint_id="test-endpoint", seed=4), key=lambda r: r.key)
    assert [(r.key, r.seed) for r in results] == [(0, 4), (1, 5), (2, 6)]
    assert len(online.generation_requests) == 3


def test_memory_is_bounded_by_twice_the_concurrency(client, online):
    Counted.alive = Counted.peak = 0
    pulled = []

    def pair():
        probe = Counted()
        return probe, probe  # the key (kept by its result) and the image (read when its turn comes)

    def items():
        for i in range(60):
            pulled.append(i)
            yield pair()

    seen_at_first = None
    with client.edit_many(items(), "x", endpoint_id="test-endpoint", concurrency=3) as run:
        for result in run:  # (not enumerate(): its reused tuple would hold the last result a while longer)
            n = run.done
            if seen_at_first is None:
                seen_at_first = len(pulled)
            assert result.status == "ok", result.error
            assert Counted.alive <= 6, (n, Counted.alive)
            del result
            time.sleep(0.005)  # a slow writer: the requests must wait for it, not pile up
    assert run.done == 60 and len(online.requests) == 60
    assert Counted.peak <= 6 and seen_at_first <= 7  # taken lazily, never more than 2 x 3 alive


def test_max_failures_drains_and_ends_the_run(client, online):
    online.fault("status", times=2, status=400)
    with client.edit_many(((i, PNG) for i in range(30)), "x", endpoint_id="test-endpoint", concurrency=1,
                          max_failures=2) as run:
        results = list(run)
    assert run.stopped and run.failed == 2 and len(online.requests) == 2
    assert [r.status for r in results] == ["failed", "failed"]


def test_leaving_early_stops_sending(client, online):
    online.latency = 0.05
    with client.edit_many(((i, PNG) for i in range(50)), "x", endpoint_id="test-endpoint", concurrency=2) as run:
        next(run)
    time.sleep(0.05)  # a request already leaving when the run stopped may still arrive (cut short)
    sent = len(online.requests)
    time.sleep(0.25)
    assert sent <= 4 and len(online.requests) == sent


def test_bad_fields_raise_before_anything_is_read(client, online, pack):
    errors = importlib.import_module(pack.__name__ + ".client.errors")
    read = []
    with pytest.raises(errors.FriendliInputError, match="num_inference_steps"):
        client.edit_many(((i, read.append(i)) for i in range(3)), "x", endpoint_id="test-endpoint",
                         num_inference_steps=99)
    assert read == [] and not online.requests


def test_stream_jobs_takes_lazily_and_bounds_what_waits(runner):
    taken = []

    def jobs():
        for i in range(100):
            taken.append(i)
            yield lambda i=i: i

    stream = runner.stream_jobs(jobs(), workers=2, window=4)
    first = next(stream)
    time.sleep(0.05)  # the workers cannot run ahead of a caller that does not ask
    assert first[1] and len(taken) <= 5
    assert sorted([first[2]] + [v for _, _, v in stream]) == list(range(100))
