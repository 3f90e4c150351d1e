"""Issue 16: no answer or prompt can exhaust the machine or freeze the queue — the memory budget
(measured in a subprocess), the bounded wake hook, advisory status, honest retries, address rules."""

from __future__ import annotations

import base64
import importlib
import json
import os
import re
import socket
import struct
import subprocess
import sys
import time
import zlib

import pytest

from helpers import TOKEN, batch, error_of, photo, png_bytes, run_edit
from hostile import HostileServer, b64_answer, client_for, edit, edits, no_status, respond, until_hangup
from packloader import child_code


def padded_png(extra: int) -> bytes:
    """A small real PNG carrying ``extra`` bytes in a private ancillary chunk (decoders skip it)."""
    png = png_bytes(photo(48, 32))
    payload = b"\0" * extra
    chunk = struct.pack(">I", extra) + b"prVt" + payload + struct.pack(">I", zlib.crc32(b"prVt" + payload))
    return png[:-12] + chunk + png[-12:]  # before IEND


MEMORY_PROBE = child_code("pk") + """
import asyncio, importlib, json, os, resource
import torch
edit_node = importlib.import_module("pk.nodes.edit")
scheduler = importlib.import_module("pk.client.scheduler")
prefs = importlib.import_module("pk.client.prefs")
prefs.write(prefs.validate({"memory_budget_mib": int(os.environ["PROBE_BUDGET_MIB"])}), prefs.default_path())
images = torch.rand(8, 32, 48, 3)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = asyncio.run(edit_node.FriendliImageEdit().edit(images, "x", "e", 20, -1.0, 1, "png", max_concurrency=8))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"shape": list(out[0].shape), "growth_mb": (after - before) / 1024,
                  "budget_peak_mb": scheduler.memory_budget(1).peak / 2**20}))
"""


def test_eight_answers_of_48_mib_take_turns_within_the_budget(tmp_path):
    """8 requests in flight, each answered with 48 MiB of JSON (a real image with 36 MiB of padding): the
    budget (256 MiB here, held 3× per JSON byte: 144 MiB an answer) keeps the reads in turn, and every image
    still comes back. Without it the same run grew by ~750 MiB (benchmarks/run.py --sections budget measures
    16 answers of 100 MiB against the default 512 MiB: 4.2 GB without the budget). Each answer's buffers stay
    above glibc's largest mmap threshold (32 MiB), so freed ones leave the RSS instead of being kept in
    per-thread arenas."""
    answer = b64_answer(padded_png(36 << 20))
    assert len(answer) > 48 << 20
    with HostileServer(no_status(lambda conn, r: respond(conn, 200, answer))) as srv:
        env = dict(os.environ, FRIENDLI_TOKEN=TOKEN, FRIENDLI_BASE_URL=srv.base_url, NO_PROXY="127.0.0.1,localhost",
                   XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_CACHE_HOME=str(tmp_path / "cache"),
                   PROBE_BUDGET_MIB="256")
        run = subprocess.run([sys.executable, "-c", MEMORY_PROBE], capture_output=True, text=True, timeout=300,
                             env=env)
        assert run.returncode == 0, run.stderr[-2000:]
        assert len(edits(srv)) == 8
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["shape"] == [8, 32, 48, 3]
    assert result["growth_mb"] < 350, result  # 8 answers at once: 1.1 GiB as the budget counts them
    assert 144 <= result["budget_peak_mb"] <= 256 + 144, result  # the oldest may pass the budget by one answer


def test_a_failure_keeps_no_buffer_alive(pack):
    """A job that fails while holding a big buffer: once run_jobs returns, nothing references it."""
    import gc
    import weakref

    runner = importlib.import_module(pack.__name__ + ".client.runner")

    class Buffer:
        pass

    refs = []

    def job():
        buffer = Buffer()
        refs.append(weakref.ref(buffer))
        raise ValueError("not an image")

    results = runner.run_jobs([job, job], workers=2, keep_failures=True)
    gc.collect()
    assert all(isinstance(r, ValueError) for r in results) and refs and all(r() is None for r in refs)


# ---- the queued-prompt hook ------------------------------------------------------------------------

@pytest.fixture
def wake(pack):
    return importlib.import_module(pack.__name__ + ".nodes.wake")


def edit_node(endpoint_id):
    return {"class_type": "FriendliImageEdit", "inputs": {"image": ["0", 0], "prompt": "p", "endpoint_id": endpoint_id}}


