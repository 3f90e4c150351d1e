"""Several Friendli nodes at once, as ComfyUI runs them: coroutines on one event loop.

The requests go to the emulator over loopback; ``emulator.max_in_flight`` is what the endpoint
saw at once. No wall-clock assertions: overlap, order and counts say what matters.
"""

from __future__ import annotations

import asyncio
import importlib
import threading


from helpers import batch, established_to, friendli_threads, wait_until

ARGS = dict(endpoint_id="test-endpoint", num_inference_steps=20, guidance_scale=-1.0, response_format="png")


def edit(nodes, image, **kw):
    """A FriendliImageEdit coroutine with the defaults of a fresh node."""
    return nodes.edit.FriendliImageEdit().edit(image, "make it blue", **(ARGS | {"seed": 7} | kw))


async def gather(*coroutines, timeout: float = 30.0):
    return await asyncio.wait_for(asyncio.gather(*coroutines, return_exceptions=True), timeout)


def set_preferences(pack, **fields) -> None:
    prefs = importlib.import_module(pack.__name__ + ".client.prefs")
    prefs.write(prefs.validate(fields, prefs.read()), prefs.default_path())


def test_two_nodes_wait_on_the_endpoint_at_the_same_time(nodes, online):
    online.latency = 1.0
    results = asyncio.run(gather(edit(nodes, batch(1), unique_id="1"), edit(nodes, batch(1), seed=9, unique_id="2")))
    assert all(isinstance(r, tuple) for r in results), results
    assert len(online.requests) == 2 and online.max_in_flight == 2  # both waited at once, not one after the other


def test_a_local_node_holding_the_loop_does_not_stop_the_remote_work(nodes, online):
    """A synchronous node (a sampler) blocks the event loop; the Friendli requests go on in threads."""
    online.latency = 0.5

    async def graph():
        task = asyncio.ensure_future(edit(nodes, batch(2), max_concurrency=2, unique_id="1"))
        await asyncio.sleep(0)  # the executor starts the async node first
        assert wait_until(lambda: len(online.requests) == 2)  # sent while this "local node" blocks the loop
        return await task

    out, seeds, failed = asyncio.run(graph())
    assert out.shape[0] == 2 and seeds == "7, 8" and not failed.any()


def test_interrupt_stops_every_friendli_node_and_sends_nothing_more(nodes, online, fake_host):
    online.latency = 30.0  # nobody would finish without the interruption
    baseline = len(friendli_threads())
    port = int(online.base_url.rsplit(":", 1)[1])
    idle = established_to(port)  # pooled keep-alive connections of earlier tests

    def interrupt_once_both_are_waiting():
        wait_until(lambda: len(online.requests) == 2, timeout=10)
        fake_host.flag = True

    threading.Thread(target=interrupt_once_both_are_waiting, daemon=True).start()
    results = asyncio.run(gather(edit(nodes, batch(4), max_concurrency=1, unique_id="1"),
                                 edit(nodes, batch(4), max_concurrency=1, unique_id="2")))
    assert all(isinstance(r, fake_host.Interrupt) for r in results), results
    assert fake_host.flag is False  # consumed once, yet both nodes stopped
    states = {e["node"]: e["state"] for e in fake_host.progress_events()}
    assert states == {"1": "cancelled", "2": "cancelled"}
    assert wait_until(lambda: len(friendli_threads()) <= baseline)  # worker threads ended
    assert wait_until(lambda: established_to(port) <= idle)  # the run's sockets to the endpoint are shut down
    assert len(online.requests) == 2  # nothing was sent after the interruption


def test_a_failing_node_stops_the_others(nodes, online, client_pkg):
    online.latency = 0.3
    online.fault("status", status=422, body={"detail": "bad prompt"})  # the first request fails at once

    async def graph():
        first = asyncio.ensure_future(edit(nodes, batch(1), unique_id="1"))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(edit(nodes, batch(6), max_concurrency=1, unique_id="2"))
        return await gather(first, second)

    failed, stopped = asyncio.run(graph())
    assert isinstance(failed, client_pkg.FriendliValidationError)
    assert isinstance(stopped, (client_pkg.FriendliCancelledError, client_pkg.FriendliValidationError)), stopped
    assert len(online.requests) < 7  # the second node did not send its whole batch


def test_nodes_share_the_endpoints_in_flight_limit(nodes, online, pack):
    set_preferences(pack, max_in_flight=3)
    online.latency = 0.2
    results = asyncio.run(gather(*(edit(nodes, batch(8), max_concurrency=8, seed=100 * i, unique_id=str(i))
                                   for i in range(3))))
    assert all(isinstance(r, tuple) for r in results), results
    assert len(online.requests) == 24
    assert online.max_in_flight == 3  # three nodes with 8 each never opened more than the shared 3


def test_429s_lower_the_limit_and_successes_raise_it_again(nodes, online, pack, fake_host):
    set_preferences(pack, max_in_flight=8)
    online.latency = 0.5  # the throttled spell outlasts the progress events' 0.25 s interval, so one says it
    online.fault("status", times=8, status=429, retry_after=0)
    asyncio.run(gather(edit(nodes, batch(16), max_concurrency=16, unique_id="7")))
    throttled = [e["throttled"] for e in fake_host.progress_events() if e.get("throttled")]
    assert throttled and min(throttled) < 8  # the progress line said "throttled to N in flight"
    scheduler = importlib.import_module(pack.__name__ + ".client.scheduler")
    limiter = scheduler.limiter_for(online.base_url, "test-endpoint", 8)
    assert limiter.in_flight == 0
    online.latency = 0.0
    for _ in range(8):  # each success gives one back
        asyncio.run(edit(nodes, batch(1), unique_id="8"))
    assert limiter.limit == 8


def test_keep_original_returns_the_others_edited_and_marks_the_failed_image(nodes, online, fake_host):
    image = batch(4)
    online.fault("status", status=400)  # the first request to arrive fails for good (4xx: no retry)
    out, seeds, failed = asyncio.run(edit(nodes, image, max_concurrency=1, on_failure="keep original",
                                          unique_id="4"))
    assert len(online.requests) == 4 and out.shape == image.shape
    assert (out[0] == image[0]).all()  # kept unchanged
    assert all(not (out[i] == image[i]).all() for i in (1, 2, 3))  # edited
    assert failed.shape == image.shape[:3]
    assert failed[0].eq(1).all() and failed[1:].eq(0).all()
    assert seeds == "8, 9, 10"
    last = fake_host.progress_events()[-1]
    assert last["state"] == "done" and last["failed"] == [1] and "image 1 of 4 failed" in last["warning"]


def test_fail_is_the_default_and_names_the_image(nodes, online, client_pkg):
    online.fault("status", status=400)
    result, = asyncio.run(gather(edit(nodes, batch(3), max_concurrency=1)))
    assert isinstance(result, client_pkg.FriendliBatchError) and "image 1 of 3" in str(result)
