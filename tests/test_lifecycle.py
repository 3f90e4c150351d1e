"""The endpoint lifecycle against the emulator over loopback: state before sending, waking, failing fast,
servers without the routes, cancel during the wait, and the status answer as untrusted input."""

from __future__ import annotations

import importlib
import threading

import pytest

from helpers import TOKEN, photo


@pytest.fixture
def lifecycle_mod(pack):
    return importlib.import_module(pack.__name__ + ".client.lifecycle")


@pytest.fixture
def make_client(client_pkg, emulator):
    def make(**kw):
        args = dict(token=TOKEN, base_url=emulator.base_url, status_poll=0.05, backoff_factor=0.01) | kw
        return client_pkg.FriendliImageClient(**args)
    return make


def edit(client, **kw):
    return client.edit(photo(), "x", **({"endpoint_id": "test-endpoint", "seed": 1} | kw))


def test_a_sleeping_endpoint_is_woken_once_and_the_edit_waits_for_it(make_client, emulator):
    emulator.endpoint.set_state("SLEEPING", phases=(0.15, 0.15, 0.15))
    events = []
    result, = edit(make_client(on_event=events.append))
    assert result.image.size
    assert emulator.endpoint.wakes == 1
    assert len(emulator.requests) == 1  # the edit went out once it ran: no 503 retry storm
    wakes = [r for r in emulator.lifecycle_requests if r.path.endswith("/wake")]
    assert len(wakes) == 1 and wakes[0].method == "PUT" and wakes[0].header("Authorization") == f"Bearer {TOKEN}"
    waits = [e for e in events if e["type"] == "endpoint"]
    assert {e["status"] for e in waits[:-1]} == {"AWAKING"}
    assert {e["phase"] for e in waits[:-1]} >= {"REQUESTING_VIRTUAL_MACHINE", "DOWNLOADING_MODEL"}
    assert waits[-1]["status"] == "RUNNING"  # the wait is over
    assert [e["waited"] for e in waits] == sorted(e["waited"] for e in waits)


def test_state_is_checked_once_per_client(make_client, emulator):
    client = make_client()
    edit(client), edit(client, seed=2)
    statuses = [r for r in emulator.lifecycle_requests if r.path.endswith("/status")]
    assert len(statuses) == 1 and len(emulator.requests) == 2


def test_a_failed_endpoint_fails_fast_with_its_error_explained(make_client, emulator, client_pkg):
    emulator.endpoint.fail("INFERENCE_ENGINE_MEMORY_ERROR")
    with pytest.raises(client_pkg.FriendliError) as info:
        edit(make_client())
    assert type(info.value).__name__ == "FriendliEndpointStateError"
    assert "FAILED" in str(info.value) and "GPU memory" in str(info.value) and "Friendli Suite" in str(info.value)
    assert emulator.requests == []  # no edit was sent


def test_a_server_without_the_status_route_behaves_as_before(make_client, emulator, pack):
    emulator_module = importlib.import_module(pack.__name__ + ".emulator")
    with emulator_module.Emulator(token=TOKEN, lifecycle_routes=False) as bare:
        bare.fault("sleeping", retry_after=0)  # it still says "waking" the old way, through the edit
        result, = edit(make_client(base_url=bare.base_url))
        assert result.image.size and len(bare.requests) == 3  # status (404), the 503, the edit
        assert bare.requests[0].path.endswith("/status") and bare.requests[2].body["seed"] == 1


def test_cancel_during_the_wait_stops_it(make_client, emulator, client_pkg):
    emulator.endpoint.set_state("SLEEPING", phases=(60, 60, 60))
    flag = threading.Event()
    threading.Timer(0.3, flag.set).start()
    with pytest.raises(client_pkg.FriendliCancelledError):
        edit(make_client(), cancel=flag.is_set)
    assert emulator.requests == [] and emulator.endpoint.wakes == 1


def test_the_deadline_ends_the_wait(make_client, emulator, client_pkg):
    emulator.endpoint.set_state("SLEEPING", phases=(60, 60, 60))
    with pytest.raises(client_pkg.FriendliTimeoutError, match="waking|awaking"):
        edit(make_client(deadline=0.5))
    assert emulator.requests == []


@pytest.mark.parametrize("answer", [b"[]", b"not json", b'{"status": 5}', b"[" * 5000 + b"]" * 5000,
                                    b'{"status": "NEWSTATE", "phase": "X", "errorCode": "flp_SECRETKEY"}'])
def test_status_answers_are_validated(lifecycle_mod, answer):
    import json

    try:
        data = json.loads(answer)
    except (ValueError, RecursionError):
        data = None
    status = lifecycle_mod.EndpointStatus.parse(data)
    if status is not None:
        assert status.status == "UNKNOWN" and status.phase is None and "SECRETKEY" not in (status.error_code or "")


def test_sleep_and_status_through_the_client(make_client, emulator):
    lifecycle = make_client().lifecycle()
    assert lifecycle.status("test-endpoint").status == "RUNNING"
    assert lifecycle.sleep("test-endpoint").status == "SLEEPING" and emulator.endpoint.sleeps == 1
    with pytest.raises(Exception, match="endpoint id"):
        lifecycle.status("nope", strict=True)
    assert lifecycle.status("nope") is None  # in a run: unknown, the edit will tell


def test_progress_shows_the_endpoint_state(make_client, emulator, pack):
    progress = importlib.import_module(pack.__name__ + ".nodes.progress")
    bar = progress.BatchProgress(1, "3")
    bar.on_client_event({"type": "endpoint", "status": "AWAKING", "phase": "DOWNLOADING_MODEL", "waited": 72.0})
    bar.poll()
    assert "endpoint waking · downloading model · 72 s" in bar.text()
    bar.on_client_event({"type": "endpoint", "status": "RUNNING", "phase": None, "waited": 80.0})
    bar.poll()
    assert "endpoint" not in bar.text()


def test_the_hook_and_the_nodes_share_one_wake(make_client, emulator):
    emulator.endpoint.set_state("SLEEPING", phases=(0.3, 0.3, 0.3))
    first, second = make_client().lifecycle(), make_client().lifecycle()
    assert first.wake("test-endpoint").status == "AWAKING"
    emulator.endpoint.set_state("SLEEPING", phases=(0.3, 0.3, 0.3))  # as if the first PUT were still on its way
    assert second.wake("test-endpoint").status == "SLEEPING"  # within the interval: only asked, not woken again
    assert [r.method for r in emulator.lifecycle_requests] == ["PUT", "GET"] and emulator.endpoint.wakes == 1