def test_a_5000_endpoint_prompt_returns_at_once_and_sends_at_most_16_requests(wake, emulator, monkeypatch):
    monkeypatch.setenv("FRIENDLI_TOKEN", TOKEN)
    monkeypatch.setenv("FRIENDLI_BASE_URL", emulator.base_url)
    data = {"prompt": {str(i): edit_node(f"endpoint-{i}") for i in range(1, 5001)}}
    started = time.perf_counter()
    assert wake.on_prompt(data) is data
    assert time.perf_counter() - started < 0.5  # at once: 5000 wakes in turn would take minutes (0.05 failed at load 20)
    assert wake.wait_idle(30)
    assert 0 < len(emulator.lifecycle_requests) <= 8  # 8 endpoints, none asleep: their states only
    wake.on_prompt(data)  # queued again: at most 8 more state checks
    assert wake.wait_idle(30) and len(emulator.lifecycle_requests) <= 16


def test_one_endpoint_spelled_512_ways_is_woken_once(wake, emulator, monkeypatch):
    monkeypatch.setenv("FRIENDLI_TOKEN", TOKEN)
    monkeypatch.setenv("FRIENDLI_BASE_URL", emulator.base_url)
    emulator.endpoint.set_state("SLEEPING", phases=(5, 5, 5))
    host, port = emulator.base_url.split("//")[1].split(":")
    spellings = []
    for i in range(512):
        base = f"HTTP://{host}:{port}" + "/" * (i % 3) if i % 2 else emulator.base_url
        ident = "".join(c.upper() if (i >> k) & 1 else c for k, c in enumerate("test-endpoint"))
        spellings.append((base, f" {ident} " if i % 5 == 0 else ident))
    prompt = {}
    for i, (base, ident) in enumerate(spellings):
        prompt[f"e{i}"] = {"class_type": "FriendliEndpoint", "inputs": {"service": "dedicated", "endpoint_id": ident,
                                                                        "adapter_route": "", "base_url": base, "team": ""}}
        prompt[f"n{i}"] = edit_node("") | {"inputs": {"endpoint": [f"e{i}", 0], "endpoint_id": ""}}
    wake.on_prompt({"prompt": prompt})
    assert wake.wait_idle(30)
    assert len([r for r in emulator.lifecycle_requests if r.path.endswith("/wake")]) <= 1
    assert len(emulator.lifecycle_requests) <= 2


def test_spellings_of_one_endpoint_share_one_in_flight_limit(pack):
    scheduler = importlib.import_module(pack.__name__ + ".client.scheduler")
    a = scheduler.limiter_for("https://API.friendli.ai:443/", "ep-1:adapter", 4)
    assert scheduler.limiter_for("https://api.friendli.ai", " EP-1 ", 4) is a
    assert scheduler.limiter_for("https://api.friendli.ai", "ep-2", 4) is not a


# ---- status is advisory, retries are honest ----------------------------------------------------------

def test_a_silent_status_route_lets_the_edit_go_ahead(client_pkg, monkeypatch):
    lifecycle = importlib.import_module(client_pkg.__name__ + ".lifecycle")
    monkeypatch.setattr(lifecycle, "STATUS_TIMEOUT", 1.0)
    events = []

    def answer(conn, request):
        if "/beta/endpoint/" in request.path:
            return until_hangup(conn, request, limit=20)
        respond(conn, 200, b64_answer(png_bytes(photo(8, 8))))

    with HostileServer(answer) as srv:
        started = time.monotonic()
        with client_for(client_pkg, srv, on_event=events.append) as client:
            result, = edit(client)
        assert result.image.shape == (8, 8, 3) and len(edits(srv)) == 1
        assert time.monotonic() - started < 5
    assert {"type": "advisory", "text": "status unknown · sending anyway"} in events


def test_the_progress_line_says_the_status_is_unknown(nodes, monkeypatch, pack, fake_host):
    lifecycle = importlib.import_module(pack.__name__ + ".client.lifecycle")
    monkeypatch.setattr(lifecycle, "STATUS_TIMEOUT", 0.5)

    def answer(conn, request):
        if "/beta/endpoint/" in request.path:
            return until_hangup(conn, request, limit=20)
        time.sleep(0.6)
        respond(conn, 200, b64_answer(png_bytes(photo(8, 8))))

    with HostileServer(answer) as srv:
        monkeypatch.setenv("FRIENDLI_TOKEN", TOKEN)
        monkeypatch.setenv("FRIENDLI_BASE_URL", srv.base_url)
        run_edit(nodes, batch(1), unique_id="3")
    assert any(e.get("advisory") == "status unknown · sending anyway" for e in fake_host.progress_events())


