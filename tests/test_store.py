"""The result store: keys, LRU cap, corruption, two processes at once, and re-runs that cost only what failed."""

from __future__ import annotations

import asyncio
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import TOKEN, batch, photo
from packloader import child_code


@pytest.fixture
def store_mod(pack):
    return importlib.import_module(pack.__name__ + ".client.store")


def result(store_mod, data: bytes, seed: int = 1):
    return store_mod.StoredResult(data, "image/png", seed, "png")


def body(**kw):
    return {"image": {"image": "data:image/png;base64,AAAA"}, "prompt": "p", "model": "ep", "seed": 3,
            "num_inference_steps": 20, "guidance_scale": None, "response_format": "png"} | kw


def test_keys_cover_what_determines_the_answer(store_mod):
    key = store_mod.request_key
    base = key("dedicated", "https://api.friendli.ai:443", body())
    assert base == key("dedicated", "https://api.friendli.ai:443", dict(reversed(list(body().items()))))
    others = [key("container", "https://api.friendli.ai:443", body()), key("dedicated", "http://x:80", body()),
              key("dedicated", "https://api.friendli.ai:443", body(seed=4)),
              key("dedicated", "https://api.friendli.ai:443", body(prompt="q")),
              key("dedicated", "https://api.friendli.ai:443", body(model="ep:lora")),
              key("dedicated", "https://api.friendli.ai:443", body(image={"image": "data:image/png;base64,AAAB"}))]
    assert len({base, *others}) == 7
    assert key("dedicated", "https://api.friendli.ai:443", body(seed=None)) is None


def test_restart_reuse_lru_cap_and_clear(store_mod, tmp_path):
    store = store_mod.ResultStore(tmp_path / "results", max_bytes=3000)
    keys = [f"{i:064x}" for i in range(3)]
    for i, k in enumerate(keys):  # written in a row, within one tick of the file system's clock
        store.put(k, [result(store_mod, bytes([i]) * 900, seed=i)])
    again = store_mod.ResultStore(tmp_path / "results", max_bytes=3000)  # a restarted process
    assert again.get(keys[0]) == [result(store_mod, b"\x00" * 900, seed=0)]  # refreshes entry 0
    again.put(f"{9:064x}", [result(store_mod, b"\x09" * 900)])  # over the cap: the oldest unused goes
    assert again.get(keys[1]) is None and again.get(keys[0]) and again.get(keys[2])
    stats = again.stats()
    assert stats["entries"] == 3 and stats["size_bytes"] <= 3000 and stats["max_bytes"] == 3000
    again.put(f"{8:064x}", [result(store_mod, b"x" * 5000)])  # bigger than the whole cap: skipped
    assert again.get(f"{8:064x}") is None
    again.clear()
    assert again.stats()["entries"] == 0


def test_a_corrupt_entry_is_missing_and_removed(store_mod, tmp_path):
    store = store_mod.ResultStore(tmp_path, max_bytes=10**6)
    key = "a" * 64
    store.put(key, [result(store_mod, b"png-bytes" * 10)])
    path = store._path(key)
    path.write_bytes(path.read_bytes()[:-5])  # a half-written file
    assert store.get(key) is None and not path.exists()


WRITER = child_code("pk") + """
from pk.client.store import ResultStore, StoredResult
store = ResultStore(sys.argv[1], max_bytes=200_000)
bad = 0
for i in range(300):
    key = f"{i % 40:064x}"
    store.put(key, [StoredResult(bytes([i % 40]) * (1000 + i % 40), "image/png", i % 40, "png")])
    got = store.get(f"{(i * 7) % 40:064x}")
    if got is not None:
        j = (i * 7) % 40
        bad += got != [StoredResult(bytes([j]) * (1000 + j), "image/png", j, "png")]
print(bad)
"""


def test_two_processes_at_once_leave_no_corrupt_entry(store_mod, tmp_path):
    folder = tmp_path / "shared"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(folder)], stdout=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs) and outputs == ["0", "0"]
    store = store_mod.ResultStore(folder, max_bytes=200_000)
    for i in range(40):
        got = store.get(f"{i:064x}")
        assert got is None or got == [result(store_mod, bytes([i]) * (1000 + i), seed=i)]
    assert not [p for p in folder.iterdir() if not p.name.endswith(".entry")]  # no temporary file left


def test_client_reuses_seeded_results_and_never_seedless_ones(client_pkg, store_mod, emulator, tmp_path):
    store = store_mod.ResultStore(tmp_path / "results", max_bytes=10**8)
    events = []
    make = lambda: client_pkg.FriendliImageClient(token=TOKEN, base_url=emulator.base_url, store=store,  # noqa: E731
                                                  on_event=events.append)
    first = make().edit(photo(), "x", endpoint_id="test-endpoint", seed=5)
    again = make().edit(photo(), "x", endpoint_id="test-endpoint", seed=5)  # a new client, same folder
    assert len(emulator.requests) == 1 and again[0].data == first[0].data and again[0].seed == first[0].seed
    assert {"type": "reused"} in events
    make().edit(photo(), "x", endpoint_id="test-endpoint", seed=None)
    make().edit(photo(), "x", endpoint_id="test-endpoint", seed=None)
    assert len(emulator.requests) == 3  # without a fixed seed every request goes out
    for path in Path(tmp_path / "results").iterdir():
        assert TOKEN.encode() not in path.read_bytes()


def test_rerunning_a_partly_failed_batch_sends_only_what_failed(nodes, online, pack, tmp_path):
    prefs = importlib.import_module(pack.__name__ + ".client.prefs")
    prefs.write(prefs.validate({"result_store": True}, prefs.read()), prefs.default_path())
    image = batch(4)
    online.fault("status", times=1, status=400)  # image 1 fails for good
    edit = nodes.edit.FriendliImageEdit()
    kw = dict(endpoint_id="test-endpoint", num_inference_steps=20, guidance_scale=-1.0, seed=7,
              response_format="png", max_concurrency=1, on_failure="keep original")
    out, _, failed = asyncio.run(edit.edit(image, "p", **kw))
    assert failed[0].eq(1).all() and len(online.requests) == 4
    online.reset()
    out2, seeds, failed2 = asyncio.run(edit.edit(image, "p", **kw))  # queued again
    assert len(online.requests) == 1 and online.requests[0].body["seed"] == 7  # only the failed image
    assert not failed2.any() and seeds == "7, 8, 9, 10"
    assert (out2[1:] == out[1:]).all()  # the stored results, bit for bit
    for path in (Path(os.environ["XDG_CONFIG_HOME"]) / "comfyui-friendli" / "results").iterdir():
        assert TOKEN.encode() not in path.read_bytes()


def test_lru_order_is_exact_for_entries_used_in_a_row(store_mod, tmp_path):
    """Puts and gets in a tight loop share a file-system clock tick; the order must still be exact."""
    store = store_mod.ResultStore(tmp_path, max_bytes=2800)  # an entry: 200 bytes + a ~73-byte header; 10 fit
    keys = [f"{i:064x}" for i in range(10)]
    for i, k in enumerate(keys):
        store.put(k, [result(store_mod, bytes([i]) * 200, seed=i)])
    assert all(store.get(k) for k in keys)  # all fit; this also uses them in order 0..9
    for k in keys[:5]:
        assert store.get(k)  # now 5..9 are the least recently used, 5 first
    for n, new in enumerate(f"{100 + i:064x}" for i in range(5)):
        store.put(new, [result(store_mod, b"n" * 200)])
        assert [k for k in keys if store._path(k).exists()] == keys[:5] + keys[6 + n:]
