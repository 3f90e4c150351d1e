"""The result store under damage and contention: every kind of broken entry counts as missing and is
removed, a replaced entry is never removed by a reader of the old one, eviction survives files vanishing,
disk problems never reach the caller, three processes evicting at once, and no secret in the folder."""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import TOKEN, photo
from packloader import child_code

KEY = "c" * 64


@pytest.fixture
def store_mod(pack):
    return importlib.import_module(pack.__name__ + ".client.store")


def result(store_mod, data: bytes, seed: int | None = 1):
    return store_mod.StoredResult(data, "image/png", seed, "png")


def header(items) -> bytes:
    return json.dumps(items).encode() + b"\n"


GOOD_ITEM = {"size": 4, "mime": "image/png", "seed": 1, "response_format": "png"}
BROKEN = {
    "empty file": b"",
    "truncated data": header([GOOD_ITEM]) + b"abc",
    "trailing bytes": header([GOOD_ITEM]) + b"abcdX",
    "header not JSON": b"{not json\nabcd",
    "header not a list": header(GOOD_ITEM) + b"abcd",
    "empty list": header([]) + b"abcd",
    "item not an object": header([1]) + b"abcd",
    "size is a bool": header([GOOD_ITEM | {"size": True}]) + b"a",
    "size negative": header([GOOD_ITEM | {"size": -1}]) + b"abcd",
    "size beyond the cap": header([GOOD_ITEM | {"size": 10**9}]) + b"abcd",
    "mime missing": header([{k: v for k, v in GOOD_ITEM.items() if k != "mime"}]) + b"abcd",
    "seed a string": header([GOOD_ITEM | {"seed": "1"}]) + b"abcd",
    "deeply nested header": b"[" * 60000 + b"\n",
    "not UTF-8": b"\xff\xfe\n",
    "no newline in 64 KiB": b"[" + b" " * 70000,
}


@pytest.mark.parametrize("content", BROKEN.values(), ids=BROKEN.keys())
def test_every_broken_entry_is_missing_and_removed(store_mod, tmp_path, content):
    store = store_mod.ResultStore(tmp_path, max_bytes=10**6)
    store.put(KEY, [result(store_mod, b"abcd")])
    path = store._path(KEY)
    assert store.get(KEY) == [result(store_mod, b"abcd")]  # the format the broken ones imitate
    path.write_bytes(content)
    assert store.get(KEY) is None and not path.exists()
    store.put(KEY, [result(store_mod, b"abcd")])  # and the key works again
    assert store.get(KEY) == [result(store_mod, b"abcd")]


def test_an_entry_bigger_than_the_cap_is_refused_without_reading_it(store_mod, tmp_path, monkeypatch):
    store_mod.ResultStore(tmp_path, max_bytes=10**6).put(KEY, [result(store_mod, b"x" * 5000)])
    small = store_mod.ResultStore(tmp_path, max_bytes=1000)  # e.g. the cap was lowered in Settings
    real_open = open
    reads = []

    class Counting:
        def __init__(self, f):
            self.f = f

        def __getattr__(self, name):
            attr = getattr(self.f, name)
            if name in ("read", "readline"):
                return lambda *a: reads.append(name) or attr(*a)
            return attr

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr("builtins.open", lambda *a, **k: Counting(real_open(*a, **k)))
    assert small.get(KEY) is None and reads == []
    monkeypatch.undo()
    assert not small._path(KEY).exists()


def test_a_reader_of_a_broken_entry_never_removes_the_good_one_that_replaced_it(store_mod, tmp_path,
                                                                                   monkeypatch):
    store = store_mod.ResultStore(tmp_path, max_bytes=10**6)
    store.put(KEY, [result(store_mod, b"old")])
    real = store_mod._read_entry

    def broken_while_another_process_writes(f, size, cap):
        store_mod.ResultStore(tmp_path, max_bytes=10**6).put(KEY, [result(store_mod, b"new")])
        raise ValueError("truncated")

    monkeypatch.setattr(store_mod, "_read_entry", broken_while_another_process_writes)
    assert store.get(KEY) is None
    monkeypatch.setattr(store_mod, "_read_entry", real)
    assert store.get(KEY) == [result(store_mod, b"new")]


def test_eviction_tolerates_files_vanishing_and_files_it_cannot_remove(store_mod, tmp_path, monkeypatch):
    store = store_mod.ResultStore(tmp_path, max_bytes=2000)
    keys = [f"{i:064x}" for i in range(3)]
    for k in keys:
        store.put(k, [result(store_mod, b"x" * 500)])
    real_entries, real_unlink = store._entries, Path.unlink
    ghost = tmp_path / ("d" * 64 + ".entry")  # listed, then gone before eviction looks at it
    monkeypatch.setattr(store, "_entries", lambda: [ghost, *real_entries()])

    def unlink(self, missing_ok=False):
        if self.name.startswith(keys[0]):
            raise PermissionError(13, "in use by another process")  # as on Windows
        return real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    store.put("e" * 64, [result(store_mod, b"y" * 500)])  # over the cap: neither problem escapes
    store.put("f" * 64, [result(store_mod, b"z" * 500)])
    monkeypatch.undo()
    assert store.get("f" * 64) == [result(store_mod, b"z" * 500)]
    assert store.get(keys[1]) is None  # the next least recently used went instead