def test_a_refused_connection_fails_within_seconds_with_honest_retry_counts(client_pkg):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        events = []
        started = time.monotonic()
        with client_pkg.FriendliImageClient(token=TOKEN, base_url=f"http://127.0.0.1:{port}",
                                            on_event=events.append) as client:
            exc = error_of(lambda: edit(client))
        took = time.monotonic() - started
    assert isinstance(exc, client_pkg.FriendliNetworkError) and "refused" in str(exc)
    assert took < 6, took
    retries = [e for e in events if e["type"] == "retry"]
    assert retries and all(e["attempt"] <= e["max"] == 5 and e["reason"] == "connection refused" for e in retries)
    assert [e["attempt"] for e in retries] == list(range(1, len(retries) + 1))


def test_the_retry_counter_never_passes_the_maximum(pack, nodes, online, fake_host, monkeypatch):
    monkeypatch.setattr(importlib.import_module(pack.__name__ + ".client.transport"),
                        "BACKOFF_MAX", 0.05)  # the count is the point, not the 15 s of backoff before the 5th try
    online.fault("status", times=9, status=503, retry_after=0)  # more failures than retries
    with pytest.raises(Exception, match="HTTP 503"):
        run_edit(nodes, batch(1), unique_id="4")
    shown = [int(m.group(1)) for text, _ in fake_host.texts for m in [re.search(r"retry (\d+)/5", text)] if m]
    assert shown and max(shown) == 5


@pytest.mark.asyncio
async def test_a_failed_sleep_says_it_failed(client, cred_path, monkeypatch):
    from helpers import call

    def answer(conn, request):
        respond(conn, 500 if request.path.endswith("/sleep") else 200,
                b'{"detail": "scheduler unavailable"}' if request.path.endswith("/sleep") else b'{"status": "RUNNING"}')

    with HostileServer(answer) as srv:
        monkeypatch.setenv("FRIENDLI_TOKEN", TOKEN)
        monkeypatch.setenv("FRIENDLI_BASE_URL", srv.base_url)
        status, data = await call(client, "POST", "/friendli/endpoint/sleep", json={"endpoint_id": "ep"})
    assert status == 502 and "could not sleep: HTTP 500" in data["error"] and "scheduler unavailable" in data["error"]


# ---- addresses and headers ---------------------------------------------------------------------------

@pytest.mark.parametrize("address,public", [
    ("64:ff9b::7f00:1", False), ("64:ff9b::a00:1", False), ("64:ff9b::c0a8:101", False), ("64:ff9b:1::808:808", False),
    ("2002:7f00:1::", False), ("2002:a9fe:a9fe::1", False), ("::ffff:127.0.0.1", False),
    ("64:ff9b::808:808", True), ("2002:808:808::1", True), ("2606:4700::1111", True)])
def test_nat64_and_6to4_forms_count_by_their_ipv4(client_pkg, address, public):
    config = importlib.import_module(client_pkg.__name__ + ".config")
    assert config.is_public_ip(address) is public


def test_a_stored_team_goes_only_to_a_host_that_may_have_the_key(client_pkg, tmp_path):
    from pathlib import Path

    creds = Path(tmp_path) / "credentials.json"
    config = importlib.import_module(client_pkg.__name__ + ".config")
    config.write_credentials(TOKEN, "team-secret", creds)
    answer = json.dumps({"image": base64.b64encode(png_bytes(photo(8, 8))).decode()}).encode()
    with HostileServer(lambda conn, r: respond(conn, 200, answer)) as srv:
        for trusted, node_team, expected in [((), None, None), ((f"127.0.0.1:{srv.port}",), None, "team-secret"),
                                             ((), "team-of-the-workflow", "team-of-the-workflow")]:
            with client_pkg.FriendliImageClient(service="container", base_url=srv.base_url, credentials_path=creds,
                                                team=node_team, trusted_hosts=trusted) as client:
                client.edit(photo(8, 8), "x", response_format="jpeg")
            assert srv.requests[-1].headers.get("X-Friendli-Team") == expected
