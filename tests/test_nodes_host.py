"""The host adapter: progress bar, websocket events, status text, interruption, credentials path.

``fake_host`` puts minimal stand-ins of ComfyUI's modules in sys.modules (the host boundary);
the requests themselves go to the real emulator over loopback. tests/test_comfyui_host.py runs
the real host.
"""

from __future__ import annotations

import re
import threading
import time

import pytest

from helpers import TOKEN, batch, run_edit


def test_host_adapter_is_inert_outside_comfyui(nodes):
    host = nodes.host
    assert host.interrupted() is False and host.credentials_path() is None
    assert host.progress_bar(3, "1") is None
    host.send_event("friendli.progress", {}), host.send_text("x", "1")  # no error, nothing to do
    with pytest.raises(KeyError):
        host.raise_interrupted(KeyError("the cause"))


def test_progress_bar_events_and_text_carry_the_node_id(nodes, online, fake_host):
    out, seeds = run_edit(nodes, batch(4), unique_id="12")
    without_previews = list(fake_host.bar)
    for value, total, _ in fake_host.previews:  # a preview is sent with the bar's current value
        without_previews.remove((value, total))
    assert without_previews == [(1, 4), (2, 4), (3, 4), (4, 4)] and 1 <= len(fake_host.previews) <= 4
    events = fake_host.progress_events()
    assert events[0] | {"elapsed": 0} == {"node": "12", "state": "running", "done": 0, "total": 4, "elapsed": 0,
                                          "retries": 0, "waking": False, "reused": 0, "throttled": None,
                                          "retry": None, "advisory": None, "eta": None, "eta_p90": None,
                                          "at_endpoint": None, "endpoint_s": 0, "cost": None, "limit": None,
                                          "stored": False}
    assert events[-1]["state"] == "done" and events[-1]["done"] == 4 and events[-1]["seeds"] == [7, 8, 9, 10]
    assert len(events) <= 3  # start, at most one throttled update (4 images finish within 0.25 s), end
    assert {(sid, data["node"]) for _, data, sid, _ in fake_host.events} == {("client-1", "12")}  # from any thread
    assert fake_host.texts[-1][0].startswith("4/4 done · ") and fake_host.texts[-1][1] == "12"


def test_retries_and_waking_are_reported(nodes, online, fake_host):
    online.fault("sleeping", retry_after=0)
    online.fault("status", status=503, retry_after=0)
    run_edit(nodes, batch(1), unique_id="5")
    events = fake_host.progress_events()
    assert events[-1]["state"] == "done" and events[-1]["retries"] == 2
    assert any(e["waking"] for e in events[:-1])
    assert any(re.search(r"retry 1/5 · HTTP 503 · next in \d+ s", text) for text, _ in fake_host.texts)
    assert any("endpoint waking up" in text for text, _ in fake_host.texts)


def test_failure_sends_an_error_event(nodes, online, fake_host):
    online.fault("status", status=422, body={"detail": "bad prompt"})
    with pytest.raises(Exception, match="bad prompt"):
        run_edit(nodes, batch(1), unique_id="5")
    last = fake_host.progress_events()[-1]
    assert last["state"] == "error" and "bad prompt" in last["message"]


def _flip_after_first_request(emulator, flip) -> threading.Thread:
    def watch():
        while not emulator.requests:
            time.sleep(0.01)
        time.sleep(0.1)
        flip()
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_interrupt_mid_batch_raises_the_hosts_interruption_within_a_second(nodes, online, fake_host):
    online.latency = 30.0  # without stopping, the batch would succeed after minutes instead of raising
    _flip_after_first_request(online, lambda: setattr(fake_host, "flag", True))
    with pytest.raises(fake_host.Interrupt):
        run_edit(nodes, batch(8), max_concurrency=2, unique_id="3")
    assert fake_host.flag is False  # the host's flag is consumed, as its own check does
    assert fake_host.progress_events()[-1]["state"] == "cancelled"
    assert len(online.requests) == 2  # nothing more was sent after the interruption
    assert all(t.daemon for t in threading.enumerate() if t.name == "friendli-job")


def test_interrupt_outside_comfyui_raises_cancelled(nodes, online, monkeypatch, client_pkg):
    online.latency = 30.0  # raising at all shows the run stopped instead of waiting for the answers
    flag = threading.Event()
    monkeypatch.setattr(nodes.host, "interrupted", flag.is_set)
    _flip_after_first_request(online, flag.set)
    with pytest.raises(client_pkg.FriendliCancelledError):
        run_edit(nodes, batch(4), max_concurrency=1)
    assert len(online.requests) == 1


def test_token_from_the_comfyui_user_directory(nodes, online, fake_host, monkeypatch, client_pkg, tmp_path):
    monkeypatch.delenv("FRIENDLI_TOKEN")
    path = nodes.host.credentials_path()
    assert path == tmp_path / "user" / "comfyui-friendli" / "credentials.json"
    client_pkg.config.write_credentials(TOKEN, team="team-x", path=path)
    run_edit(nodes, batch(1))
    request = online.requests[0]
    assert request.header("Authorization") == f"Bearer {TOKEN}" and request.header("X-Friendli-Team") == "team-x"