def test_disk_problems_never_reach_the_caller(store_mod, tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    store = store_mod.ResultStore(blocker / "results", max_bytes=10**6)
    store.put(KEY, [result(store_mod, b"abcd")])
    assert "could not write the result store" in caplog.text
    assert store.get(KEY) is None
    assert store.stats() == {"entries": 0, "size_bytes": 0, "max_bytes": 10**6, "path": str(blocker / "results")}
    store.clear()


def test_nothing_to_keep_is_not_kept(store_mod, tmp_path):
    store = store_mod.ResultStore(tmp_path / "r", max_bytes=10**6)
    store.put(KEY, [])
    store.put("d" * 64, [result(store_mod, b"x")] * 65)  # more results than an entry may hold
    assert store.stats()["entries"] == 0


def test_the_key_sees_service_host_credential_fingerprint_and_body(store_mod):
    assert list(inspect.signature(store_mod.request_key).parameters) == ["service", "api_host", "body", "credential"]
    fingerprint = store_mod.credential_fingerprint
    assert fingerprint(TOKEN, "t") != fingerprint(TOKEN, "u") != fingerprint("flp_other", "u")
    assert TOKEN not in fingerprint(TOKEN, None) and len(fingerprint(TOKEN, None)) == 64


def test_no_key_or_team_in_the_folder(client_pkg, store_mod, emulator, tmp_path):
    """Entries written by a client that sends a key and a team (in its headers) hold neither."""
    team = "team-SECRET-7q"
    store = store_mod.ResultStore(tmp_path / "results", max_bytes=10**8)
    with client_pkg.FriendliImageClient(token=TOKEN, base_url=emulator.base_url, team=team, store=store) as c:
        for seed in range(3):
            c.edit(photo(), f"prompt {seed}", endpoint_id="test-endpoint", seed=seed)
    files = list((tmp_path / "results").iterdir())
    assert len(files) == 3 and store.stats()["entries"] == 3
    assert all(r.headers.get("X-Friendli-Team") == team for r in emulator.requests)  # it was sent
    for path in files:
        data = path.read_bytes()
        assert TOKEN.encode() not in data and team.encode() not in data and b"flp_" not in data
        assert TOKEN not in path.name and team not in path.name


def test_seedless_bodies_and_order(store_mod):
    key = store_mod.request_key
    body = {"model": "ep", "prompt": "p", "seed": 0, "image": {"image": "data:image/png;base64,AA"}}
    assert key("dedicated", "https://h:443", body) is not None  # seed 0 is a fixed seed
    assert key("dedicated", "https://h:443", body | {"seed": None}) is None
    assert key("dedicated", "https://h:443", {k: v for k, v in body.items() if k != "seed"}) is None
    nested = body | {"image": {"image": "data:image/png;base64,AA", "mask": None}}
    reordered = dict(reversed(list(nested.items())))
    reordered["image"] = dict(reversed(list(nested["image"].items())))
    assert key("dedicated", "https://h:443", nested) == key("dedicated", "https://h:443", reordered)
    assert key("dedicated", "https://h:443", nested) != key("dedicated", "https://h:443", body)


STRESS = child_code("pk") + """
from pk.client.store import ResultStore, StoredResult
import logging
torn = []
logging.getLogger("pk.client.store").addHandler(type("H", (logging.Handler,), {"emit": lambda self, r: torn.append(r)})())
writer, folder = int(sys.argv[2]), sys.argv[1]

def value(k, w):  # what writer w puts under key k: 1..3 results of key- and writer-specific bytes
    return [StoredResult(bytes([k, w, n]) * (100 + 7 * k + n), "image/png", k * 10 + n, "png")
            for n in range(1 + k % 3)]

store = ResultStore(folder, max_bytes=30_000)  # far less than the 60 keys need: eviction runs all along
bad = hits = 0
for i in range(600):
    k = (i * 7 + writer * 13) % 60
    store.put(f"{k:064x}", value(k, writer))
    j = (i * 11 + writer) % 60
    got = store.get(f"{j:064x}")
    if got is not None:
        hits += 1
        bad += got not in (value(j, 0), value(j, 1), value(j, 2))
print(bad, hits, len(torn))
"""


def test_three_processes_putting_getting_and_evicting_at_once(store_mod, tmp_path):
    folder = tmp_path / "shared"
    procs = [subprocess.Popen([sys.executable, "-c", STRESS, str(folder), str(w)],
                              stdout=subprocess.PIPE, text=True) for w in range(3)]
    outputs = [p.communicate(timeout=300)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)

    assert all(out[0] == "0" for out in outputs), outputs  # no get returned anything but a value put
    assert all(out[2] == "0" for out in outputs), outputs  # nor ever saw half an entry (none was removed)
    assert sum(int(out[1]) for out in outputs) > 0  # and the gets did find entries
    store = store_mod.ResultStore(folder, max_bytes=30_000)
    names = [p.name for p in folder.iterdir()]
    assert all(n.endswith(".entry") for n in names)  # no temporary file left behind
    for name in names:  # every entry left is whole
        assert store.get(name[:64]) is not None
    assert store.stats()["size_bytes"] <= 30_000  # the last eviction started after the last write
