"""Issue 16: what was paid for is never lost (a failed image drains the batch, the store keeps only
what works and only for its own credential), and a result with many url items stays within the cap."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import threading
import time

import pytest

from helpers import TOKEN, batch, error_of, established_to, photo, png_bytes, run_edit, wait_until
from hostile import HostileServer, b64_answer, client_for, edit, edits, no_status, respond

OK_PNG = png_bytes(photo(48, 32))


def seed_of(request) -> int:
    return json.loads(request.body)["seed"]


def node_env(monkeypatch, pack, server, store=True):
    """The node talks to ``server`` (FRIENDLI_BASE_URL, so trusted) with the result store on or off."""
    monkeypatch.setenv("FRIENDLI_TOKEN", TOKEN)
    monkeypatch.setenv("FRIENDLI_BASE_URL", server.base_url)
    prefs = importlib.import_module(pack.__name__ + ".client.prefs")
    prefs.write(prefs.validate({"result_store": store}), prefs.default_path())


def test_a_failed_image_drains_the_batch_and_a_requeue_sends_only_it(nodes, pack, monkeypatch, client_pkg, fake_host):
    """Batch of 4, image 3 gets a 500 at once while the others are still on the endpoint: they run to
    their answer and are stored; the error names image 3 and the 3 kept; after the endpoint recovers,
    the re-queue sends one edit."""
    broken = threading.Event()
    broken.set()

    def answer(conn, request):
        if broken.is_set() and seed_of(request) == 9:
            return respond(conn, 500, b'{"detail": "GPU fell over"}')
        time.sleep(0.5)
        respond(conn, 200, b64_answer(OK_PNG))

    with HostileServer(no_status(answer)) as srv:
        node_env(monkeypatch, pack, srv)
        exc = error_of(lambda: run_edit(nodes, batch(4), seed=7, max_concurrency=4))
        assert isinstance(exc, client_pkg.FriendliBatchError) and exc.index == 2
        assert "image 3 of 4 failed" in str(exc) and "GPU fell over" in str(exc)
        assert "3 finished results were kept in the result store" in str(exc)
        assert {"state": "error", "kept": 3}.items() <= fake_host.progress_events()[-1].items()
        assert sorted(seed_of(r) for r in edits(srv)) == [7, 8, 9, 10]
        broken.clear()
        out, seeds = run_edit(nodes, batch(4), seed=7, max_concurrency=4)
        assert [seed_of(r) for r in edits(srv)[4:]] == [9]  # only the failed image was sent again
        assert tuple(out.shape) == (4, 32, 48, 3)


def test_requests_not_yet_sent_are_skipped(nodes, pack, monkeypatch, client_pkg):
    """One at a time: image 2 fails, images 3 and 4 are never sent; without the store the error says
    the finished one was not kept."""
    def answer(conn, request):
        if seed_of(request) == 8:
            return respond(conn, 500, b'{"detail": "no"}')
        respond(conn, 200, b64_answer(OK_PNG))

    with HostileServer(no_status(answer)) as srv:
        node_env(monkeypatch, pack, srv, store=False)
        exc = error_of(lambda: run_edit(nodes, batch(4), seed=7, max_concurrency=1))
        assert "image 2 of 4 failed" in str(exc) and "1 finished result was not kept (the result store is off)" in str(exc)
        assert [seed_of(r) for r in edits(srv)] == [7, 8]


def test_cancel_still_stops_requests_in_flight(nodes, pack, monkeypatch, fake_host):
    """The user's Cancel is not a drain: requests on the endpoint are cut off at once."""
    def answer(conn, request):
        if seed_of(request) == 8:
            return respond(conn, 500, b'{"detail": "no"}')
        time.sleep(5)
        respond(conn, 200, b64_answer(OK_PNG))

    with HostileServer(no_status(answer)) as srv:
        node_env(monkeypatch, pack, srv)
        threading.Timer(0.8, lambda: setattr(fake_host, "flag", True)).start()  # drained at once, cancelled at 0.8 s
        started = time.monotonic()
        with pytest.raises(fake_host.Interrupt):
            run_edit(nodes, batch(3), seed=7, max_concurrency=3)
        assert time.monotonic() - started < 3
        assert wait_until(lambda: established_to(srv.port) == 0, 3)  # the client closed its sockets


def test_a_broken_answer_is_never_stored_and_is_asked_again(client_pkg, tmp_path):
    store_mod = importlib.import_module(client_pkg.__name__ + ".store")
    answers = [b64_answer(b"\x89PNG\r\n\x1a\n not really a png"), b64_answer(OK_PNG)]

    with HostileServer(no_status(lambda conn, r: respond(conn, 200, answers[min(len(edits(srv)), 2) - 1]))) as srv:
        store = store_mod.ResultStore(tmp_path / "results", 10**8)
        with client_for(client_pkg, srv, store=store) as client:
            exc = error_of(lambda: edit(client))
            assert isinstance(exc, client_pkg.FriendliResponseError) and store.stats()["entries"] == 0
            result, = edit(client)  # asks the endpoint again, gets an image, keeps it
            assert result.image.shape == (32, 48, 3) and store.stats()["entries"] == 1
            edit(client)
        assert len(edits(srv)) == 2  # the third was answered from the store


def test_a_stored_entry_that_no_longer_decodes_is_replaced(client_pkg, tmp_path):
    store_mod = importlib.import_module(client_pkg.__name__ + ".store")
    with HostileServer(no_status(lambda conn, r: respond(conn, 200, b64_answer(OK_PNG)))) as srv:
        store = store_mod.ResultStore(tmp_path / "results", 10**8)
        with client_for(client_pkg, srv, store=store) as client:
            edit(client)
            entry, = (tmp_path / "results").iterdir()
            data = entry.read_bytes()
            header, _, image = data.partition(b"\n")  # a well-formed entry whose image is damaged
            entry.write_bytes(header + b"\n" + image[:8] + b"\0" * (len(image) - 8))
            result, = edit(client)
            assert result.image.shape == (32, 48, 3)
        assert len(edits(srv)) == 2 and entry.read_bytes() == data


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are a POSIX thing")
@pytest.mark.parametrize("kind", ["fifo", "symlink", "folder"])
def test_a_non_regular_file_in_the_store_never_blocks_and_is_removed(client_pkg, tmp_path, kind):
    store_mod = importlib.import_module(client_pkg.__name__ + ".store")
    folder = tmp_path / "results"
    folder.mkdir()
    key = "ab" * 32
    path = folder / f"{key}{store_mod.SUFFIX}"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink":
        (tmp_path / "elsewhere").write_bytes(b"[]\n")
        path.symlink_to(tmp_path / "elsewhere")
    else:
        path.mkdir()
    store = store_mod.ResultStore(folder, 10**8)
    got = []
    reader = threading.Thread(target=lambda: got.append(store.get(key)), daemon=True)
    reader.start()
    reader.join(5)
    assert not reader.is_alive() and got == [None]
    assert not os.path.lexists(path) or kind == "folder"  # a folder is left (never an entry), but skipped
    assert (tmp_path / "elsewhere").exists() or kind != "symlink"  # the link's target is untouched


def test_another_key_or_team_misses_the_store(client_pkg, tmp_path):
    store_mod = importlib.import_module(client_pkg.__name__ + ".store")
    with HostileServer(no_status(lambda conn, r: respond(conn, 200, b64_answer(OK_PNG)))) as srv:
        store = store_mod.ResultStore(tmp_path / "results", 10**8)
        for token, team in [(TOKEN, None), (TOKEN, None), ("flp_another_key", None), (TOKEN, "team-b")]:
            with client_for(client_pkg, srv, store=store, token=token, team=team) as client:
                edit(client)
        assert len(edits(srv)) == 3  # only the repeat with the same key and team was answered from disk
    assert all(TOKEN.encode() not in p.read_bytes() and TOKEN not in p.name for p in (tmp_path / "results").iterdir())


def test_the_url_items_of_one_answer_share_the_answer_cap(client_pkg, monkeypatch):
    """30 url items of 1 MiB each, the answer cap lowered to 8 MiB: refused after the 8th, not 30 MiB read."""
    api = importlib.import_module(client_pkg.__name__ + ".api")
    monkeypatch.setattr(api, "MAX_ANSWER_BYTES", 8 << 20)
    item = OK_PNG + b"\0" * ((1 << 20) - len(OK_PNG))  # a real PNG with trailing bytes, 1 MiB

    def answer(conn, request):
        if request.path.startswith("/file"):
            return respond(conn, 200, item, {"Content-Type": "image/png"})
        port = conn.getsockname()[1]
        respond(conn, 200, json.dumps({"data": [{"url": f"http://127.0.0.1:{port}/file/{i}", "seed": i}
                                                for i in range(30)]}).encode())

    with HostileServer(no_status(answer)) as srv:
        with client_for(client_pkg, srv) as client:
            exc = error_of(lambda: edit(client, response_format="url"))
        downloads = [r for r in srv.requests if r.path.startswith("/file")]
    assert isinstance(exc, client_pkg.FriendliResponseError) and "results together" in str(exc), exc
    assert len(downloads) <= 9


def test_memory_budget_leases_wait_but_the_oldest_always_proceeds(pack):
    """Budget 100: a second lease waits while the first holds 80; the first (oldest) may grow past the
    budget alone; once it releases, the second proceeds; cancelling a waiting lease raises."""
    scheduler = importlib.import_module(pack.__name__ + ".client.scheduler")
    errors = importlib.import_module(pack.__name__ + ".client.errors")
    budget = scheduler.MemoryBudget(100)
    first, second = budget.lease(10**6), budget.lease(10**6)
    never = threading.Event()
    first.take(80, 1, never)
    took = threading.Event()
    threading.Thread(target=lambda: (second.take(30, 1, never), took.set()), daemon=True).start()
    assert not took.wait(0.3)
    first.take(200, 1, never)  # the oldest holder is never blocked: no deadlock with a huge answer
    assert budget.used == 280 and not took.is_set()
    first.release()
    assert took.wait(2) and budget.used == 30
    third = budget.lease(10**6)
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    with pytest.raises(errors.FriendliCancelledError):
        third.take(90, 1, stop)
    second.release()
    assert budget.used == 0 and budget.peak == 280


def test_a_node_the_host_gives_up_on_finishes_what_it_sent_in_the_background(nodes, online, pack):
    """ComfyUI cancels the node's task (another node of the prompt failed): the two requests already on
    the endpoint are answered and stored, the two not yet sent never leave, and the threads end."""
    from helpers import friendli_threads

    prefs = importlib.import_module(pack.__name__ + ".client.prefs")
    prefs.write(prefs.validate({"result_store": True}), prefs.default_path())
    online.latency = 0.6

    async def graph():
        task = asyncio.ensure_future(nodes.edit.FriendliImageEdit().edit(
            batch(4), "p", "test-endpoint", 20, -1.0, 7, "png", max_concurrency=2))
        while len(online.requests) < 2:
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(graph())
    assert wait_until(lambda: not friendli_threads(), 5)
    assert len(online.requests) == 2
    store = importlib.import_module(pack.__name__ + ".client.store").ResultStore(
        prefs.default_path().with_name(prefs.STORE_FOLDER), 10**9)
    assert store.stats()["entries"] == 2
